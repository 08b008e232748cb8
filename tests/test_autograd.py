"""The graph and the backward walk: accumulation, grad modes, higher order, errors."""
import math

import numpy as np
import pytest

import minigrad as mg


def test_chain_of_ten_thousand_ops_does_not_recurse():
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert math.isclose(x.grad.item(), 1.0001 ** 10_000, rel_tol=1e-3)


def test_gradient_accumulates_across_uses_and_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0])
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 8.0])


def test_diamond_graph_counts_each_path_once():
    x = mg.tensor(2.0, requires_grad=True)
    a = x * 3
    b = a * a + a.exp()  # a used twice
    b.backward()
    assert math.isclose(x.grad.item(), 3 * (2 * 6 + math.exp(6)), rel_tol=1e-6)


def test_input_reached_twice_is_ordered_before_both_users():
    # y uses x, and z uses both x and y: backward must finish x's gradient from y and
    # from z before passing it on to w (a depth-first order that marks nodes when first
    # seen puts x after y here).
    w = mg.tensor([1.5], requires_grad=True)
    x = w * w
    y = x * 3.0
    z = x * y
    z.backward()
    np.testing.assert_allclose(w.grad.numpy(), [4 * 3.0 * 1.5 ** 3])  # z = 3 w^4


def test_no_grad_records_nothing_and_restores():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = x * 2
        assert not mg.is_grad_enabled()
        with mg.enable_grad():
            z = x * 2
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_as_decorator():
    @mg.no_grad()
    def f(x):
        return x * 2
    assert not f(mg.tensor([1.0], requires_grad=True)).requires_grad


def test_detach_cuts_the_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 4.0])


def test_grad_returns_without_accumulating():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad((x ** 3).sum(), [x])
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    assert x.grad is None


def test_hessian_vector_product():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad((x ** 3).sum(), [x], create_graph=True)
    (hv,) = mg.grad((g * mg.tensor([1.0, 1.0], dtype=mg.float64)).sum(), [x])
    np.testing.assert_allclose(hv.numpy(), [6.0, 12.0])


def test_grad_reports_unused_input():
    x = mg.tensor([1.0], requires_grad=True)
    y = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="input 1 .* was not used"):
        mg.grad((x * 2).sum(), [x, y])
    assert mg.grad((x * 2).sum(), [x, y], allow_unused=True)[1] is None


def test_backward_errors_are_clear():
    with pytest.raises(ValueError, match="does not require grad"):
        mg.tensor([1.0]).backward()
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="only for a scalar output"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the output has shape \(2,\)"):
        (x * 2).backward(mg.tensor([1.0, 1.0, 1.0]))
    with pytest.raises(TypeError, match="only float tensors can require grad"):
        mg.tensor([1, 2], requires_grad=True)


def test_shape_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul: \(32, 64\) @ \(32, 64\): inner dimensions 64 and 32 differ"):
        mg.zeros(32, 64) @ mg.zeros(32, 64)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        mg.zeros(2, 3) + mg.zeros(4)
    with pytest.raises(ValueError, match="reshape: cannot reshape"):
        mg.zeros(2, 3).reshape(4, 2)
    with pytest.raises(IndexError, match="embedding: id 70 is out of range for a table of 65 rows"):
        mg.functional.embedding(mg.tensor([70]), mg.zeros(65, 4))
    with pytest.raises(IndexError, match=r"indexing a tensor of shape \(2, 3\)"):
        mg.zeros(2, 3)[5]


def test_detect_anomaly_names_the_op():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly():
        y = x.sqrt().sum()  # d sqrt / dx is infinite at 0
        with pytest.raises(FloatingPointError, match="Sqrt"):
            with np.errstate(divide="ignore"):
                y.backward()


def test_comparisons_are_not_differentiable():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    m = x > 1.5
    assert m.dtype == mg.bool_ and not m.requires_grad
    assert m.tolist() == [False, True]


def test_setitem_writes_data():
    x = mg.zeros(3)
    x[1] = 5.0
    x[mg.tensor([0, 2])] = mg.tensor([1.0, 2.0])
    assert x.tolist() == [1.0, 5.0, 2.0]


def test_factories_and_defaults():
    assert mg.zeros(2, 3).dtype == mg.float32
    assert mg.tensor([1, 2]).dtype == mg.int64
    assert mg.arange(4).tolist() == [0, 1, 2, 3]
    assert mg.full((2,), 7.0).tolist() == [7.0, 7.0]
    mg.manual_seed(3)
    a = mg.randn(4).tolist()
    mg.manual_seed(3)
    assert mg.randn(4).tolist() == a
    mg.set_default_dtype(mg.float64)
    assert mg.tensor([1.5]).dtype == mg.float64


def test_leaf_grad_is_a_private_copy():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([1.0, 2.0], requires_grad=True)
    (x + y).sum().backward()  # add hands the same gradient array to both inputs
    x.grad.data += 1
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


def test_grad_mode_is_per_thread():
    import threading
    seen = {}

    def worker():
        seen["enabled"] = mg.is_grad_enabled()
        seen["records"] = (mg.tensor([1.0], requires_grad=True) * 2).requires_grad

    with mg.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == {"enabled": True, "records": True}
