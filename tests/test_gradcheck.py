"""The checker itself: it must catch wrong gradients and say where they are."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function
from minigrad.gradcheck import GradcheckError


class WrongSquare(Function):
    """x^2 with a deliberately wrong derivative (3x instead of 2x)."""

    def forward(self, x):
        return x * x

    def backward(self, grad, out):
        return (grad * out._inputs[0] * 3.0,)


def test_catches_a_wrong_backward_and_names_the_input():
    x = mg.randn(2, 3, dtype=mg.float64, requires_grad=True)
    y = mg.randn(3, dtype=mg.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match=r"output 0 \(shape \(2, 3\)\) with respect to input 0"):
        mg.gradcheck(lambda x, y: WrongSquare.apply(x) + y, (x, y))
    assert mg.gradcheck(lambda x, y: WrongSquare.apply(x) + y, (x, y), raise_exception=False) is False


def test_catches_a_wrong_second_derivative():
    class WrongSecond(Function):
        def forward(self, x):
            return x ** 3

        def backward(self, grad, out):
            x = out._inputs[0]
            return (grad * 3.0 * x.detach() ** 2,)  # detached: its own derivative is lost

    x = mg.randn(3, dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda x: WrongSecond.apply(x), (x,))
    with pytest.raises(GradcheckError):
        mg.gradgradcheck(lambda x: WrongSecond.apply(x), (x,))


def test_fast_mode_catches_a_wrong_backward():
    x = mg.randn(4, 5, dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda x: x.tanh(), (x,), fast=True)
    with pytest.raises(GradcheckError, match="fast"):
        mg.gradcheck(lambda x: WrongSquare.apply(x), (x,), fast=True)


def test_requires_float64():
    with pytest.raises(TypeError, match="input 0 is float32; finite differences need float64"):
        mg.gradcheck(lambda x: x * 2, (mg.randn(3, requires_grad=True),))


def test_points_at_a_kink():
    x = mg.tensor([0.0, 1.0], dtype=mg.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="not differentiable"):
        mg.gradcheck(lambda x: x.relu(), (x,))


def test_detects_a_function_that_mutates_its_input():
    def mutating(x):
        x.data += 1.0
        return x * 2

    x = mg.randn(3, dtype=mg.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="changed input 0 in place"):
        mg.gradcheck(mutating, (x,))


def test_non_tensor_inputs_pass_through():
    x = mg.randn(3, dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda x, k: x * k, (x, 2.5))
    np.testing.assert_allclose(x.numpy(), x.numpy())
