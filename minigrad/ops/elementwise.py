"""Elementwise ops. Binary ops broadcast like NumPy; their backward sums the gradient
back to each input's shape (``sum_to_shape``)."""
import math

from minigrad import backend
from minigrad.autograd import REGISTRY, Function, register
from minigrad.ops.base import broadcast_shapes, const, pair, sum_to_shape


def _check_float(x, op):
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{op}: expected a float tensor, got dtype {x.dtype}")


# ---------------------------------------------------------------- arithmetic

@register("add", "d(a+b)/da = 1, d(a+b)/db = 1")
class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, grad, out):
        a, b = out._inputs
        return sum_to_shape(grad, a.shape), sum_to_shape(grad, b.shape)


@register("sub", "d(a-b)/da = 1, d(a-b)/db = -1")
class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, grad, out):
        a, b = out._inputs
        return sum_to_shape(grad, a.shape), sum_to_shape(neg(grad), b.shape)


@register("mul", "d(a*b)/da = b, d(a*b)/db = a")
class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, grad, out):
        a, b = out._inputs
        return (sum_to_shape(mul(grad, b), a.shape) if a.requires_grad else None,
                sum_to_shape(mul(grad, a), b.shape) if b.requires_grad else None)


@register("div", "d(a/b)/da = 1/b, d(a/b)/db = -a/b^2")
class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, grad, out):
        a, b = out._inputs
        ga = div(grad, b)
        return (sum_to_shape(ga, a.shape) if a.requires_grad else None,
                sum_to_shape(neg(mul(ga, div(a, b))), b.shape) if b.requires_grad else None)


@register("neg", "d(-x)/dx = -1")
class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, grad, out):
        return (neg(grad),)


@register("pow_scalar", "d(x^p)/dx = p x^(p-1)")
class PowScalar(Function):
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


# ---------------------------------------------------------------- unary math

@register("exp", "d exp(x)/dx = exp(x)")
class Exp(Function):
    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, grad, out):
        return (mul(grad, out),)


@register("log", "d log(x)/dx = 1/x")
class Log(Function):
    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, grad, out):
        return (div(grad, out._inputs[0]),)


@register("sqrt", "d sqrt(x)/dx = 1 / (2 sqrt(x))")
class Sqrt(Function):
    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, grad, out):
        return (div(grad, mul(out, 2.0)),)


@register("abs", "d|x|/dx = sign(x) (0 at x = 0)")
class Abs(Function):
    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, grad, out):
        x = out._inputs[0]
        return (mul(grad, const(x.xp.sign(x.data))),)


@register("tanh", "d tanh(x)/dx = 1 - tanh(x)^2")
class Tanh(Function):
    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, grad, out):
        y = out
        return (mul(grad, rsub(mul(y, y), 1.0)),)


@register("sigmoid", "d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x))")
class Sigmoid(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        # Two branches so that exp never overflows: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) else.
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    def backward(self, grad, out):
        y = out
        return (mul(grad, mul(y, rsub(y, 1.0))),)


@register("relu", "d relu(x)/dx = 1 if x > 0 else 0")
class ReLU(Function):
    def forward(self, x):
        return backend.get_array_module(x).maximum(x, 0)

    def backward(self, grad, out):
        x = out._inputs[0]
        return (mul(grad, const((x.data > 0).astype(x.dtype))),)


@register("erf", "d erf(x)/dx = 2/sqrt(pi) exp(-x^2)")
class Erf(Function):
    def forward(self, x):
        return backend.erf(x)

    def backward(self, grad, out):
        x = out._inputs[0]
        return (mul(grad, mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi))),)


@register("sin", "d sin(x)/dx = cos(x)")
class Sin(Function):
    def forward(self, x):
        return backend.get_array_module(x).sin(x)

    def backward(self, grad, out):
        return (mul(grad, cos(out._inputs[0])),)


@register("cos", "d cos(x)/dx = -sin(x)")
class Cos(Function):
    def forward(self, x):
        return backend.get_array_module(x).cos(x)

    def backward(self, grad, out):
        return (neg(mul(grad, sin(out._inputs[0]))),)


@register("clamp", "d clamp(x, lo, hi)/dx = 1 inside [lo, hi], 0 outside")
class Clamp(Function):
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


