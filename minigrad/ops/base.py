"""Helpers every op uses: turning operands into tensors and undoing broadcasting."""
import numbers

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor


def const(array):
    """A tensor around ``array`` that never requires grad (masks, one-hots, saved values)."""
    return Tensor._wrap(array, False)


def as_tensor(value, like, op):
    """``value`` as a Tensor on ``like``'s device; Python numbers take ``like``'s dtype
    (so ``x * 2.0`` stays float32), except that a float with an integer tensor is a float."""
    if isinstance(value, Tensor):
        if not backend.same_device(value.data, like.data):
            raise RuntimeError(f"{op}: tensors are on different devices, {like.device} and "
                               f"{value.device}; move one with .to(device)")
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        dtype = like.dtype
        if isinstance(value, float) and not backend.is_floating(dtype):
            dtype = backend.get_default_dtype()
        return const(like.xp.asarray(value, dtype=dtype))
    if isinstance(value, bool):
        return const(like.xp.asarray(value))
    array = value if backend.get_array_module(value) is like.xp else backend.to_device(
        np.asarray(value), like.device)
    return Tensor(array)


def pair(a, b, op):
    """Both operands of a binary op as tensors on one device."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, a, op)
    if isinstance(b, Tensor):
        return as_tensor(a, b, op), b
    raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and "
                    f"{type(b).__name__}")


def broadcast_shapes(a, b, op):
    """The broadcast shape of two shapes (NumPy's rules), or an error naming both."""
    if a == b:
        return a
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise ValueError(f"{op}: shapes {a} and {b} cannot be broadcast together (sizes "
                         "must match or be 1, aligned from the last dimension)") from None


def sum_to_shape(grad, shape):
    """Sum ``grad`` over the dimensions that broadcasting added or stretched, so that it
    has ``shape`` again. This is the backward of broadcasting."""
    if grad.data.shape == shape:
        return grad
    from minigrad.ops.reduce import sum as sum_
    from minigrad.ops.shape import reshape
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = sum_(grad, axis=axes)
    return reshape(grad, tuple(shape)) if grad.shape != tuple(shape) else grad


def sum_to_shape_array(a, shape):
    """Array version of ``sum_to_shape``, for backward rules that work on arrays."""
    if a.shape == tuple(shape):
        return a
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and a.shape[lead + i] != 1)
    return a.sum(axis=axes).reshape(shape)


def normalize_axis(axis, ndim, op):
    """``axis`` (int, tuple or None) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise IndexError(f"{op}: dimension {a} is out of range for a tensor with "
                             f"{ndim} dimensions")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dimension repeated in {axis}")
    return tuple(sorted(out))


def reference_backward(reference, inputs, grad_out):
    """The backward of a fused op while a graph is recorded (second-order gradients): the
    gradient of ``reference(*inputs)``, the same function composed from engine ops, whose
    own backward rules are differentiable."""
    from minigrad.autograd import enable_grad, grad
    wanted = [t for t in inputs if t.requires_grad]
    with enable_grad():
        out = reference(*inputs)
    grads = iter(grad(out, wanted, grad_out, create_graph=True, allow_unused=True))
    return tuple(next(grads) if t.requires_grad else None for t in inputs)
