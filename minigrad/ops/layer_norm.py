"""Layer normalisation as one fused op.

With xh = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), over the normalised dimensions
(D elements) and y = xh * w + b, the chain rule through the mean and the variance gives

    gh = g * w
    dx = rstd * (gh - mean(gh) - xh * mean(gh * xh))
    dw = sum over the batch of g * xh,   db = sum over the batch of g

(the mean term: every x_i moves the mean; the xh term: every x_i moves the variance).
"""
from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import add, div, mul, sub
from minigrad.ops.base import const, float_input
from minigrad.ops.broadcast import sum_to_shape
from minigrad.ops.elementwise import sqrt
from minigrad.ops.reduce import mean


@register("layer_norm",
          "y = (x - mu) * rstd * w + b; dx = rstd * (gh - mean(gh) - xh * mean(gh * xh)), "
          "gh = g * w, xh = (x - mu) * rstd; dw = sum(g * xh), db = sum(g)", kind="fused")
class LayerNorm(Function):
    """Normalises over the trailing ``axes``, viewed as the rows of a (N, D) matrix."""

    saved_inputs = (0, 1)
    saves_output = False

    def forward(self, x, w, b):
        d = w.size
        y, self.saved = backend.kernels(x).layer_norm_forward(
            x.reshape(-1, d), w.reshape(-1), b.reshape(-1), self.eps)
        return y.reshape(x.shape)

    def backward(self, grad, out):
        x, w, b = out._inputs
        xhat, rstd = _normalize(x, self.axes, self.eps)
        gh = mul(grad, w)
        gx = mul(rstd, sub(sub(gh, mean(gh, self.axes, keepdim=True)),
                           mul(xhat, mean(mul(gh, xhat), self.axes, keepdim=True))))
        gw = sum_to_shape(mul(grad, xhat), w.shape) if w.requires_grad else None
        gb = sum_to_shape(grad, b.shape) if b.requires_grad else None
        return gx, gw, gb

    def backward_arrays(self, grad, out):
        x, w, b = out._inputs
        d = w.numel()
        gx, gw, gb = backend.kernels(grad).layer_norm_backward(
            x.data.reshape(-1, d), w.data.reshape(-1), grad.reshape(-1, d), self.saved)
        return (gx.reshape(x.shape), gw.reshape(w.shape) if w.requires_grad else None,
                gb.reshape(b.shape) if b.requires_grad else None)

    def reference(self, x, w, b):
        xhat, _ = _normalize(x, self.axes, self.eps)
        return add(mul(xhat, w), b)


def _normalize(x, axes, eps):
    """((x - mean) / sqrt(var + eps), 1 / sqrt(var + eps)), composed from engine ops."""
    xc = sub(x, mean(x, axes, keepdim=True))
    rstd = div(1.0, sqrt(add(mean(mul(xc, xc), axes, keepdim=True), eps)))
    return mul(xc, rstd), rstd


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dimensions, then scale and shift."""
    float_input(x, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: input {x.shape} does not end with normalized_shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {p.shape}, expected {shape}")
    weight = weight if weight is not None else const(x.xp.ones(shape, x.dtype))
    bias = bias if bias is not None else const(x.xp.zeros(shape, x.dtype))
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return LayerNorm.apply(x, weight, bias, axes=axes, eps=float(eps))
