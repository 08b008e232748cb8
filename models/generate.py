"""Sampling text from a language model.

    ids = generate(model, [prompt_ids], max_new_tokens=200, temperature=0.8, top_k=50, seed=1)

Each new token: the model's logits for the last position, then, in this order,
    penalties     for every token j already generated c[j] times (prompt not counted):
                    frequency and presence (the thesis's formula, OpenAI's):
                        logit[j] -= c[j] * frequency_penalty + (c[j] > 0) * presence_penalty
                    repetition (CTRL, Keskar et al. 2019), for c[j] > 0:
                        logit[j] /= r if logit[j] > 0 else logit[j] *= r
    temperature   logits / T; T = 0 (or greedy=True) takes the most likely token
    top-k         keep the k most likely tokens
    top-p         keep the smallest set of most likely tokens whose probability reaches p
    sample        from softmax of what is kept, with a numpy Generator seeded by `seed`
and the token is appended; a row stops at `eos_id`.

Context. Attention models decode with their key/value cache (`model.new_cache()`): the
prompt is run once and then one token per step, each attending to the cached keys and
values. When the text outgrows the model's context, the cache is rebuilt from the latest
`block_size` tokens each step, which is exactly what uncached decoding computes. Recurrent
models carry their state the same way; the others see the latest `context_size` tokens.
With `use_cache=False` every step runs the model on the cropped text: the same tokens,
slower (the tests check they agree).

Limits. At most MAX_NEW_TOKENS (100,000) new tokens per call, and `OPTIONS` says what each
option may be (the `minigrad generate` flags use the same checks). `on_step(tokens)` is
called with each step's new tokens, so a caller can show text as it comes (`TextStream`);
`decode_steps` yields the steps one by one, with the logits and the sampling distribution
of each (what `minigrad serve` streams and reports as log-probabilities).
"""
import time
from typing import NamedTuple

import numpy as np

import minigrad as mg

from models.data import device_of, to_ids
from models.validation import Float, Int, Maybe

MAX_NEW_TOKENS = 100_000
MAX_SAMPLES = 1_000
OPTIONS = {  # what each sampling option may be (the CLI flags use these too)
    "max_new_tokens": Int(0, MAX_NEW_TOKENS),
    "temperature": Float(0),
    "top_k": Maybe(Int(1)),
    "top_p": Maybe(Float(0, 1, low_open=True)),
    "repetition_penalty": Float(0, low_open=True),
    "frequency_penalty": Float(),
    "presence_penalty": Float(),
    "seed": Maybe(Int(0)),
    "num_samples": Int(1, MAX_SAMPLES),
}


def default_prompt(tokenizer):
    """What to start from without a prompt: a newline (nanoGPT's choice), which every
    tokenizer trained on lines of text knows; else token 0."""
    try:
        return tokenizer.encode("\n")[:1] or [0]
    except ValueError:
        return [0]


def encode_prompt(tokenizer, text):
    """The ids of `text`; a ValueError saying what the tokenizer could not encode."""
    if text == "":
        return default_prompt(tokenizer)
    try:
        ids = tokenizer.encode(text)
    except ValueError as e:
        raise ValueError(f"prompt {text!r}: {e}") from None
    return ids or default_prompt(tokenizer)


def process_logits(logits, counts=None, temperature=1.0, top_k=None, top_p=None,
                   repetition_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0):
    """Next-token probabilities (B, V) from logits (B, V) (NumPy), after the penalties,
    temperature, top-k and top-p of the module docstring. `counts` (B, V): how often each
    token was generated so far. temperature 0 gives a one-hot of the most likely token."""
    logits = np.array(logits, dtype=np.float64)
    if counts is not None:
        seen = counts > 0
        if repetition_penalty != 1.0:
            logits = np.where(seen, np.where(logits > 0, logits / repetition_penalty,
                                             logits * repetition_penalty), logits)
        logits = logits - counts * frequency_penalty - seen * presence_penalty
    if temperature == 0:
        probs = np.zeros_like(logits)
        probs[np.arange(len(logits)), logits.argmax(-1)] = 1.0
        return probs
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = np.sort(logits, axis=-1)[:, -top_k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, -1)
        before = np.cumsum(sorted_probs, -1) - sorted_probs  # mass of the more likely tokens
        keep_sorted = before < top_p                         # always keeps the first
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, -1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(-1, keepdims=True)
    return probs


