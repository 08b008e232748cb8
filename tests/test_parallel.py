"""Splitting a batch over threads gives the gradient of the whole batch."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import backend
from minigrad.parallel import split_backward


def _model():
    mg.manual_seed(1)
    w1 = mg.randn(8, 5, dtype=mg.float64, requires_grad=True)
    w2 = mg.randn(3, 8, dtype=mg.float64, requires_grad=True)
    return [w1, w2]


def _loss(params, x, y, p=0.0):
    w1, w2 = params
    return F.cross_entropy(F.linear(F.dropout(F.gelu(F.linear(x, w1)), p), w2), y)


def test_split_gradient_equals_whole_batch_gradient():
    params = _model()
    x = mg.randn(6, 5, dtype=mg.float64)
    y = mg.tensor([0, 2, 1, 1, 0, 2])
    whole = _loss(params, x, y)
    whole.backward()
    expected = [p.grad.numpy().copy() for p in params]
    for p in params:
        p.grad = None
    loss = split_backward(lambda x, y: _loss(params, x, y), params, (x, y), shards=2)
    assert loss == pytest.approx(whole.item(), rel=1e-12)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-12)


def test_split_with_dropout_is_reproducible():
    params = _model()
    x = mg.randn(4, 5, dtype=mg.float64)
    y = mg.tensor([0, 2, 1, 1])
    grads = []
    for _ in range(2):
        mg.manual_seed(3)
        for p in params:
            p.grad = None
        split_backward(lambda x, y: _loss(params, x, y, p=0.5), params, (x, y))
        grads.append([p.grad.numpy().copy() for p in params])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_uneven_split_is_refused():
    params = _model()
    with pytest.raises(ValueError, match="batch of 5 does not split into 2"):
        split_backward(lambda x: x.sum(), params, (mg.zeros(5, 5),))


def test_blas_threads_sets_and_restores_the_count():
    before = backend.blas_thread_count()
    if before is None:
        pytest.skip("this NumPy's BLAS does not expose its thread count")
    with backend.blas_threads(1):
        assert backend.blas_thread_count() == 1
        with backend.blas_threads(2):
            assert backend.blas_thread_count() == 2
        assert backend.blas_thread_count() == 1
    assert backend.blas_thread_count() == before
