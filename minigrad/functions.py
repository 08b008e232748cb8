"""Top-level functions with PyTorch's names, arguments and return types that are not one op:
the selections that return indices (``max(x, dim)`` gives values and indices, ``sort``,
``topk``, ``argmax``), comparisons of whole tensors, and counts. Their values are
differentiable where PyTorch's are: they are picked with ``gather``, so the gradient goes to
the elements that were picked."""
import collections

import numpy as np

from minigrad import backend, ops
from minigrad.ops.base import const, normalize_axis
from minigrad.tensor import Tensor

#: ``(values, indices)`` as PyTorch's ``torch.return_types``: ``out.values``, ``out[0]``.
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _dim(input, dim, op):
    return normalize_axis(dim, input.ndim, op)[0]


def _pick(input, dim, indices, keepdim):
    """The values of ``input`` at ``indices`` along ``dim`` (gather: differentiable)."""
    values = ops.gather(input, dim, ops.unsqueeze(indices, dim) if not keepdim else indices)
    return values if keepdim else ops.squeeze(values, dim)


def argmax(input, dim=None, keepdim=False):
    """The index of the largest value (over all elements when ``dim`` is None)."""
    if dim is None:
        return const(input.xp.asarray(input.xp.argmax(input.data)))
    return const(input.xp.argmax(input.data, axis=_dim(input, dim, "argmax"), keepdims=keepdim))


def argmin(input, dim=None, keepdim=False):
    """The index of the smallest value (over all elements when ``dim`` is None)."""
    if dim is None:
        return const(input.xp.asarray(input.xp.argmin(input.data)))
    return const(input.xp.argmin(input.data, axis=_dim(input, dim, "argmin"), keepdims=keepdim))


def max(input, dim=None, keepdim=False, *, other=None):
    """``max(x)``: the largest value; ``max(x, dim)``: ``(values, indices)`` along ``dim``;
    ``max(x, y)``: the elementwise maximum (PyTorch's three forms)."""
    if isinstance(dim, Tensor) or other is not None:
        return ops.maximum(input, dim if other is None else other)
    if dim is None:
        return ops.max(input)
    indices = argmax(input, dim, keepdim)
    return ValuesIndices(_pick(input, _dim(input, dim, "max"), indices, keepdim), indices)


def min(input, dim=None, keepdim=False, *, other=None):
    """``min(x)``, ``min(x, dim)`` (values and indices) or ``min(x, y)``, as ``max``."""
    if isinstance(dim, Tensor) or other is not None:
        return ops.minimum(input, dim if other is None else other)
    if dim is None:
        return ops.min(input)
    indices = argmin(input, dim, keepdim)
    return ValuesIndices(_pick(input, _dim(input, dim, "min"), indices, keepdim), indices)


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (ties in input order when ``stable``)."""
    dim = _dim(input, dim, "argsort")
    xp = input.xp
    keys = -input.data if descending else input.data
    return const(xp.argsort(keys, axis=dim, kind="stable" if stable else None))


def sort(input, dim=-1, descending=False, stable=False):
    """``(values, indices)``: ``input`` sorted along ``dim``."""
    indices = argsort(input, dim, descending, stable)
    return ValuesIndices(ops.gather(input, _dim(input, dim, "sort"), indices), indices)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """``(values, indices)`` of the ``k`` largest (or smallest) values along ``dim``, in
    order from the largest (or smallest)."""
    dim = _dim(input, dim, "topk")
    if not 0 <= k <= input.shape[dim]:
        raise ValueError(f"topk: k={k} is out of range for dimension {dim} of size "
                         f"{input.shape[dim]}")
    order = argsort(input, dim, descending=largest, stable=True)
    indices = ops.getitem(order, (slice(None),) * dim + (slice(0, k),))
    return ValuesIndices(ops.gather(input, dim, indices), indices)


def where(condition, input=None, other=None):
    """``where(c, a, b)``: ``a`` where ``c`` holds, else ``b``; ``where(c)``: the indices of
    the true elements, one tensor per dimension (``nonzero(c, as_tuple=True)``)."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return ops.where(condition, input, other)


