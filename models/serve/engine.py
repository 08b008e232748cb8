"""The model a server holds, and the generations it runs.

Service   the run loaded once (through models.checkpoint.load_trained, which checks every
          file), what it can say about itself, and what it may be asked
Job       one generation, run step by step in a worker thread (models.generate.decode_steps,
          which decodes with the model's key/value cache). Each step's text goes to the event
          loop as it comes (models.serve.text: whole characters, stop sequences), whether or
          not the client reads it yet, so the worker is free as soon as the text is made and
          a slow reader holds nothing but its own buffer. `cancel()` (the client went away)
          stops it before its next step.

Generations share the model: its weights are only read, grad mode is per thread, and each
job has its own cache. Only recording attention maps (`Service.attention`) changes the
model (its layers keep their weights), so that takes the model alone: `ModelLock`.
The workers and their queue are in models.serve.workers.
"""
import asyncio
import collections
import threading
import time
from pathlib import Path

import minigrad as mg
from minigrad import nn
from models.checkpoint import find_checkpoint, load_trained
from models.data import device_of, to_ids
from models.generate import decode_steps, default_prompt
from models.serve.text import (RowText, TextDecoder, clean, describe_token, log_softmax,
                               piece)
from models.validation import InputError


class Service:
    def __init__(self, model, tokenizer, config, name, device, settings):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.name, self.device, self.settings = name, device, settings
        self.started = time.time()
        self.lock = ModelLock()
        # What nn.record_attention records: every layer that keeps its weights (HW4's single
        # head as well as multi-head attention).
        self.attention_layers = [m for m in model.modules() if hasattr(m, "keep_weights")]
        self.stats = collections.Counter(served=0, rejected=0, cancelled=0, tokens=0)
        self.slots = None  # made by the app inside its event loop

    @classmethod
    def load(cls, checkpoint, settings, device="cpu", name=None):
        model, tokenizer, config, _ = load_trained(checkpoint, device)
        run = find_checkpoint(checkpoint).parent
        return cls(model, tokenizer, config, name or Path(run).resolve().name, device, settings)

    # ------------------------------------------------------------ what it is

    def info(self):
        """GET /health: the model, its size, where it runs, how long it has been up."""
        model, c = self.model, self.config
        heads = self.attention_layers[0].num_heads if self.attention_layers else None
        slots = self.slots
        return {
            "status": "ok", "model": self.name, "model_class": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters()),
            "device": str(device_of(model)), "uptime_s": round(time.time() - self.started, 3),
            "tokenizer": self.tokenizer.type, "vocab_size": self.tokenizer.vocab_size,
            "context": model.block_size, "kv_cache": model.new_cache() is not None,
            "attention": {"layers": len(self.attention_layers), "heads": heads}
            if self.attention_layers else None,
            "config": {"n_layer": c.n_layer, "n_head": c.n_head, "n_embd": c.n_embd},
            "limits": vars(self.settings),
            "requests": {"running": slots.running if slots else 0,
                         "queued": len(slots.waiters) if slots else 0, **self.stats},
        }

    # ------------------------------------------------------------ text and ids

    def encode(self, prompt, field="prompt"):
        """The ids of a prompt (text, or a list of ids), checked against the vocabulary and
        --max-prompt-tokens; an InputError naming `field`."""
        if isinstance(prompt, list):
            ids = self.check_ids(prompt, field) if prompt else default_prompt(self.tokenizer)
        elif prompt == "":
            ids = default_prompt(self.tokenizer)
        else:
            try:
                ids = self.tokenizer.encode(prompt)
            except ValueError as e:
                raise InputError(f"{field}: {e}") from None
        limit = self.settings.max_prompt_tokens
        if len(ids) > limit:
            raise InputError(f"{field} is {len(ids):,} tokens long; this server takes at most "
                             f"{limit:,} (--max-prompt-tokens)")
        return ids or default_prompt(self.tokenizer)

    def check_ids(self, ids, field="token_ids"):
        size = self.tokenizer.vocab_size
        for i, token in enumerate(ids):
            if not 0 <= token < size:
                raise InputError(f"{field}[{i}] must be a token id in 0..{size - 1}, got {token}")
        return list(ids)

    def pieces(self, ids):
        return [piece(self.tokenizer, i) for i in ids]

    def decode(self, ids):
        return clean(self.tokenizer.decode(ids))

    # ------------------------------------------------------------ attention

    def attention(self, ids, layer=None, head=None):
        """The attention weights of every layer and head for `ids` (the last `context`
        tokens of them): {"token_ids", "tokens", "dropped", "layers", "heads", "weights":
        [layer][head][query][key]}; with `layer` / `head`, only those maps."""
        if not self.attention_layers:
            raise InputError(f"model: {type(self.model).__name__} has no attention layers")
        n_layer, n_head = len(self.attention_layers), self.attention_layers[0].num_heads
        layers = range(n_layer) if layer is None else [_index("layer", layer, n_layer)]
        heads = range(n_head) if head is None else [_index("head", head, n_head)]
        context = self.model.block_size or len(ids)
        dropped, ids = max(0, len(ids) - context), ids[-context:]
        with self.lock.alone(), mg.no_grad(), nn.record_attention(self.model) as recorded:
            self.model(to_ids([ids], device_of(self.model)))
            maps = [recorded[i].weights.numpy()[0] for i in layers]
        weights = [[[[round(float(w), 4) for w in row] for row in m[h]] for h in heads]
                   for m in maps]
        return {"token_ids": ids, "tokens": self.pieces(ids), "dropped": dropped,
                "layers": n_layer, "heads": n_head, "weights": weights}


