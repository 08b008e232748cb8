"""Broadcasting and its inverse: ``expand`` and ``sum``, with ``reshape``.

``expand`` stretches dimensions of size 1 (and adds leading ones); its backward sums the
gradient over them again: ``sum_to_shape``. ``sum`` removes dimensions; its backward
stretches the gradient back over them: ``expand_back``. Each is the other's derivative, so
they live together, with ``reshape``, which both need. Every op that broadcasts its inputs
(``a + b`` with shapes (2, 3) and (3,)) ends its backward with ``sum_to_shape``: the
gradient of b is the sum of the gradients of the copies of b that broadcasting made.
"""
import numbers

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import broadcast_shapes, dim_args, normalize_axis


def sum_to_shape(grad, shape):
    """Sum ``grad`` over the dimensions that broadcasting added (leading) or stretched
    (size 1 in ``shape``), so that it has ``shape`` again: the backward of broadcasting."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    axes = _broadcast_axes(grad.shape, shape)
    if axes:
        grad = Sum.apply(grad, axes=axes, keepdims=False)
    return reshape(grad, shape)


def sum_to_shape_array(a, shape):
    """``sum_to_shape`` on an array, for the array fast paths of backward rules."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    return a.sum(axis=_broadcast_axes(a.shape, shape)).reshape(shape)


def _broadcast_axes(big, shape):
    """The axes of ``big`` that broadcasting ``shape`` to it added or stretched."""
    lead = len(big) - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and big[lead + i] != 1)


def expand_back(grad, in_shape, axes, keepdims):
    """Undo a reduction over ``axes`` of a tensor of ``in_shape``: put the reduced
    dimensions back (size 1) unless they were kept, then broadcast over them."""
    if not keepdims:
        grad = reshape(grad, tuple(1 if i in axes else s for i, s in enumerate(in_shape)))
    return expand(grad, in_shape)


# ---------------------------------------------------------------- reshape

@register("reshape", "identity on the elements; the gradient is reshaped back")
class Reshape(Function):
    saved_inputs = ()
    saves_output = False
    is_view = True

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, grad, out):
        return (reshape(grad, out._inputs[0].shape),)


def shape_arg(shape):
    """``f(2, 3)`` and ``f((2, 3))`` both give (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    """The elements of x in a new shape (one size may be -1: inferred)."""
    shape = shape_arg(shape)
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if shape.count(-1) > 1 or known == 0 or x.numel() % known:
            raise ValueError(f"reshape: cannot reshape {x.shape} ({x.numel()} elements) to {shape}")
        shape = tuple(x.numel() // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != x.numel():
        raise ValueError(f"reshape: cannot reshape {x.shape} ({x.numel()} elements) to {shape} "
                         f"({int(np.prod(shape))} elements)")
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=tuple(int(s) for s in shape))


# ---------------------------------------------------------------- expand (broadcast_to)

@register("expand", "broadcast: the gradient is summed over the stretched dimensions")
class Expand(Function):
    saved_inputs = ()
    saves_output = False
    is_view = True

    def forward(self, x):
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, grad, out):
        return (sum_to_shape(grad, out._inputs[0].shape),)


def expand(x, *shape):
    """x broadcast to ``shape`` (-1 keeps a size), without copying (a view)."""
    shape = shape_arg(shape)
    if len(shape) < x.ndim:
        raise ValueError(f"expand: cannot expand {x.shape} to fewer dimensions {shape}")
    lead = len(shape) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    if broadcast_shapes(x.shape, shape, "expand") != shape:
        raise ValueError(f"expand: cannot expand {x.shape} to {shape}")
    if shape == x.shape:
        return x
    return Expand.apply(x, shape=shape)


broadcast_to = expand


# ---------------------------------------------------------------- sum

@register("sum", "d sum(x)/dx_i = 1: the gradient is broadcast back over the summed dimensions")
class Sum(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad, out):
        return (expand_back(grad, out._inputs[0].shape, self.axes, self.keepdims),)


def reduction_axes(x, axis, op):
    """The axes a reduction of x over ``axis`` (int, tuple or None) runs over."""
    if x.ndim == 0 and (axis is None or axis == () or
                        (isinstance(axis, numbers.Integral) and axis in (0, -1))):
        return ()
    return normalize_axis(axis, x.ndim, op)


def sum(input, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
    """The sum over ``dim`` (int, tuple, or None for all); ``dtype`` casts the input first
    (differentiably), as PyTorch's ``dtype=`` does."""
    dim, keepdim = dim_args("sum", dim, keepdim, axis, keepdims)
    input = input if dtype is None else input.to(dtype=dtype)
    return Sum.apply(input, axes=reduction_axes(input, dim, "sum"), keepdims=keepdim)
