"""Byte-level byte-pair encoding (BPE), as in GPT-2 and GPT-4.

Text is first turned into UTF-8 bytes, so the starting vocabulary is the 256 byte values
(ids 0..255) and any string at all can be encoded: there is no <unk>. Training then repeats
one step: find the pair of adjacent tokens that occurs most often in the corpus and make it
a new token (ids 256, 257, ... in the order learned). "merges" is that ordered list of pairs.

    corpus "aaabdaaabac", bytes a=97 b=98 c=99 d=100
    merge 1: (97, 97) "aa" occurs 4 times         -> 256: [256 97 98 100 256 97 98 97 99]
    merge 2: (97, 98) "ab" and (256, 97) "aaa" occur twice each; the smaller pair wins
                                                  -> 257: [256 257 100 256 257 97 99]
    merge 3: (256, 257) "aaab"                    -> 258: [258 100 258 97 99]

Pre-splitting. Before counting, the text is cut into chunks with a regex (words with their
leading space, runs of digits, punctuation, whitespace). Merges never cross a chunk
border, so tokens stay meaningful (" dog" never fuses with a following "."), and training
can count each distinct chunk once, weighted by how often it occurs: Tiny Shakespeare's
263,000 chunks hold only 15,000 distinct ones. Patterns: "gpt2" (GPT-2's), "gpt4" (the
cl100k pattern of GPT-4: also caps digit runs at 3 and keeps punctuation with its line
break), or any regex string. Text a custom pattern does not match becomes chunks too, so
encoding stays lossless whatever the pattern. A custom pattern is untrusted (it may come from
a file): it is first tried on short probe texts, where catastrophic backtracking such as
`(a|aa)+$` shows at once, and every use runs under the `regex` module's timeout
(`PATTERN_TIME_LIMIT`), so no pattern can hang encoding.

Ties. When several pairs are equally frequent, the smallest pair (a, b) by ids wins; so two
trainings on one text give identical merges and byte-identical saved files. If the text runs
out of pairs before reaching `vocab_size`, training stops early with a warning and
`vocab_size` reports the size actually reached. How the merges are found fast is explained in
`bpe_train.py`.

Encoding a chunk replays the merges by rank: among the adjacent pairs that have a merge,
apply the one learned first, and repeat until no pair has a merge. That gives the same
tokens as replaying all merges in order, but looks only at pairs present in the chunk.
Results are cached per distinct chunk. BPE-dropout (Provilkov et al., 2020): with
`encode(text, dropout=p, seed=s)` each possible merge is skipped with probability p at every
step, which yields varied segmentations of the same text for training (no cache then).

Special tokens (e.g. "<|endoftext|>") get the ids after the merges. They are found in the
text by exact match before pre-splitting and are never split; training ignores them.
`encode(text, allowed_special=..., disallowed_special=...)` chooses which ones count, with
tiktoken's meaning: only the allowed ones are encoded as special tokens; text equal to a
disallowed one is an error (so that user text cannot smuggle in a control token); one
neither allowed nor disallowed is encoded as ordinary text. Both take "all" or a collection
of special-token strings; disallowed "all" means every special token not allowed. The
default here allows all of them (tiktoken's allows none, so disallows all): pass
`allowed_special=set()` for tiktoken's default.

Vocabularies given by ranks. `BPETokenizer.from_tiktoken(path)` reads tiktoken's ranks file
(GPT-2's r50k_base, GPT-4's cl100k_base, or one of your own) into a tokenizer whose ids are
the ranks; see bpe_ranks.py.

Exact round trip. `decode(encode(s)) == s` for every Python str, even one holding lone
surrogates (which UTF-8 forbids): text is encoded with the 'surrogatepass' error handler
and decoded with it. Decoding ids that do not form valid UTF-8 (say a slice that cuts a
character in half) gives U+FFFD replacement characters at the broken places (and then
any encoded surrogates in the same call become U+FFFD too).
"""

import random
import warnings
from collections import Counter

import regex

from .base import Tokenizer, require
from .bpe_train import learn_merges, merge