def _index(name, value, count):
    if not 0 <= value < count:
        raise InputError(f"{name} must be in 0..{count - 1}, got {value}")
    return value


class ModelLock:
    """Many generation steps at once, or one user that changes the model alone; a waiting
    `alone()` lets no new step begin, so it waits at most one step of each worker."""

    def __init__(self):
        self._cond = threading.Condition()
        self._steps = 0
        self._alone = False
        self._waiting = 0

    def step(self):
        return _Hold(self, shared=True)

    def alone(self):
        return _Hold(self, shared=False)


class _Hold:
    def __init__(self, lock, shared):
        self.lock, self.shared = lock, shared

    def __enter__(self):
        lock = self.lock
        with lock._cond:
            if self.shared:
                lock._cond.wait_for(lambda: not lock._alone and not lock._waiting)
                lock._steps += 1
            else:
                lock._waiting += 1
                lock._cond.wait_for(lambda: not lock._alone and not lock._steps)
                lock._waiting -= 1
                lock._alone = True

    def __exit__(self, *exc):
        lock = self.lock
        with lock._cond:
            if self.shared:
                lock._steps -= 1
            else:
                lock._alone = False
            lock._cond.notify_all()


# ---------------------------------------------------------------- one generation

class Job:
    """One generation: `start()` runs it in a worker thread; `events` (an asyncio.Queue)
    receives ("chunk", row, Chunk, finish_reason or None) as text comes, then ("done",
    None) or ("error", message)."""

    def __init__(self, service, sampling):
        self.service, self.sampling = service, sampling
        self.events = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self._cancel = threading.Event()
        self.rows = [[] for _ in range(sampling.samples)]  # token ids of each sample
        self.finish = [None] * sampling.samples
        self.started = self.first_token = self.ended = None
        self.cancelled = False
        self.future = None  # set by start()
        self.delivered = False  # a stream has sent its end

    def cancel(self):
        self._cancel.set()

    def start(self, executor):
        """Run in `executor`; the slot taken for this job is released when it ends."""
        self.future = self.loop.run_in_executor(executor, self._run)
        self.future.add_done_callback(lambda _: self.service.slots.release(self.seconds))
        return self.future

    @property
    def seconds(self):
        return (self.ended or time.perf_counter()) - (self.started or time.perf_counter())

    @property
    def tokens(self):
        return sum(map(len, self.rows))

    def _send(self, *event):
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)

    def _run(self):
        self.started = time.perf_counter()
        try:
            self._generate()
            self._send("done", None)
        except Exception as e:  # a fault of the model or the code, not of the request
            self._send("error", f"{type(e).__name__}: {e}")
        finally:
            self.ended = time.perf_counter()

    def _generate(self):
        service, s = self.service, self.sampling
        tokenizer = service.tokenizer
        steps = decode_steps(service.model, [s.prompt_ids] * s.samples, s.max_new_tokens,
                             eos_id=tokenizer.eos_id, **s.options)
        texts = [RowText(TextDecoder(tokenizer, s.prompt_ids), s.stop) for _ in self.rows]
        while True:
            if self._cancel.is_set():
                self.cancelled = True
                steps.close()
                return
            with service.lock.step():
                step = next(steps, None)
            if step is None:
                break
            if self.first_token is None:
                self.first_token = time.perf_counter()
            logprobs = log_softmax(step.logits) if s.logprobs is not None else None
            for row, token in enumerate(step.tokens):
                if self.finish[row] is None:
                    self._advance(row, token, texts[row], logprobs)
            if all(self.finish):
                break
        for row, text in enumerate(texts):
            if self.finish[row] is None:
                self.finish[row] = "length"
                self._send("chunk", row, text.finish(), "length")

    def _advance(self, row, token, text, logprobs):
        """One step of one row: its token's text, or its end (eos or a stop sequence)."""
        if token < 0:  # sampled the end-of-text token
            self.finish[row] = "stop"
            self._send("chunk", row, text.finish(), "stop")
            return
        self.rows[row].append(token)
        described = describe_token(self.service.tokenizer, token,
                                   None if logprobs is None else logprobs[row],
                                   self.sampling.logprobs or 0)
        chunk = text.add(described)
        if text.stopped:
            self.finish[row] = "stop"
            self._send("chunk", row, chunk, "stop")
        elif chunk is not None:
            self._send("chunk", row, chunk, None)
