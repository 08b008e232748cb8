"""Arithmetic: + - * / and negation, maximum and minimum. The binary ops broadcast their
operands as NumPy does, so each backward sums the gradient of an input back to that
input's shape (``sum_to_shape``)."""
from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import broadcast_pair, const
from minigrad.ops.broadcast import sum_to_shape


@register("add", "d(a+b)/da = 1, d(a+b)/db = 1")
class Add(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, a, b):
        return a + b

    def backward(self, grad, out):
        a, b = out._inputs
        return sum_to_shape(grad, a.shape), sum_to_shape(grad, b.shape)


def add(a, b):
    """a + b, broadcast."""
    return Add.apply(*broadcast_pair(a, b, "add"))


@register("sub", "d(a-b)/da = 1, d(a-b)/db = -1")
class Sub(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, a, b):
        return a - b

    def backward(self, grad, out):
        a, b = out._inputs
        return sum_to_shape(grad, a.shape), sum_to_shape(neg(grad), b.shape)


def sub(a, b):
    """a - b, broadcast."""
    return Sub.apply(*broadcast_pair(a, b, "sub"))


def rsub(a, b):
    """``b - a``: handy in backward rules (``1 - y``)."""
    return sub(b, a)


@register("mul", "d(a*b)/da = b, d(a*b)/db = a")
class Mul(Function):
    saved_inputs = (0, 1)
    saves_output = False

    def forward(self, a, b):
        return a * b

    def backward(self, grad, out):
        a, b = out._inputs
        return (sum_to_shape(mul(grad, b), a.shape) if a.requires_grad else None,
                sum_to_shape(mul(grad, a), b.shape) if b.requires_grad else None)


def mul(a, b):
    """a * b, broadcast."""
    return Mul.apply(*broadcast_pair(a, b, "mul"))


@register("div", "d(a/b)/da = 1/b, d(a/b)/db = -a/b^2")
class Div(Function):
    saved_inputs = (0, 1)
    saves_output = False

    def forward(self, a, b):
        return a / b

    def backward(self, grad, out):
        a, b = out._inputs
        ga = div(grad, b)
        return (sum_to_shape(ga, a.shape) if a.requires_grad else None,
                sum_to_shape(neg(mul(ga, div(a, b))), b.shape) if b.requires_grad else None)


def div(a, b):
    """a / b, broadcast."""
    return Div.apply(*broadcast_pair(a, b, "div"))


@register("neg", "d(-x)/dx = -1")
class Neg(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        return -x

    def backward(self, grad, out):
        return (neg(grad),)


def neg(x):
    """-x."""
    return Neg.apply(x)


@register("maximum", "d max(a,b)/da = 1 where a > b, 1/2 where a == b, else 0")
class Maximum(Function):
    saved_inputs = (0, 1)
    saves_output = False

    def forward(self, a, b):
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, grad, out):
        return _winner_grads(grad, out, greater=True)


def maximum(a, b):
    """The larger of a and b, elementwise, broadcast."""
    return Maximum.apply(*broadcast_pair(a, b, "maximum"))


@register("minimum", "d min(a,b)/da = 1 where a < b, 1/2 where a == b, else 0")
class Minimum(Function):
    saved_inputs = (0, 1)
    saves_output = False

    def forward(self, a, b):
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, grad, out):
        return _winner_grads(grad, out, greater=False)


def minimum(a, b):
    """The smaller of a and b, elementwise, broadcast."""
    return Minimum.apply(*broadcast_pair(a, b, "minimum"))


def _winner_grads(grad, out, greater):
    """The gradient goes to the operand that won; ties split it evenly, as in PyTorch."""
    a, b = out._inputs
    wins = (a.data > b.data) if greater else (a.data < b.data)
    share_a = const((wins + 0.5 * (a.data == b.data)).astype(grad.dtype))
    return (sum_to_shape(mul(grad, share_a), a.shape),
            sum_to_shape(mul(grad, rsub(share_a, 1.0)), b.shape))
