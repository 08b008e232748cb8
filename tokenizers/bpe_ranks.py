"""Byte-level BPE given by token ranks: tiktoken's files (GPT-2's r50k_base, GPT-4's
cl100k_base, or your own).

A ranks file has one token a line: its bytes in base64, a space, its rank.
    IQ== 0              b"!"
    IHRoZQ== 262        b" the"      (lines of r50k_base.tiktoken)
The rank is the token's id and the order of merging. Encoding a pre-split chunk that is a
token is that token; otherwise it starts from the chunk's single bytes and repeatedly joins
the two adjacent parts whose concatenation has the lowest rank (the leftmost of equal ones)
until no two adjacent parts make a token. This is tiktoken's algorithm; a trained
BPETokenizer replays its merge list instead, which gives the same tokens for a vocabulary
learned by merging, but ranks need no merge list.

Checked on reading: each line two fields, base64 and a non-negative integer; the ranks are
0..N-1, each once; the tokens distinct; all 256 single bytes among them (else some text
could not be encoded). Special tokens have ids of their own from N on, maybe with gaps
(cl100k_base: 100257..100260 and 100276); an id in a gap decodes to an error.

    tok = BPETokenizer.from_tiktoken("cl100k_base.tiktoken")    # pattern, specials by name
    tok.encode("hello <|endoftext|>", allowed_special=set())     # ValueError: disallowed
"""
import base64
import binascii
from pathlib import Path

from .base import MAX_FILE_BYTES, require
from .bpe import (
    MAX_VOCAB_BYTES, NOT_A_MERGE, PATTERNS, BPETokenizer, check_special_tokens,
    compile_pattern, special_token_pattern, to_bytes)

# tiktoken's encodings (tiktoken_ext/openai_public.py): split pattern and special tokens.
ENCODINGS = {
    "cl100k_base": ("cl100k", {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258,
                               "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
                               "<|endofprompt|>": 100276}),
    "r50k_base": ("r50k", {"<|endoftext|>": 50256}),
    "gpt2": ("r50k", {"<|endoftext|>": 50256}),
}
MAX_SPECIAL_GAP = 1 << 16  # special ids lie at most this far past the ranks


def read_ranks(path):
    """The tokens of a ranks file, in rank order (a list of bytes); a ValueError naming the
    file and the line for anything else."""
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB: not a ranks file")
    by_rank = {}
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != 2:
                raise ValueError("expected two fields")
            token, rank = base64.b64decode(fields[0], validate=True), int(fields[1])
        except (ValueError, binascii.Error):
            raise ValueError(f"{path}: line {number} is not 'base64-token rank': "
                             f"{line[:60]!r}") from None
        if rank < 0 or rank in by_rank:
            raise ValueError(f"{path}: line {number}: rank {rank} is "
                             f"{'negative' if rank < 0 else 'given twice'}")
        by_rank[rank] = token
    missing = next((r for r in range(len(by_rank)) if r not in by_rank), None)
    if missing is not None:
        raise ValueError(f"{path}: no token has rank {missing}; ranks must be 0..N-1")
    return [by_rank[r] for r in range(len(by_rank))]


def from_tiktoken(path, encoding=None, pattern=None, special_tokens=None):
    """BPETokenizer.from_tiktoken: a RankedBPETokenizer from a ranks file."""
    stem = Path(path).name.split(".")[0]  # "cl100k_base" of cl100k_base.tiktoken
    if encoding is None and stem in ENCODINGS:
        encoding = stem
    if encoding is not None and encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; known: {', '.join(ENCODINGS)} "
                         f"(or give pattern and special_tokens)")
    named_pattern, named_specials = ENCODINGS.get(encoding, ("cl100k", {}))
    try:
        return RankedBPETokenizer(read_ranks(path), pattern or named_pattern,
                                  named_specials if special_tokens is None else special_tokens)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