def nonzero(input, as_tuple=False):
    """The indices of the non-zero elements: (n, ndim), or one tensor per dimension."""
    found = input.xp.nonzero(input.data)
    if as_tuple:
        return tuple(const(i) for i in found)
    return const(input.xp.stack(found, axis=-1) if found else input.xp.zeros((0, 0), int))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |input - other| <= atol + rtol |other| (a bool tensor)."""
    a, b = ops.base.pair(input, other, "isclose")
    return const(a.xp.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element is close (``isclose``)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def equal(input, other):
    """Whether both tensors have the same shape and values."""
    return input.shape == other.shape and bool((input.data == other.data).all())


def numel(input):
    return input.numel()


def logical_and(input, other):
    return ops.compare(input, other, "logical_and")


def logical_or(input, other):
    return ops.compare(input, other, "logical_or")


def logical_xor(input, other):
    return ops.compare(input, other, "logical_xor")


def logical_not(input):
    return ops.logical_not(input)


def bincount(input, weights=None, minlength=0):
    """How often each non-negative integer of the 1-D ``input`` occurs (or the sum of
    ``weights`` at its positions); not differentiable, as in PyTorch."""
    if input.ndim != 1 or input.dtype.kind not in "iu":
        raise ValueError(f"bincount: expected a 1-D integer tensor, got shape {input.shape} "
                         f"and dtype {input.dtype}")
    if input.numel() and int(input.data.min()) < 0:
        raise ValueError("bincount: input must be non-negative")
    w = None if weights is None else (weights.data if isinstance(weights, Tensor) else weights)
    return const(input.xp.bincount(input.data, weights=w, minlength=minlength))


def clamp(input, min=None, max=None):
    """``input`` limited to [min, max]; the bounds may be numbers or tensors."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input if min is None else ops.maximum(input, min)
        return out if max is None else ops.minimum(out, max)
    return ops.clamp(input, min, max)


clip = clamp


def is_tensor(obj):
    return isinstance(obj, Tensor)


def from_numpy(array):
    """A tensor sharing the memory of a NumPy array (its dtype kept)."""
    return Tensor._wrap(array, False)


def device(spec, index=None):
    """PyTorch's ``torch.device('cuda' if ...)``, ``device('cuda', 1)``: the normalised
    device name, with ``.type`` and ``.index``."""
    return backend.parse_device(spec, index)


def is_floating_point(input):
    return input.is_floating_point()


def finfo(dtype=None):
    """Limits of a float dtype (``.min``, ``.max``, ``.eps``, ``.tiny``): NumPy's finfo,
    which has PyTorch's attribute names; the default dtype when none is given."""
    return np.finfo(backend.get_default_dtype() if dtype is None else dtype)


def iinfo(dtype):
    return np.iinfo(dtype)


def rsqrt(input):
    """1 / sqrt(x), composed (x ** -0.5), so its gradient is pow's: -x ** -1.5 / 2."""
    return ops.pow(input, -0.5)


def square(input):
    return ops.mul(input, input)


def outer(input, vec2):
    """(n,) and (m,) -> (n, m): input[i] * vec2[j] (rotary position tables use it)."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {input.shape} and "
                         f"{vec2.shape}")
    return ops.mul(ops.reshape(input, (-1, 1)), ops.reshape(vec2, (1, -1)))


def reduce_bool(input, how, dim=None, keepdim=False):
    """``any``/``all`` over ``dim`` as a bool tensor (PyTorch's ``torch.any(x, dim)``)."""
    axes = None if dim is None else tuple(normalize_axis(dim, input.ndim, how))
    return const(getattr(input.xp, how)(input.data, axis=axes, keepdims=keepdim))


def any(input, dim=None, keepdim=False):  # noqa: A001 (PyTorch's name)
    return reduce_bool(input, "any", dim, keepdim)


def all(input, dim=None, keepdim=False):  # noqa: A001 (PyTorch's name)
    return reduce_bool(input, "all", dim, keepdim)


def isnan(input):
    return const(input.xp.isnan(input.data))


def isinf(input):
    return const(input.xp.isinf(input.data))


def isfinite(input):
    return const(input.xp.isfinite(input.data))


def hstack(tensors):
    """Concatenated along dim 1 (dim 0 for 1-D tensors), as ``torch.hstack``."""
    return ops.cat(list(tensors), dim=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Rows stacked: 1-D tensors become rows, then concatenated along dim 0."""
    return ops.cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], dim=0)
