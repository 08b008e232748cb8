"""Elementwise functions of one tensor: powers, exp and log, tanh, sigmoid, relu, erf, sin,
cos, abs and clamp. Each backward multiplies the incoming gradient by the derivative at
every element (the chain rule, elementwise)."""
import math

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import div, mul, neg, rsub, sub
from minigrad.ops.base import broadcast_pair, const, float_input
from minigrad.ops.broadcast import sum_to_shape
from minigrad.tensor import Tensor

# ---------------------------------------------------------------- powers


@register("pow_scalar", "d(x^p)/dx = p x^(p-1)")
class PowScalar(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return x ** self.exponent

    def backward(self, grad, out):
        (x,) = out._inputs
        p = self.exponent
        if p == 2:
            return (mul(grad, mul(x, 2.0)),)
        return (mul(grad, mul(pow(x, p - 1), float(p))),)


@register("pow", "d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a")
class Pow(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        return a ** b

    def backward(self, grad, out):
        a, b = out._inputs
        ga = gb = None
        if a.requires_grad:
            ga = sum_to_shape(mul(grad, mul(b, pow(a, sub(b, 1.0)))), a.shape)
        if b.requires_grad:
            gb = sum_to_shape(mul(grad, mul(out, log(a))), b.shape)
        return ga, gb


def pow(a, b):
    """a ** b: ``PowScalar`` for a number exponent, else ``Pow`` (broadcast)."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        if not isinstance(b, (int, float)):
            raise TypeError(f"pow: exponent must be a number or a Tensor, got {type(b).__name__}")
        return PowScalar.apply(a, exponent=b)
    return Pow.apply(*broadcast_pair(a, b, "pow"))


@register("sqrt", "d sqrt(x)/dx = 1 / (2 sqrt(x))")
class Sqrt(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, grad, out):
        return (div(grad, mul(out, 2.0)),)


def sqrt(x):
    return Sqrt.apply(float_input(x, "sqrt"))


# ---------------------------------------------------------------- exp and log

@register("exp", "d exp(x)/dx = exp(x)")
class Exp(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, grad, out):
        return (mul(grad, out),)


def exp(x):
    return Exp.apply(float_input(x, "exp"))


@register("log", "d log(x)/dx = 1/x")
class Log(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, grad, out):
        return (div(grad, out._inputs[0]),)


def log(x):
    return Log.apply(float_input(x, "log"))


# ---------------------------------------------------------------- activations

@register("tanh", "d tanh(x)/dx = 1 - tanh(x)^2")
class Tanh(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, grad, out):
        y = out
        return (mul(grad, rsub(mul(y, y), 1.0)),)


def tanh(x):
    return Tanh.apply(float_input(x, "tanh"))


@register("sigmoid", "d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x))")
class Sigmoid(Function):
    saved_inputs = ()

    def forward(self, x):
        xp = backend.get_array_module(x)
        # Two branches so that exp never overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) else.
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def backward(self, grad, out):
        y = out
        return (mul(grad, mul(y, rsub(y, 1.0))),)


def sigmoid(x):
    return Sigmoid.apply(float_input(x, "sigmoid"))


@register("relu", "d relu(x)/dx = 1 if x > 0 else 0")
class ReLU(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return backend.get_array_module(x).maximum(x, 0)

    def backward(self, grad, out):
        x = out._inputs[0]
        return (mul(grad, const((x.data > 0).astype(x.dtype))),)


def relu(x):
    return ReLU.apply(x)


@register("erf", "d erf(x)/dx = 2/sqrt(pi) exp(-x^2)")
class Erf(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return backend.kernels(x).erf(x)

    def backward(self, grad, out):
        x = out._inputs[0]
        return (mul(grad, mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi))),)


def erf(x):
    return Erf.apply(float_input(x, "erf"))


# ---------------------------------------------------------------- sin, cos, abs, clamp

@register("sin", "d sin(x)/dx = cos(x)")
class Sin(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return backend.get_array_module(x).sin(x)

    def backward(self, grad, out):
        return (mul(grad, cos(out._inputs[0])),)


def sin(x):
    return Sin.apply(float_input(x, "sin"))


@register("cos", "d cos(x)/dx = -sin(x)")
class Cos(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return backend.get_array_module(x).cos(x)

    def backward(self, grad, out):
        return (neg(mul(grad, sin(out._inputs[0]))),)


def cos(x):
    return Cos.apply(float_input(x, "cos"))


@register("abs", "d|x|/dx = sign(x) (0 at x = 0)")
class Abs(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, grad, out):
        x = out._inputs[0]
        return (mul(grad, const(x.xp.sign(x.data))),)


def abs(x):
    return Abs.apply(x)


@register("clamp", "d clamp(x, lo, hi)/dx = 1 inside [lo, hi], 0 outside")
class Clamp(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        return backend.get_array_module(x).clip(x, self.min, self.max)

    def backward(self, grad, out):
        x = out._inputs[0].data
        inside = x == x  # all True, also where both bounds are None
        if self.min is not None:
            inside = inside & (x >= self.min)
        if self.max is not None:
            inside = inside & (x <= self.max)
        return (mul(grad, const(inside.astype(x.dtype))),)


def clamp(x, min=None, max=None):
    """x limited to [min, max] (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return Clamp.apply(x, min=min, max=max)
