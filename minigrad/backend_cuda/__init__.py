"""The CUDA kernels: the same kernel names as ``minigrad.backend_cpu``, for CuPy arrays.

A plain-array formula on CuPy launches one kernel per NumPy-style operator and writes every
intermediate to GPU memory. The kernels here do a whole formula in one or two launches
(``rows``: softmax, cross-entropy, LayerNorm; ``elementwise``: GELU, Adam). They take
C-contiguous float32 or float64 arrays; for anything else (float16, softmax over a leading
axis) a kernel runs its plain-array formula from ``minigrad.backend_plain`` instead.
Importing this package never needs CuPy: kernels are compiled on first use.
"""
import functools

import numpy as np

from minigrad import backend, backend_plain
from minigrad.backend_cuda import elementwise, rows

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def supports(*arrays):
    """True when every array is a CuPy array of one float dtype (float32 or float64): what
    the fused kernels take."""
    first = arrays[0].dtype
    return all(backend.get_array_module(a) is not np and a.dtype == first for a in arrays) \
        and first in FLOATS


@functools.lru_cache(maxsize=None)
def bfloat16():
    """The bfloat16 dtype if CuPy on this machine computes with it (a NumPy extension dtype
    from the ml_dtypes package); None otherwise. NumPy itself has no bfloat16."""
    if not backend.cuda_is_available():
        return None
    try:
        import cupy  # both optional: imported on first use
        import ml_dtypes
        a = cupy.ones((2, 2), dtype=ml_dtypes.bfloat16)
        (a @ a).astype(cupy.float32)
        return np.dtype(ml_dtypes.bfloat16)
    except Exception:  # no ml_dtypes, or a CuPy without bfloat16: each fails its own way
        return None


# ---------------------------------------------------------------- activations

erf = backend_plain.erf


def gelu_forward(x):
    if not supports(x):
        return backend_plain.gelu_forward(x)
    return elementwise.gelu(x), None  # backward recomputes from x: nothing kept


def gelu_backward(x, g, saved):
    if not supports(x, g):
        return backend_plain.gelu_backward(x, g, saved)
    return elementwise.gelu_backward(x, g)


def gelu_tanh_forward(x):
    if not supports(x):
        return backend_plain.gelu_tanh_forward(x)
    return elementwise.gelu_tanh(x), None


def gelu_tanh_backward(x, g, saved):
    if not supports(x, g):
        return backend_plain.gelu_tanh_backward(x, g, saved)
    return elementwise.gelu_tanh_backward(x, g)


# ---------------------------------------------------------------- row kernels

def softmax(x, axis):
    if axis != (x.ndim - 1,) or not supports(x):
        return backend_plain.softmax(x, axis)
    return rows.softmax(x)


def softmax_backward(y, g, axis):
    if axis != (y.ndim - 1,) or not supports(y, g):
        return backend_plain.softmax_backward(y, g, axis)
    return rows.softmax_backward(y, g)


def cross_entropy_forward(logits, target):
    """(nll, lse): the kernel keeps the log-sum-exp of each row, not the probabilities."""
    if not supports(logits):
        return backend_plain.cross_entropy_forward(logits, target)
    return rows.cross_entropy_forward(logits, target)


def cross_entropy_backward(logits, saved, target, scale):
    if not supports(logits):
        return backend_plain.cross_entropy_backward(logits, saved, target, scale)
    return rows.cross_entropy_backward(logits, saved, target, scale)


def layer_norm_forward(x, w, b, eps):
    """(y, (mean, rstd)) for the rows of x (N, D)."""
    if not supports(x, w, b):
        return backend_plain.layer_norm_forward(x, w, b, eps)
    y, mean, rstd = rows.layer_norm_forward(x, w, b, eps)
    return y, (mean, rstd)


def layer_norm_backward(x, w, g, saved):
    if not supports(x, w, g):
        return backend_plain.layer_norm_backward(x, w, g, saved)
    return rows.layer_norm_backward(x, w, g, *saved)


# ---------------------------------------------------------------- attention

def attention_forward(q, k, v, scale, causal, p):
    """As ``backend_plain.attention_forward``, with the scores scaled, masked and
    normalised in place by one softmax kernel."""
    if not supports(q, k, v):
        return backend_plain.attention_forward(q, k, v, scale, causal, p)
    s = q @ k.swapaxes(-1, -2)
    probs = rows.softmax(s, scale, causal, out=s if s.flags.c_contiguous else None)
    keep = backend_plain.keep_mask(q, probs.shape, p) if p else None
    if keep is None:
        return probs @ v, probs, None
    out = (probs * keep) @ v
    out *= 1.0 / (1.0 - p)  # on the (T, d) output rather than the (T, T) weights
    return out, probs, keep


def attention_backward(g, out, saved, keep, p, q, k, v, scale):
    """As ``backend_plain.attention_backward``: dS = P (dP - rowsum(dP P)) by one softmax
    backward kernel instead of three passes over the (T, T) arrays."""
    probs = saved
    if not supports(g, probs):
        return backend_plain.attention_backward(g, out, saved, keep, p, q, k, v, scale)
    if keep is not None:
        g = g * (1.0 / (1.0 - p))
    dv = (probs if keep is None else probs * keep).swapaxes(-1, -2) @ g
    ds = g @ v.swapaxes(-1, -2)
    if keep is not None:
        ds *= keep
    ds = rows.softmax_backward(probs, ds, out=ds if ds.flags.c_contiguous else None)
    dq = ds @ k
    dq *= scale
    dk = ds.swapaxes(-1, -2) @ q
    dk *= scale
    return dq, dk, dv


# ---------------------------------------------------------------- dropout, indexing, Adam

keep_mask = backend_plain.keep_mask
scatter_add = backend_plain.scatter_add  # CuPy's scatter_add is already an atomic kernel
add_rows = backend_plain.add_rows


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    if not supports(p, g, m, v):
        return backend_plain.adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay,
                                         decoupled, step)
    elementwise.adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step)


# ---------------------------------------------------------------- mixed precision

def autocast_dtype(name):
    """float16, or bfloat16 where this GPU computes in it."""
    if name == "bfloat16":
        if bfloat16() is None:
            raise TypeError("autocast: this GPU or CuPy has no bfloat16; use 'float16'")
        return bfloat16()
    return np.dtype(np.float16)


matmul_low = backend_plain.matmul_low
