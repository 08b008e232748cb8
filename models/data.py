"""The data pipeline for language-model training: corpus files -> token ids -> batches.

    text = training_text(corpus)                        # what the tokenizer learns from
    tok = build_tokenizer("bpe", text, vocab_size=512)
    tok.save(run / "tokenizer.json")
    splits = prepare(corpus, tok, run / "cache")        # {"train": ids, "val": ids[, "test": ids]}
    x, y = get_batch(splits["train"], 32, 128, rng)     # random windows (transformer)
    for x, y in SequentialBatcher(splits["train"], 20, 35): ...       # truncated BPTT (RNN/LSTM)
    for x, y, mask in iter_eval_windows(splits["val"], 128, 32): ...  # every target once

Corpora (a file, a directory of splits, a mapping, or a bundled corpus's name) are read by
models/corpus.py.

Token ids are NumPy arrays of uint16 (vocabularies up to 65,536) or uint32, to keep a corpus
small in memory and on disk. The batch functions return int64 arrays, which the trainer wraps
in tensors; they draw from a passed `numpy.random.Generator`, so saving its state
(`rng.bit_generator.state`) with a checkpoint makes a resumed run draw the same batches.

Cache. Encoding a corpus with a Python tokenizer takes seconds to minutes, so `prepare` saves
each encoded file as `<cache_dir>/<file name>-<key>.npy`, where the key hashes the file's bytes
and the tokenizer's file contents: any change to either gives a new key, so a stale cache is
never read. Files are written to a temporary name and renamed, so a crash never leaves half
a cache file under the final name.
"""

import contextlib
import hashlib
import inspect
import os
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.serialization import write_atomically

import tokenizers
from models.corpus import corpus_files, decode_utf8, read_bytes

CACHE_FORMAT = b"minigrad token cache v1"  # part of every key: change it to orphan old caches


# ---------------------------------------------------------------- tokenizers

def build_tokenizer(kind, text, **options):
    """Train a "char", "word" or "bpe" tokenizer on `text`.

    Options are those of the class's `train`: unk (char); lower, min_freq, max_vocab (word);
    vocab_size (required), pattern, special_tokens (bpe). An option set to None is left at its
    default, so a command line can pass every flag whatever the kind; any other option the kind
    does not take is a ValueError, rather than being silently ignored.
    """
    cls = tokenizers.get_tokenizer_class(kind)
    options = {name: value for name, value in options.items() if value is not None}
    parameters = dict(inspect.signature(cls.train).parameters)
    del parameters["text"]
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise ValueError(f"the {kind} tokenizer does not take {', '.join(unknown)}; "
                         f"its options are {', '.join(parameters)}")
    missing = [name for name, p in parameters.items()
               if p.default is inspect.Parameter.empty and name not in options]
    if missing:
        raise ValueError(f"the {kind} tokenizer needs {', '.join(missing)}")
    return cls.train(text, **options)


def ids_dtype(vocab_size):
    """The smallest unsigned dtype that holds every id below vocab_size: uint16 or uint32."""
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def tokenizer_and_digest(tokenizer):
    """(tokenizer, sha256 hex of its file), from a saved tokenizer's path (read once) or
    from a tokenizer (hashing `to_json()`, the text `save` writes: the same digest)."""
    if isinstance(tokenizer, (str, os.PathLike)):
        data = Path(tokenizer).read_bytes()
        return tokenizers.loads(data, tokenizer), hashlib.sha256(data).hexdigest()
    return tokenizer, hashlib.sha256(tokenizer.to_json().encode("utf-8")).hexdigest()


def encode_text(text, tokenizer, path="<text>"):
    """Token ids of `text` as a compact array; an encoding error names `path`."""
    try:
        ids = tokenizer.encode(text)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return np.array(ids, dtype=ids_dtype(tokenizer.vocab_size))


# ---------------------------------------------------------------- cache and splits

