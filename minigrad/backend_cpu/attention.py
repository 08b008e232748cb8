"""Scaled dot-product attention on the CPU, with the T x T scores held transposed.

S^T = K Q^T has the keys down and the queries across, so the softmax's max and sum over
the keys run down columns: NumPy reduces across contiguous rows of 64 entries several
times slower than down columns, and BLAS takes the transposes for free. When the scores of
one batch entry are large, the batch runs one entry at a time, so that the softmax's passes
over them stay in cache. Constant factors (the scale, dropout's 1/(1-p)) are applied to
the (T, d) arrays, not the (T, T) ones."""
import functools

import numpy as np

from minigrad import backend_plain
from minigrad.backend_cpu.sampling import keep_mask

_BLOCK_BYTES = 1 << 18  # below this, the per-entry calls cost more than the cache saves


def attention_forward(q, k, v, scale, causal, p):
    """(out, P^T, keep) as ``backend_plain.attention_forward``; the saved probabilities
    are transposed (..., Tk, Tq), and ``keep`` (..., Tq, Tk) is a view of a mask drawn in
    that layout."""
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    pt = np.empty(batch + (k.shape[-2], q.shape[-2]), dtype=q.dtype)
    out = np.empty(batch + (q.shape[-2], v.shape[-1]), dtype=q.dtype)
    keep_t = keep_mask(q, pt.shape, p) if p else None
    for i in _blocks(q, k, v, pt):
        _forward_block(q[i], k[i], v[i], scale, causal, None if keep_t is None else keep_t[i],
                       p, pt[i], out[i])
    return out, pt, None if keep_t is None else keep_t.swapaxes(-1, -2)


def _blocks(q, k, v, pt):
    """Indices of the slices to run one at a time: one batch entry at a time when the
    scores of one are large (and q, k, v share the batch shape), else all at once."""
    same = q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and q.ndim > 2
    per_entry = pt[0].nbytes if pt.ndim > 2 and len(pt) else 0
    if same and per_entry >= _BLOCK_BYTES:
        return range(len(pt))
    return (Ellipsis,)


def _forward_block(q, k, v, scale, causal, keep_t, p, pt, out):
    np.matmul(k, np.swapaxes(q * scale, -1, -2), out=pt)
    if causal:
        pt += _future_bias_t(q.shape[-2], k.shape[-2], pt.dtype)
    pt -= pt.max(axis=-2, keepdims=True)
    np.exp(pt, out=pt)
    pt /= pt.sum(axis=-2, keepdims=True)
    if keep_t is None:
        np.matmul(np.swapaxes(pt, -1, -2), v, out=out)
        return
    np.matmul(np.swapaxes(pt * keep_t, -1, -2), v, out=out)
    out *= 1.0 / (1.0 - p)


@functools.lru_cache(maxsize=16)
def _future_bias_t(tq, tk, dtype):
    """The causal mask of the transposed scores (tk, tq). Cached: every layer of every
    step asks for the same one."""
    return backend_plain.future_bias(np, tq, tk, dtype).T.copy()


def attention_backward(g, out, saved, keep, p, q, k, v, scale):
    """(dq, dk, dv) as ``backend_plain.attention_backward``, from the transposed P."""
    pt = saved
    keep_t = None if keep is None else keep.swapaxes(-1, -2)
    batch = pt.shape[:-2]
    dq = np.empty(batch + q.shape[-2:], dtype=g.dtype)
    dk = np.empty(batch + k.shape[-2:], dtype=g.dtype)
    dv = np.empty(batch + v.shape[-2:], dtype=g.dtype)
    for i in _blocks(q, k, v, pt):
        _backward_block(g[i], out[i], pt[i], None if keep_t is None else keep_t[i], p,
                        q[i], k[i], v[i], scale, dq[i], dk[i], dv[i])
    return dq, dk, dv


def _backward_block(g, out, pt, keep_t, p, q, k, v, scale, dq, dk, dv):
    if keep_t is None:
        np.matmul(pt, g, out=dv)
        dst = v @ np.swapaxes(g, -1, -2)
    else:
        g_kept = g * (1.0 / (1.0 - p))
        np.matmul(pt * keep_t, g_kept, out=dv)
        dst = v @ np.swapaxes(g_kept, -1, -2)
        dst *= keep_t
    dst -= np.expand_dims((g * out).sum(axis=-1), -2)  # rowsum(dP P) = rowsum(G O)
    dst *= pt
    np.matmul(np.swapaxes(dst, -1, -2), k, out=dq)
    dq *= scale
    np.matmul(dst, q, out=dk)
    dk *= scale
