"""Reductions over one or more dimensions. Their backward broadcasts the gradient back
over the reduced dimensions (``_expand_back``)."""
import builtins

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import const, normalize_axis


def _expand_back(grad, in_shape, axes, keepdims):
    """Undo a reduction's shape: reinsert the reduced axes (size 1), then broadcast."""
    from minigrad.ops.shape import expand, reshape
    if not keepdims:
        kept = tuple(1 if i in axes else s for i, s in enumerate(in_shape))
        grad = reshape(grad, kept)
    return expand(grad, in_shape)


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


@register("sum", "d sum(x)/dx_i = 1")
class Sum(Function):
    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad, out):
        x = out._inputs[0]
        return (_expand_back(grad, x.shape, self.axes, self.keepdims),)


@register("mean", "d mean(x)/dx_i = 1/n (n: number of elements averaged)")
class Mean(Function):
    def forward(self, x):
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad, out):
        from minigrad.ops.elementwise import mul
        x = out._inputs[0]
        n = _count(x.shape, self.axes)
        return (_expand_back(mul(grad, 1.0 / builtins.max(n, 1)), x.shape, self.axes,
                             self.keepdims),)


class _Extreme(Function):
    """max/min: the gradient goes to the elements equal to the result, split evenly
    between ties (as PyTorch's max over all elements does)."""

    def backward(self, grad, out):
        from minigrad.ops.elementwise import mul
        x = out._inputs[0]
        xp = x.xp
        kept = out.data if self.keepdims else xp.expand_dims(out.data, self.axes)
        hit = (x.data == kept).astype(x.dtype)
        share = hit / hit.sum(axis=self.axes, keepdims=True)
        return (mul(_expand_back(grad, x.shape, self.axes, self.keepdims), const(share)),)


@register("max", "d max(x)/dx_i = 1/k for the k elements equal to the max, else 0")
class Max(_Extreme):
    def forward(self, x):
        return x.max(axis=self.axes, keepdims=self.keepdims)


@register("min", "d min(x)/dx_i = 1/k for the k elements equal to the min, else 0")
class Min(_Extreme):
    def forward(self, x):
        return x.min(axis=self.axes, keepdims=self.keepdims)


@register("logsumexp", "d logsumexp(x)/dx_i = softmax(x)_i")
class LogSumExp(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf rows stay -inf instead of NaN
        s = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return s if self.keepdims else s.squeeze(axis=self.axes)

    def backward(self, grad, out):
        from minigrad.ops.elementwise import exp, mul, sub
        x = out._inputs[0]
        back = _expand_back(out, x.shape, self.axes, self.keepdims)
        return (mul(_expand_back(grad, x.shape, self.axes, self.keepdims), exp(sub(x, back))),)


def _reduce(cls, name):
    def op(x, axis=None, keepdims=False):
        if x.ndim == 0 and axis in (0, -1, (), None):
            axes = ()
        else:
            axes = normalize_axis(axis, x.ndim, name)
        if cls in (Max, Min) and x.numel() == 0:
            raise ValueError(f"{name}: cannot reduce an empty tensor of shape {x.shape}")
        return cls.apply(x, axes=axes, keepdims=bool(keepdims))
    op.__name__ = name
    return op


sum = _reduce(Sum, "sum")
mean = _reduce(Mean, "mean")
max = _reduce(Max, "max")
min = _reduce(Min, "min")
logsumexp = _reduce(LogSumExp, "logsumexp")


@register("var", "composite: mean((x - mean(x))^2) * n / (n - correction)", kind="composite")
def var(x, axis=None, keepdims=False, correction=1):
    """Variance; ``correction=1`` is the unbiased estimate (PyTorch's default)."""
    from minigrad.ops.elementwise import mul, sub
    axes = normalize_axis(axis, x.ndim, "var")
    n = _count(x.shape, axes)
    centered = sub(x, mean(x, axis=axes, keepdims=True))
    return mul(sum(mul(centered, centered), axis=axes, keepdims=keepdims),
               1.0 / builtins.max(n - correction, 1))