def prepare(corpus_path, tokenizer, cache_dir, val_fraction=0.1, digest=None, test_fraction=0.0):
    """Encode a corpus (see the module docstring), caching the ids in `cache_dir`.

    `tokenizer` is a tokenizer or the path of a saved one (`digest`: its file's, if known).
    Returns {"train": ids, "val": ids} plus "test" when the corpus gives one; a single file
    is split by token position: train, then `val_fraction` of its tokens for val, then
    `test_fraction` for test (the thesis's 80/10/10)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    files = corpus_files(corpus_path)
    if digest is None:
        tokenizer, digest = tokenizer_and_digest(tokenizer)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    splits = {split: encode_file(path, tokenizer, digest, cache_dir)
              for split, path in files.items()}
    if "all" in splits:
        return split_by_position(splits["all"], val_fraction, files["all"], test_fraction)
    return splits


def encode_file(path, tokenizer, tokenizer_digest, cache_dir):
    """The ids of a corpus file: from the cache when it holds them, else encoded and cached."""
    data = read_bytes(path)
    key = hashlib.sha256(b"\n".join([CACHE_FORMAT, hashlib.sha256(data).digest(),
                                     tokenizer_digest.encode()])).hexdigest()[:20]
    cache_path = cache_dir / f"{Path(path).name}-{key}.npy"
    if cache_path.is_file():
        with contextlib.suppress(ValueError, OSError, EOFError):
            return np.load(cache_path, allow_pickle=False)
        # An unreadable cache file (copied in part, say) is encoded again and replaced.
    ids = encode_text(decode_utf8(data, path), tokenizer, path)
    write_atomically(cache_path, lambda f: np.save(f, ids))  # never a torn cache file
    return ids


def split_by_position(ids, val_fraction=0.1, source="corpus", test_fraction=0.0):
    """{"train": the first (1 - val_fraction) of the tokens, "val": the rest}, as nanoGPT
    does; with a `test_fraction`, the last test_fraction of the tokens are "test" and val
    is the val_fraction before them."""
    num_test = int(len(ids) * test_fraction)
    num_train = int(len(ids) * (1 - val_fraction - test_fraction))
    end_val = len(ids) - num_test
    if num_train == 0 or num_train == end_val or (test_fraction and num_test == 0):
        raise ValueError(f"{source}: too few tokens ({len(ids)}) to split into train and val "
                         f"with val_fraction={val_fraction}, test_fraction={test_fraction}")
    splits = {"train": ids[:num_train], "val": ids[num_train:end_val]}
    if test_fraction:
        splits["test"] = ids[end_val:]
    return splits


# ---------------------------------------------------------------- batches

def to_ids(array, device):
    """An int64 id tensor from a NumPy batch."""
    return mg.tensor(array, dtype=mg.int64, device=device)


def device_of(model):  # where a model's batches go
    return next(iter(model.parameters())).device


def get_batch(ids, batch_size, block_size, rng):
    """Random windows for next-token training: x = ids[s:s+T], y = ids[s+1:s+T+1] per row.

    Starts s are drawn uniformly from every full window, with `rng` (a numpy Generator).
    Returns int64 arrays x, y of shape (batch_size, block_size).
    """
    ids = as_ids(ids)
    check_sizes(batch_size=batch_size, block_size=block_size)
    check_window_fits(len(ids), block_size)
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    return windows(ids, starts, block_size)


def get_context_batch(ids, batch_size, context, rng):
    """Fixed-context examples for an MLP language model: the `context` previous tokens -> the next.

    Returns int64 x of shape (batch_size, context) and y of shape (batch_size,); the same
    draws as get_batch, keeping only each window's last target.
    """
    x, y = get_batch(ids, batch_size, context, rng)
    return x, y[:, -1]


def iter_eval_windows(ids, block_size, batch_size):
    """Batches (x, y, mask) whose masked-in targets are every target of `ids` exactly once.

    Windows of block_size tokens start at 0, T, 2T, ...; where those leave targets at the end,
    one more window ends at the last token, and the targets it shares with earlier windows are
    masked out. `mask` is a bool array shaped like y: True where that target counts. The mean
    loss over the split is sum(loss * mask) / sum(mask); sum(mask) over all batches is
    len(ids) - 1. x and y are int64 of shape (b, block_size), b = batch_size except perhaps in
    the last batch. Errors are raised here, not when the first batch is drawn.
    """
    ids = as_ids(ids)
    check_sizes(batch_size=batch_size, block_size=block_size)
    check_window_fits(len(ids), block_size)
    starts, skips = eval_window_starts(len(ids), block_size)
    return _eval_batches(ids, starts, skips, block_size, batch_size)


def eval_window_starts(num_tokens, block_size):
    """The start of each evaluation window, and how many of its first targets to skip."""
    num_targets = num_tokens - 1  # every token but the first is a target
    starts = list(range(0, num_targets - block_size + 1, block_size))
    skips = [0] * len(starts)
    covered = len(starts) * block_size
    if covered < num_targets:
        starts.append(num_targets - block_size)
        skips.append(covered - starts[-1])
    return np.array(starts), np.array(skips)


def _eval_batches(ids, starts, skips, block_size, batch_size):
    positions = np.arange(block_size)
    for i in range(0, len(starts), batch_size):
        x, y = windows(ids, starts[i:i + batch_size], block_size)
        yield x, y, positions >= skips[i:i + batch_size, None]


class SequentialBatcher:
    """Contiguous chunks for truncated backpropagation through time (RNN/LSTM).

    The ids are cut into `batch_size` equal streams, one per batch row, dropping the tail
    that does not divide evenly (PyTorch word_language_model's batchify). Iterating yields
    (x, y) int64 chunks of shape (batch_size, seq_len) in order, y shifted by one, so row b of
    each chunk continues row b of the previous one and the hidden state can be carried over.
    The last chunk of an epoch is shorter when seq_len does not divide the stream.

    `position` is the index of the next chunk. A loop that stops early leaves it there, and
    the next loop goes on from it; a loop that reaches the end starts a new epoch next time.
    `state_dict()` / `load_state_dict()` save and restore it, so a resumed run sees the
    same chunks; the hidden state is the trainer's to save.
    """

    def __init__(self, ids, batch_size, seq_len):
        ids = as_ids(ids)
        check_sizes(batch_size=batch_size, seq_len=seq_len)
        stream_len = len(ids) // batch_size
        if stream_len < 2:
            raise ValueError(f"split has {len(ids)} tokens, too few for {batch_size} streams: "
                             f"each needs at least 2 tokens (use a smaller batch_size)")
        self.streams = ids[:stream_len * batch_size].reshape(batch_size, stream_len)
        self.num_tokens = len(ids)
        self.batch_size = batch_size
        self.seq_len = seq_len
        self.position = 0

    def __len__(self):
        """Chunks per epoch."""
        return -(-(self.streams.shape[1] - 1) // self.seq_len)

    def __iter__(self):
        if self.position >= len(self):
            self.position = 0
        while self.position < len(self):
            chunk = self.chunk(self.position)
            self.position += 1  # before yielding: a state saved after this chunk resumes after it
            yield chunk

    def chunk(self, index):
        """Chunk `index` of an epoch: (x, y), each (batch_size, up to seq_len) int64."""
        start = index * self.seq_len
        stop = min(start + self.seq_len, self.streams.shape[1] - 1)
        return (self.streams[:, start:stop].astype(np.int64),
                self.streams[:, start + 1:stop + 1].astype(np.int64))

    def state_dict(self):
        """The position, with the sizes it depends on (plain ints, ready for JSON)."""
        return {"position": self.position, "batch_size": self.batch_size,
                "seq_len": self.seq_len, "num_tokens": self.num_tokens}

    def load_state_dict(self, state):
        """Restore a position saved by state_dict, after checking that it was saved for the
        same number of tokens and the same sizes (else the chunks would differ silently)."""
        expected = self.state_dict()
        differ = [f"{name} {state.get(name)!r} (here {expected[name]!r})"
                  for name in ("batch_size", "seq_len", "num_tokens")
                  if state.get(name) != expected[name]]
        if differ:
            raise ValueError(f"batcher state was saved for other data or sizes: "
                             f"{', '.join(differ)}")
        position = state.get("position")
        if not (isinstance(position, int) and 0 <= position <= len(self)):
            raise ValueError(f"batcher state position {position!r} is not in 0..{len(self)}")
        self.position = position


# ---------------------------------------------------------------- shared checks

def windows(ids, starts, length):
    """x = ids[s:s+length] and y = ids[s+1:s+length+1] for each start s, as int64 rows."""
    rows = np.asarray(starts)[:, None] + np.arange(length)
    return ids[rows].astype(np.int64), ids[rows + 1].astype(np.int64)


def as_ids(ids):
    """`ids` as a 1-d NumPy array (a list is converted; an array is used as it is)."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"token ids should be a 1-d sequence, got shape {ids.shape}")
    return ids


def check_sizes(**sizes):
    """A ValueError unless every size is an integer >= 1."""
    for name, value in sizes.items():
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def check_window_fits(num_tokens, block_size):
    """A ValueError unless a split of num_tokens holds one window of block_size plus its target."""
    if num_tokens < block_size + 1:
        raise ValueError(
            f"split has {num_tokens} tokens, too few for one window of block_size {block_size} "
            f"(needs {block_size + 1}: the inputs plus the last target); use a smaller "
            f"block_size or a longer split")
