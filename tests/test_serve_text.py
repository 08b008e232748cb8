"""The parts of `minigrad serve` below the web framework: generation step by step
(models.generate.decode_steps), the text a client sees (whole UTF-8 characters, stop
sequences, pieces, log-probabilities) and the bounded queue."""
import asyncio

import numpy as np
import pytest

from models.config import Config, build_model
from models.generate import decode_steps, generate
from models.serve.workers import QueueFull, Slots
from models.serve.settings import is_loopback
from models.serve.text import (RowText, TextDecoder, Token, describe_token, held_back,
                               log_softmax, piece)
from tokenizers import BPETokenizer, CharTokenizer, WordTokenizer


def micro(kind="transformer"):
    config = dict(n_layer=1, n_head=2, n_embd=16, hidden_size=16, context=8)
    return build_model(Config(model=kind, **config), 13)


# ---------------------------------------------------------------- decode_steps

def test_steps_are_generate_step_by_step():
    model = micro()
    options = dict(temperature=1.2, top_k=5, top_p=0.9, frequency_penalty=0.3, seed=4)
    steps = list(decode_steps(model, [[1, 2]] * 2, 12, **options))
    assert [[s.tokens[row] for s in steps] for row in range(2)] == generate(
        model, [[1, 2]] * 2, 12, **options)
    for s in steps:
        assert s.logits.shape == s.probs.shape == (2, 13)
        np.testing.assert_allclose(s.probs.sum(-1), 1.0)
        assert all(s.probs[row, t] > 0 for row, t in enumerate(s.tokens))


def test_steps_check_options_before_the_first_step():
    with pytest.raises(ValueError, match="temperature"):
        decode_steps(micro(), [[1]], 5, temperature=-1.0)


def test_steps_stop_at_eos_and_when_closed():
    model = micro("bigram")
    model.token_embedding_table.weight.data[...] = 0.0
    model.token_embedding_table.weight.data[1, 5] = 50.0  # 1 -> 5 -> 3 (eos)
    model.token_embedding_table.weight.data[5, 3] = 50.0
    assert [s.tokens for s in decode_steps(model, [[1]], 10, greedy=True, eos_id=3)] == [[5], [-1]]
    steps = decode_steps(micro(), [[1]], 1000, seed=0)
    next(steps)
    steps.close()  # what a cancelled request does: no more steps
    assert next(steps, None) is None


def test_steps_keep_the_training_mode():
    model = micro()
    model.train()
    list(decode_steps(model, [[1]], 3, seed=0))
    assert model.training


# ---------------------------------------------------------------- whole characters

def bytes_tokenizer():
    return BPETokenizer([])  # no merges: one token per byte


def fed(decoder, ids):
    return [decoder.feed(i) for i in ids]


def test_bpe_text_waits_for_whole_characters():
    tok = bytes_tokenizer()
    ids = tok.encode("a€😀")
    assert len(ids) == 8
    decoder = TextDecoder(tok, tok.encode("x"))
    assert fed(decoder, ids) == ["a", "", "", "€", "", "", "", "😀"]
    assert decoder.flush() == ""


def test_bpe_unfinished_character_at_the_end_is_a_replacement():
    tok = bytes_tokenizer()
    decoder = TextDecoder(tok, [120])
    assert fed(decoder, tok.encode("€")[:2]) == ["", ""]
    assert decoder.flush() == "\ufffd" == tok.decode(tok.encode("€")[:2])


def test_bpe_surrogates_never_reach_the_wire():
    tok = bytes_tokenizer()
    ids = list("\ud800".encode("utf-8", "surrogatepass"))  # what a model might emit
    text = "".join(fed(TextDecoder(tok, [120]), ids))
    assert "\ud800" not in text and text.encode("utf-8")


def test_char_and_word_text_is_what_decode_adds():
    char = CharTokenizer.train("ab c\n")
    assert fed(TextDecoder(char, char.encode("a")), char.encode("b c")) == ["b", " ", "c"]
    word = WordTokenizer.train("the cat sat . \" hi \" the cat sat .")
    prompt, new = word.encode("the cat"), word.encode('sat . " hi "')
    texts = fed(TextDecoder(word, prompt), new)
    assert word.decode(prompt) + "".join(texts) == word.decode(prompt + new)
    assert texts[0] == " sat"


