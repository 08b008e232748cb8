"""In-place ops and the version counter: a tensor that a recorded op needs for its gradient
cannot be changed in place without backward saying so (PyTorch's safety)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim

MODIFIED = "changed by an in-place operation"


def test_changing_a_saved_input_makes_backward_refuse():
    x = mg.randn(3, requires_grad=True)
    y = x * x
    with mg.no_grad():
        x[0] = 5.0
    with pytest.raises(RuntimeError, match=rf"backward of Mul: input 0 \(shape \(3,\)\).*{MODIFIED}"):
        y.sum().backward()


def test_changing_a_saved_output_makes_backward_refuse():
    x = mg.randn(3, requires_grad=True)
    y = x.exp()  # exp's gradient is its output
    z = y + 1.0  # add's is not
    with mg.no_grad():
        y.zero_()
    with pytest.raises(RuntimeError, match=rf"backward of Exp: its output.*{MODIFIED}"):
        z.sum().backward()


def test_an_op_that_saved_nothing_does_not_mind():
    """``x + 1`` needs neither input for its gradient, as in PyTorch."""
    x = mg.randn(3, requires_grad=True)
    y = x + 1.0
    with mg.no_grad():
        x.add_(1.0)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1.0)


def test_a_change_through_a_view_counts_for_its_base():
    x = mg.randn(2, 3, requires_grad=True)
    y = (x * x).sum()
    with mg.no_grad():
        x.detach()[0].fill_(0.0)  # a view of a detached alias: the same memory
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_an_optimizer_step_makes_the_old_graph_stale():
    layer = nn.Linear(3, 2)
    loss = layer(mg.randn(4, 3)).sum()
    loss.backward()
    optim.SGD(layer.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match=rf"backward of Linear: input 1.*{MODIFIED}"):
        loss.backward()


def test_writes_through_data_are_caught_in_anomaly_mode():
    x = mg.randn(3, requires_grad=True)
    with mg.detect_anomaly():
        y = x * x
        x.data[0] = 5.0  # the raw array: no version counter sees this
        with pytest.raises(RuntimeError, match="changed after the op ran"):
            y.sum().backward()


def test_in_place_changes_of_leaves_and_graph_tensors_need_no_grad():
    w = mg.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w.add_(1.0)
    h = w * 2.0
    with pytest.raises(RuntimeError, match="recorded Mul op.*out-of-place"):
        h.relu_() if hasattr(h, "relu_") else h.mul_(2.0)
    with mg.no_grad():
        w.mul_(0.0)  # allowed, as in PyTorch
    np.testing.assert_array_equal(w.numpy(), 0.0)


@pytest.mark.parametrize("op, args, expected", [
    ("add_", (2.0,), [3.0, 4.0]), ("add_", (mg.tensor([1.0, 1.0]), 3), [4.0, 5.0]),
    ("sub_", (1.0,), [0.0, 1.0]), ("mul_", (mg.tensor([2.0, 3.0]),), [2.0, 6.0]),
    ("div_", (2.0,), [0.5, 1.0]), ("clamp_", (None, 1.5), [1.0, 1.5]),
    ("masked_fill_", (np.array([True, False]), -1.0), [-1.0, 2.0]), ("fill_", (7.0,), [7.0, 7.0]),
    ("copy_", (mg.tensor([9.0, 8.0]),), [9.0, 8.0]), ("zero_", (), [0.0, 0.0])])
def test_in_place_ops_change_values_memory_and_version(op, args, expected):
    x = mg.tensor([1.0, 2.0])
    memory, version = x.data, x._version
    assert getattr(x, op)(*args) is x
    np.testing.assert_allclose(x.numpy(), expected)
    assert x.data is memory and x._version == version + 1


def test_random_in_place_fills_are_seeded():
    mg.manual_seed(3)
    a = mg.empty(1000).normal_(2.0, 0.5)
    mg.manual_seed(3)
    b = mg.empty(1000).normal_(2.0, 0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert abs(a.mean().item() - 2.0) < 0.1 and abs(a.std().item() - 0.5) < 0.05
    u = mg.empty(1000).uniform_(-1.0, 3.0).numpy()
    assert u.min() >= -1.0 and u.max() < 3.0


def test_in_place_op_must_keep_the_shape():
    with pytest.raises(RuntimeError, match=r"add_: the result has shape \(2, 2\)"):
        mg.zeros(2).add_(mg.zeros(2, 2))
