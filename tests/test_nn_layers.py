"""minigrad.nn layers: the key/value cache, attention weights, positional encodings, bad
inputs, recurrent layers and clip_grad_norm_."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_


# ---------------------------------------------------------------- attention and the KV cache

@pytest.mark.parametrize("rope", [False, True])
def test_kv_cache_decoding_equals_full_forward(rope, float64):
    attn = nn.MultiHeadAttention(8, 2, rope=rope)
    x = mg.randn(2, 6, 8)
    full = attn(x).numpy()
    cache = nn.KVCache()
    steps = [attn(x[:, :3], cache=cache)] + [attn(x[:, t:t + 1], cache=cache) for t in range(3, 6)]
    assert len(cache) == 6
    np.testing.assert_allclose(mg.cat(steps, dim=1).numpy(), full, rtol=1e-12, atol=1e-12)


def test_kv_cache_through_a_stack_of_blocks_gives_the_same_logits(float64):
    mg.manual_seed(1)
    emb, pos = nn.Embedding(11, 8), nn.LearnedPositionalEmbedding(16, 8)
    blocks = nn.ModuleList(nn.TransformerBlock(8, 2, rope=True) for _ in range(2))
    head = nn.Linear(8, 11)

    def logits(tokens, caches=None, offset=0):
        x = pos(emb(tokens), offset=offset)
        for i, block in enumerate(blocks):
            x = block(x, cache=None if caches is None else caches[i])
        return head(x)

    tokens = mg.randint(0, 11, (2, 7))
    full = logits(tokens).numpy()
    caches = [nn.KVCache() for _ in blocks]
    steps = [logits(tokens[:, t:t + 1], caches, offset=t) for t in range(7)]
    np.testing.assert_allclose(mg.cat(steps, dim=1).numpy(), full, rtol=1e-11, atol=1e-12)


def test_attention_weights_are_causal_and_normalised():
    attn = nn.MultiHeadAttention(8, 4)
    out, weights = attn(mg.randn(2, 5, 8), need_weights=True)
    assert out.shape == (2, 5, 8) and weights.shape == (2, 4, 5, 5)
    w = weights.numpy()
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-5)
    assert not np.triu(w, k=1).any()


def test_record_attention_keeps_each_layers_weights_without_changing_the_output():
    blocks = nn.Sequential(nn.TransformerBlock(8, 2), nn.TransformerBlock(8, 4))
    x = mg.randn(2, 5, 8)
    plain = blocks(x).numpy()
    with nn.record_attention(blocks) as layers:
        recorded = blocks(x).numpy()
    np.testing.assert_allclose(recorded, plain, rtol=1e-5, atol=1e-6)
    assert [layer.weights.shape for layer in layers] == [(2, 2, 5, 5), (2, 4, 5, 5)]
    assert not layers[0].weights.requires_grad
    np.testing.assert_allclose(layers[1].weights.numpy().sum(-1), 1, rtol=1e-5)
    assert not any(layer.keep_weights for layer in layers)  # switched off again


def test_rotary_embedding_depends_on_relative_position_only(float64):
    rope = nn.RotaryEmbedding(4, max_len=32)
    q, k = mg.randn(1, 1, 1, 4), mg.randn(1, 1, 1, 4)

    def score(i, j):
        return float((rope(q, offset=i) * rope(k, offset=j)).sum())

    assert math.isclose(score(3, 1), score(10, 8), rel_tol=1e-12)
    assert not math.isclose(score(3, 1), score(3, 2), rel_tol=1e-6)
    np.testing.assert_allclose(rope(q, offset=0).numpy(), q.numpy())


def test_sinusoidal_table_matches_the_paper(float64):
    pe = nn.SinusoidalPositionalEncoding(6, max_len=10)(mg.zeros(1, 10, 6)).numpy()[0]
    p, i = 7, 2
    assert math.isclose(pe[p, 2 * i], math.sin(p / 10000 ** (2 * i / 6)), rel_tol=1e-12)
    assert math.isclose(pe[p, 2 * i + 1], math.cos(p / 10000 ** (2 * i / 6)), rel_tol=1e-12)


def test_feed_forward_variants():
    hw4 = nn.FeedForward(4)
    assert [type(m).__name__ for m in hw4.net] == ["Linear", "ReLU", "Linear", "Dropout"]
    assert hw4.net[0].out_features == 16
    gelu3 = nn.FeedForward(4, 10, variant="gelu3")
    assert [type(m).__name__ for m in gelu3.net] == ["Linear", "GELU", "Linear", "GELU",
                                                     "Linear", "Dropout"]
    with pytest.raises(ValueError, match="variant"):
        nn.FeedForward(4, variant="swiglu")


def test_nn_functional_takes_pytorch_arguments():
    import minigrad.nn.functional as F
    x = mg.randn(2, 3, 5, 4)
    np.testing.assert_array_equal(F.softmax(x, dim=-1).numpy(), x.softmax(-1).numpy())
    np.testing.assert_array_equal(F.log_softmax(x, dim=1).numpy(), x.log_softmax(1).numpy())
    causal = F.scaled_dot_product_attention(x, x, x, is_causal=True).numpy()
    allowed = mg.tril(mg.ones(5, 5)) == 1
    np.testing.assert_allclose(F.scaled_dot_product_attention(x, x, x, attn_mask=allowed).numpy(),
                               causal, rtol=1e-6)
    additive = mg.zeros(5, 5).masked_fill(~allowed, -1e9)
    np.testing.assert_allclose(F.scaled_dot_product_attention(x, x, x, attn_mask=additive).numpy(),
                               causal, rtol=1e-6)


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("make, call, error, message", [
    (lambda: nn.Linear(64, 32), lambda m: m(mg.zeros(2, 48)), ValueError,
     r"Linear\(64, 32\): input of shape \(2, 48\) has 48 features in its last dimension, "
     r"expected 64"),
    (lambda: nn.Embedding(10, 4), lambda m: m(mg.tensor([[3, 10]])), IndexError,
     r"Embedding\(10, 4\): id 10 is out of range; ids must be in \[0, 10\)"),
    (lambda: nn.Embedding(10, 4), lambda m: m(mg.tensor([-1])), IndexError,
     r"Embedding\(10, 4\): id -1 is out of range"),
    (lambda: nn.Embedding(10, 4), lambda m: m(mg.zeros(3)), TypeError, "ids must be integers"),
    (lambda: nn.MultiHeadAttention(10, 3), None, ValueError,
     "embed_dim 10 is not divisible by num_heads 3"),
    (lambda: nn.MultiHeadAttention(8, 2), lambda m: m(mg.zeros(2, 3, 6)), ValueError,
     r"MultiHeadAttention\(embed_dim=8, num_heads=2\): input of shape \(2, 3, 6\), "
     r"expected \(batch, time, 8\)"),
    (lambda: nn.LearnedPositionalEmbedding(4, 3), lambda m: m(mg.zeros(1, 5, 3)), ValueError,
     r"LearnedPositionalEmbedding\(4, 3\): positions 0..4 \(offset 0 \+ length 5\) exceed "
     r"the table of 4 positions"),
    (lambda: nn.RotaryEmbedding(4, max_len=8), lambda m: m(mg.zeros(1, 3, 4), offset=6),
     ValueError, "exceed the table of 8 positions"),
    (lambda: nn.LayerNorm(4), lambda m: m(mg.zeros(2, 5)), ValueError,
     r"LayerNorm\(\(4,\)\): input of shape \(2, 5\) must end with \(4,\)"),
    (lambda: nn.LSTM(3, 4), lambda m: m(mg.zeros(5, 2, 2)), ValueError,
     r"LSTM\(3, 4, num_layers=1\): input of shape \(5, 2, 2\), expected \(time, batch, 3\)"),
    (lambda: nn.GRU(3, 4, num_layers=2), lambda m: m(mg.zeros(5, 2, 3), mg.zeros(1, 2, 4)),
     ValueError, r"h0 has shape \(1, 2, 4\), expected \(num_layers, batch, hidden\) = \(2, 2, 4\)"),
    (lambda: nn.LSTMCell(3, 4), lambda m: m(mg.zeros(2, 3), (mg.zeros(2, 4), mg.zeros(2, 3))),
     ValueError, r"LSTMCell\(3, 4\): state of shape \(2, 3\), expected"),
    (lambda: nn.Dropout(1.5), None, ValueError, r"p must be in \[0, 1\], got 1.5"),
    (lambda: nn.TransformerBlock(8, 2, norm="middle"), None, ValueError, "norm must be"),
])
def test_bad_inputs_raise_clear_errors(make, call, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        call(layer)


# ---------------------------------------------------------------- recurrent layers

def test_recurrent_shapes_and_final_states():
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    out, (h, c) = lstm(mg.randn(4, 6, 3))
    assert out.shape == (4, 6, 5) and h.shape == c.shape == (2, 4, 5)
    np.testing.assert_array_equal(out.numpy()[:, -1], h.numpy()[-1])
    gru = nn.GRU(3, 5)
    out, h = gru(mg.randn(6, 4, 3))
    assert out.shape == (6, 4, 5) and h.shape == (1, 4, 5)
    np.testing.assert_array_equal(out.numpy()[-1], h.numpy()[0])


def test_recurrent_init_is_uniform_within_one_over_sqrt_hidden():
    bound = 1 / math.sqrt(20)
    for p in nn.LSTM(7, 20, num_layers=2).parameters():
        assert np.abs(p.numpy()).max() <= bound


# ---------------------------------------------------------------- clip_grad_norm_

def test_clip_grad_norm_scales_to_max_norm():
    a = mg.zeros(3, requires_grad=True)
    b = mg.zeros(2, 2, requires_grad=True)
    c = mg.zeros(2, requires_grad=True)  # no gradient: skipped
    (a * mg.tensor([3.0, 0.0, 0.0])).sum().backward()
    (b * mg.tensor([[0.0, 4.0], [0.0, 0.0]])).sum().backward()
    total = clip_grad_norm_([a, b, c], 1.0)
    assert isinstance(total, float) and math.isclose(total, 5.0, rel_tol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 / (5 + 1e-6), 0, 0], rtol=1e-6)
    assert math.isclose(clip_grad_norm_([a, b], 10.0), 1.0, rel_tol=1e-5), "no clip below max"
    assert clip_grad_norm_([c], 1.0) == 0.0