@register("maximum", "d max(a,b)/da = 1 where a > b, 1/2 where a == b, else 0")
class Maximum(Function):
    def forward(self, a, b):
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, grad, out):
        return _select_grads(grad, out, greater=True)


@register("minimum", "d min(a,b)/da = 1 where a < b, 1/2 where a == b, else 0")
class Minimum(Function):
    def forward(self, a, b):
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, grad, out):
        return _select_grads(grad, out, greater=False)


def _select_grads(grad, out, greater):
    a, b = out._inputs
    wins = (a.data > b.data) if greater else (a.data < b.data)
    # Ties split the gradient evenly, as PyTorch does.
    share_a = wins + 0.5 * (a.data == b.data)
    share_a = const(share_a.astype(grad.dtype))
    ga = sum_to_shape(mul(grad, share_a), a.shape)
    gb = sum_to_shape(mul(grad, rsub(share_a, 1.0)), b.shape)
    return ga, gb


# ---------------------------------------------------------------- dtype and device

@register("astype", "identity; the gradient is cast back to the input's dtype")
class AsType(Function):
    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, grad, out):
        return (astype(grad, out._inputs[0].dtype),)


@register("to_device", "identity; the gradient moves back to the input's device")
class ToDevice(Function):
    def forward(self, x):
        return backend.to_device(x, self.device)

    def backward(self, grad, out):
        return (to_device(grad, out._inputs[0].device),)


@register("clone", "identity: d x/dx = 1")
class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, grad, out):
        return (grad,)


# ---------------------------------------------------------------- public functions

def _binary(cls, name):
    """The public function of a broadcasting binary op: operands to tensors on one device,
    shapes checked here (the error names the op), then the op."""
    def op(a, b):
        a, b = pair(a, b, name)
        broadcast_shapes(a.shape, b.shape, name)
        return cls.apply(a, b)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} with NumPy broadcasting: {REGISTRY[name].derivative}."
    return op


add = _binary(Add, "add")
sub = _binary(Sub, "sub")
mul = _binary(Mul, "mul")
div = _binary(Div, "div")
maximum = _binary(Maximum, "maximum")
minimum = _binary(Minimum, "minimum")



def rsub(a, b):
    """``b - a``: handy in backward rules (``1 - y``)."""
    return sub(b, a)


def neg(x):
    return Neg.apply(x)


def pow(a, b):
    from minigrad.tensor import Tensor
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        if not isinstance(b, (int, float)):
            raise TypeError(f"pow: exponent must be a number or a Tensor, got {type(b).__name__}")
        return PowScalar.apply(a, exponent=b)
    a, b = pair(a, b, "pow")
    broadcast_shapes(a.shape, b.shape, "pow")
    return Pow.apply(a, b)


def _unary(cls, name):
    def op(x):
        _check_float(x, name)
        return cls.apply(x)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name}: {REGISTRY[name].derivative}."
    return op


exp = _unary(Exp, "exp")
log = _unary(Log, "log")
sqrt = _unary(Sqrt, "sqrt")
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
erf = _unary(Erf, "erf")
sin = _unary(Sin, "sin")
cos = _unary(Cos, "cos")


def abs(x):
    return Abs.apply(x)


def relu(x):
    return ReLU.apply(x)


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clamp: give at least one of min and max")
    return Clamp.apply(x, min=min, max=max)


def astype(x, dtype):
    if x.dtype == dtype:
        return x
    if x.requires_grad and not backend.is_floating(dtype):
        # An integer result carries no gradient; cut the graph like PyTorch does.
        return x.detach().astype(dtype)
    return AsType.apply(x, dtype=dtype)


def to_device(x, device):
    if x.device == device:
        return x
    return ToDevice.apply(x, device=device)


def clone(x):
    return Clone.apply(x)


_COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                "logical_and", "logical_or"}


def compare(a, b, how):
    """Elementwise comparison (``==``, ``<``, ...): a bool tensor, never differentiable."""
    if how not in _COMPARISONS:
        raise ValueError(f"compare: unknown comparison {how!r}")
    a, b = pair(a, b, how)
    broadcast_shapes(a.shape, b.shape, how)
    return const(getattr(a.xp, how)(a.data, b.data))


def logical_not(x):
    return const(x.xp.logical_not(x.data))
