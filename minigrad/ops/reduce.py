"""Reductions over one or more dimensions: mean, max, min, logsumexp and var (``sum`` lives
with broadcasting, its inverse). Each backward broadcasts the gradient back over the
reduced dimensions (``expand_back``) and multiplies by the derivative."""
import builtins

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import mul, sub
from minigrad.ops.base import const
from minigrad.ops.broadcast import expand_back, reduction_axes, sum
from minigrad.ops.elementwise import exp


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


@register("mean", "d mean(x)/dx_i = 1/n (n: number of elements averaged)")
class Mean(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad, out):
        x = out._inputs[0]
        n = _count(x.shape, self.axes)
        return (expand_back(mul(grad, 1.0 / builtins.max(n, 1)), x.shape, self.axes,
                            self.keepdims),)


def mean(x, axis=None, keepdims=False):
    """The mean over ``axis`` (int, tuple, or None for all)."""
    return Mean.apply(x, axes=reduction_axes(x, axis, "mean"), keepdims=bool(keepdims))


class _Extreme(Function):
    """max/min: the gradient goes to the elements equal to the result, split evenly
    between ties (as PyTorch's max over all elements does)."""

    saved_inputs = (0,)

    def backward(self, grad, out):
        x = out._inputs[0]
        kept = out.data if self.keepdims else x.xp.expand_dims(out.data, self.axes)
        hit = (x.data == kept).astype(x.dtype)
        share = hit / hit.sum(axis=self.axes, keepdims=True)
        return (mul(expand_back(grad, x.shape, self.axes, self.keepdims), const(share)),)


@register("max", "d max(x)/dx_i = 1/k for the k elements equal to the max, else 0")
class Max(_Extreme):
    def forward(self, x):
        return x.max(axis=self.axes, keepdims=self.keepdims)


def max(x, axis=None, keepdims=False):
    """The maximum over ``axis`` (int, tuple, or None for all)."""
    if x.numel() == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    return Max.apply(x, axes=reduction_axes(x, axis, "max"), keepdims=bool(keepdims))


@register("min", "d min(x)/dx_i = 1/k for the k elements equal to the min, else 0")
class Min(_Extreme):
    def forward(self, x):
        return x.min(axis=self.axes, keepdims=self.keepdims)


def min(x, axis=None, keepdims=False):
    """The minimum over ``axis`` (int, tuple, or None for all)."""
    if x.numel() == 0:
        raise ValueError(f"min: cannot reduce an empty tensor of shape {x.shape}")
    return Min.apply(x, axes=reduction_axes(x, axis, "min"), keepdims=bool(keepdims))


@register("logsumexp", "d logsumexp(x)/dx_i = softmax(x)_i")
class LogSumExp(Function):
    saved_inputs = (0,)

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows stay -inf instead of NaN
        s = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return s if self.keepdims else s.squeeze(axis=self.axes)

    def backward(self, grad, out):
        x = out._inputs[0]
        back = expand_back(out, x.shape, self.axes, self.keepdims)
        return (mul(expand_back(grad, x.shape, self.axes, self.keepdims), exp(sub(x, back))),)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, shifted by the maximum so that it never overflows."""
    return LogSumExp.apply(x, axes=reduction_axes(x, axis, "logsumexp"),
                           keepdims=bool(keepdims))


@register("var", "composite: mean((x - mean(x))^2) * n / (n - correction)", kind="composite")
def var(x, axis=None, keepdims=False, correction=1):
    """Variance; ``correction=1`` is the unbiased estimate (PyTorch's default)."""
    axes = reduction_axes(x, axis, "var")
    n = _count(x.shape, axes)
    centered = sub(x, mean(x, axis=axes, keepdims=True))
    return mul(sum(mul(centered, centered), axis=axes, keepdims=keepdims),
               1.0 / builtins.max(n - correction, 1))
