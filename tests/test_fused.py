"""Each fused op against its composed reference (``Function.reference``: the same formula
from simpler ops), forward and gradient, plus the cases a fused op must handle."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import REGISTRY, ops
from minigrad.backend_cpu import attention as cpu_attention
from op_cases import CASES

FUSED = sorted(name for name, info in REGISTRY.items() if info.kind == "fused")


def _run(fn, inputs, upstream):
    mg.manual_seed(7)  # the same dropout mask in both runs
    out = fn(*inputs)
    out.backward(upstream)
    return out.numpy(), [x.grad.numpy() for x in inputs]


def _apply_reference(cls, *inputs, **params):
    """``cls.apply`` with the op's output replaced by its reference's: the op runs its
    forward (for the state its reference reads, a dropout mask), then the reference is
    recorded in its place."""
    fn = object.__new__(cls)
    fn.__dict__.update(params)
    fn.forward(*[t.data for t in inputs])
    return fn.reference(*inputs)


@pytest.mark.parametrize("name", FUSED)
def test_fused_op_matches_its_reference(name, monkeypatch):
    """Forward values and gradients of each fused op equal those of its composed
    reference, on the op's gradient-check case."""
    fn, make = CASES[name][:2]
    inputs = make()
    fresh = lambda: [x.detach().requires_grad_() for x in inputs]  # noqa: E731
    mg.manual_seed(7)
    shape = fn(*fresh()).shape
    upstream = mg.tensor(np.random.default_rng(5).standard_normal(shape), dtype=mg.float64)
    fused = _run(fn, fresh(), upstream)
    monkeypatch.setattr(REGISTRY[name].impl, "apply", classmethod(_apply_reference))
    composed = _run(fn, fresh(), upstream)
    np.testing.assert_allclose(fused[0], composed[0], rtol=1e-10, atol=1e-12)
    for a, b in zip(fused[1], composed[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_composed(reduction):
    """Ignored targets, every reduction, against log_softmax and indexing."""
    target = mg.tensor([[1, -100, 3], [0, 2, 2]])
    x = mg.randn(2, 3, 4, dtype=mg.float64, requires_grad=True)
    keep = (target != -100).numpy()
    picked = x.log_softmax(-1)[np.arange(2)[:, None], np.arange(3)[None],
                               np.where(keep, target.numpy(), 0)]
    losses = -picked * mg.tensor(keep.astype(np.float64))
    composed = {"mean": losses.sum() / keep.sum(), "sum": losses.sum(), "none": losses}[reduction]
    np.testing.assert_allclose(F.cross_entropy(x, target, reduction=reduction).numpy(),
                               composed.numpy(), rtol=1e-12)
    assert mg.gradcheck(lambda x: F.cross_entropy(x, target, reduction=reduction), x)


def test_cross_entropy_accepts_pytorch_class_dim():
    x = mg.randn(2, 4, 3, dtype=mg.float64)
    target = mg.tensor([[0, 1, 3], [2, 2, 1]])
    a = F.cross_entropy(x, target).item()
    b = F.cross_entropy(x.permute(0, 2, 1), target).item()
    assert math.isclose(a, b, rel_tol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 6), (3, 400, 300)])  # one block of rows; several
def test_layer_norm_over_many_row_blocks_matches_its_reference(shape):
    n = shape[-1]
    x, w, b = (mg.randn(*s, dtype=mg.float64, requires_grad=True) for s in (shape, (n,), (n,)))
    out = F.layer_norm(x, n, w, b)
    g = mg.randn(*shape, dtype=mg.float64)
    out.backward(g)
    fused = [t.grad.numpy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    ref = out._fn.reference(x, w, b)
    ref.backward(g)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)
    for a, t in zip(fused, (x, w, b)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-10, atol=1e-12)


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


def test_self_attention_matches_split_heads_and_attention():
    def composed(qkv):
        b, t, width = qkv.shape
        q, k, v = (z.reshape(b, t, 2, width // 6).transpose(1, 2) for z in qkv.split(width // 3, -1))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(b, t, width // 3)
    qkv = np.random.default_rng(5).standard_normal((2, 5, 12))
    results = []
    for fn in (lambda x: mg.ops.self_attention(x, 2, causal=True), composed):
        x = mg.tensor(qkv, dtype=mg.float64, requires_grad=True)
        out = fn(x)
        (out * out).sum().backward()
        results.append((out.numpy(), x.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("packed", [False, True])
def test_attention_dropout_gradients_and_reference(packed):
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


@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_attention_one_batch_entry_at_a_time_gives_the_same_numbers(monkeypatch, dropout_p):
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
    monkeypatch.setattr(cpu_attention, "_BLOCK_BYTES", 0)  # every batch entry is big enough
    assert cpu_attention._blocks(*(np.zeros((3, 2, 5, 2)),) * 3, np.zeros((3, 2, 5, 5))) == range(3)
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
