"""The response bodies: the thesis's /generate, OpenAI's completions (whole and streamed
as server-sent events), and the error body every failure shares.

OpenAI's `logprobs` object, per choice:
    tokens          each token's piece (models.serve.text.piece)
    token_logprobs  the model's log-probability of each token: log softmax of its logits,
                    before penalties, temperature, top-k and top-p (what it thinks, not
                    how the sampler was told to choose)
    top_logprobs    per token, {piece: log-probability} of the `logprobs` most likely ones
    text_offset     where each token's text begins in the choice's text
and, ours, `token_ids`.
"""
import json
import time
import uuid


def error_body(message, param=None, kind="invalid_request_error", code=None):
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def sse(data):
    """One server-sent event."""
    return "data: " + json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n\n"


SSE_DONE = "data: [DONE]\n\n"


class Completion:
    """OpenAI's text_completion objects of one request: the whole response, or its chunks."""

    def __init__(self, model, samples, logprobs):
        self.id = "cmpl-" + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.model, self.logprobs = model, logprobs
        self.texts = [[] for _ in range(samples)]
        self.tokens = [LogProbs() for _ in range(samples)]
        self.finish = [None] * samples

    def add(self, row, chunk, finish):
        self.texts[row].append(chunk.text)
        self.tokens[row].add(chunk)
        self.finish[row] = finish or self.finish[row]

    def chunk(self, row, chunk, finish):
        """The streamed object of one Chunk."""
        logprobs = None
        if self.logprobs is not None:
            logprobs = LogProbs()
            logprobs.add(chunk)
            logprobs = logprobs.body(self.logprobs)
        return self._object([{"text": chunk.text, "index": row, "logprobs": logprobs,
                              "finish_reason": finish}])

    def usage_chunk(self, usage):
        return {**self._object([]), "usage": usage}

    def response(self, usage):
        """The whole response, after every chunk was `add`ed."""
        choices = [{"text": "".join(texts), "index": row,
                    "logprobs": None if self.logprobs is None
                    else self.tokens[row].body(self.logprobs),
                    "finish_reason": self.finish[row]}
                   for row, texts in enumerate(self.texts)]
        return {**self._object(choices), "usage": usage}

    def _object(self, choices):
        return {"id": self.id, "object": "text_completion", "created": self.created,
                "model": self.model, "choices": choices}


class LogProbs:
    """The tokens of one choice, gathered chunk by chunk."""

    def __init__(self):
        self.tokens, self.offsets = [], []

    def add(self, chunk):
        offset = chunk.offset
        for token, text in zip(chunk.tokens, chunk.texts):
            self.tokens.append(token)
            self.offsets.append(offset)
            offset += len(text)

    def body(self, top):
        return {"tokens": [t.piece for t in self.tokens],
                "token_logprobs": [t.logprob for t in self.tokens],
                "top_logprobs": [dict(t.top) for t in self.tokens] if top else None,
                "text_offset": self.offsets,
                "token_ids": [t.id for t in self.tokens]}


def usage(prompt_tokens, completion_tokens):
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def generate_body(service, job, completions, arrived):
    """POST /generate's response: each sample's text as `minigrad generate` prints it (the
    prompt, then the new text), the new text alone, its ids and why it ended; timing."""
    prompt = job.sampling.prompt_ids
    samples = [{"text": service.decode(prompt + ids), "completion": "".join(texts),
                "token_ids": ids, "finish_reason": finish}
               for ids, texts, finish in zip(job.rows, completions.texts, job.finish)]
    return {"model": service.name, "text": samples[0]["text"], "samples": samples,
            "prompt_tokens": len(prompt), "seed": job.sampling.options["seed"],
            "timing": timing(job, arrived)}


def timing(job, arrived):
    """Milliseconds spent waiting for a worker, to the first token and in all; tokens/s."""
    ms = lambda t: None if t is None else round((t - arrived) * 1000, 1)  # noqa: E731
    seconds = job.seconds
    return {"queued_ms": ms(job.started), "first_token_ms": ms(job.first_token),
            "total_ms": ms(job.ended), "tokens": job.tokens,
            "tokens_per_s": round(job.tokens / seconds, 1) if seconds > 0 else None}
