"""Indexing and selection: ``x[index]`` and its backward (adding into zeros), ``where`` and
the masks built on it (masked_fill, tril, triu), and PyTorch's positional selections along
a dimension: gather and its backward (scatter-adding into zeros), scatter, index_select."""
import numbers

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import add
from minigrad.ops.base import as_tensor, broadcast_shapes, const, normalize_axis
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
    return where(keep, x, const(x.xp.zeros((), x.dtype)))   # keeps x's dtype (bool masks)


def triu(x, diagonal=0):
    """Upper triangle of the last two dimensions; the rest is zero."""
    keep = x.xp.triu(x.xp.ones(x.shape[-2:], dtype=bool), diagonal)
    return where(keep, x, const(x.xp.zeros((), x.dtype)))   # keeps x's dtype (bool masks)


# ---------------------------------------------------------------- gather and scatter

def _along(index, dim):
    """The advanced index that picks, along ``dim``, the positions in ``index`` and, along
    every other dimension d, positions 0..index.shape[d]-1: x[_along(index, dim)] is
    PyTorch's gather (out[i][j] = x[index[i][j]][j] for dim 0)."""
    xp = backend.get_array_module(index)
    return tuple(index if d == dim else xp.arange(n).reshape((-1,) + (1,) * (index.ndim - d - 1))
                 for d, n in enumerate(index.shape))


@register("gather", "out[i][j] = x[index[i][j]][j] (dim 0); dx = scatter_add of g at index")
class Gather(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        return x[_along(self.index, self.dim)]

    def backward(self, grad, out):
        return (scatter_add_into(grad, out._inputs[0].shape, self.dim, self.index),)


def gather(input, dim, index):
    """Values of ``input`` along ``dim`` at the positions in ``index`` (same number of
    dimensions; no larger than ``input`` in the others), as ``torch.gather``."""
    dim, index = _gather_args("gather", input, dim, index)
    return Gather.apply(input, dim=dim, index=index)


def _gather_args(op, input, dim, index, src=None):
    """(dim, index array), checked: integers within range, shapes that fit."""
    index = index.data if isinstance(index, Tensor) else input.xp.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {index.dtype}")
    dim = normalize_axis(dim, input.ndim, op)[0]
    if index.ndim != input.ndim or any(i > s for d, (i, s) in enumerate(zip(index.shape, input.shape))
                                       if d != dim):
        raise ValueError(f"{op}: index of shape {index.shape} does not fit input {input.shape} "
                         f"(the same number of dimensions, no larger outside dimension {dim})")
    if src is not None and isinstance(src, Tensor) and (
            src.ndim != index.ndim or any(i > s for i, s in zip(index.shape, src.shape))):
        raise ValueError(f"{op}: src of shape {src.shape} is smaller than index {index.shape}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= input.shape[dim]):
        raise IndexError(f"{op}: index {int(index.min()) if int(index.min()) < 0 else int(index.max())} "
                         f"is out of range for dimension {dim} of size {input.shape[dim]}")
    return dim, index.astype(index.dtype if index.dtype.kind == "i" else np.int64, copy=False)


@register("scatter_add_into", "z = zeros(shape); z[index along dim] += g; dz/dg: gather at index")
class ScatterAddInto(Function):
    """The backward of gather: each value of ``g`` added into zeros at its position."""

    saved_inputs = ()
    saves_output = False

    def forward(self, g):
        z = backend.get_array_module(g).zeros(self.shape, dtype=g.dtype)
        return backend.kernels(z).scatter_add(z, _along(self.index, self.dim), g)

    def backward(self, grad, out):
        return (gather(grad, self.dim, self.index),)


def scatter_add_into(g, shape, dim, index):
    return ScatterAddInto.apply(g, shape=tuple(shape), dim=dim, index=index)


def scatter_add(input, dim, index, src):
    """``input`` with each value of ``src`` added at its position in ``index`` along
    ``dim`` (repeated positions add up), as ``torch.scatter_add``."""
    dim, index = _gather_args("scatter_add", input, dim, index, src)
    part = getitem(src, tuple(slice(0, n) for n in index.shape))
    return add(input, scatter_add_into(part, input.shape, dim, index))


@register("scatter", "out = x with out[index along dim] = src; dx = g where not written, "
          "dsrc = gather of g at index")
class Scatter(Function):
    """``x`` with the values of ``src`` (or the number ``value``) written at the positions
    in ``index`` along ``dim``."""

    saved_inputs = ()
    saves_output = False

    def forward(self, x, *src):
        out = x.copy()
        at = _along(self.index, self.dim)
        out[at] = src[0][tuple(slice(0, n) for n in self.index.shape)] if src else self.value
        self.written = backend.get_array_module(x).zeros(x.shape, dtype=bool)
        self.written[at] = True
        return out

    def backward(self, grad, out):
        x, *src = out._inputs
        zero = const(grad.xp.zeros((), grad.dtype))
        gx = where(self.written, zero, grad) if x.requires_grad else None
        if not src or not src[0].requires_grad:
            return (gx,) + (None,) * len(src)
        picked = gather(grad, self.dim, self.index)
        if picked.shape != src[0].shape:
            picked = index_add_into(picked, src[0].shape, tuple(slice(0, n) for n in picked.shape))
        return gx, picked


def scatter(input, dim, index, src=None, value=None):
    """``input`` with ``src``'s values (or ``value``) written at the positions in ``index``
    along ``dim``, as ``torch.scatter``. Where ``index`` repeats a position, one write wins."""
    if (src is None) == (value is None):
        raise TypeError("scatter: give src (a tensor) or value (a number)")
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    dim, index = _gather_args("scatter", input, dim, index, src)
    if src is None:
        return Scatter.apply(input, dim=dim, index=index, value=value)
    return Scatter.apply(input, as_tensor(src, input, "scatter"), dim=dim, index=index)


@register("index_select", "composite: x[index] along dim (indexing; its gradient adds up "
          "repeated rows)", kind="composite")
def index_select(input, dim, index):
    """The slices of ``input`` at the positions ``index`` (1-D) along ``dim``."""
    index = index.data if isinstance(index, Tensor) else input.xp.asarray(index)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise ValueError(f"index_select: index must be a 1-D integer tensor, got shape "
                         f"{index.shape} and dtype {index.dtype}")
    dim = normalize_axis(dim, input.ndim, "index_select")[0]
    return getitem(input, (slice(None),) * dim + (index,))
