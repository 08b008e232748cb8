"""Tests for models/data.py: corpus splits, id dtypes, the cache, errors and the three batchers."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tokenizers
from models.corpus import corpus_files, default_corpus_path, training_text
from models.data import (SequentialBatcher, build_tokenizer, get_batch, get_context_batch,
                         ids_dtype, iter_eval_windows, prepare)
from tokenizers import BPETokenizer, CharTokenizer, WordTokenizer

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20
few = settings(max_examples=60, deadline=None)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture
def char_tok():
    return CharTokenizer.train(TEXT)


def count_encodes(monkeypatch, cls):
    """Wrap cls.encode so the test can see how often the corpus was tokenized."""
    calls = []
    original = cls.encode

    def encode(self, text, **kwargs):
        calls.append(len(text))
        return original(self, text, **kwargs)

    monkeypatch.setattr(cls, "encode", encode)
    return calls


# ---------------------------------------------------------------- corpora and splits

def test_bundled_shakespeare_splits_as_nanogpt(tmp_path):
    path = default_corpus_path()
    assert path.stat().st_size == 1_115_394
    tok = CharTokenizer.train(training_text(path))
    assert tok.vocab_size == 65
    splits = prepare(path, tok, tmp_path)
    assert {name: len(ids) for name, ids in splits.items()} == {"train": 1_003_854, "val": 111_540}
    assert splits["train"].dtype == np.uint16
    assert tok.decode(splits["train"][:14].tolist()) == "First Citizen:"


@pytest.mark.parametrize("val_fraction", [0.1, 0.25, 0.5])
def test_single_file_splits_by_token_position(corpus, char_tok, tmp_path, val_fraction):
    splits = prepare(corpus, char_tok, tmp_path / "cache", val_fraction=val_fraction)
    assert set(splits) == {"train", "val"}
    num_train = int(len(TEXT) * (1 - val_fraction))
    assert len(splits["train"]) == num_train
    assert len(splits["val"]) == len(TEXT) - num_train
    whole = np.concatenate([splits["train"], splits["val"]]).tolist()
    assert whole == char_tok.encode(TEXT)


@pytest.mark.parametrize("names", [
    {"train": "wiki.train.tokens", "val": "wiki.valid.tokens", "test": "wiki.test.tokens"},
    {"train": "train.txt", "val": "valid.txt", "test": "test.txt"},
    {"train": "train.txt", "val": "val.txt"},
])
def test_directory_gives_its_own_splits(tmp_path, names):
    texts = {"train": TEXT, "val": TEXT[:300], "test": TEXT[:200]}
    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    for split, name in names.items():
        (corpus_dir / name).write_text(texts[split], encoding="utf-8")
    tok = WordTokenizer.train(training_text(corpus_dir))
    splits = prepare(corpus_dir, tok, tmp_path / "cache", val_fraction=0.5)
    assert set(splits) == set(names)
    for split, ids in splits.items():
        assert ids.tolist() == tok.encode(texts[split])


def test_mapping_gives_splits_from_anywhere(tmp_path, char_tok):
    paths = {}
    for split, text in {"train": TEXT, "valid": TEXT[:100]}.items():
        paths[split] = tmp_path / f"{split}.data"
        paths[split].write_text(text, encoding="utf-8")
    splits = prepare(paths, char_tok, tmp_path / "cache")
    assert set(splits) == {"train", "val"}
    assert len(splits["val"]) == 100
    with pytest.raises(ValueError, match="without val"):
        corpus_files({"train": paths["train"]})
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        corpus_files({"train": paths["train"], "dev": paths["valid"]})


def test_val_fraction_and_tiny_corpus_errors(tmp_path, char_tok):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("F", encoding="utf-8")
    with pytest.raises(ValueError, match=r"tiny.txt: too few tokens \(1\) to split"):
        prepare(tiny, char_tok, tmp_path / "cache", val_fraction=0.1)
    with pytest.raises(ValueError, match="val_fraction must be between 0 and 1"):
        prepare(tiny, char_tok, tmp_path / "cache", val_fraction=1.0)


# ---------------------------------------------------------------- clear errors

def test_missing_corpus_names_path_and_expectation(tmp_path, char_tok):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match=f"{missing}: no such corpus file or directory"):
        prepare(missing, char_tok, tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match=f"{missing}: no such corpus file"):
        prepare({"train": missing, "val": missing}, char_tok, tmp_path / "cache")


def test_directory_without_train_split_lists_names(tmp_path, char_tok):
    # Like the shared WikiText-2 folder, which has valid and test only.
    (tmp_path / "valid.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "test.txt").write_text(TEXT, encoding="utf-8")
    with pytest.raises(FileNotFoundError,
                       match=r"no train split \(expected one of wiki.train.tokens, train.txt; "
                             r"found test.txt, valid.txt\)"):
        prepare(tmp_path, char_tok, tmp_path / "cache")


def test_empty_file(tmp_path, char_tok):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{empty}: corpus file is empty"):
        prepare(empty, char_tok, tmp_path / "cache")


def test_non_utf8_file(tmp_path, char_tok):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Se\u00f1or Quijote".encode("latin-1"))
    with pytest.raises(ValueError, match=f"{latin1}: not UTF-8 text \\(byte 0xf1 at offset 2"):
        prepare(latin1, char_tok, tmp_path / "cache")
    with pytest.raises(ValueError, match="not UTF-8"):
        training_text(latin1)


def test_encoding_error_names_the_file(tmp_path, char_tok):
    (tmp_path / "train.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "valid.txt").write_text("x-ray", encoding="utf-8")
    with pytest.raises(ValueError, match=r"valid.txt: character 'x' at position 0"):
        prepare(tmp_path, char_tok, tmp_path / "cache")


# ---------------------------------------------------------------- dtypes

def test_ids_dtype_boundary():
    assert ids_dtype(65) == np.uint16
    assert ids_dtype(65_536) == np.uint16
    assert ids_dtype(65_537) == np.uint32


def test_large_vocabulary_is_stored_as_uint32(tmp_path):
    path = tmp_path / "many_words.txt"
    path.write_text(" ".join(f"w{i}" for i in range(70_000)), encoding="utf-8")
    tok = build_tokenizer("word", training_text(path))
    assert tok.vocab_size > 65_536
    splits = prepare(path, tok, tmp_path / "cache")
    assert splits["train"].dtype == np.uint32
    assert int(splits["val"][-1]) == tok.vocab_size - 1


# ---------------------------------------------------------------- cache

def test_second_run_reads_the_cache_without_tokenizing(corpus, char_tok, tmp_path, monkeypatch):
    calls = count_encodes(monkeypatch, CharTokenizer)
    cache = tmp_path / "cache"
    first = prepare(corpus, char_tok, cache)
    assert calls == [len(TEXT)]
    tok_path = tmp_path / "tokenizer.json"
    char_tok.save(tok_path)
    for tokenizer in (char_tok, tok_path):  # a saved tokenizer has the same key as the object
        second = prepare(corpus, tokenizer, cache)
        assert calls == [len(TEXT)]
        for split in first:
            np.testing.assert_array_equal(first[split], second[split])
            assert second[split].dtype == np.uint16
    assert [p.suffix for p in cache.iterdir()] == [".npy"]  # no temporary files left behind


def test_cache_is_invalidated_when_the_corpus_changes(corpus, char_tok, tmp_path, monkeypatch):
    calls = count_encodes(monkeypatch, CharTokenizer)
    cache = tmp_path / "cache"
    prepare(corpus, char_tok, cache)
    corpus.write_text(TEXT.replace("speak", "spear"), encoding="utf-8")
    splits = prepare(corpus, char_tok, cache)
    assert len(calls) == 2
    assert char_tok.decode(splits["val"].tolist()).endswith("hear me spear.\n")


def test_cache_is_invalidated_when_the_tokenizer_changes(corpus, tmp_path, monkeypatch):
    calls = count_encodes(monkeypatch, CharTokenizer)
    cache = tmp_path / "cache"
    prepare(corpus, CharTokenizer.train(TEXT), cache)
    splits = prepare(corpus, CharTokenizer.train(TEXT, unk=True), cache)
    assert len(calls) == 2
    assert splits["train"].min() >= 1  # id 0 is <unk> in the second tokenizer


def test_unreadable_cache_is_encoded_again(corpus, char_tok, tmp_path, monkeypatch):
    calls = count_encodes(monkeypatch, CharTokenizer)
    cache = tmp_path / "cache"
    first = prepare(corpus, char_tok, cache)
    (cache_file,) = cache.iterdir()
    cache_file.write_bytes(cache_file.read_bytes()[:20])
    second = prepare(corpus, char_tok, cache)
    assert len(calls) == 2
    np.testing.assert_array_equal(first["train"], second["train"])
    np.load(cache_file)  # whole again


def test_failed_cache_write_leaves_no_file(corpus, char_tok, tmp_path, monkeypatch):
    def failing_save(f, array):
        f.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", failing_save)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="disk full"):
        prepare(corpus, char_tok, cache)
    assert list(cache.iterdir()) == []


# ---------------------------------------------------------------- build_tokenizer

def test_build_tokenizer_of_each_kind():
    assert isinstance(build_tokenizer("char", TEXT), CharTokenizer)
    word = build_tokenizer("word", TEXT, lower=True, min_freq=20, max_vocab=None)
    assert isinstance(word, WordTokenizer) and "first" in word.token_to_id
    assert word.vocab_size == 4 + len(set(word.encode(TEXT)) - {word.unk_id})
    bpe = build_tokenizer("bpe", TEXT, vocab_size=260, min_freq=None)
    assert isinstance(bpe, BPETokenizer) and bpe.vocab_size == 260


def test_build_tokenizer_errors():
    with pytest.raises(ValueError, match="the char tokenizer does not take vocab_size; "
                                         "its options are unk"):
        build_tokenizer("char", TEXT, vocab_size=300)
    with pytest.raises(ValueError, match="the bpe tokenizer needs vocab_size"):
        build_tokenizer("bpe", TEXT)
    with pytest.raises(ValueError, match="unknown tokenizer 'spm'"):
        build_tokenizer("spm", TEXT)


def test_built_tokenizer_round_trips_through_a_file(tmp_path):
    tok = build_tokenizer("word", TEXT, min_freq=2)
    tok.save(tmp_path / "tok.json")
    assert tokenizers.load(tmp_path / "tok.json").encode(TEXT) == tok.encode(TEXT)


# ---------------------------------------------------------------- random windows

@few
@given(n=st.integers(2, 300), batch_size=st.integers(1, 16), block_size=st.integers(1, 40),
       seed=st.integers(0, 2**32 - 1))
def test_get_batch_shapes_and_shift(n, batch_size, block_size, seed):
    block_size = min(block_size, n - 1)
    ids = np.arange(n, dtype=np.uint16)
    x, y = get_batch(ids, batch_size, block_size, np.random.default_rng(seed))
    assert x.shape == y.shape == (batch_size, block_size)
    assert x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(y, x + 1)  # ids are positions: y is x shifted by one
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)  # each row is a contiguous window
    assert x.min() >= 0 and y.max() <= n - 1


def test_get_batch_reaches_every_window():
    ids = np.arange(12)
    x, _ = get_batch(ids, 2000, 4, np.random.default_rng(0))
    assert set(x[:, 0].tolist()) == set(range(12 - 4))


def test_get_batch_is_deterministic_and_resumes_from_rng_state():
    ids = np.arange(1000) % 97
    rng = np.random.default_rng(1234)
    batches = [get_batch(ids, 4, 8, rng) for _ in range(3)]
    again = np.random.default_rng(1234)
    for x, y in batches:
        x2, y2 = get_batch(ids, 4, 8, again)
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)

    rng = np.random.default_rng(7)
    get_batch(ids, 4, 8, rng)
    saved = rng.bit_generator.state
    expected = get_batch(ids, 4, 8, rng)
    resumed = np.random.default_rng()
    resumed.bit_generator.state = saved
    np.testing.assert_array_equal(get_batch(ids, 4, 8, resumed)[0], expected[0])


def test_get_batch_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="split has 8 tokens, too few for one window of "
                                         "block_size 8 \\(needs 9"):
        get_batch(np.arange(8), 2, 8, rng)
    get_batch(np.arange(9), 2, 8, rng)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        get_batch(np.arange(9), 0, 8, rng)
    with pytest.raises(ValueError, match="1-d sequence"):
        get_batch(np.zeros((3, 3), dtype=int), 2, 1, rng)


def test_get_context_batch():
    ids = np.arange(50, dtype=np.uint16)
    x, y = get_context_batch(ids, 6, 3, np.random.default_rng(0))
    assert x.shape == (6, 3) and y.shape == (6,)
    assert x.dtype == y.dtype == np.int64
    np.testing.assert_array_equal(y, x[:, -1] + 1)
    x_full, y_full = get_batch(ids, 6, 3, np.random.default_rng(0))  # same draws as get_batch
    np.testing.assert_array_equal(x, x_full)
    np.testing.assert_array_equal(y, y_full[:, -1])


# ---------------------------------------------------------------- sequential chunks

@few
@given(n=st.integers(2, 300), batch_size=st.integers(1, 8), seq_len=st.integers(1, 30))
def test_sequential_batcher_covers_each_stream_contiguously(n, batch_size, seq_len):
    batch_size = min(batch_size, n // 2)
    ids = np.arange(n, dtype=np.uint16)
    batcher = SequentialBatcher(ids, batch_size, seq_len)
    chunks = list(batcher)
    assert len(chunks) == len(batcher)
    stream_len = n // batch_size
    x = np.concatenate([c[0] for c in chunks], axis=1)
    y = np.concatenate([c[1] for c in chunks], axis=1)
    starts = np.arange(batch_size)[:, None] * stream_len
    np.testing.assert_array_equal(x, starts + np.arange(stream_len - 1))
    np.testing.assert_array_equal(y, x + 1)
    assert all(c[0].shape == (batch_size, seq_len) for c in chunks[:-1])
    assert all(c[0].dtype == np.int64 for c in chunks)


@few
@given(n=st.integers(4, 200), batch_size=st.integers(1, 4), seq_len=st.integers(1, 10),
       stop=st.integers(0, 60))
def test_sequential_batcher_resumes_exactly(n, batch_size, seq_len, stop):
    batch_size = min(batch_size, n // 2)
    ids = np.arange(n)
    reference = SequentialBatcher(ids, batch_size, seq_len)
    epochs = list(reference) + list(reference)  # two epochs, uninterrupted

    first = SequentialBatcher(ids, batch_size, seq_len)
    stop = min(stop, len(epochs))
    seen = []
    while len(seen) < stop:  # consume `stop` chunks, breaking off mid-epoch
        for chunk in first:
            seen.append(chunk)
            if len(seen) == stop:
                break
    resumed = SequentialBatcher(ids, batch_size, seq_len)
    resumed.load_state_dict(first.state_dict())
    while len(seen) < len(epochs):
        seen.extend(resumed)
    for (x, y), (x2, y2) in zip(seen, epochs, strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)


def test_sequential_batcher_len_and_new_epoch():
    batcher = SequentialBatcher(np.arange(23), 2, 4)  # streams of 11: 10 targets, chunks 4, 4, 2
    assert len(batcher) == 3
    assert [x.shape[1] for x, _ in batcher] == [4, 4, 2]
    assert batcher.state_dict() == {"position": 3, "batch_size": 2, "seq_len": 4,
                                    "num_tokens": 23}
    np.testing.assert_array_equal(next(iter(batcher))[0], [[0, 1, 2, 3], [11, 12, 13, 14]])


def test_sequential_batcher_errors():
    with pytest.raises(ValueError, match="5 tokens, too few for 3 streams"):
        SequentialBatcher(np.arange(5), 3, 4)
    batcher = SequentialBatcher(np.arange(100), 4, 5)
    state = batcher.state_dict()
    with pytest.raises(ValueError, match="seq_len 5 \\(here 6\\)"):
        SequentialBatcher(np.arange(100), 4, 6).load_state_dict(state)
    with pytest.raises(ValueError, match="num_tokens 100 \\(here 101\\)"):
        SequentialBatcher(np.arange(101), 4, 5).load_state_dict(state)
    with pytest.raises(ValueError, match="position 99 is not in 0..5"):
        batcher.load_state_dict({**state, "position": 99})


# ---------------------------------------------------------------- evaluation windows

@few
@given(n=st.integers(2, 400), block_size=st.integers(1, 50), batch_size=st.integers(1, 9))
def test_eval_windows_cover_every_target_exactly_once(n, block_size, batch_size):
    block_size = min(block_size, n - 1)
    ids = np.arange(n, dtype=np.uint16)
    counts = np.zeros(n, dtype=int)
    for x, y, mask in iter_eval_windows(ids, block_size, batch_size):
        assert x.shape == y.shape == mask.shape
        assert 1 <= x.shape[0] <= batch_size and x.shape[1] == block_size
        assert x.dtype == y.dtype == np.int64 and mask.dtype == bool
        np.testing.assert_array_equal(y, x + 1)
        np.testing.assert_array_equal(np.diff(x, axis=1), 1)
        np.add.at(counts, y[mask], 1)
    assert counts[0] == 0 and (counts[1:] == 1).all()  # y values are target positions


def test_eval_windows_mask_the_overlap_of_the_last_window():
    batches = list(iter_eval_windows(np.arange(11), 4, 8))  # targets 1..10
    assert len(batches) == 1
    x, y, mask = batches[0]
    np.testing.assert_array_equal(y, [[1, 2, 3, 4], [5, 6, 7, 8], [7, 8, 9, 10]])
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1]])


def test_eval_windows_error_is_raised_at_the_call():
    with pytest.raises(ValueError, match="split has 4 tokens, too few"):
        iter_eval_windows(np.arange(4), 4, 2)
