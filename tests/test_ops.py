"""Every registered op: both backward paths checked against finite differences, against
each other and at second order (``op_harness``), and compared with PyTorch where it is
installed."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import REGISTRY
from op_cases import CASES, NO_TORCH_EQUIVALENT, torch_equivalents
from op_harness import CHECKS, devices


def test_every_registered_op_has_a_gradcheck_case():
    missing = sorted(set(REGISTRY) - set(CASES))
    unknown = sorted(set(CASES) - set(REGISTRY))
    assert not missing, f"ops without a gradient-check case in tests/op_cases.py: {missing}"
    assert not unknown, f"cases for ops that are not registered: {unknown}"


def test_every_op_documents_its_derivative():
    for name, info in REGISTRY.items():
        assert info.derivative and info.kind in ("primitive", "fused", "composite"), name


def test_every_float_input_of_every_case_requires_grad():
    for name, (fn, make, *_) in CASES.items():
        for i, x in enumerate(make()):
            assert x.requires_grad or not mg.backend.is_floating(x.dtype), (name, i)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
@pytest.mark.parametrize("name", sorted(CASES))
def test_op(name, check):
    with devices(name):
        check(name)


# ---------------------------------------------------------------- broadcasting

def _broadcastable_pair():
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


BINARY = {"add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
          "mul": (lambda a, b: a * b, np.multiply), "div": (lambda a, b: a / b, np.divide)}


@given(shapes=_broadcastable_pair(), op=st.sampled_from(sorted(BINARY)), data=st.data())
def test_binary_ops_broadcast_like_numpy(shapes, op, data):
    sa, sb = shapes.input_shapes
    a_np = data.draw(hnp.arrays(np.float64, sa, elements=st.floats(0.5, 2.0)))
    b_np = data.draw(hnp.arrays(np.float64, sb, elements=st.floats(0.5, 2.0)))
    fn, ref = BINARY[op]
    a = mg.tensor(a_np, requires_grad=True)
    b = mg.tensor(b_np, requires_grad=True)
    out = fn(a, b)
    np.testing.assert_allclose(out.numpy(), ref(a_np, b_np))
    out.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    assert mg.gradcheck(fn, (a.detach().requires_grad_(), b.detach().requires_grad_()))


@given(shapes=hnp.mutually_broadcastable_shapes(min_dims=0, max_dims=2,
                                                max_side=3, signature="(m,k),(k,n)->(m,n)"))
def test_matmul_batched_broadcast(shapes):
    sa, sb = shapes.input_shapes
    rng = np.random.default_rng(0)
    a = mg.tensor(rng.standard_normal(sa), dtype=mg.float64, requires_grad=True)
    b = mg.tensor(rng.standard_normal(sb), dtype=mg.float64, requires_grad=True)
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), atol=1e-12)
    assert mg.gradcheck(lambda a, b: a @ b, (a, b))


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 2, 3), (3,))])
def test_matmul_vectors(sa, sb):
    a = mg.randn(*sa, dtype=mg.float64, requires_grad=True)
    b = mg.randn(*sb, dtype=mg.float64, requires_grad=True)
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy())
    assert mg.gradcheck(lambda a, b: a @ b, (a, b))


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), data=st.data())
def test_reductions_over_any_axes(shape, data):
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape)))
    keep = data.draw(st.booleans())
    x = mg.randn(*shape, dtype=mg.float64, requires_grad=True)
    for name in ("sum", "mean"):
        out = getattr(x, name)(tuple(axes) or None, keep)
        np.testing.assert_allclose(out.numpy(), getattr(np, name)(x.numpy(), tuple(axes) or None,
                                                                  keepdims=keep))
    assert mg.gradcheck(lambda x: x.mean(tuple(axes) or None, keep), (x,))


def test_max_splits_ties_evenly():
    x = mg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5, 0])


def test_float32_stays_float32():
    x = mg.randn(3, requires_grad=True)
    y = (x * 2.0 + 1).exp().sum()
    assert x.dtype == y.dtype == mg.float32
    y.backward()
    assert x.grad.dtype == mg.float32


# ---------------------------------------------------------------- PyTorch oracle

@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(set(CASES) - NO_TORCH_EQUIVALENT))
def test_matches_pytorch(name):
    """Forward values and gradients of every op equal PyTorch's on the same inputs."""
    torch = pytest.importorskip("torch")
    fn, make = CASES[name][:2]
    theirs = torch_equivalents().get(name, fn)
    xs = make()
    ts = [torch.tensor(x.numpy(), requires_grad=True) for x in xs]
    with devices(name):
        out, ref = fn(*xs), theirs(*ts)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-7, atol=1e-10)
    g = np.random.default_rng(3).standard_normal(ref.shape)
    with devices(name):
        out.backward(mg.tensor(g, dtype=mg.float64, device=out.device))
    ref.backward(torch.tensor(g))
    for x, tx in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-10)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data())
def test_integer_array_indexing_scatter_adds_repeats(shape, data):
    index = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6)))
    x = mg.randn(*shape, dtype=mg.float64, requires_grad=True)
    np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])
    x[index].sum().backward()
    counts = np.bincount(index, minlength=shape[0]).astype(float)
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(
        counts.reshape((-1,) + (1,) * (len(shape) - 1)), shape))
    assert mg.gradcheck(lambda x: x[index] * 2.0, x.detach().requires_grad_())


@given(shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=4), data=st.data())
def test_basic_and_mixed_indexing(shape, data):
    rows = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4)))
    start = data.draw(st.integers(0, shape[1] - 1))
    x = mg.randn(*shape, dtype=mg.float64, requires_grad=True)
    for index in [(slice(None), slice(start, None)), (rows, slice(start, None)), (rows, start)]:
        np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])
        assert mg.gradcheck(lambda x: x[index], x)
