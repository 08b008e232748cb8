"""The plain-array formula of every kernel, on any array module (NumPy or CuPy).

``backend_cpu`` and ``backend_cuda`` compute the same things faster: in cache-sized
blocks, in fused GPU kernels. The formulas here are the short way to write them, kept as
their reference: the tests compare both kernel sets with these, and ``backend_cuda`` runs
them for the dtypes and layouts its fused kernels do not take (float16, softmax over a
leading axis). Each kernel's docstring gives its contract; the others follow it.
"""
import math

import numpy as np

from minigrad import backend

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_C = math.sqrt(2.0 / math.pi)  # GELU's tanh form: u = c (x + 0.044715 x^3)


# ---------------------------------------------------------------- activations

def erf(x):
    """The error function, elementwise, exact to the dtype's rounding."""
    if backend.get_array_module(x) is not np:
        from cupyx.scipy.special import erf as cupy_erf  # CuPy is optional: imported on use
        return cupy_erf(x)
    try:
        from scipy.special import erf as scipy_erf  # SciPy is optional: the 'fast' extra
    except ImportError:
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return scipy_erf(x)


def gelu_forward(x):
    """(x Phi(x), saved): exact GELU, Phi the standard normal CDF. ``saved`` is whatever
    ``gelu_backward`` needs besides x (here nothing)."""
    return x * (0.5 * (1.0 + erf(x * _SQRT_HALF))), None


def gelu_backward(x, g, saved):
    """g (Phi(x) + x phi(x)), phi the normal density."""
    xp = backend.get_array_module(x)
    cdf = 0.5 * (1.0 + erf(x * _SQRT_HALF))
    return g * (cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI)


def gelu_tanh_forward(x):
    """(x/2 (1 + tanh u), saved), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    xp = backend.get_array_module(x)
    return 0.5 * x * (1.0 + xp.tanh(_TANH_C * (x + 0.044715 * x ** 3))), None


def gelu_tanh_backward(x, g, saved):
    """g ((1 + t)/2 + x/2 (1 - t^2) u'), t = tanh u, u' = c (1 + 3 * 0.044715 x^2)."""
    xp = backend.get_array_module(x)
    t = xp.tanh(_TANH_C * (x + 0.044715 * x ** 3))
    du = _TANH_C * (1.0 + 3 * 0.044715 * x * x)
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


# ---------------------------------------------------------------- softmax and cross-entropy

def softmax(x, axis):
    """exp(x) / sum(exp(x)) over ``axis`` (a tuple of axes), shifted by the maximum."""
    xp = backend.get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def softmax_backward(y, g, axis):
    """The input gradient of softmax from its output y: y (g - sum(g y))."""
    return y * (g - (g * y).sum(axis=axis, keepdims=True))


def cross_entropy_forward(logits, target):
    """(nll, saved) for logits (..., C) and integer target (...): nll = -log softmax at
    each target. ``saved`` is what ``cross_entropy_backward`` needs besides the logits."""
    xp = backend.get_array_module(logits)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    lse = xp.log(xp.exp(shifted).sum(axis=-1))
    return lse - _at_targets(shifted, target), None


def cross_entropy_backward(logits, saved, target, scale):
    """(softmax(logits) - onehot(target)) * scale[..., None], for a scale per row (the
    incoming gradient times the class weight, 0 for ignored rows)."""
    d = softmax(logits, (logits.ndim - 1,))
    _at_targets(d, target, add=-1.0)
    return d * scale[..., None]


def _at_targets(a, target, add=None):
    """a[..., target] for a contiguous a (..., C); with ``add``, adds it there in place."""
    xp = backend.get_array_module(a)
    flat = a.reshape(-1, a.shape[-1])
    index = (xp.arange(flat.shape[0]), target.reshape(-1))
    if add is not None:
        flat[index] += add
    return flat[index].reshape(target.shape)


# ---------------------------------------------------------------- LayerNorm

def layer_norm_forward(x, w, b, eps):
    """(y, saved) for the rows of x (N, D): y = (x - mean) / sqrt(var + eps) * w + b with
    the biased variance; w, b of shape (D,)."""
    xp = backend.get_array_module(x)
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    rstd = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
    return xc * rstd * w + b, (mean, rstd)


def layer_norm_backward(x, w, g, saved):
    """(dx, dw, db) for the rows of x (N, D), output gradient g (N, D):
    dx = rstd (gh - mean(gh) - xh mean(gh xh)), gh = g w, xh = (x - mean) rstd;
    dw = sum over rows of g xh, db = sum over rows of g."""
    mean, rstd = saved
    xh, gh = (x - mean) * rstd, g * w
    dx = rstd * (gh - gh.mean(axis=-1, keepdims=True)
                 - xh * (gh * xh).mean(axis=-1, keepdims=True))
    return dx, (g * xh).sum(axis=0), g.sum(axis=0)


# ---------------------------------------------------------------- attention

def attention_forward(q, k, v, scale, causal, p):
    """(out, saved, keep) for q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv), batch
    dimensions broadcast: P = softmax(scale q k^T + causal mask) over the keys, with the
    queries the last Tq of Tk positions; out = (P * keep / (1 - p)) v. ``keep`` is
    dropout's mask (..., Tq, Tk), None without dropout; ``saved`` is what
    ``attention_backward`` needs (here P)."""
    xp = backend.get_array_module(q)
    s = (q * scale) @ xp.swapaxes(k, -1, -2)
    if causal:
        s = s + future_bias(xp, q.shape[-2], k.shape[-2], s.dtype)
    probs = softmax(s, (s.ndim - 1,))
    keep = keep_mask(q, probs.shape, p) if p else None
    kept = probs if keep is None else probs * keep * (1.0 / (1.0 - p))
    return kept @ v, probs, keep


def attention_backward(g, out, saved, keep, p, q, k, v, scale):
    """(dq, dk, dv), each with the batch shape of the scores (the caller sums broadcast
    dimensions back): dV = (P M)^T G, dP = (G V^T) M, dS = P (dP - rowsum(G O)),
    dQ = s dS K, dK = s dS^T Q, for M = keep / (1 - p) (1 without dropout).
    rowsum(dP P) = rowsum(G O) is FlashAttention's identity: O = (P M) V."""
    xp = backend.get_array_module(g)
    probs = saved
    mask = 1.0 if keep is None else keep * (1.0 / (1.0 - p))
    dv = xp.swapaxes(probs * mask, -1, -2) @ g
    dp = (g @ xp.swapaxes(v, -1, -2)) * mask
    ds = probs * (dp - (g * out).sum(axis=-1, keepdims=True))
    dq = scale * (ds @ k)
    dk = scale * (xp.swapaxes(ds, -1, -2) @ q)
    return dq, dk, dv