PATTERNS = {
    "gpt2": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "gpt4": (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}"""
             r"""| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""),
    # tiktoken's patterns as it ships them today, for its ranks files: "gpt2" and "gpt4"
    # above split alike except that these keep a run of whitespace that ends the text whole
    # ("\n  " at the end is one chunk here, two above).
    "r50k": (r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++"""
             r"""|\s++$|\s+(?!\S)|\s"""),
    "cl100k": (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+"""
               r"""| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""),
}
# A custom pattern's time limit on a text: seconds, plus seconds per character (generous: a
# sane pattern splits well over 50,000 characters a second).
PATTERN_TIME_LIMIT = (1.0, 20e-6)
PROBES = [c * 40 + "\x00" for c in "a1 .\n"]  # exponential backtracking shows on runs
PROBE_TIMEOUT = 0.25  # seconds a custom pattern may take on a probe
MAX_VOCAB_BYTES = 1 << 26  # the bytes all tokens may spell together (GPT-4: under 1 MiB)
CACHE_LIMIT = 200_000  # distinct chunks remembered by encode; cleared when full
NOT_A_MERGE = float("inf")  # the rank of a pair that has no merge


def to_bytes(text):
    return text.encode("utf-8", "surrogatepass")


def from_bytes(data):
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


class BPETokenizer(Tokenizer):
    type = "bpe"
    # Files: version 1 holds merges (what train() learns), version 2 ranks (bpe_ranks.py).
    version = 2

    def __init__(self, merges, pattern="gpt4", special_tokens=()):
        """merges: list of pairs (a, b), merge k making token 256 + k; pattern: "gpt2",
        "gpt4" (or tiktoken's "r50k", "cl100k") or a regex; special_tokens: strings, given
        ids after the merges in order."""
        self.version = 1  # a merges file stays readable by versions that know only those
        self.pattern = pattern
        self.split_pattern = compile_pattern(pattern)
        self.time_limited = pattern not in PATTERNS
        self.merges = [tuple(pair) for pair in merges]
        self.vocab = [bytes([b]) for b in range(256)]  # id -> the bytes it stands for
        self.merge_ids = {}  # pair -> new id; a smaller id means learned earlier
        total = 256  # bytes of all tokens: merges of merges double it (a crafted file)
        for pair in self.merges:
            a, b = pair
            if not (0 <= a < len(self.vocab) and 0 <= b < len(self.vocab)):
                raise ValueError(f"merge {pair} uses an id not defined before it")
            if pair in self.merge_ids:
                raise ValueError(f"merge {pair} appears twice")
            total += len(self.vocab[a]) + len(self.vocab[b])
            if total > MAX_VOCAB_BYTES:
                raise ValueError(f"the merges up to {pair} make tokens of more than "
                                 f"{MAX_VOCAB_BYTES >> 20} MiB in all: not a vocabulary "
                                 f"learned from text")
            self.merge_ids[pair] = len(self.vocab)
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._special_tokens = {}
        check_special_tokens(special_tokens, set(self.vocab))
        for token in special_tokens:
            self._special_tokens[token] = len(self.vocab)
            self.vocab.append(to_bytes(token))
        self.special_pattern = special_token_pattern(special_tokens)
        self.cache = {}
        self.allowed_patterns = {}  # frozenset of allowed special tokens -> their regex

    @classmethod
    def train(cls, text, vocab_size, pattern="gpt4", special_tokens=None):
        """Learn vocab_size - 256 - len(special_tokens) merges from `text`."""
        special_tokens = list(special_tokens or [])
        if not text:
            raise ValueError("cannot train a BPE tokenizer on empty text")
        if not isinstance(vocab_size, int) or vocab_size < 256 + len(special_tokens):
            raise ValueError(f"vocab_size must be an int >= 256 (the byte tokens) + "
                             f"{len(special_tokens)} (special tokens), got {vocab_size!r}")
        check_special_tokens(special_tokens, {bytes([b]) for b in range(256)})
        num_merges = vocab_size - 256 - len(special_tokens)
        chunk_counts = count_chunks(text, compile_pattern(pattern), special_tokens,
                                    pattern not in PATTERNS)
        chunks = [to_bytes(chunk) for chunk, _ in chunk_counts]
        merges = learn_merges(chunks, [count for _, count in chunk_counts], num_merges)
        if len(merges) < num_merges:
            warnings.warn(f"the training text yields only {len(merges)} merges, not "
                          f"{num_merges}: vocab_size is "
                          f"{256 + len(merges) + len(special_tokens)}, not {vocab_size}")
        return cls(merges, pattern=pattern, special_tokens=special_tokens)

    @property
    def vocab_size(self):
        return len(self.vocab)

    @property
    def special_tokens(self):
        return dict(self._special_tokens)

    @classmethod
    def from_tiktoken(cls, path, encoding=None, pattern=None, special_tokens=None):
        """The tokenizer of a tiktoken ranks file (one "base64-token rank" per line), its ids
        the ranks. `encoding` ("cl100k_base", "r50k_base", "gpt2"; by default the file's
        name if it is one of these) gives the split pattern and special tokens, which
        `pattern` and `special_tokens` ({string: id}) override. See bpe_ranks.py."""
        from .bpe_ranks import from_tiktoken
        return from_tiktoken(path, encoding, pattern, special_tokens)

    def encode(self, text, dropout=0.0, seed=None, allowed_special="all",
               disallowed_special="all"):
        """Token ids of `text`. With dropout > 0 each merge is skipped with that probability
        (BPE-dropout), drawing from random.Random(seed). allowed_special and
        disallowed_special: which special tokens count, as in tiktoken (module docstring)."""
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        special_pattern = self._special_pattern(text, allowed_special, disallowed_special)
        rng = random.Random(seed) if dropout else None
        ids = []
        for piece, is_special in split_special(text, special_pattern):
            if is_special:
                ids.append(self._special_tokens[piece])
            elif rng is None:
                cache = self.cache
                for chunk in split_chunks(piece, self.split_pattern, self.time_limited):
                    chunk_ids = cache.get(chunk)
                    if chunk_ids is None:
                        if len(cache) >= CACHE_LIMIT:
                            cache.clear()
                        chunk_ids = cache[chunk] = self._encode_chunk(chunk)
                    ids.extend(chunk_ids)
            else:
                for chunk in split_chunks(piece, self.split_pattern, self.time_limited):
                    ids.extend(self._encode_chunk(chunk, dropout, rng))
        return ids

    def _special_pattern(self, text, allowed, disallowed):
        """The regex of the allowed special tokens (None: none), after checking that `text`
        holds none of the disallowed ones."""
        every = set(self._special_tokens)
        allowed = every if allowed == "all" else self._special_names(allowed, "allowed_special")
        if disallowed == "all":
            disallowed = every - allowed
        else:
            disallowed = self._special_names(disallowed, "disallowed_special")
        if disallowed:
            found = special_token_pattern(sorted(disallowed)).search(text)
            if found:
                raise ValueError(
                    f"the text holds {found.group()!r} at character {found.start()}, a special "
                    f"token that is disallowed: pass allowed_special={{{found.group()!r}}} to "
                    f"encode it as that token, or disallowed_special=() to encode it as text")
        if allowed == every:
            return self.special_pattern
        key = frozenset(allowed)
        if key not in self.allowed_patterns:
            self.allowed_patterns[key] = special_token_pattern(sorted(allowed))
        return self.allowed_patterns[key]

    def _special_names(self, names, argument):
        """`names` (a collection of special-token strings) as a set, each checked."""
        if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
            raise ValueError(f"{argument} must be 'all' or a collection of special tokens, "
                             f"got {names!r}")
        names = set(names)
        unknown = sorted(map(repr, names - set(self._special_tokens)))
        if unknown:
            raise ValueError(f"{argument}: {', '.join(unknown)} not among the special tokens "
                             f"of this tokenizer ({sorted(self._special_tokens) or 'none'})")
        return names

    def decode(self, ids):
        self._check_ids(ids)
        return from_bytes(b"".join([self.vocab[i] for i in ids]))

    def _encode_chunk(self, chunk, dropout=0.0, rng=None):
        """Apply merges by rank: the earliest-learned mergeable pair first, until none is left.
        With dropout, each mergeable pair is left out of a step with probability `dropout`."""
        ids = list(to_bytes(chunk))
        rank = self.merge_ids.get  # the new id; merges learned earlier have smaller ids
        while len(ids) >= 2:
            pairs = zip(ids, ids[1:])
            if dropout:
                # sorted(): draw the random numbers in an order that depends only on the chunk
                pairs = [p for p in sorted(set(pairs)) if p in self.merge_ids
                         and rng.random() >= dropout]
                if not pairs:
                    break
            pair = min(pairs, key=lambda p: rank(p, NOT_A_MERGE))
            new_id = rank(pair)
            if new_id is None:
                break
            ids = merge(ids, pair, new_id)
        return ids

    def to_dict(self):
        return {
            "pattern": self.pattern,
            "special_tokens": list(self._special_tokens),
            "merges": [list(pair) for pair in self.merges],
        }

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        if "ranks" in data:
            from .bpe_ranks import RankedBPETokenizer
            return RankedBPETokenizer.from_dict(data, source)
        merges = require(data, "merges", list, source)
        special_tokens = require(data, "special_tokens", list, source)
        pattern = require(data, "pattern", str, source)
        if not all(isinstance(pair, list) and len(pair) == 2
                   and all(isinstance(i, int) and not isinstance(i, bool) for i in pair)
                   for pair in merges):
            raise ValueError(f"{source}: field 'merges' should hold pairs of ids [a, b]")
        try:
            return cls(merges, pattern=pattern, special_tokens=special_tokens)
        except (ValueError, regex.error) as e:
            raise ValueError(f"{source}: {e}") from None


def compile_pattern(pattern):
    """The pre-split regex for a pattern name ("gpt2", "gpt4") or a regex string. A custom
    regex is first run on the probe texts, each within PROBE_TIMEOUT seconds."""
    try:
        compiled = regex.compile(PATTERNS.get(pattern, pattern))
    except (regex.error, TypeError) as e:
        raise ValueError(f"pattern {pattern!r} is neither one of {sorted(PATTERNS)} nor a "
                         f"valid regex ({e})") from None
    if pattern not in PATTERNS:
        for probe in PROBES:
            try:
                compiled.findall(probe, timeout=PROBE_TIMEOUT)
            except TimeoutError:
                raise ValueError(
                    f"pattern {pattern!r} takes over {PROBE_TIMEOUT} s to split {probe!r} "
                    f"(catastrophic backtracking); use one of the named patterns "
                    f"{', '.join(PATTERNS)}") from None
    return compiled


def check_special_tokens(special_tokens, vocab):
    """Special tokens must be distinct non-empty strings, none equal to a token of `vocab`."""
    seen = set()
    for token in special_tokens:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special tokens must be non-empty strings, got {token!r}")
        if token in seen:
            raise ValueError(f"special token {token!r} is given twice")
        if to_bytes(token) in vocab:
            raise ValueError(f"special token {token!r} equals an ordinary token of the "
                             f"vocabulary; it could not be told apart from text")
        seen.add(token)


def special_token_pattern(special_tokens):
    """A regex matching any special token, or None when there are none."""
    if not special_tokens:
        return None
    # Longest first, so that "<a><b>" is matched before its prefix "<a>".
    alternatives = sorted(special_tokens, key=len, reverse=True)
    return regex.compile("(" + "|".join(map(regex.escape, alternatives)) + ")")


def split_special(text, special_pattern):
    """Pairs (piece, is_special): the text cut at exact matches of the special tokens."""
    if special_pattern is None:
        return [(text, False)] if text else []
    # With one capture group, split() puts the matches at the odd positions.
    parts = special_pattern.split(text)
    return [(part, n % 2 == 1) for n, part in enumerate(parts) if part]


def split_chunks(text, pattern, time_limited=False):
    """The pre-split chunks of `text`; text the pattern skips becomes chunks of its own.
    `time_limited`: a custom pattern, run under PATTERN_TIME_LIMIT."""
    timeout = None
    if time_limited:
        timeout = PATTERN_TIME_LIMIT[0] + PATTERN_TIME_LIMIT[1] * len(text)
    try:
        return _split_chunks(text, pattern, timeout)
    except TimeoutError:
        raise ValueError(f"the split pattern {pattern.pattern!r} took over {timeout:.1f} s on "
                         f"{len(text):,} characters (catastrophic backtracking); use one of "
                         f"the named patterns {', '.join(PATTERNS)}") from None


def _split_chunks(text, pattern, timeout):
    if pattern.groups == 0:  # findall returns whole matches only when there are no groups
        chunks = pattern.findall(text, timeout=timeout)
        if sum(map(len, chunks)) == len(text):
            return chunks  # the usual case: the built-in patterns match every character
    chunks, end = [], 0
    for match in pattern.finditer(text, timeout=timeout):
        if match.start() > end:
            chunks.append(text[end:match.start()])
        if match.end() > match.start():
            chunks.append(match.group())
        end = match.end()
    if end < len(text):
        chunks.append(text[end:])
    return chunks


def count_chunks(text, pattern, special_tokens=(), time_limited=False):
    """(chunk, count) for each distinct chunk of at least two bytes, in order of first
    occurrence; special tokens are cut out first and not counted."""
    counts = Counter()
    for piece, is_special in split_special(text, special_token_pattern(special_tokens)):
        if not is_special:
            counts.update(split_chunks(piece, pattern, time_limited))
    return [(chunk, count) for chunk, count in counts.items() if len(to_bytes(chunk)) >= 2]
