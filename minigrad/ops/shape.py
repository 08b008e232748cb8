"""Ops that move elements without changing them: permute (transpose), squeeze and
unsqueeze, flatten, concatenate, stack and split, and the copies composed of them (flip,
roll, repeat, repeat_interleave). Their backward moves the gradient back the same way.
(``reshape`` and ``expand`` live with broadcasting.)"""
import numbers

import numpy as np

from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import as_tensor, normalize_axis
from minigrad.ops.broadcast import expand, reshape, shape_arg
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


# ---------------------------------------------------------------- rearranging copies

@register("flip", "composite: x with the order along dims reversed (a reversed slice; its "
          "gradient is reversed back)", kind="composite")
def flip(input, dims):
    """``input`` with the order of the elements along each of ``dims`` reversed."""
    axes = normalize_axis(dims, input.ndim, "flip")
    return getitem(input, tuple(slice(None, None, -1) if d in axes else slice(None)
                                for d in range(input.ndim)))


@register("roll", "composite: the two parts of x along dim swapped (slices and cat)",
          kind="composite")
def roll(input, shifts, dims=None):
    """``input`` shifted by ``shifts`` along ``dims``, wrapping around (flattened first
    when ``dims`` is None), as ``torch.roll``."""
    if dims is None:
        return reshape(roll(reshape(input, -1), shifts, 0), input.shape)
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
    out = input
    for shift, dim in zip(shifts, dims):
        dim = normalize_axis(dim, input.ndim, "roll")[0]
        n = input.shape[dim]
        s = int(shift) % n if n else 0
        if s:
            head = (slice(None),) * dim
            out = concat([getitem(out, head + (slice(n - s, n),)),
                          getitem(out, head + (slice(0, n - s),))], dim)
    return out


@register("repeat", "composite: x tiled (expand then reshape; its gradient sums the tiles)",
          kind="composite")
def repeat(input, *sizes):
    """``input`` tiled ``sizes[d]`` times along each dimension d (``sizes`` may add
    leading dimensions), as ``Tensor.repeat`` (NumPy's tile)."""
    sizes = shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor of {input.ndim} dimensions")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    x = reshape(input, tuple(n for s in shape for n in (1, s)))
    x = expand(x, tuple(n for r, s in zip(sizes, shape) for n in (r, s)))
    return reshape(x, tuple(r * s for r, s in zip(sizes, shape)))


@register("repeat_interleave", "composite: each element repeated in place (expand then "
          "reshape, or indexing for per-element counts)", kind="composite")
def repeat_interleave(input, repeats, dim=None):
    """Each element of ``input`` repeated ``repeats`` times along ``dim`` (``repeats`` a
    number, or one count per element; the flattened input when ``dim`` is None)."""
    if dim is None:
        input, dim = reshape(input, -1), 0
    dim = normalize_axis(dim, input.ndim, "repeat_interleave")[0]
    if isinstance(repeats, numbers.Integral):
        x = unsqueeze(input, dim + 1)
        x = expand(x, x.shape[:dim + 1] + (int(repeats),) + x.shape[dim + 2:])
        return reshape(x, input.shape[:dim] + (input.shape[dim] * int(repeats),) + input.shape[dim + 1:])
    counts = np.asarray(repeats.numpy() if hasattr(repeats, "numpy") else repeats)
    if counts.shape != (input.shape[dim],):
        raise ValueError(f"repeat_interleave: {counts.size} counts for {input.shape[dim]} elements")
    index = backend.to_device(np.repeat(np.arange(input.shape[dim]), counts), input.device)
    return getitem(input, (slice(None),) * dim + (index,))
