"""Reductions over one or more dimensions: mean, max, min, logsumexp and var (``sum`` lives
with broadcasting, its inverse). Each backward broadcasts the gradient back over the
reduced dimensions (``expand_back``) and multiplies by the derivative."""
import builtins

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import mul, sub
from minigrad.ops.base import const, dim_args
from minigrad.ops.broadcast import expand_back, reduction_axes, sum
from minigrad.ops.elementwise import exp, sqrt


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


def mean(input, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    """The mean over ``dim`` (int, tuple, or None for all); ``dtype`` casts the input first."""
    dim, keepdim = dim_args("mean", dim, keepdim, axis, keepdims)
    input = input if dtype is None else input.to(dtype=dtype)
    return Mean.apply(input, axes=reduction_axes(input, dim, "mean"), keepdims=keepdim)


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


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The maximum over ``dim`` (int, tuple, or None for all): the values only (the
    top-level ``minigrad.max`` also gives PyTorch's indices)."""
    dim, keepdim = dim_args("max", dim, keepdim, axis, keepdims)
    if input.numel() == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {input.shape}")
    return Max.apply(input, axes=reduction_axes(input, dim, "max"), keepdims=keepdim)


@register("min", "d min(x)/dx_i = 1/k for the k elements equal to the min, else 0")
class Min(_Extreme):
    def forward(self, x):
        return x.min(axis=self.axes, keepdims=self.keepdims)


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The minimum over ``dim`` (int, tuple, or None for all): the values only."""
    dim, keepdim = dim_args("min", dim, keepdim, axis, keepdims)
    if input.numel() == 0:
        raise ValueError(f"min: cannot reduce an empty tensor of shape {input.shape}")
    return Min.apply(input, axes=reduction_axes(input, dim, "min"), keepdims=keepdim)


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


def logsumexp(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """log(sum(exp(x))) over ``dim``, shifted by the maximum so that it never overflows."""
    dim, keepdim = dim_args("logsumexp", dim, keepdim, axis, keepdims)
    return LogSumExp.apply(input, axes=reduction_axes(input, dim, "logsumexp"), keepdims=keepdim)


@register("var", "composite: sum((x - mean(x))^2) / (n - correction)", kind="composite")
def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """Variance over ``dim``: the sum of squared deviations over n - ``correction``;
    ``correction=1`` (or ``unbiased=True``, PyTorch's default) is the unbiased estimate."""
    dim, keepdim = dim_args("var", dim, keepdim, axis, keepdims)
    correction = _correction(unbiased, correction)
    axes = reduction_axes(input, dim, "var")
    n = _count(input.shape, axes)
    centered = sub(input, mean(input, axes, keepdim=True))
    return mul(sum(mul(centered, centered), axes, keepdim=keepdim),
               1.0 / builtins.max(n - correction, 1))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None,
        keepdims=None):
    """Standard deviation: the square root of ``var`` (same arguments)."""
    return sqrt(var(input, dim, unbiased, keepdim, correction=correction, axis=axis,
                    keepdims=keepdims))


def _correction(unbiased, correction):
    if unbiased is not None and correction is not None:
        raise TypeError("var: give unbiased or correction, not both")
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1

