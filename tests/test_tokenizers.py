"""Tests for tokenizers/: round trips, known answers, file format, errors, BPE training."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tokenizers
from tokenizers import BPETokenizer, CharTokenizer, WordTokenizer, get_tokenizer_class
from tokenizers.bpe import compile_pattern, count_chunks, split_chunks, to_bytes
from tokenizers.bpe_train import learn_merges, learn_merges_textbook, merge

SHAKESPEARE = Path(__file__).resolve().parents[1] / "models" / "corpora" / "tinyshakespeare.txt"
SPECIALS = ["<|endoftext|>", "<pad>"]

# Any str: emoji, combining marks, NUL, CR/LF, other control characters.
any_text = st.text(max_size=200)
# Any str including lone surrogates, which UTF-8 cannot hold.
any_text_with_surrogates = st.text(st.characters(exclude_categories=()), max_size=100)
# Few distinct characters, so that pairs repeat and ties are common.
small_alphabet_text = st.text(alphabet="ab c\n", min_size=1, max_size=300)


@pytest.fixture(scope="module")
def shakespeare():
    return SHAKESPEARE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bpe(shakespeare):
    return BPETokenizer.train(shakespeare[:40_000], vocab_size=400, special_tokens=SPECIALS)


@pytest.fixture(scope="module")
def tokenizer_of_each_type(shakespeare, bpe):
    text = shakespeare[:20_000]
    return {"char": CharTokenizer.train(text), "word": WordTokenizer.train(text), "bpe": bpe}


# ---------------------------------------------------------------- the shared interface

def test_get_tokenizer_class():
    assert get_tokenizer_class("char") is CharTokenizer
    assert get_tokenizer_class("word") is WordTokenizer
    assert get_tokenizer_class("bpe") is BPETokenizer
    with pytest.raises(ValueError, match="unknown tokenizer 'spm'.*'char', 'word', 'bpe'"):
        get_tokenizer_class("spm")


def test_package_needs_only_the_standard_library_and_regex():
    code = ("import sys, tokenizers; "
            "print(sorted({'numpy', 'minigrad', 'models'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_save_load_gives_identical_encodings(kind, tokenizer_of_each_type, shakespeare, tmp_path):
    tok = tokenizer_of_each_type[kind]
    path = tmp_path / "tok.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["type"] == kind and data["version"] == 1
    sample = shakespeare[:20_000]
    for loaded in (tokenizers.load(path), get_tokenizer_class(kind).load(path)):
        assert type(loaded) is type(tok)
        assert loaded.vocab_size == tok.vocab_size
        assert loaded.special_tokens == tok.special_tokens
        assert loaded.encode(sample) == tok.encode(sample)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_encode_batch_and_decode_batch(kind, tokenizer_of_each_type):
    tok = tokenizer_of_each_type[kind]
    texts = ["First Citizen:", "", "You are all resolved"]
    batch = tok.encode_batch(texts)
    assert batch == [tok.encode(t) for t in texts]
    assert tok.decode_batch(batch) == [tok.decode(ids) for ids in batch]
    assert all(0 <= i < tok.vocab_size for ids in batch for i in ids)


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_decode_rejects_ids_outside_the_vocabulary(kind, tokenizer_of_each_type):
    tok = tokenizer_of_each_type[kind]
    for bad in (-1, tok.vocab_size):
        with pytest.raises(ValueError, match=f"id {bad} at position 1 is not in the vocabulary"):
            tok.decode([0, bad])


def test_loading_a_file_of_another_type_names_both_types(tokenizer_of_each_type, tmp_path):
    path = tmp_path / "bpe.json"
    tokenizer_of_each_type["bpe"].save(path)
    with pytest.raises(ValueError, match=r"bpe\.json: holds a 'bpe' tokenizer, expected 'char'"):
        CharTokenizer.load(path)


def test_loading_a_newer_version_is_refused(tokenizer_of_each_type, tmp_path):
    path = tmp_path / "word.json"
    tokenizer_of_each_type["word"].save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["version"] = 2
    path.write_text(json.dumps(data), encoding="utf-8")
    for load in (tokenizers.load, WordTokenizer.load):
        with pytest.raises(ValueError, match=r"word\.json: 'word' tokenizer format version 2"):
            load(path)


@pytest.mark.parametrize("content, message", [
    ('{"type": "bpe", "vers', r"not a tokenizer file \(expected JSON"),
    ("\xff\xfe binary", r"not a tokenizer file \(expected JSON"),
    ("[1, 2, 3]", "expected a JSON object with fields 'type' and 'version'"),
    ('{"merges": []}', "expected a JSON object with fields 'type' and 'version'"),
    ('{"type": "unigram", "version": 1}', "unknown tokenizer type 'unigram'"),
    ('{"type": "bpe", "version": 1, "pattern": "gpt4", "special_tokens": []}',
     "missing the field 'merges'"),
    ('{"type": "bpe", "version": 1, "pattern": "gpt4", "special_tokens": [], "merges": [[1]]}',
     "should hold pairs of ids"),
    ('{"type": "bpe", "version": 1, "pattern": "gpt4", "special_tokens": [],'
     ' "merges": [[97, 300]]}', "uses an id not defined before it"),
    ('{"type": "char", "version": 1, "unk": false, "chars": "abc"}',
     "field 'chars' should be list, got str"),
    ('{"type": "char", "version": 1, "unk": false, "chars": ["a", "a"]}', "must be distinct"),
])
def test_corrupted_files_give_clear_errors(content, message, tmp_path):
    path = tmp_path / "broken.json"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match=r"broken\.json: .*" + message):
        tokenizers.load(path)


# ---------------------------------------------------------------- character tokenizer

def test_char_vocabulary_of_tiny_shakespeare_has_65_symbols(shakespeare):
    tok = CharTokenizer.train(shakespeare)
    assert tok.vocab_size == 65
    assert tok.encode("\n !") == [0, 1, 2]  # ids follow the sorted characters
    assert tok.decode(tok.encode(shakespeare)) == shakespeare


@settings(max_examples=100, deadline=None)
@given(any_text_with_surrogates)
def test_char_round_trip_with_complete_vocabulary(text):
    tok = CharTokenizer.train(text + "x")
    assert tok.decode(tok.encode(text)) == text


def test_char_unknown_character_is_an_error_naming_it_and_its_position():
    tok = CharTokenizer.train("hello")
    with pytest.raises(ValueError, match=r"character 'é' at position 3 is not in the vocabulary"):
        tok.encode("hhhé")


def test_char_unknown_character_maps_to_unk_when_asked():
    tok = CharTokenizer.train("hello", unk=True)
    assert tok.special_tokens == {"<unk>": 0} and tok.unk_id == 0
    assert tok.encode("helé") == [2, 1, 3, 0]
    assert tok.decode(tok.encode("helé")) == "hel<unk>"
    assert tok.vocab_size == 5  # <unk> e h l o


def test_char_save_load_keeps_lone_surrogates_and_non_ascii(tmp_path):
    tok = CharTokenizer.train("ñ\ud800😀\x00")
    tok.save(tmp_path / "c.json")
    assert tokenizers.load(tmp_path / "c.json").tokens == tok.tokens


def test_char_empty_text_is_an_error():
    with pytest.raises(ValueError, match="empty text"):
        CharTokenizer.train("")


# ---------------------------------------------------------------- word tokenizer

def test_word_ids_specials_first_then_by_frequency_then_first_occurrence():
    tok = WordTokenizer.train("b a a c b a,\nd")
    # a: 3, b: 2, then c , \n d once each, in order of first occurrence
    assert tok.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c", ",", "\n", "d"]
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    assert tok.encode("a zebra, b") == [4, 1, 7, 5]
    assert tok.decode([2, 4, 1, 7, 5, 3]) == "<bos> a <unk>, b <eos>"


def test_word_min_freq_and_max_vocab():
    text = "the cat the dog the cat a"
    assert WordTokenizer.train(text, min_freq=2).tokens[4:] == ["the", "cat"]
    assert WordTokenizer.train(text, max_vocab=6).tokens[4:] == ["the", "cat"]
    assert WordTokenizer.train(text, max_vocab=6).vocab_size == 6
    with pytest.raises(ValueError, match="max_vocab must exceed the 4 special tokens"):
        WordTokenizer.train(text, max_vocab=4)
    with pytest.raises(ValueError, match="min_freq must be >= 1"):
        WordTokenizer.train(text, min_freq=0)


def test_word_lowercase_option():
    tok = WordTokenizer.train("The the THE", lower=True)
    assert tok.tokens[4:] == ["the"]
    assert tok.encode("tHe") == [4]
    assert WordTokenizer.train("The the").tokens[4:] == ["The", "the"]


def test_word_decode_spacing_rules():
    text = ("¿Qué dijo?  ¡Sí, señor! (y luego) «bien» \"en comillas\", dijo.\n\n"
            "Don't   go to-morrow; [ok] {x}: 50 %")
    tok = WordTokenizer.train(text)
    assert tok.decode(tok.encode(text)) == (
        "¿Qué dijo? ¡Sí, señor! (y luego) «bien» \"en comillas\", dijo.\n\n"
        "Don't go to-morrow; [ok] {x}: 50%")


def test_word_keeps_spanish_words_whole_and_newlines_as_tokens():
    tok = WordTokenizer.train("El ingenioso hidalgo\ndon Quijote, señor de la Mancha.", lower=True)
    assert "señor" in tok.token_to_id and "\n" in tok.token_to_id
    assert tok.decode(tok.encode("Don Quijote\nde la MANCHA")) == "don quijote\nde la mancha"


@settings(max_examples=100, deadline=None)
@given(any_text, st.booleans())
def test_word_round_trip_of_the_normalised_form(text, lower):
    tok = WordTokenizer.train(text + " x", lower=lower)
    normal = tok.normalize(text)
    assert tok.decode(tok.encode(text)) == normal
    assert tok.decode(tok.encode(normal)) == normal  # normalising twice changes nothing


def test_word_empty_text_is_an_error():
    with pytest.raises(ValueError, match="empty text"):
        WordTokenizer.train("")


# ---------------------------------------------------------------- BPE: known answers

def test_bpe_learns_the_merges_computed_by_hand():
    # "aaabdaaabac" is one chunk. Ties go to the smallest pair (a, b).
    #   (97, 97)   "aa"  4 times                 -> 256: 256 a b d 256 a b a c
    #   (97, 98)   "ab"  2 (ties with (256, 97)) -> 257: 256 257 d 256 257 a c
    #   (256, 257) "aaab" 2                      -> 258: 258 d 258 a c
    #   then every pair occurs once, so the smallest pair goes first each time:
    #   (97, 99) "ac" -> 259: 258 d 258 259;  (100, 258) "daaab" -> 260: 258 260 259;
    #   (258, 260) -> 261: 261 259;  (261, 259) -> 262: the whole chunk is one token.
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=263)
    assert tok.merges == [(97, 97), (97, 98), (256, 257), (97, 99), (100, 258), (258, 260),
                          (261, 259)]
    assert tok.vocab[262] == b"aaabdaaabac"
    assert tok.encode("aaabdaaabac") == [262]
    assert tok.encode("aaab") == [258]


def test_bpe_counts_distinct_chunks_weighted_by_frequency():
    # GPT-2 chunks: "ab", " ab", " abc" (a=97 b=98 c=99 space=32)
    #   (97, 98) 3 times -> 256;  then (32, 256) twice -> 257;  then (257, 99) -> 258
    tok = BPETokenizer.train("ab ab abc", vocab_size=259, pattern="gpt2")
    assert tok.merges == [(97, 98), (32, 256), (257, 99)]
    assert tok.encode("ab ab abc") == [256, 257, 258]


def test_bpe_pre_split_patterns():
    text = "Hello world's 12345!!\n\n  ok"
    assert split_chunks(text, compile_pattern("gpt4")) == [
        "Hello", " world", "'s", " ", "123", "45", "!!\n\n", " ", " ok"]
    assert split_chunks(text, compile_pattern("gpt2")) == [
        "Hello", " world", "'s", " 12345", "!!", "\n\n ", " ok"]


def test_bpe_stops_early_when_the_text_runs_out_of_pairs():
    with pytest.warns(UserWarning, match="yields only 7 merges, not 10"):
        tok = BPETokenizer.train("aaabdaaabac", vocab_size=266)
    assert tok.vocab_size == 263


# ---------------------------------------------------------------- BPE: training algorithm

def test_bpe_incremental_training_equals_textbook_recount(shakespeare):
    chunk_counts = count_chunks(shakespeare[:20_000], compile_pattern("gpt4"))
    chunks = [to_bytes(chunk) for chunk, _ in chunk_counts]
    counts = [count for _, count in chunk_counts]
    assert learn_merges(chunks, counts, 150) == learn_merges_textbook(chunks, counts, 150)


@settings(max_examples=100, deadline=None)
@given(small_alphabet_text)
def test_bpe_incremental_training_equals_textbook_recount_with_many_ties(text):
    chunk_counts = count_chunks(text, compile_pattern("gpt2"))
    chunks = [to_bytes(chunk) for chunk, _ in chunk_counts]
    counts = [count for _, count in chunk_counts]
    assert learn_merges(chunks, counts, 40) == learn_merges_textbook(chunks, counts, 40)


def test_bpe_training_twice_gives_identical_files(shakespeare, tmp_path):
    text = shakespeare[:30_000]
    for name in ("a.json", "b.json"):
        BPETokenizer.train(text, vocab_size=350, special_tokens=SPECIALS).save(tmp_path / name)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


@settings(max_examples=50, deadline=None)
@given(any_text)
def test_bpe_encode_by_rank_equals_applying_merges_in_training_order(bpe, text):
    expected = []
    for chunk in split_chunks(text, bpe.split_pattern):
        ids = list(to_bytes(chunk))
        for new_id, pair in enumerate(bpe.merges, start=256):
            ids = merge(ids, pair, new_id)
        expected.extend(ids)
    assert bpe.encode(text) == expected


# ---------------------------------------------------------------- BPE: round trips

@settings(max_examples=200, deadline=None)
@given(any_text)
def test_bpe_round_trip_is_exact_for_any_text(bpe, text):
    ids = bpe.encode(text)
    assert all(0 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == text


@settings(max_examples=100, deadline=None)
@given(any_text_with_surrogates)
def test_bpe_round_trip_keeps_lone_surrogates(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text


@pytest.mark.parametrize("text", ["", "\x00", "\r\n\r\n", "a" * 5000, "🙂" * 100, "e\u0301" * 50,
                                  "<|endoftext|" + "<pad>" * 3, "\ud83d\ude00 lone halves"])
def test_bpe_round_trip_edge_cases(bpe, text):
    assert bpe.decode(bpe.encode(text)) == text


def test_bpe_round_trip_on_shakespeare_slice(bpe, shakespeare):
    text = shakespeare[100_000:150_000]
    ids = bpe.encode(text)
    assert bpe.decode(ids) == text
    assert len(text) / len(ids) > 1.7  # 144 merges already shorten Shakespeare a lot


def test_bpe_decode_of_a_split_character_gives_replacement_characters(bpe):
    ids = bpe.encode("é")  # bytes c3 a9, no merge for them in an English vocabulary
    assert ids == [0xC3, 0xA9]
    assert bpe.decode(ids[:1]) == "\ufffd"


@pytest.mark.parametrize("pattern", [r"\w+", r"(\w)+", r"[a-z]*"])
def test_bpe_custom_patterns_stay_lossless(pattern):
    text = "Hello, world! 123 foo-bar\n"
    tok = BPETokenizer.train(text * 3, vocab_size=262, pattern=pattern)
    assert tok.decode(tok.encode(text)) == text


# ---------------------------------------------------------------- BPE: special tokens

def test_bpe_special_tokens_get_ids_after_the_merges_and_are_never_split(bpe):
    assert bpe.special_tokens == {"<|endoftext|>": 398, "<pad>": 399}
    assert bpe.pad_id == 399 and bpe.eos_id is None
    ids = bpe.encode("the end<|endoftext|>First<pad><pad>")
    assert ids.count(398) == 1 and ids.count(399) == 2
    assert ids[-2:] == [399, 399]
    assert bpe.decode(ids) == "the end<|endoftext|>First<pad><pad>"


def test_bpe_longer_special_token_wins_over_its_prefix():
    tok = BPETokenizer.train("some text", vocab_size=260, special_tokens=["<a>", "<a><b>"])
    assert tok.encode("<a><b><a>") == [tok.special_tokens["<a><b>"], tok.special_tokens["<a>"]]


def test_bpe_training_ignores_special_tokens():
    tok = BPETokenizer.train("<eos>" * 50 + "ab", vocab_size=258, special_tokens=["<eos>"])
    assert tok.merges == [(97, 98)]


@pytest.mark.parametrize("kwargs, message", [
    (dict(text="", vocab_size=300), "empty text"),
    (dict(text="abc", vocab_size=255), "vocab_size must be an int >= 256"),
    (dict(text="abc", vocab_size=257, special_tokens=["<a>", "<b>"]),
     r"vocab_size must be an int >= 256 \(the byte tokens\) \+ 2 \(special tokens\), got 257"),
    (dict(text="abc", vocab_size=300, special_tokens=["<a>", "<a>"]),
     "special token '<a>' is given twice"),
    (dict(text="abc", vocab_size=300, special_tokens=["a"]),
     "special token 'a' equals an ordinary token"),
    (dict(text="abc", vocab_size=300, special_tokens=[""]), "non-empty strings"),
    (dict(text="abc", vocab_size=300, pattern="gpt5("), "neither one of"),
])
def test_bpe_training_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BPETokenizer.train(**kwargs)


def test_bpe_special_token_colliding_with_a_learned_token_is_an_error():
    merges = BPETokenizer.train("abab abab", vocab_size=259).merges
    with pytest.raises(ValueError, match="special token 'ab' equals an ordinary token"):
        BPETokenizer(merges, special_tokens=["ab"])


# ---------------------------------------------------------------- BPE: dropout

def test_bpe_dropout_is_seeded_lossless_and_splits_more(bpe, shakespeare):
    text = shakespeare[:5_000]
    plain = bpe.encode(text)
    assert bpe.encode(text, dropout=0.0, seed=1) == plain
    dropped = bpe.encode(text, dropout=0.3, seed=1)
    assert dropped == bpe.encode(text, dropout=0.3, seed=1)
    assert dropped != bpe.encode(text, dropout=0.3, seed=2)
    assert len(dropped) > len(plain)
    assert bpe.decode(dropped) == text
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        bpe.encode(text, dropout=1.0)
