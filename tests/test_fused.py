"""Each fused op against the same formula composed from primitive ops (its reference)."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.ops.fused import _normalize


def _compare(fused, composed, *shapes, rtol=1e-10):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s) for s in shapes]
    a = [mg.tensor(x, dtype=mg.float64, requires_grad=True) for x in arrays]
    b = [mg.tensor(x, dtype=mg.float64, requires_grad=True) for x in arrays]
    out_a, out_b = fused(*a), composed(*b)
    np.testing.assert_allclose(out_a.numpy(), out_b.numpy(), rtol=rtol, atol=1e-12)
    g = mg.tensor(rng.standard_normal(out_a.shape), dtype=mg.float64)
    out_a.backward(g)
    out_b.backward(g)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=rtol, atol=1e-12)


def test_softmax_matches_composed():
    _compare(lambda x: x.softmax(-1), lambda x: (x - x.max(-1, keepdim=True).values).exp() /
             (x - x.max(-1, keepdim=True).values).exp().sum(-1, keepdim=True), (3, 5))


def test_log_softmax_matches_composed():
    _compare(lambda x: x.log_softmax(-1), lambda x: x - x.logsumexp(-1, keepdim=True), (3, 5))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_composed(reduction):
    target = mg.tensor([[1, -100, 3], [0, 2, 2]])

    def composed(x):
        keep = (target != -100).numpy()
        picked = x.log_softmax(-1)[np.arange(2)[:, None], np.arange(3)[None], np.where(keep, target.numpy(), 0)]
        losses = -picked * mg.tensor(keep.astype(np.float64))
        return {"mean": losses.sum() / keep.sum(), "sum": losses.sum(), "none": losses}[reduction]

    _compare(lambda x: F.cross_entropy(x, target, reduction=reduction), composed, (2, 3, 4))


def test_cross_entropy_accepts_pytorch_class_dim():
    x = mg.randn(2, 4, 3, dtype=mg.float64)
    target = mg.tensor([[0, 1, 3], [2, 2, 1]])
    a = F.cross_entropy(x, target).item()
    b = F.cross_entropy(x.permute(0, 2, 1), target).item()
    assert math.isclose(a, b, rel_tol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 6), (3, 400, 300)])  # one block of rows; several
def test_layer_norm_matches_composed(shape):
    def composed(x, w, b):
        xhat, _ = _normalize(x, (2,), 1e-5)
        return xhat * w + b
    n = shape[-1]
    _compare(lambda x, w, b: F.layer_norm(x, n, w, b), composed, shape, (n,), (n,))


def test_gelu_matches_composed():
    _compare(lambda x: F.gelu(x), lambda x: x * 0.5 * (1 + mg.erf(x / math.sqrt(2))), (4, 5))
    c = math.sqrt(2 / math.pi)
    _compare(lambda x: F.gelu(x, approximate="tanh"),
             lambda x: 0.5 * x * (1 + (c * (x + 0.044715 * x ** 3)).tanh()), (4, 5))


def test_embedding_repeated_ids_add_up():
    w = mg.randn(5, 3, dtype=mg.float64, requires_grad=True)
    ids = mg.tensor([[1, 1, 4], [1, 0, 4]])
    F.embedding(ids, w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy()[:, 0], [1, 3, 0, 0, 2])


def test_embedding_padding_row_gets_no_gradient():
    w = mg.randn(5, 3, dtype=mg.float64, requires_grad=True)
    F.embedding(mg.tensor([0, 2, 0]), w, padding_idx=0).sum().backward()
    np.testing.assert_allclose(w.grad.numpy()[0], 0)


def test_dropout_keeps_expectation_and_is_identity_in_eval():
    x = mg.ones(100_000)
    y = F.dropout(x, 0.3)
    assert abs(y.mean().item() - 1.0) < 0.02
    assert abs((y.numpy() == 0).mean() - 0.3) < 0.01
    assert F.dropout(x, 0.3, training=False) is x


def test_softmax_is_stable_for_large_logits():
    x = mg.tensor([[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(x.softmax(-1).numpy(), [[0.5, 0.5, 0.0]])
    assert np.isfinite(F.cross_entropy(x, mg.tensor([2])).item())


def test_backward_twice_through_one_graph_gives_the_same_gradient():
    x = mg.randn(3, 5, dtype=mg.float64, requires_grad=True)
    loss = F.cross_entropy(F.layer_norm(F.gelu(x), 5).softmax(-1), mg.tensor([0, 4, 2]))
    (g1,) = mg.grad(loss, [x])
    (g2,) = mg.grad(loss, [x])
    np.testing.assert_allclose(g1.numpy(), g2.numpy())


def test_linear_matches_composed():
    _compare(lambda x, w, b: F.linear(x, w, b), lambda x, w, b: x @ w.T + b, (2, 3, 4), (5, 4), (5,))


@pytest.mark.parametrize("causal,tq,tk", [(True, 4, 4), (False, 3, 5), (True, 2, 5)])
def test_attention_matches_composed(causal, tq, tk):
    from minigrad.ops.fused import _attention_probs
    _compare(lambda q, k, v: mg.ops.attention(q, k, v, causal),
             lambda q, k, v: _attention_probs(q, k, 1 / math.sqrt(3), causal) @ v,
             (2, 1, tq, 3), (2, 2, tk, 3), (1, 2, tk, 2))


def test_lstm_sequence_matches_cell_by_cell():
    from minigrad.ops.recurrent import lstm_sequence_reference
    _compare(F.lstm_sequence, lstm_sequence_reference, (5, 3, 8), (3, 2), (3, 2), (8, 2))


def test_self_attention_matches_split_heads_and_attention():
    def composed(qkv):
        b, t, width = qkv.shape
        q, k, v = (z.reshape(b, t, 2, width // 6).transpose(1, 2) for z in qkv.split(width // 3, -1))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(b, t, width // 3)
    _compare(lambda qkv: mg.ops.self_attention(qkv, 2, causal=True), composed, (2, 5, 12))


@pytest.mark.parametrize("packed", [False, True])
def test_attention_dropout_gradients_and_reference(packed):
    from minigrad import ops

    def fn(x):
        mg.manual_seed(3)  # the same mask at every call
        if packed:
            return ops.self_attention(x, 2, causal=True, dropout_p=0.4)
        return ops.attention(x, x * 0.5, x, causal=True, dropout_p=0.4)
    x = mg.tensor(np.random.default_rng(0).standard_normal((2, 4, 12)), dtype=mg.float64,
                  requires_grad=True)
    assert mg.gradcheck(fn, x)
    assert mg.gradgradcheck(fn, x)
    dropped = fn(x).numpy()
    mg.manual_seed(3)
    assert not np.allclose(dropped, (ops.self_attention(x, 2, causal=True) if packed else
                                     ops.attention(x, x * 0.5, x, causal=True)).numpy())


def test_keep_mask_keeps_about_one_minus_p():
    from minigrad import backend
    keep = backend.keep_mask(np, (400, 500), 0.2)
    assert keep.dtype == bool and abs(keep.mean() - 0.8) < 0.005
    assert backend.keep_mask(np, (10,), 0.0).all()


@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_attention_one_batch_entry_at_a_time_gives_the_same_numbers(monkeypatch, dropout_p):
    from minigrad import ops
    from minigrad.ops import fused
    rng = np.random.default_rng(2)
    qkv = rng.standard_normal((3, 5, 12))
    upstream = mg.tensor(rng.standard_normal((3, 5, 4)), dtype=mg.float64)

    def run():
        x = mg.tensor(qkv, dtype=mg.float64, requires_grad=True)
        mg.manual_seed(4)
        out = ops.self_attention(x, 2, causal=True, dropout_p=dropout_p)
        out.backward(upstream)
        return out.numpy(), x.grad.numpy()
    whole = run()
    monkeypatch.setattr(fused, "_BLOCK_BYTES", 0)  # every batch entry is big enough
    assert fused._blocks(*(np.zeros((3, 2, 5, 2)),) * 3, np.zeros((3, 2, 5, 5))) == range(3)
    for a, b in zip(whole, run()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: mg.ops.self_attention(mg.zeros(2, 3, 10), 2),
     r"self_attention: qkv of shape \(2, 3, 10\), expected \(batch, time, 3 \* embed_dim\)"),
    (lambda: mg.ops.self_attention(mg.zeros(2, 3, 12), 2, dropout_p=1.0),
     r"self_attention: dropout_p must be in \[0, 1\), got 1.0"),
    (lambda: mg.ops.attention(*(mg.zeros(2, 3, 4),) * 3, dropout_p=-0.1),
     r"attention: dropout_p must be in \[0, 1\), got -0.1"),
    (lambda: F.lstm_sequence(mg.zeros(5, 2, 6), mg.zeros(2, 2), mg.zeros(2, 2), mg.zeros(8, 2)),
     r"lstm_sequence: xproj of shape \(5, 2, 6\), expected \(time, batch, 4 \* hidden\)"),
    (lambda: F.lstm_sequence(mg.zeros(5, 2, 8), mg.zeros(3, 2), mg.zeros(2, 2), mg.zeros(8, 2)),
     r"lstm_sequence: h0 has shape \(3, 2\), expected \(2, 2\) for xproj \(5, 2, 8\)"),
])
def test_fused_ops_name_the_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
