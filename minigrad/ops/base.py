"""Helpers every op uses at its public boundary: turning operands into tensors on one
device, checking dtypes, shapes and axes (with errors that name the op)."""
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


def broadcast_pair(a, b, op):
    """The operands of a broadcasting binary op: tensors on one device whose shapes
    broadcast (else an error naming the op and both shapes)."""
    a, b = pair(a, b, op)
    broadcast_shapes(a.shape, b.shape, op)
    return a, b


def broadcast_shapes(a, b, op):
    """The broadcast shape of two shapes (NumPy's rules), or an error naming both."""
    if a == b:
        return a
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise ValueError(f"{op}: shapes {a} and {b} cannot be broadcast together (sizes "
                         "must match or be 1, aligned from the last dimension)") from None


def float_input(x, op):
    """``x``, after checking that it is a float tensor (an op with a derivative needs one)."""
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{op}: expected a float tensor, got dtype {x.dtype}")
    return x


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


def dim_args(op, dim, keepdim, axis=None, keepdims=None):
    """PyTorch's ``dim``/``keepdim``, also accepted under NumPy's names ``axis``/``keepdims``
    (one name of each pair)."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{op}: give dim or axis, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return dim, bool(keepdim)
