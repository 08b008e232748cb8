"""Making tensors: filled (zeros, ones, full, empty), random from the seeded generators
(randn, rand, randint, multinomial, randperm), ranges (arange, linspace, eye) and the
``*_like`` forms, with PyTorch's names and arguments (``device=``, ``dtype=``,
``requires_grad=``)."""
import numbers

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"shape {shape}: sizes must be non-negative integers")
    return tuple(int(s) for s in shape)


def _factory(make, shape, dtype, requires_grad, device):
    dtype = np.dtype(dtype) if dtype is not None else backend.get_default_dtype()
    xp = backend.xp_for_device(device)
    return Tensor(make(xp, _shape(shape), dtype), requires_grad=requires_grad)


def zeros(*shape, dtype=None, requires_grad=False, device=None):
    return _factory(lambda xp, s, d: xp.zeros(s, d), shape, dtype, requires_grad, device)


def ones(*shape, dtype=None, requires_grad=False, device=None):
    return _factory(lambda xp, s, d: xp.ones(s, d), shape, dtype, requires_grad, device)


def full(shape, fill_value, dtype=None, requires_grad=False, device=None):
    return _factory(lambda xp, s, d: xp.full(s, fill_value, d), (shape,) if isinstance(shape, int) else (tuple(shape),),
                    dtype, requires_grad, device)


def empty(*shape, dtype=None, requires_grad=False, device=None):
    return _factory(lambda xp, s, d: xp.empty(s, d), shape, dtype, requires_grad, device)


def randn(*shape, dtype=None, requires_grad=False, device=None):
    """Standard normal samples from the seeded backend generator."""
    return _factory(lambda xp, s, d: backend.generator(xp).standard_normal(s).astype(d, copy=False),
                    shape, dtype, requires_grad, device)


def rand(*shape, dtype=None, requires_grad=False, device=None):
    """Uniform [0, 1) samples from the seeded backend generator."""
    return _factory(lambda xp, s, d: backend.generator(xp).random(s).astype(d, copy=False),
                    shape, dtype, requires_grad, device)


def randint(low, high=None, size=(), dtype=None, device=None):
    """Integers in [low, high) from the seeded generator. PyTorch's two call forms:
    ``randint(high, size)`` and ``randint(low, high, size)``."""
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    low, high = int(low), int(high)
    if low >= high:
        raise ValueError(f"randint: low ({low}) must be less than high ({high})")
    xp = backend.xp_for_device(device)
    data = backend.generator(xp).integers(low, high, size=_shape(size))
    return Tensor(data, dtype=dtype or backend.int64)


def multinomial(probs, num_samples, replacement=False):
    """Draw category indices from each row of ``probs`` (..., C), non-negative weights that
    need not sum to 1, with the seeded generator (sampling the next token)."""
    p = probs.numpy().astype(np.float64)
    if p.ndim == 0 or (p < 0).any() or not np.isfinite(p).all():
        raise ValueError("multinomial: probs must be a non-empty tensor of finite, "
                         "non-negative weights")
    rows = p.reshape(-1, p.shape[-1])
    totals = rows.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise ValueError("multinomial: a row of probs sums to 0")
    if not replacement and num_samples > p.shape[-1]:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from {p.shape[-1]} categories")
    rng = backend.generator(np)
    out = np.stack([rng.choice(p.shape[-1], num_samples, replace=replacement, p=r / t)
                    for r, t in zip(rows, totals[:, 0])])
    return Tensor(out.reshape(p.shape[:-1] + (num_samples,)), dtype=backend.int64,
                  device=probs.device)


def randperm(n, device=None):
    xp = backend.xp_for_device(device)
    return Tensor(backend.generator(xp).permutation(n), dtype=backend.int64)


def arange(start, end=None, step=1, dtype=None, requires_grad=False, device=None):
    if end is None:
        start, end = 0, start
    xp = backend.xp_for_device(device)
    data = xp.arange(start, end, step)
    if dtype is None:
        dtype = backend.int64 if data.dtype.kind in "iu" else backend.get_default_dtype()
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device=None):
    xp = backend.xp_for_device(device)
    return Tensor(xp.linspace(start, end, steps), dtype=dtype or backend.get_default_dtype())


def eye(n, m=None, dtype=None, device=None):
    xp = backend.xp_for_device(device)
    return Tensor(xp.eye(n, m), dtype=dtype or backend.get_default_dtype())


def _like(make, t, dtype, requires_grad):
    dtype = np.dtype(dtype) if dtype is not None else t.dtype
    xp = t.xp
    return Tensor(make(xp, t.shape, dtype), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return _like(lambda xp, s, d: xp.zeros(s, d), t, dtype, requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return _like(lambda xp, s, d: xp.ones(s, d), t, dtype, requires_grad)


def empty_like(t, dtype=None, requires_grad=False):
    return _like(lambda xp, s, d: xp.empty(s, d), t, dtype, requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return _like(lambda xp, s, d: xp.full(s, fill_value, d), t, dtype, requires_grad)


def randn_like(t, dtype=None, requires_grad=False):
    return randn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device)


def rand_like(t, dtype=None, requires_grad=False):
    return rand(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad, device=t.device)
