"""Sampling: the semantics of every option on known distributions, reproducibility with a
seed, and key/value-cached decoding giving the tokens of uncached decoding."""
import math

import numpy as np
import pytest

import minigrad as mg

from models.config import Config, build_model
from models.generate import encode_prompt, generate, process_logits, sample

V = 13
P = np.array([[0.1, 0.2, 0.3, 0.4]])
LOGITS = np.log(P)


def micro(kind, **extra):
    config = dict(n_layer=2, n_head=2, n_embd=16, hidden_size=16, context=8)
    return build_model(Config(model=kind, **{**config, **extra}), V)


def test_plain_sampling_is_softmax():
    np.testing.assert_allclose(process_logits(LOGITS + 3.0), P)


def test_temperature():
    probs = process_logits(LOGITS, temperature=0.5)
    np.testing.assert_allclose(probs, P ** 2 / (P ** 2).sum())
    np.testing.assert_array_equal(process_logits(LOGITS, temperature=0), [[0, 0, 0, 1]])


def test_top_k_keeps_the_k_most_likely():
    np.testing.assert_allclose(process_logits(LOGITS, top_k=2), [[0, 0, 3 / 7, 4 / 7]])
    np.testing.assert_allclose(process_logits(LOGITS, top_k=1), [[0, 0, 0, 1]])
    np.testing.assert_allclose(process_logits(LOGITS, top_k=10), P)


@pytest.mark.parametrize("p, kept", [(0.3, [3]), (0.4, [3]), (0.41, [2, 3]), (0.7, [2, 3]),
                                     (0.75, [1, 2, 3]), (1.0, [0, 1, 2, 3])])
def test_top_p_keeps_the_smallest_set_reaching_p(p, kept):
    expected = np.zeros(4)
    expected[kept] = P[0, kept] / P[0, kept].sum()
    np.testing.assert_allclose(process_logits(LOGITS, top_p=p)[0], expected)


def test_top_p_works_on_unsorted_rows():
    logits = np.log(np.array([[0.4, 0.1, 0.3, 0.2], [0.25, 0.25, 0.4, 0.1]]))
    probs = process_logits(logits, top_p=0.6)
    np.testing.assert_allclose(probs[0], [4 / 7, 0, 3 / 7, 0])
    # 0.4 + 0.25 reaches 0.6: of the two tied tokens, the first is kept.
    np.testing.assert_allclose(probs[1], [0.25 / 0.65, 0, 0.4 / 0.65, 0])


def test_frequency_and_presence_penalties_follow_the_formula():
    logits = np.array([[1.0, 2.0, -1.0, 0.5]])
    counts = np.array([[2, 0, 1, 0]])
    probs = process_logits(logits, counts, frequency_penalty=0.3, presence_penalty=0.5)
    expected = logits - counts * 0.3 - (counts > 0) * 0.5
    np.testing.assert_allclose(np.log(probs) - np.log(probs).max(),
                               expected - expected.max())


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = np.array([[2.0, 2.0, -1.0, -1.0]])
    counts = np.array([[1, 0, 1, 0]])
    probs = process_logits(logits, counts, repetition_penalty=2.0)
    expected = np.array([1.0, 2.0, -2.0, -1.0])
    np.testing.assert_allclose(probs[0], np.exp(expected) / np.exp(expected).sum())


def test_sample_follows_the_distribution():
    rng = np.random.default_rng(0)
    draws = np.concatenate([sample(np.repeat(P, 1000, 0), rng) for _ in range(10)])
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, P[0], atol=0.01)
    assert (sample(np.array([[0.0, 0.0, 1.0, 0.0]]), rng) == 2).all()


def test_same_seed_same_text():
    model = micro("transformer")
    a = generate(model, [[1, 2, 3]], 20, seed=7)
    b = generate(model, [[1, 2, 3]], 20, seed=7)
    c = generate(model, [[1, 2, 3]], 20, seed=8)
    assert a == b and a != c
    assert len(a[0]) == 20 and all(0 <= t < V for t in a[0])


def test_top_k_one_is_greedy():
    model = micro("transformer")
    greedy = generate(model, [[1, 2]], 15, greedy=True)
    assert generate(model, [[1, 2]], 15, top_k=1, seed=3) == greedy
    assert generate(model, [[1, 2]], 15, temperature=0, seed=4) == greedy


@pytest.mark.parametrize("kind, extra", [
    ("transformer", {}), ("transformer", {"positions": "rope", "norm": "post"}),
    ("transformer", {"positions": "sinusoidal"}), ("single-head", {}), ("multi-head", {})])
def test_kv_cache_generation_equals_uncached(kind, extra):
    """Past the context of 8 too, where the cache is rebuilt from the latest tokens."""
    mg.set_default_dtype(mg.float64)
    model = micro(kind, **extra)
    prompts = [[1, 2, 3], [4, 5, 6]]
    options = dict(temperature=1.3, top_p=0.95, frequency_penalty=0.2, seed=11)
    cached = generate(model, prompts, 20, use_cache=True, **options)
    uncached = generate(model, prompts, 20, use_cache=False, **options)
    assert cached == uncached


def test_cached_logits_match_full_forward():
    model = micro("transformer", positions="rope")
    ids = mg.tensor(np.random.default_rng(0).integers(0, V, (2, 8)))
    full = model(ids).numpy()
    cache = model.new_cache()
    steps = [model(ids[:, :5], cache=cache)] + [model(ids[:, t:t + 1], cache=cache)
                                                for t in range(5, 8)]
    np.testing.assert_allclose(np.concatenate([s.numpy() for s in steps], 1), full,
                               rtol=1e-4, atol=1e-5)


def test_every_model_generates():
    for kind in ("bigram", "bigram-emb", "mlp", "rnn", "lstm"):
        out = generate(micro(kind), [[1], [2]], 12, seed=0)
        assert [len(o) for o in out] == [12, 12], kind


def test_stops_at_eos():
    model = micro("bigram")
    with mg.no_grad():
        model.token_embedding_table.weight.data[...] = 0.0
        model.token_embedding_table.weight.data[1, 5] = 50.0   # 1 -> 5 -> 3 (eos)
        model.token_embedding_table.weight.data[5, 3] = 50.0
    assert generate(model, [[1]], 10, greedy=True, eos_id=3) == [[5]]
    assert generate(model, [[1]], 3, greedy=True) == [[5, 3, 0]]


def test_prompt_errors():
    from tokenizers import CharTokenizer
    tok = CharTokenizer.train("abc\n")
    assert encode_prompt(tok, "cab") == tok.encode("cab")
    assert encode_prompt(tok, "") == tok.encode("\n")
    with pytest.raises(ValueError, match="'z'"):
        encode_prompt(tok, "abz")


def test_bad_options():
    model = micro("bigram")
    for bad in (dict(temperature=-1), dict(top_k=0), dict(top_p=0.0), dict(top_p=1.5),
                dict(repetition_penalty=0)):
        with pytest.raises(ValueError):
            generate(model, [[1]], 2, **bad)
    with pytest.raises(ValueError, match="non-empty"):
        generate(model, [[]], 2)
    assert math.isclose(process_logits(np.zeros((1, 4)))[0, 0], 0.25)
