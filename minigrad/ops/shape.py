"""Ops that move elements without changing them: permute (transpose), squeeze and
unsqueeze, flatten, concatenate, stack and split. Their backward moves the gradient back
the same way. (``reshape`` and ``expand`` live with broadcasting.)"""
import numbers

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import as_tensor, normalize_axis
from minigrad.ops.broadcast import reshape, shape_arg
from minigrad.ops.index import getitem


@register("permute", "identity on the elements; the gradient is permuted back")
class Permute(Function):
    saved_inputs = ()
    saves_output = False
    is_view = True

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, grad, out):
        return (permute(grad, tuple(np.argsort(self.axes))),)


def permute(x, *axes):
    """x with its dimensions in the order ``axes`` (a view)."""
    axes = shape_arg(axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} dimensions of {x.shape}")
    axes = tuple(a % x.ndim for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, axes=axes)


def swapaxes(x, a, b):
    """x with dimensions a and b swapped."""
    axes = list(range(x.ndim))
    a, b = normalize_axis(a, x.ndim, "transpose")[0], normalize_axis(b, x.ndim, "transpose")[0]
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, tuple(axes))


transpose = swapaxes


def squeeze(x, dim=None):
    """x without its dimensions of size 1 (or only those among ``dim``)."""
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    axes = normalize_axis(dim, x.ndim, "squeeze")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1)))


def unsqueeze(x, dim):
    """x with a new dimension of size 1 at ``dim``."""
    if not -x.ndim - 1 <= dim <= x.ndim:
        raise IndexError(f"unsqueeze: dimension {dim} is out of range for shape {x.shape}")
    dim = dim % (x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def flatten(x, start_dim=0, end_dim=-1):
    """x with dimensions start_dim..end_dim merged into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    inner = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (inner,) + x.shape[end + 1:])


@register("concat", "the gradient is split back into the pieces")
class Concat(Function):
    saved_inputs = ()
    saves_output = False

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


def concat(tensors, dim=0):
    """The tensors joined along ``dim``; their other dimensions must match."""
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
    """The tensors (all of one shape) stacked along a new dimension ``dim``."""
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
    """``chunks`` pieces of (nearly) equal size along ``dim``."""
    n = x.shape[normalize_axis(dim, x.ndim, "chunk")[0]]
    return split(x, -(-n // chunks), dim)
