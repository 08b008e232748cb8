"""PyTorch's names, arguments and return types on minigrad's top level and Tensor: the
selections with indices (max/min with dim, sort, topk), dim= everywhere, comparisons and
counts; against NumPy here and against PyTorch where it is installed."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg

X = np.array([[3.0, 1.0, 4.0, 1.5], [5.0, 9.0, 2.0, 6.0], [5.5, 3.5, 8.0, 9.5]])


def leaf(a=X):
    return mg.tensor(a, dtype=mg.float64, requires_grad=True)


def test_max_and_min_take_pytorchs_three_forms():
    x = leaf()
    assert mg.max(x).item() == 9.5
    values, indices = mg.max(x, dim=1)
    np.testing.assert_array_equal(values.numpy(), X.max(1))
    np.testing.assert_array_equal(indices.numpy(), X.argmax(1))
    out = x.min(0, keepdim=True)
    assert out.values.shape == (1, 4) and out.indices.shape == (1, 4)
    np.testing.assert_array_equal(mg.max(x, mg.tensor(4.0, dtype=mg.float64)).numpy(),
                                  np.maximum(X, 4.0))
    values.sum().backward()  # the gradient goes to the picked element, as in PyTorch
    np.testing.assert_array_equal(x.grad.numpy(), X == X.max(1, keepdims=True))


def test_argmax_argmin_over_all_or_one_dimension():
    x = mg.tensor(X)
    assert mg.argmax(x).item() == X.argmax() and x.argmin().item() == X.argmin()
    assert x.argmax(dim=-1, keepdim=True).shape == (3, 1)
    np.testing.assert_array_equal(mg.argmin(x, 0).numpy(), X.argmin(0))


@given(a=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                    elements=st.floats(-100, 100)), data=st.data())
def test_sort_and_topk_agree_with_numpy(a, data):
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    descending = data.draw(st.booleans())
    values, indices = mg.sort(mg.tensor(a), dim=dim, descending=descending, stable=True)
    expected = np.sort(a, axis=dim)
    np.testing.assert_array_equal(values.numpy(), np.flip(expected, dim) if descending else expected)
    np.testing.assert_array_equal(np.take_along_axis(a, indices.numpy(), dim), values.numpy())
    k = data.draw(st.integers(0, a.shape[dim]))
    top = mg.topk(mg.tensor(a), k, dim=dim)
    np.testing.assert_array_equal(top.values.numpy(),
                                  np.take(np.flip(np.sort(a, axis=dim), dim), range(k), axis=dim))


def test_sort_and_topk_values_are_differentiable():
    x = leaf()
    assert mg.gradcheck(lambda x: mg.sort(x, 1, descending=True).values * mg.tensor(
        [1.0, 2.0, 3.0, 4.0], dtype=mg.float64), x)
    assert mg.gradcheck(lambda x: x.topk(2, dim=0, largest=False).values, x)


def test_dim_and_keepdim_everywhere_and_numpy_names_still_work():
    x = mg.tensor(X)
    for f, ref in ((mg.sum, np.sum), (mg.mean, np.mean), (mg.logsumexp, None)):
        out = f(x, dim=1, keepdim=True)
        assert out.shape == (3, 1)
        if ref is not None:
            np.testing.assert_allclose(out.numpy(), ref(X, axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(mg.sum(x, axis=0, keepdims=True).numpy(), X.sum(0, keepdims=True))
    np.testing.assert_allclose(mg.softmax(x, dim=0).numpy().sum(0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(x.log_softmax(dim=1).exp().numpy().sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(x.var(1, unbiased=False).numpy(), X.var(1), rtol=1e-6)
    np.testing.assert_allclose(mg.std(x, dim=0, correction=0).numpy(), X.std(0), rtol=1e-6)
    np.testing.assert_allclose(x.std().item(), X.std(ddof=1), rtol=1e-6)
    assert mg.cat([x, x], dim=1).shape == (3, 8) and mg.stack([x, x], dim=2).shape == (3, 4, 2)
    with pytest.raises(TypeError, match="dim or axis"):
        mg.sum(x, dim=0, axis=1)


def test_where_nonzero_and_comparisons():
    x = mg.tensor(X)
    rows, cols = mg.where(x > 5)
    np.testing.assert_array_equal(rows.numpy(), np.nonzero(X > 5)[0])
    np.testing.assert_array_equal(x.nonzero().numpy(), np.argwhere(X))
    assert mg.allclose(x, x + 1e-9) and not x.allclose(x + 1.0)
    assert mg.equal(x, mg.tensor(X)) and not mg.equal(x, x[:2])
    np.testing.assert_array_equal(mg.isclose(x, 5.0).numpy(), np.isclose(X, 5.0))
    np.testing.assert_array_equal(x.gt(4).logical_and(x.lt(6)).numpy(), (X > 4) & (X < 6))
    np.testing.assert_array_equal(mg.logical_xor(x > 4, x > 6).numpy(), (X > 4) ^ (X > 6))
    assert x.eq(x).all() and not x.ne(x).any()


def test_counts_clamps_and_new_tensors():
    ids = mg.tensor([0, 2, 2, 5])
    np.testing.assert_array_equal(mg.bincount(ids, minlength=7).numpy(), [1, 0, 2, 0, 0, 1, 0])
    x = leaf()
    lo, hi = mg.tensor(2.0, dtype=mg.float64), mg.tensor([4.0, 5.0, 6.0, 7.0], dtype=mg.float64)
    np.testing.assert_array_equal(x.clamp(lo, hi).numpy(), np.clip(X, 2.0, [4, 5, 6, 7]))
    assert mg.gradcheck(lambda x: mg.clip(x, max=4.5) * x, x)
    assert mg.numel(x) == 12 and x.t().shape == (4, 3) and len(x.unbind(1)) == 4
    z = x.new_zeros(2, 5)
    assert z.dtype == mg.float64 and z.shape == (2, 5) and not z.requires_grad
    assert x.new_full((2,), 7.0).tolist() == [7.0, 7.0] and x.new_tensor([1, 2]).dtype == mg.float64
    np.testing.assert_allclose(x.norm().item(), np.linalg.norm(X))
    assert mg.from_numpy(X).data is X and mg.is_tensor(x) and not mg.is_tensor(X)
    assert mg.device("cuda") == "cuda:0" and mg.long == mg.int64 and mg.float == mg.float32


def test_einsum_and_bmm_name_bad_input():
    a = mg.randn(2, 3, 4)
    with pytest.raises(ValueError, match="bmm: expected"):
        mg.bmm(a, mg.randn(3, 4, 5))
    with pytest.raises(NotImplementedError, match="repeated within one operand"):
        mg.einsum("ii->i", mg.randn(3, 3))
    with pytest.raises(ValueError, match="letter 'j' has sizes 3 and 5"):
        mg.einsum("ij,jk->ik", mg.randn(2, 3), mg.randn(5, 2))
    assert mg.bmm(a, mg.randn(2, 4, 5)).shape == (2, 3, 5)


def test_scatter_with_src_wider_than_index_and_gather_errors():
    x, src = leaf(), mg.randn(3, 4, dtype=mg.float64, requires_grad=True)
    index = np.array([[3], [0], [1]])
    assert mg.gradcheck(lambda x, s: x.scatter(1, index, s), x, src)
    with pytest.raises(IndexError, match="gather: index 4 is out of range for dimension 1"):
        x.gather(1, np.array([[4]] * 3))
    with pytest.raises(ValueError, match="does not fit input"):
        x.gather(1, np.zeros((4, 1), int))


@pytest.mark.torch
def test_selections_match_pytorch():
    torch = pytest.importorskip("torch")
    x, tx = mg.tensor(X), torch.tensor(X)
    for ours, theirs in ((mg.sort(x, 0, descending=True), torch.sort(tx, 0, descending=True)),
                         (x.topk(3), tx.topk(3)), (mg.max(x, 1), torch.max(tx, 1)),
                         (x.min(0), tx.min(0))):
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_allclose(x.cumprod(1).numpy(), tx.cumprod(1).numpy())
    np.testing.assert_array_equal(x.roll(2).numpy(), tx.roll(2).numpy())
    np.testing.assert_array_equal(x.repeat(2, 1).numpy(), tx.repeat(2, 1).numpy())
    np.testing.assert_allclose(x.var(1).numpy(), tx.var(1).numpy())
