"""BPETokenizer from tiktoken ranks files, and allowed_special / disallowed_special.

The ranks files are built here from a tokenizer trained on Tiny Shakespeare, with the 256
single bytes in a shuffled order (as GPT-2's file has them), so ids differ from byte values.
tiktoken itself is a second oracle where it is installed (it needs no network for ranks it
is given); its own cl100k_base file is compared only when tiktoken's cache already holds it.
"""
import base64
import hashlib
import os
import random
import tempfile
from pathlib import Path

import pytest

import tokenizers
from tokenizers import BPETokenizer
from tokenizers.bpe import PATTERNS
from tokenizers.bpe_ranks import RankedBPETokenizer, read_ranks

SPECIALS = {"<|endoftext|>": 700, "<|fim_prefix|>": 701, "<|endofprompt|>": 705}
SAMPLES = ["Hello world", "  leading and trailing  ", "ROMEO:\nWhat, ho! 12345 apothecary!\n\n  ",
           "héllo wörld — ünïcode 日本語 🎉", "it's they'll WE'RE", "tabs\tand\r\nlines\n",
           "a<|endoftext|>b", ""]


@pytest.fixture(scope="module")
def shakespeare():
    return (Path(__file__).parents[1] / "models" / "corpora" / "tinyshakespeare.txt").read_text()


@pytest.fixture(scope="module")
def trained(shakespeare):
    return BPETokenizer.train(shakespeare[:30_000], 700, pattern="cl100k")


@pytest.fixture(scope="module")
def ranks_file(trained, tmp_path_factory):
    """(path, old id -> rank): the trained vocabulary as a ranks file, bytes shuffled."""
    order = list(range(256))
    random.Random(0).shuffle(order)
    order += range(256, trained.vocab_size)
    path = tmp_path_factory.mktemp("ranks") / "toy.tiktoken"
    lines = [f"{base64.b64encode(trained.vocab[i]).decode()} {rank}"
             for rank, i in enumerate(order)]
    random.Random(1).shuffle(lines)  # a file need not be sorted
    path.write_text("\n".join(lines) + "\n")
    return path, {i: rank for rank, i in enumerate(order)}


@pytest.fixture(scope="module")
def ranked(ranks_file):
    return BPETokenizer.from_tiktoken(ranks_file[0], pattern="cl100k", special_tokens=SPECIALS)


def test_ranks_give_the_tokens_of_the_merges_they_came_from(trained, ranks_file, ranked,
                                                             shakespeare):
    _, rank_of = ranks_file
    text = shakespeare[30_000:40_000]
    assert ranked.encode(text) == [rank_of[i] for i in trained.encode(text)]
    for text in SAMPLES:
        ids = ranked.encode(text, allowed_special=set(), disallowed_special=())
        assert ids == [rank_of[i] for i in trained.encode(text)], text
        assert ranked.decode(ids) == text


def test_a_hand_made_ranks_file(tmp_path):
    # Ranks: the bytes in reverse order, then "ab", "abc", "bc". The chunk "xabcd" starts as
    # bytes, joins "ab" (rank 256, the lowest), then "abc" (257): x, abc, d.
    tokens = [bytes([255 - b]) for b in range(256)] + [b"ab", b"abc", b"bc"]
    path = tmp_path / "hand.tiktoken"
    path.write_text("".join(f"{base64.b64encode(t).decode()} {r}\n" for r, t in enumerate(tokens)))
    tok = BPETokenizer.from_tiktoken(path, pattern="r50k")
    assert tok.encode("abc") == [257]  # a whole chunk that is a token
    assert tok.encode("xabcd") == [255 - ord("x"), 257, 255 - ord("d")]
    assert tok.encode("bcd") == [258, 255 - ord("d")]
    assert tok.decode(tok.encode("xabcd bc")) == "xabcd bc"


def test_allowed_and_disallowed_special_follow_tiktoken(ranked):
    eot = SPECIALS["<|endoftext|>"]
    text = "a<|endoftext|>b"
    assert ranked.encode(text) == ranked.encode("a") + [eot] + ranked.encode("b")  # default
    assert ranked.encode(text, allowed_special="all") == ranked.encode(text)
    assert ranked.encode(text, allowed_special={"<|endoftext|>"}) == ranked.encode(text)
    with pytest.raises(ValueError, match=r"'<\|endoftext\|>' at character 1.*disallowed"):
        ranked.encode(text, allowed_special=set())  # tiktoken's default: all disallowed
    as_text = ranked.encode(text, allowed_special=set(), disallowed_special=())
    assert eot not in as_text and ranked.decode(as_text) == text
    # Allowed one token, disallowed the rest ("all"): another special token is an error...
    with pytest.raises(ValueError, match="fim_prefix"):
        ranked.encode("<|fim_prefix|>x<|endoftext|>", allowed_special={"<|endoftext|>"})
    # ...unless only some are disallowed: the others are then text.
    ids = ranked.encode("<|fim_prefix|>x<|endoftext|>", allowed_special={"<|endoftext|>"},
                        disallowed_special={"<|endofprompt|>"})
    assert ids[-1] == eot and SPECIALS["<|fim_prefix|>"] not in ids
    for bad in ("<|endoftext|>", {"<|nope|>"}, 3):
        with pytest.raises(ValueError, match="allowed_special"):
            ranked.encode(text, allowed_special=bad)


