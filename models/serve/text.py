"""From generated token ids to the text a client sees, a token at a time.

Three things make this more than `tokenizer.decode`:

Whole characters. A byte-level BPE token can hold part of a UTF-8 character (the three
bytes of "€" may be three tokens). `TextDecoder.feed` returns only the characters a token
completes, through Python's incremental UTF-8 decoder; the bytes of an unfinished
character wait for the next token, so no broken character is ever sent. Bytes that can
never form a character become U+FFFD, as `tokenizer.decode` makes them.

Stop sequences. `RowText` holds back the end of the text that could be the start of a stop
sequence, and when one appears cuts the text before it. It releases text in chunks at token
boundaries, each with the tokens that made it, so a client can show where every token
begins and how likely it was.

Pieces. A token shown alone (`piece`) is its text, or, for a token that is part of a
character, its bytes in OpenAI's notation "bytes:\\xe2\\x82".
"""
import codecs
import re
from typing import NamedTuple

import numpy as np

from tokenizers import BPETokenizer, CharTokenizer

_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text):
    """`text` with lone surrogates (which UTF-8, and so JSON on the wire, cannot carry; a
    byte-level BPE can decode to them) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def piece(tokenizer, token_id):
    """The text of one token on its own."""
    if isinstance(tokenizer, BPETokenizer):
        data = tokenizer.vocab[token_id]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return "bytes:" + "".join(f"\\x{b:02x}" for b in data)
    return clean(tokenizer.decode([token_id]))


class TextDecoder:
    """The new text of a row, a token at a time: `feed(id)` returns the characters that
    token completes, `flush()` what is left at the end. Everything fed, joined, is
    `tokenizer.decode(prompt + ids)` less the prompt's text (with U+FFFD for surrogates)."""

    def __init__(self, tokenizer, prompt):
        self.tokenizer = tokenizer
        if isinstance(tokenizer, BPETokenizer):
            self._bytes = codecs.getincrementaldecoder("utf-8")("replace")
        elif not isinstance(tokenizer, CharTokenizer):
            # A word tokenizer's spacing depends on the words before: decode the whole text
            # and send what it adds (decoding is prefix-stable).
            self._ids = list(prompt)
            self._text = clean(tokenizer.decode(self._ids))

    def feed(self, token_id):
        tokenizer = self.tokenizer
        if isinstance(tokenizer, BPETokenizer):
            return clean(self._bytes.decode(tokenizer.vocab[token_id]))
        if isinstance(tokenizer, CharTokenizer):
            return tokenizer.decode([token_id])
        self._ids.append(token_id)
        text = clean(tokenizer.decode(self._ids))
        new = text[len(self._text):] if text.startswith(self._text) else ""
        self._text = text
        return new

    def flush(self):
        if isinstance(self.tokenizer, BPETokenizer):
            return clean(self._bytes.decode(b"", final=True))  # an unfinished character
        return ""


class Token(NamedTuple):
    """What a client is told of one generated token."""
    id: int
    piece: str
    logprob: float = None   # the model's log-probability of it (None: not asked for)
    top: tuple = ()         # ((piece, logprob), ...) the most likely tokens at that step


class Chunk(NamedTuple):
    """Text released to the client, with the tokens that made it and the text of each
    (empty for a token inside an unfinished character: the token that finishes it holds
    it); `offset` is the position of its first character in the row's text."""
    text: str
    tokens: list
    texts: list
    offset: int


class RowText:
    """One row of generated text: `add(token)` returns the Chunk it lets through (None
    while the text must wait: an unfinished character, or a possible stop sequence);
    `stopped` is set once a stop sequence appeared (the row is then over), and `finish()`
    returns the rest."""

    def __init__(self, decoder, stop=()):
        self.decoder = decoder
        self.stop = [s for s in stop if s]
        self.pending = []  # [token, its text] not released yet
        self.sent = 0      # characters released so far
        self.stopped = False

    def add(self, token):
        self.pending.append((token, self.decoder.feed(token.id)))
        text = "".join(t for _, t in self.pending)
        cut = first_stop(text, self.stop)
        if cut is not None:
            self.stopped = True
            return self._release(_count_starting_before(self.pending, cut), text[:cut])
        ready = len(text) - held_back(text, self.stop)
        count = _count_ending_by(self.pending, ready)
        if count == 0:
            return None
        return self._release(count, "".join(t for _, t in self.pending[:count]))

    def finish(self):
        """Everything still held (an unfinished character as U+FFFD), as one Chunk."""
        if self.stopped:
            return Chunk("", [], [], self.sent)
        rest = self.decoder.flush()  # non-empty only after tokens that are still pending
        if rest:
            token, text = self.pending[-1]
            self.pending[-1] = (token, text + rest)
        return self._release(len(self.pending), "".join(t for _, t in self.pending))

    def _release(self, count, text):
        texts, room = [], len(text)
        for _, t in self.pending[:count]:  # a stop sequence may cut the last token's text
            texts.append(t[:room])
            room -= len(texts[-1])
        chunk = Chunk(text, [token for token, _ in self.pending[:count]], texts, self.sent)
        del self.pending[:count]
        self.sent += len(text)
        return chunk


def first_stop(text, stops):
    """Where the earliest stop sequence in `text` begins, or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def held_back(text, stops):
    """How many characters at the end of `text` could be the start of a stop sequence."""
    longest = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:k]):
                longest = k
                break
    return longest


def _count_ending_by(pending, end):
    """How many leading tokens to release: those whose text ends by character `end`, up to
    the last one that has text (a token inside an unfinished character waits for it)."""
    count, position = 0, 0
    for i, (_, text) in enumerate(pending):
        position += len(text)
        if position > end:
            break
        if text:
            count = i + 1
    return count


def _count_starting_before(pending, cut):
    """How many leading tokens begin before character `cut` (the text is cut there)."""
    count, position = 0, 0
    for _, text in pending:
        if position >= cut:
            break
        position += len(text)
        count += 1
    return count


# ---------------------------------------------------------------- log-probabilities

def log_softmax(logits):
    """Log-probabilities (B, V) of logits (B, V), in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def finite(value):
    """A float for JSON: None for NaN or an infinity (JSON has neither)."""
    value = float(value)
    return value if np.isfinite(value) else None


def describe_token(tokenizer, token_id, logprobs=None, top=0):
    """The Token of `token_id`; with `logprobs` (V,) the model's log-probabilities at that
    step, its own and those of the `top` most likely tokens."""
    if logprobs is None:
        return Token(token_id, piece(tokenizer, token_id))
    best = ()
    if top:
        ids = np.argpartition(-logprobs, min(top, len(logprobs) - 1))[:top]
        ids = ids[np.argsort(-logprobs[ids], kind="stable")]
        best = tuple((piece(tokenizer, int(i)), finite(logprobs[i])) for i in ids)
    return Token(token_id, piece(tokenizer, token_id), finite(logprobs[token_id]), best)
