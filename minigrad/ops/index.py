"""Indexing and selection: ``x[index]``, its backward (adding into zeros), ``where`` and the
masks built on it (masked_fill, tril, triu)."""
import numbers

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import as_tensor, broadcast_shapes, const
from minigrad.ops.broadcast import sum_to_shape
from minigrad.tensor import Tensor


@register("getitem", "d x[i]/dx: the gradient is added into zeros at the indexed positions")
class GetItem(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        self.is_view = _is_basic(self.index)  # slices give views, index arrays copies
        return x[self.index]

    def backward(self, grad, out):
        return (index_add_into(grad, out._inputs[0].shape, self.index),)


def index_arrays(index):
    """An index with Tensors inside turned into one with arrays (for NumPy/CuPy)."""
    if isinstance(index, tuple):
        return tuple(index_arrays(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def getitem(x, index):
    """x[index] with NumPy's basic and advanced indexing."""
    index = index_arrays(index)
    try:
        return GetItem.apply(x, index=index)
    except IndexError as err:
        raise IndexError(f"indexing a tensor of shape {x.shape}: {err}") from None


@register("index_add_into", "z = zeros(shape); z[i] += g; its derivative is indexing: dz/dg = g[i]")
class IndexAddInto(Function):
    """Backward of indexing: scatters ``g`` into zeros, adding repeated indices."""

    saved_inputs = ()
    saves_output = False

    def forward(self, g):
        xp = backend.get_array_module(g)
        z = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.index):
            z[self.index] = g
        elif _is_row_lookup(self.index, self.shape):
            backend.kernels(z).add_rows(z, self.index, g)
        else:
            backend.kernels(z).scatter_add(z, self.index, g)
        return z

    def backward(self, grad, out):
        return (getitem(grad, self.index),)


def _is_basic(index):
    """Slices, ints, None and Ellipsis only: no position can be hit twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral))
               for i in items)


def _is_row_lookup(index, shape):
    """``table[ids]`` with an integer array: the embedding lookup."""
    return (not isinstance(index, tuple) and hasattr(index, "dtype")
            and index.dtype.kind in "iu" and len(shape) == 2)


def index_add_into(grad, shape, index):
    """zeros(shape) with ``grad`` added at ``index`` (repeated positions add up)."""
    return IndexAddInto.apply(grad, shape=tuple(shape), index=index)


@register("where", "d where(c, a, b)/da = c, d/db = not c")
class Where(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, a, b):
        return backend.get_array_module(a).where(self.cond, a, b)

    def backward(self, grad, out):
        a, b = out._inputs
        zero = const(grad.xp.zeros((), grad.dtype))
        ga = sum_to_shape(where(self.cond, grad, zero), a.shape) if a.requires_grad else None
        gb = sum_to_shape(where(self.cond, zero, grad), b.shape) if b.requires_grad else None
        return ga, gb


def where(cond, a, b):
    """``a`` where ``cond`` is true, else ``b`` (all three broadcast)."""
    if isinstance(a, Tensor):
        b = as_tensor(b, a, "where")
    elif isinstance(b, Tensor):
        a = as_tensor(a, b, "where")
    else:
        raise TypeError("where: expected a or b to be a Tensor")
    cond = cond.data if isinstance(cond, Tensor) else cond
    broadcast_shapes(broadcast_shapes(a.shape, b.shape, "where"), tuple(cond.shape), "where")
    return Where.apply(a, b, cond=cond.astype(bool, copy=False))


def masked_fill(x, mask, value):
    """``x`` with ``value`` wherever ``mask`` is true (e.g. -inf above the causal diagonal)."""
    mask = mask.data if isinstance(mask, Tensor) else mask
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be bool, got {mask.dtype}")
    fill = const(x.xp.asarray(value, dtype=x.dtype))
    return where(mask, fill, x)


def tril(x, diagonal=0):
    """Lower triangle of the last two dimensions; the rest is zero."""
    keep = x.xp.tril(x.xp.ones(x.shape[-2:], dtype=bool), diagonal)
    return where(keep, x, 0.0)


def triu(x, diagonal=0):
    """Upper triangle of the last two dimensions; the rest is zero."""
    keep = x.xp.triu(x.xp.ones(x.shape[-2:], dtype=bool), diagonal)
    return where(keep, x, 0.0)