def test_trained_tokenizers_take_the_same_special_options(shakespeare):
    tok = BPETokenizer.train(shakespeare[:5_000], 300, special_tokens=["<|endoftext|>"])
    eot = tok.special_tokens["<|endoftext|>"]
    assert tok.encode("x<|endoftext|>") == tok.encode("x") + [eot]
    with pytest.raises(ValueError, match="disallowed"):
        tok.encode("x<|endoftext|>", allowed_special=set())
    assert eot not in tok.encode("x<|endoftext|>", allowed_special=(), disallowed_special=())


def test_special_token_ids_with_gaps_and_their_errors(ranked):
    assert ranked.vocab_size == 706 and ranked.special_tokens == SPECIALS
    assert ranked.decode([SPECIALS["<|endofprompt|>"]]) == "<|endofprompt|>"
    with pytest.raises(ValueError, match="id 703 is not a token"):
        ranked.decode([703])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        ranked.decode([706])
    with pytest.raises(ValueError, match="dropout"):
        ranked.encode("abc", dropout=0.1)


def test_save_and_load_keep_the_encoding(ranked, tmp_path, shakespeare):
    path = tmp_path / "ranked.json"
    ranked.save(path)
    again = tokenizers.load(path)
    assert isinstance(again, RankedBPETokenizer) and again.special_tokens == SPECIALS
    text = shakespeare[50_000:52_000] + "<|endoftext|>"
    assert again.encode(text) == ranked.encode(text)
    assert tokenizers.loads(ranked.to_json()).encode(text) == ranked.encode(text)


@pytest.mark.parametrize("content, message", [
    ("IQ== 0\nIQ== 1\n", "token b'!' has ranks 0 and 1"),
    ("IQ== 0\nIg== 0\n", "rank 0 is given twice"),
    ("IQ== 1\n", "no token has rank 0"),
    ("IQ==\n", "line 1 is not 'base64-token rank'"),
    ("!!! 0\n", "line 1 is not 'base64-token rank'"),
    ("IQ== -3\n", "rank -3 is negative"),
    ("IQ== 0\n", r"the single bytes \[0, 1, 2"),
])
def test_bad_ranks_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.tiktoken"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        BPETokenizer.from_tiktoken(path)


def test_named_encodings_set_pattern_and_special_tokens(ranks_file, tmp_path):
    path = tmp_path / "cl100k_base.tiktoken"  # the name chooses the encoding
    path.write_bytes(ranks_file[0].read_bytes())
    with pytest.raises(ValueError, match="special token '<|endoftext|>' has id 100257"):
        BPETokenizer.from_tiktoken(path)  # our toy file is not cl100k_base: its ids are wrong
    tok = BPETokenizer.from_tiktoken(path, special_tokens={"<|endoftext|>": 700})
    assert tok.pattern == "cl100k"
    assert BPETokenizer.from_tiktoken(ranks_file[0], encoding="gpt2",
                                      special_tokens={}).pattern == "r50k"
    assert len(read_ranks(ranks_file[0])) == 700
    with pytest.raises(ValueError, match="unknown encoding 'p50k'"):
        BPETokenizer.from_tiktoken(path, encoding="p50k")


def test_against_tiktoken_on_the_built_ranks(ranks_file, ranked, shakespeare):
    tiktoken = pytest.importorskip("tiktoken")
    enc = tiktoken.Encoding("toy", pat_str=PATTERNS["cl100k"],
                            mergeable_ranks={t: r for r, t in enumerate(read_ranks(ranks_file[0]))},
                            special_tokens=SPECIALS)
    for text in SAMPLES + [shakespeare[60_000:70_000]]:
        assert ranked.encode(text) == enc.encode(text, allowed_special="all"), text
        assert (ranked.encode(text, allowed_special=set(), disallowed_special=())
                == enc.encode(text, disallowed_special=()))


def _cached_cl100k():
    """tiktoken's cached cl100k_base file, if it has one (it is never downloaded here)."""
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    folder = os.environ.get("TIKTOKEN_CACHE_DIR") or os.path.join(tempfile.gettempdir(),
                                                                  "data-gym-cache")
    path = Path(folder) / hashlib.sha1(url.encode()).hexdigest()
    return path if path.is_file() else None


@pytest.mark.skipif(_cached_cl100k() is None, reason="no cached cl100k_base ranks file")
def test_against_tiktoken_cl100k_base():
    tiktoken = pytest.importorskip("tiktoken")
    enc = tiktoken.get_encoding("cl100k_base")  # read from the cache, no network
    ours = BPETokenizer.from_tiktoken(_cached_cl100k(), encoding="cl100k_base")
    text = "I am writing this to demonstrate how a BPE encoder works! <|endoftext|> 12345"
    assert ours.encode(text) == enc.encode(text, allowed_special="all")
    assert ours.vocab_size == enc.n_vocab
