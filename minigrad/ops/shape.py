"""Ops that move elements without changing them: reshape, permute, broadcast, index,
concatenate. Their backward moves the gradient back the same way."""
import numbers

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import as_tensor, broadcast_shapes, const, normalize_axis, sum_to_shape
from minigrad.tensor import Tensor


@register("reshape", "identity on the elements; the gradient is reshaped back")
class Reshape(Function):
    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, grad, out):
        return (reshape(grad, out._inputs[0].shape),)


@register("permute", "identity on the elements; the gradient is permuted back")
class Permute(Function):
    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, grad, out):
        return (permute(grad, tuple(np.argsort(self.axes))),)


@register("expand", "broadcast: the gradient is summed over the stretched dimensions")
class Expand(Function):
    def forward(self, x):
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, grad, out):
        return (sum_to_shape(grad, out._inputs[0].shape),)


@register("getitem", "d x[i]/dx: the gradient is added into zeros at the indexed positions")
class GetItem(Function):
    def forward(self, x):
        return x[self.index]

    def backward(self, grad, out):
        return (index_add_into(grad, out._inputs[0].shape, self.index),)


@register("index_add_into", "z = zeros(shape); z[i] += g; its derivative is indexing: dz/dg = g[i]")
class IndexAddInto(Function):
    """Backward of indexing: scatters ``g`` into zeros, adding repeated indices."""

    def forward(self, g):
        xp = backend.get_array_module(g)
        z = xp.zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.index):
            z[self.index] = g
        elif _is_row_lookup(self.index, self.shape):
            backend.add_rows(z, self.index, g)
        else:
            backend.scatter_add(z, self.index, g)
        return z

    def backward(self, grad, out):
        return (GetItem.apply(grad, index=self.index),)


def _is_basic(index):
    """Slices, ints, None and Ellipsis only: no position can be hit twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, numbers.Integral))
               for i in items)


def _is_row_lookup(index, shape):
    """``table[ids]`` with an integer array: the embedding lookup."""
    return (not isinstance(index, tuple) and hasattr(index, "dtype")
            and index.dtype.kind in "iu" and len(shape) == 2)


@register("concat", "the gradient is split back into the pieces")
class Concat(Function):
    def forward(self, *xs):
        return backend.get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, grad, out):
        grads, start = [], 0
        for x in out._inputs:
            stop = start + x.shape[self.axis]
            index = (slice(None),) * self.axis + (slice(start, stop),)
            grads.append(getitem(grad, index) if x.requires_grad else None)
            start = stop
        return grads


@register("where", "d where(c, a, b)/da = c, d/db = not c")
class Where(Function):
    def forward(self, a, b):
        return backend.get_array_module(a).where(self.cond, a, b)

    def backward(self, grad, out):
        a, b = out._inputs
        zero = const(grad.xp.zeros((), grad.dtype))
        ga = sum_to_shape(where(const(self.cond), grad, zero), a.shape) if a.requires_grad else None
        gb = sum_to_shape(where(const(self.cond), zero, grad), b.shape) if b.requires_grad else None
        return ga, gb


# ---------------------------------------------------------------- public functions

def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    shape = _shape_arg(shape)
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


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    inner = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (inner,) + x.shape[end + 1:])


def permute(x, *axes):
    axes = _shape_arg(axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} dimensions of {x.shape}")
    axes = tuple(a % x.ndim for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, axes=axes)


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    a, b = normalize_axis(a, x.ndim, "transpose")[0], normalize_axis(b, x.ndim, "transpose")[0]
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, tuple(axes))


transpose = swapaxes


def expand(x, *shape):
    shape = _shape_arg(shape)
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


def squeeze(x, dim=None):
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    axes = normalize_axis(dim, x.ndim, "squeeze")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1)))


def unsqueeze(x, dim):
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dimension {dim} is out of range for shape {x.shape}")
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


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
    index = index_arrays(index)
    try:
        return GetItem.apply(x, index=index)
    except IndexError as err:
        raise IndexError(f"indexing a tensor of shape {x.shape}: {err}") from None


def index_add_into(grad, shape, index):
    return IndexAddInto.apply(grad, shape=tuple(shape), index=index)


def concat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0]
    tensors = [as_tensor(t, first, "cat") for t in tensors]
    axis = normalize_axis(dim, first.ndim, "cat")[0]
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, first.shape))
                                       if k != axis):
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, which does not match "
                             f"{first.shape} outside dimension {axis}")
    return Concat.apply(*tensors, axis=axis)


cat = concat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, expected {tensors[0].shape}")
    return concat([unsqueeze(t, dim) for t in tensors], dim)


def split(x, split_size_or_sections, dim=0):
    """Split along ``dim`` into pieces of one size (the last may be smaller) or of the
    listed sizes, as ``torch.split``."""
    axis = normalize_axis(dim, x.ndim, "split")[0]
    n = x.shape[axis]
    if isinstance(split_size_or_sections, numbers.Integral):
        step = int(split_size_or_sections)
        sizes = [min(step, n - s) for s in range(0, n, step)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n} (dimension {axis} of {x.shape})")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, (slice(None),) * axis + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    n = x.shape[normalize_axis(dim, x.ndim, "chunk")[0]]
    return split(x, -(-n // chunks), dim)


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
    keep = x.xp.triu(x.xp.ones(x.shape[-2:], dtype=bool), diagonal)
    return where(keep, x, 0.0)