def test_pieces():
    tok = bytes_tokenizer()
    assert piece(tok, ord("a")) == "a"
    assert piece(tok, 0xE2) == "bytes:\\xe2"
    assert piece(CharTokenizer.train("ab"), 1) == "b"


# ---------------------------------------------------------------- chunks and stops

def tokens(tok, text):
    return [Token(i, piece(tok, i)) for i in tok.encode(text)]


def run_text(tok, text, stop=()):
    row = RowText(TextDecoder(tok, [0]), stop)
    chunks = []
    for token in tokens(tok, text):
        chunk = row.add(token)
        if chunk is not None:
            chunks.append(chunk)
        if row.stopped:
            break
    chunks.append(row.finish())
    return row, chunks


def test_chunks_hold_the_tokens_of_a_character_together():
    tok = bytes_tokenizer()
    _, chunks = run_text(tok, "a€b")
    assert [c.text for c in chunks] == ["a", "€", "b", ""]
    assert [len(c.tokens) for c in chunks] == [1, 3, 1, 0]
    assert chunks[1].texts == ["", "", "€"] and [c.offset for c in chunks] == [0, 1, 2, 3]


def test_stop_sequence_cuts_the_text_and_ends_the_row():
    char = CharTokenizer.train("abcdefg\n")
    row, chunks = run_text(char, "abcdefg", stop=["de", "zz"])
    assert "".join(c.text for c in chunks) == "abc" and row.stopped
    # The tokens of the stop sequence are not part of the text, nor of its tokens.
    assert [t.piece for c in chunks for t in c.tokens] == ["a", "b", "c"]


def test_text_that_may_begin_a_stop_waits():
    char = CharTokenizer.train("abcdefg\n")
    row = RowText(TextDecoder(char, [0]), ["cdx"])
    out = [row.add(t) for t in tokens(char, "abcd")]
    assert [c and c.text for c in out] == ["a", "b", None, None]
    assert row.add(tokens(char, "e")[0]).text == "cde"  # not a stop after all
    assert held_back("xxcd", ["cdx", "d!"]) == 2 and held_back("abc", ["x"]) == 0


def test_stop_inside_a_token_cuts_its_text():
    word = WordTokenizer.train("alpha beta gamma")
    row = RowText(TextDecoder(word, word.encode("alpha")), ["et"])
    chunks = [row.add(t) for t in tokens(word, "beta gamma")]
    assert row.stopped and chunks[0].text == " b" and chunks[0].texts == [" b"]


# ---------------------------------------------------------------- log-probabilities

def test_logprobs_and_alternatives():
    tok = CharTokenizer.train("abcd")
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))
    logprobs = log_softmax(logits + 5.0)[0]
    token = describe_token(tok, 1, logprobs, top=2)
    assert token.piece == "b" and token.logprob == pytest.approx(np.log(0.2))
    assert [p for p, _ in token.top] == ["d", "c"]
    assert token.top[0][1] == pytest.approx(np.log(0.4))
    assert describe_token(tok, 1, logprobs, top=10).top[-1][0] == "a"
    assert describe_token(tok, 1).logprob is None


# ---------------------------------------------------------------- the queue

def test_slots_queue_then_refuse():
    async def scenario():
        slots = Slots(1, max_waiting=1, timeout=5)
        await slots.acquire()                       # the worker
        waiting = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        assert len(slots.waiters) == 1
        with pytest.raises(QueueFull) as full:      # the queue is full
            await slots.acquire()
        assert full.value.retry_after >= 1
        slots.release(0.5)                          # the slot passes to the one waiting
        await waiting
        assert slots.running == 1 and not slots.waiters
        slots.release()
        assert slots.free == 1
    asyncio.run(scenario())


def test_slots_wait_no_longer_than_the_timeout():
    async def scenario():
        slots = Slots(1, max_waiting=5, timeout=0.05)
        await slots.acquire()
        with pytest.raises(QueueFull, match="within"):
            await slots.acquire()
        assert not slots.waiters and slots.free == 0
    asyncio.run(scenario())


def test_a_cancelled_waiter_hands_its_slot_on():
    async def scenario():
        slots = Slots(1, max_waiting=5, timeout=5)
        await slots.acquire()
        first = asyncio.ensure_future(slots.acquire())
        second = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        first.cancel()                              # its client went away
        slots.release()
        await second
        assert slots.running == 1
    asyncio.run(scenario())


def test_loopback_addresses():
    assert all(map(is_loopback, ["127.0.0.1", "127.5.0.1", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.2", "::", "example.org"]))