def future_mask(xp, tq, tk):
    """(tq, tk) bool: True where the key comes after the query, for queries that are the
    last tq of tk positions (a key/value cache holds the earlier ones)."""
    return xp.triu(xp.ones((tq, tk), dtype=bool), k=tk - tq + 1)


def future_bias(xp, tq, tk, dtype):
    """(tq, tk) additive mask of the scores: -inf where the key comes after the query."""
    return xp.where(future_mask(xp, tq, tk), -xp.inf, 0.0).astype(dtype)


# ---------------------------------------------------------------- dropout, indexing, Adam

def keep_mask(like, shape, p):
    """Dropout's mask on ``like``'s device: bool of ``shape``, each entry True with
    probability 1 - p, from the seeded generator."""
    xp = backend.get_array_module(like)
    return backend.generator(xp).random(shape, dtype=xp.float32) >= p


def scatter_add(target, index, values):
    """target[index] += values in place, adding repeated indices once each (``add.at``)."""
    if backend.get_array_module(target) is np:
        np.add.at(target, index, values)
    else:
        import cupyx  # CuPy is optional: imported on use
        cupyx.scatter_add(target, index, values)
    return target


def add_rows(table, ids, rows):
    """table[ids] += rows in place, for a 2-D table and integer ids of any shape (the
    embedding gradient); rows has shape ids.shape + (table.shape[1],)."""
    return scatter_add(table, ids.reshape(-1), rows.reshape(-1, table.shape[1]))


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """One Adam step (AdamW's when ``decoupled``) on arrays, in place, for step t:
        p *= 1 - lr wd (AdamW)  or  g = g + wd p (Adam)
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
        p -= lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)"""
    xp = backend.get_array_module(p)
    if decoupled:
        p *= 1 - lr * weight_decay
    elif weight_decay:
        g = g + weight_decay * p
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    p -= lr / (1 - beta1 ** step) * m / (xp.sqrt(v) / math.sqrt(1 - beta2 ** step) + eps)


# ---------------------------------------------------------------- mixed precision

def autocast_dtype(name):
    """The dtype autocast computes in for ``name`` ('float16' or 'bfloat16') on this
    device; TypeError where the device cannot."""
    if name == "float16":
        return np.dtype(np.float16)
    raise TypeError(f"autocast: {name} is not available on this device; use 'float16'")


def matmul_low(a, b, dtype):
    """a @ b computed in the low-precision ``dtype``, returned in a's dtype."""
    return (a.astype(dtype) @ b.astype(dtype)).astype(a.dtype)
