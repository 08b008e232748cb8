"""Turning a list of samples into a batch, as PyTorch's ``default_collate``: tensors are
stacked (a new first dimension), NumPy arrays and scalars become stacked tensors of their
dtype, Python floats a float64 tensor, ints an int64 tensor (bools a bool tensor), strings
stay a list; dicts, named tuples and sequences are collated field by field (a tuple of
fields gives a list, as PyTorch's)."""
import collections.abc
import copy

import numpy as np

from minigrad import ops
from minigrad.backend import float64
from minigrad.tensor import Tensor

_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or " \
         "lists; found {}"


def _is_numpy(x):
    return isinstance(x, (np.ndarray, np.generic))


def default_collate(batch):
    """One batch from a list of samples (see the module's docstring)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack(batch)
    if _is_numpy(elem) and not isinstance(elem, (np.str_, np.bytes_)):
        if elem.dtype.kind in "USO":
            raise TypeError(_ERROR.format(elem.dtype))
        if isinstance(elem, np.ndarray):
            return _stack([Tensor(b) for b in batch])
        return Tensor(np.array(batch))
    if isinstance(elem, float):
        return Tensor(batch, dtype=float64)
    if isinstance(elem, int):
        return Tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _same_mapping(elem, fields)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        return fields if isinstance(elem, tuple) else _same_sequence(elem, fields)
    raise TypeError(_ERROR.format(type(elem)))


def _stack(tensors):
    """stack(tensors) along a new first dimension: recorded for backward only when one
    of them requires grad."""
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        first = tensors[0].shape
        other = next(i for i, t in enumerate(tensors) if t.shape != first)
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(first)} "
                           f"at entry 0 and {list(tensors[other].shape)} at entry {other}")
    if any(t.requires_grad for t in tensors):
        return ops.stack(list(tensors), 0)
    xp = tensors[0].xp
    return Tensor(xp.stack([t.data for t in tensors]))


def _same_mapping(elem, fields):
    """``fields`` in a mapping of ``elem``'s type where one can be made (else a dict)."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(fields)
            return clone
        return type(elem)(fields)
    except TypeError:
        return fields


def _same_sequence(elem, fields):
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, f in enumerate(fields):
                clone[i] = f
            return clone
        return type(elem)(fields)
    except TypeError:
        return fields


def default_convert(data):
    """One sample made ready without batching (``DataLoader(batch_size=None)``): NumPy
    arrays and scalars become tensors, containers are converted inside, the rest stays."""
    if isinstance(data, Tensor):
        return data
    if _is_numpy(data) and not isinstance(data, (np.str_, np.bytes_)):
        return data if data.dtype.kind in "USO" else Tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _same_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _same_sequence(data, [default_convert(d) for d in data])
    return data