def sample(probs, rng):
    """One token per row of probs (B, V), by inverse-CDF with one uniform draw per row."""
    cdf = np.cumsum(probs, -1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((cdf <= u[:, None]).sum(-1), probs.shape[-1] - 1)


class _Decoder:
    """Feeds a growing sequence to a model, reusing its cache or recurrent state, and
    returns the logits of the last position."""

    def __init__(self, model, use_cache):
        self.model = model
        self.device = device_of(model)
        self.use_cache = use_cache and model.new_cache() is not None
        self.cache = self.state = None
        self.fed = 0  # tokens of the sequence the cache or state already holds

    def next_logits(self, seq):
        m, start = self.model, self.fed
        if m.recurrent:
            logits, self.state = m(to_ids(seq[:, start:], self.device), self.state)
        elif self.use_cache:
            if self.cache is None or len(self.cache[0]) + seq.shape[1] - start > m.block_size:
                # First call, or the context is full: rebuild from the latest tokens.
                self.cache, start = m.new_cache(), max(0, seq.shape[1] - m.block_size)
            logits = m(to_ids(seq[:, start:], self.device), cache=self.cache)
        else:
            window = m.context_size or seq.shape[1]
            logits = m(to_ids(seq[:, -window:], self.device))
        self.fed = seq.shape[1]
        return logits[:, -1].numpy()


class Step(NamedTuple):
    """One step of `decode_steps`: `tokens` (B,) the new token of each row, -1 for a row
    that has ended (at this step by sampling `eos_id`, or before); `logits` (B, V) the
    model's logits for that position; `probs` (B, V) the distribution the token was drawn
    from (after the penalties, temperature, top-k and top-p)."""
    tokens: list
    logits: np.ndarray
    probs: np.ndarray


def decode_steps(model, prompts, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                 repetition_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0,
                 seed=None, eos_id=None, greedy=False, use_cache=True):
    """A generator of `Step`s, one per new token, for each prompt (a list of id lists, all
    of one length); it ends when every row has ended or after `max_new_tokens` steps.
    `generate` is this loop run to the end; a caller that streams, reports probabilities
    or stops early (close the generator) iterates it itself. The options are checked here,
    before the first step. The model is put in eval mode for each step."""
    options = dict(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                   top_p=top_p, repetition_penalty=repetition_penalty,
                   frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
                   seed=seed)
    for name, value in options.items():
        OPTIONS[name].validate(name, value)
    seq = np.array(prompts, dtype=np.int64)
    if seq.ndim != 2 or seq.shape[1] == 0:
        raise ValueError("generate: prompts must be non-empty id lists of one length")
    sampling = (0.0 if greedy else temperature, top_k, top_p, repetition_penalty,
                frequency_penalty, presence_penalty)
    return _steps(model, seq, max_new_tokens, sampling, np.random.default_rng(seed), eos_id,
                  use_cache)


def _steps(model, seq, max_new_tokens, sampling, rng, eos_id, use_cache):
    decoder = _Decoder(model, use_cache)
    counts = None
    done = np.zeros(len(seq), dtype=bool)
    for _ in range(max_new_tokens):
        # Grad mode and eval mode per step, not around the yields: the caller's code runs
        # between steps, and may drive other generators in the same thread.
        was_training = model.training
        if was_training:
            model.eval()
        with mg.no_grad():
            logits = decoder.next_logits(seq)
        if was_training:
            model.train()
        if counts is None:
            counts = np.zeros(logits.shape)
        probs = process_logits(logits, counts, *sampling)
        token = sample(probs, rng)
        counts[np.arange(len(seq)), token] += 1
        seq = np.concatenate([seq, token[:, None]], axis=1)
        kept = [-1] * len(seq)  # this step's token of each row still going
        for row, t in enumerate(token):
            if not done[row]:
                if eos_id is not None and t == eos_id:
                    done[row] = True
                else:
                    kept[row] = int(t)
        yield Step(kept, logits, probs)
        if done.all():
            return


def generate(model, prompts, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
             repetition_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0, seed=None,
             eos_id=None, greedy=False, use_cache=True, on_step=None):
    """New token ids for each prompt (a list of id lists, all of one length), as lists; a
    row ends before `eos_id` when it samples it. The model is put in eval mode.
    `on_step(tokens)`: called after each step with its new token per row (-1 for a row
    that has ended)."""
    steps = decode_steps(model, prompts, max_new_tokens, temperature, top_k, top_p,
                         repetition_penalty, frequency_penalty, presence_penalty, seed, eos_id,
                         greedy, use_cache)
    new = [[] for _ in prompts]
    for step in steps:
        for row, t in enumerate(step.tokens):
            if t >= 0:
                new[row].append(t)
        if on_step is not None:
            on_step(step.tokens)
    return new


class TextStream:
    """Writes generated text as it comes: `generate(..., on_step=stream.step)` for one row,
    then `finish()`. The text shown is always a prefix of `tokenizer.decode(prompt + new)`;
    a trailing replacement character (half of a UTF-8 character from a byte-level BPE) is
    held back until the next token completes it. Decoding the whole text each time costs
    O(n) per flush, so flushes are at most every `interval` seconds."""

    def __init__(self, tokenizer, prompt, write, interval=0.05):
        self.tokenizer, self.ids, self.write = tokenizer, list(prompt), write
        self.interval, self.shown, self.last = interval, "", 0.0

    def step(self, tokens):
        if tokens[0] >= 0:
            self.ids.append(tokens[0])
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._show(self.tokenizer.decode(self.ids).rstrip("\ufffd"))

    def finish(self):
        """Show the rest; returns the whole text."""
        text = self.tokenizer.decode(self.ids)
        self._show(text)
        return text

    def _show(self, text):
        if text.startswith(self.shown):
            if len(text) > len(self.shown):
                self.write(text[len(self.shown):])
                self.shown = text
