"""GELU, exact and tanh-approximate, each fused into one op: the formula and its derivative
over arrays (the backend's kernel), instead of the eight or so ops of the composed form.
(relu, tanh and sigmoid are single primitives in ``elementwise``.)"""
import math

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import add, mul, rsub
from minigrad.ops.base import float_input
from minigrad.ops.elementwise import erf, exp, tanh

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_C = math.sqrt(2.0 / math.pi)


@register("gelu", "y = x Phi(x); dy/dx = Phi(x) + x phi(x), Phi the normal CDF (erf), "
          "phi its density", kind="fused")
class GELU(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        y, self.saved = backend.kernels(x).gelu_forward(x)
        return y

    def backward(self, grad, out):
        x = out._inputs[0]
        cdf = mul(add(erf(mul(x, _SQRT_HALF)), 1.0), 0.5)
        pdf = mul(exp(mul(mul(x, x), -0.5)), _INV_SQRT_2PI)
        return (mul(grad, add(cdf, mul(x, pdf))),)

    def backward_arrays(self, grad, out):
        return (backend.kernels(grad).gelu_backward(out._inputs[0].data, grad, self.saved),)

    def reference(self, x):
        return mul(mul(x, 0.5), add(erf(mul(x, _SQRT_HALF)), 1.0))


@register("gelu_tanh", "y = x/2 (1 + tanh u), u = c (x + 0.044715 x^3); "
          "dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)", kind="fused")
class GELUTanh(Function):
    saved_inputs = (0,)
    saves_output = False

    def forward(self, x):
        y, self.saved = backend.kernels(x).gelu_tanh_forward(x)
        return y

    def backward(self, grad, out):
        x = out._inputs[0]
        x2 = mul(x, x)
        t = tanh(mul(add(x, mul(mul(x2, x), 0.044715)), _C))
        du = mul(add(mul(x2, 3 * 0.044715), 1.0), _C)
        d = add(mul(add(t, 1.0), 0.5), mul(mul(mul(x, 0.5), rsub(mul(t, t), 1.0)), du))
        return (mul(grad, d),)

    def backward_arrays(self, grad, out):
        return (backend.kernels(grad).gelu_tanh_backward(out._inputs[0].data, grad, self.saved),)

    def reference(self, x):
        u = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), _C)
        return mul(mul(x, 0.5), add(tanh(u), 1.0))


def gelu(x, approximate="none"):
    """GELU: exact x Phi(x) (``approximate='none'``) or the tanh approximation ('tanh')."""
    float_input(x, "gelu")
    if approximate == "none":
        return GELU.apply(x)
    if approximate == "tanh":
        return GELUTanh.apply(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