class RankedBPETokenizer(BPETokenizer):
    """A BPETokenizer whose ids are tiktoken ranks (module docstring). Its file (version 2)
    holds the pattern, the special tokens with their ids and the tokens in rank order, in
    base64."""

    def __init__(self, ranks, pattern="cl100k", special_tokens=None):
        """ranks: token bytes in rank order (id = rank); special_tokens: {string: id}."""
        self.version = 2
        self.pattern = pattern
        self.split_pattern = compile_pattern(pattern)
        self.time_limited = pattern not in PATTERNS
        self.ranks = [bytes(token) for token in ranks]
        self.rank_of = check_ranks(self.ranks)
        special_tokens = dict(special_tokens or {})
        check_special_tokens(special_tokens, self.rank_of)
        self.vocab = list(self.ranks)  # id -> bytes; None in a gap between special ids
        for token, i in special_tokens.items():
            if not (isinstance(i, int) and not isinstance(i, bool)
                    and len(self.ranks) <= i < len(self.ranks) + MAX_SPECIAL_GAP):
                raise ValueError(f"special token {token!r} has id {i!r}; expected an int from "
                                 f"{len(self.ranks)} (after the ranks) to "
                                 f"{len(self.ranks) + MAX_SPECIAL_GAP - 1}")
            self.vocab.extend([None] * (i + 1 - len(self.vocab)))
            if self.vocab[i] is not None:
                raise ValueError(f"special token {token!r} has id {i}, as another one")
            self.vocab[i] = to_bytes(token)
        self._special_tokens = special_tokens
        self.special_pattern = special_token_pattern(list(special_tokens))
        self.cache = {}
        self.allowed_patterns = {}

    @classmethod
    def train(cls, text, vocab_size, pattern="gpt4", special_tokens=None):
        raise TypeError("a ranked vocabulary is read, not trained: BPETokenizer.train "
                        "learns merges")

    def encode(self, text, dropout=0.0, seed=None, allowed_special="all",
               disallowed_special="all"):
        if dropout:
            raise ValueError("BPE-dropout replays a merge list; a tokenizer read from ranks "
                             "has none (use dropout=0)")
        return super().encode(text, allowed_special=allowed_special,
                              disallowed_special=disallowed_special)

    def decode(self, ids):
        self._check_ids(ids)
        gap = next((i for i in ids if self.vocab[i] is None), None)
        if gap is not None:
            raise ValueError(f"id {gap} is not a token: it lies in the gap between the "
                             f"special tokens' ids")
        return super().decode(ids)

    def _encode_chunk(self, chunk, dropout=0.0, rng=None):
        """tiktoken's merge: join the adjacent pair of lowest rank until none is a token."""
        data = to_bytes(chunk)
        whole = self.rank_of.get(data)
        if whole is not None:
            return [whole]
        parts = [data[i:i + 1] for i in range(len(data))]
        rank = self.rank_of.get
        while len(parts) > 1:
            best, where = NOT_A_MERGE, None
            for i in range(len(parts) - 1):
                r = rank(parts[i] + parts[i + 1], NOT_A_MERGE)
                if r < best:  # strictly: the leftmost of equal ranks
                    best, where = r, i
            if where is None:
                break
            parts[where:where + 2] = [parts[where] + parts[where + 1]]
        return [self.rank_of[p] for p in parts]

    def to_dict(self):
        return {
            "pattern": self.pattern,
            "special_tokens": dict(self._special_tokens),
            "ranks": [base64.b64encode(token).decode("ascii") for token in self.ranks],
        }

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        pattern = require(data, "pattern", str, source)
        special_tokens = require(data, "special_tokens", dict, source)
        ranks = require(data, "ranks", list, source)
        try:
            tokens = [base64.b64decode(token, validate=True) for token in ranks]
        except (TypeError, ValueError, binascii.Error):
            raise ValueError(f"{source}: field 'ranks' should hold base64 strings") from None
        try:
            return cls(tokens, pattern=pattern, special_tokens=special_tokens)
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


def check_ranks(tokens):
    """{token: rank} of tokens in rank order, checked: distinct, non-empty, every single
    byte present, and not more bytes in all than MAX_VOCAB_BYTES."""
    rank_of = {}
    total = 0
    for rank, token in enumerate(tokens):
        if not token:
            raise ValueError(f"rank {rank} is the empty token")
        if token in rank_of:
            raise ValueError(f"token {token!r} has ranks {rank_of[token]} and {rank}")
        total += len(token)
        if total > MAX_VOCAB_BYTES:
            raise ValueError(f"the tokens up to rank {rank} hold more than "
                             f"{MAX_VOCAB_BYTES >> 20} MiB: not a vocabulary")
        rank_of[token] = rank
    missing = [b for b in range(256) if bytes([b]) not in rank_of]
    if missing:
        raise ValueError(f"the single bytes {missing[:8]}{' ...' if len(missing) > 8 else ''} "
                         f"have no rank, so not every text could be encoded")
    return rank_of
