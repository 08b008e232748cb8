"""Scaled dot-product attention as one fused op, and multi-head self-attention from packed
projections.

Forward, for queries Q (..., Tq, d), keys K and values V (..., Tk, d / dv), scale s and
dropout's scaled keep-mask M (keep / (1 - p); 1 without dropout):

    P = softmax(s Q K^T + causal mask)        O = (P * M) V

Backward, with G = dL/dO (derived by hand; the rows of P are softmaxes):

    dV = (P * M)^T G
    dP = (G V^T) * M
    dS = P * (dP - rowsum(dP * P))            (the softmax backward, row by row)
    dQ = s dS K,   dK = s dS^T Q

and rowsum(dP * P) = rowsum(G * O), since sum_j P_ij M_ij (G_i . V_j) = G_i . O_i: a
(T, d) product instead of a (T, T) one (FlashAttention's identity). The backend's kernel
keeps only P (and the mask) for backward: the T x T scores are masked and normalised in
place, six ops and their intermediate arrays in one.
"""
import math

from minigrad import backend, backend_plain
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import mul, sub
from minigrad.ops.base import broadcast_shapes, const, float_input
from minigrad.ops.broadcast import reshape, sum, sum_to_shape, sum_to_shape_array
from minigrad.ops.index import masked_fill
from minigrad.ops.linalg import matmul
from minigrad.ops.shape import permute, stack, swapaxes
from minigrad.ops.softmax import softmax


@register("attention", "P = softmax(s Q K^T + mask), O = (P * M) V for dropout's scaled "
          "keep-mask M (1 without dropout); dV = (P * M)^T G, dP = (G V^T) * M, "
          "dS = P * (dP - rowsum(G * O)), dQ = s dS K, dK = s dS^T Q", kind="fused")
class Attention(Function):
    """softmax(scale q k^T [+ causal mask]) v over the last two dimensions, with dropout
    ``dropout_p`` on the weights; batch dimensions broadcast."""

    def forward(self, q, k, v):
        out, self.saved, self.keep = backend.kernels(q).attention_forward(
            q, k, v, self.scale, self.causal, self.dropout_p)
        return out

    def backward(self, grad, out):
        q, k, v = out._inputs
        dq, dk, dv = _attention_grads(q, k, v, grad, out, self.scale, self.causal,
                                      _mask(self.keep, self.dropout_p, q.dtype))
        return sum_to_shape(dq, q.shape), sum_to_shape(dk, k.shape), sum_to_shape(dv, v.shape)

    def backward_arrays(self, grad, out):
        q, k, v = out._inputs
        grads = backend.kernels(grad).attention_backward(
            grad, out.data, self.saved, self.keep, self.dropout_p, q.data, k.data, v.data,
            self.scale)
        return tuple(sum_to_shape_array(g, t.shape) for g, t in zip(grads, (q, k, v)))

    def reference(self, q, k, v):
        return _attention_composed(q, k, v, self.scale, self.causal,
                                   _mask(self.keep, self.dropout_p, q.dtype))


def _probs(q, k, scale, causal):
    """P = softmax(scale q k^T + causal mask), composed from engine ops."""
    scores = mul(matmul(q, swapaxes(k, -1, -2)), scale)
    if causal:
        scores = masked_fill(scores, backend_plain.future_mask(q.xp, q.shape[-2], k.shape[-2]),
                             -math.inf)
    return softmax(scores, -1)


def _mask(keep, p, dtype):
    """Dropout's scaled keep-mask M = keep / (1 - p) as a constant, or None without."""
    if keep is None:
        return None
    m = keep.astype(dtype)
    m *= 1.0 / (1.0 - p)
    return const(m)


def _attention_composed(q, k, v, scale, causal, mask):
    """O = (P * M) V from engine ops: the reference of the fused op."""
    probs = _probs(q, k, scale, causal)
    return matmul(probs if mask is None else mul(probs, mask), v)


def _attention_grads(q, k, v, grad, out, scale, causal, mask):
    """(dQ, dK, dV) with engine ops, by the formulas above, each with the batch shape of
    all three (the caller sums broadcast dimensions back). P is recomputed from q and k:
    a gradient of this gradient needs P as a function of them."""
    probs = _probs(q, k, scale, causal)
    kept = probs if mask is None else mul(probs, mask)
    dv = matmul(swapaxes(kept, -1, -2), grad)
    dp = matmul(grad, swapaxes(v, -1, -2))
    if mask is not None:
        dp = mul(dp, mask)
    ds = mul(probs, sub(dp, sum(mul(grad, out), -1, keepdim=True)))
    return (mul(matmul(ds, k), scale), mul(matmul(swapaxes(ds, -1, -2), q), scale), dv)


def attention(q, k, v, causal=False, dropout_p=0.0, scale=None):
    """softmax(q k^T * scale [+ causal mask]) v with dropout ``dropout_p`` on the weights,
    fused (see ``Attention``); ``scale`` defaults to 1/sqrt(d)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        float_input(t, "attention")
        if t.ndim < 2:
            raise ValueError(f"attention: {name} must have at least 2 dimensions (..., T, d), "
                             f"got {t.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"attention: q {q.shape}, k {k.shape}, v {v.shape}: q and k need the "
                         "same last dimension, k and v the same number of positions")
    if causal and q.shape[-2] > k.shape[-2]:
        raise ValueError(f"attention: causal with {q.shape[-2]} queries but only "
                         f"{k.shape[-2]} keys")
    broadcast_shapes(broadcast_shapes(q.shape[:-2], k.shape[:-2], "attention"), v.shape[:-2],
                     "attention")
    return Attention.apply(q, k, v, causal=bool(causal),
                           dropout_p=_dropout_p(dropout_p, "attention"),
                           scale=1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale))


# ---------------------------------------------------------------- packed self-attention

@register("self_attention", "attention of each head on its own sequence, from the packed "
          "projections: the 'attention' op on q, k, v cut from qkv, heads side by side "
          "after; its gradient is the three gradients packed the same way", kind="fused")
class SelfAttention(Function):
    """Multi-head self-attention between the two linear layers of
    ``nn.MultiHeadAttention``: qkv (B, T, 3E), the query, key and value projections side
    by side (each E = heads x d wide, head-major) -> (B, T, E), the heads' outputs side by
    side. The heads are strided views of qkv, never copied out, and the gradient is
    written straight into one (B, T, 3E) array: the split into q, k, v and the moves of
    the head dimension, each an op with copies and zero-filled gradients otherwise, are
    gone."""

    def forward(self, qkv):
        q, k, v = _head_views(qkv, 3, self.num_heads)
        out, self.saved, self.keep = backend.kernels(qkv).attention_forward(
            q, k, v, self.scale, self.causal, self.dropout_p)
        b, h, t, d = out.shape
        return out.transpose(0, 2, 1, 3).reshape(b, t, h * d)

    def backward(self, grad, out):
        (qkv,) = out._inputs
        q, k, v = _split_heads(qkv, 3, self.num_heads)
        (g,), (o,) = _split_heads(grad, 1, self.num_heads), _split_heads(out, 1, self.num_heads)
        grads = _attention_grads(q, k, v, g, o, self.scale, self.causal,
                                 _mask(self.keep, self.dropout_p, qkv.dtype))
        return (_merge_heads(stack(grads, 0)),)

    def backward_arrays(self, grad, out):
        (qkv,) = out._inputs
        q, k, v = _head_views(qkv.data, 3, self.num_heads)
        (g,), (o,) = _head_views(grad, 1, self.num_heads), _head_views(out.data, 1, self.num_heads)
        d = backend.get_array_module(grad).empty(qkv.shape, dtype=qkv.dtype)
        grads = backend.kernels(grad).attention_backward(
            g, o, self.saved, self.keep, self.dropout_p, q, k, v, self.scale)
        for target, part in zip(_head_views(d, 3, self.num_heads), grads):
            target[...] = part
        return (d,)

    def reference(self, qkv):
        q, k, v = _split_heads(qkv, 3, self.num_heads)
        out = _attention_composed(q, k, v, self.scale, self.causal,
                                  _mask(self.keep, self.dropout_p, qkv.dtype))
        return _merge_heads(out[None])


def _head_views(packed, parts, num_heads):
    """Array views (B, heads, T, d) of the ``parts`` blocks of ``packed`` (B, T, parts * E)."""
    b, t, width = packed.shape
    split = packed.reshape(b, t, parts, num_heads, width // (parts * num_heads))
    return [split[:, :, i].transpose(0, 2, 1, 3) for i in range(parts)]


def _split_heads(packed, parts, num_heads):
    """``_head_views`` with engine ops: (B, T, parts * E) -> parts x (B, heads, T, d)."""
    b, t, width = packed.shape
    heads = permute(reshape(packed, (b, t, parts, num_heads, width // (parts * num_heads))),
                    (2, 0, 3, 1, 4))
    return [heads[i] for i in range(parts)]


def _merge_heads(parts):
    """(parts, B, heads, T, d) -> (B, T, parts * heads * d), the inverse of ``_split_heads``."""
    n, b, h, t, d = parts.shape
    return reshape(permute(parts, (1, 3, 0, 2, 4)), (b, t, n * h * d))


def self_attention(qkv, num_heads, causal=False, dropout_p=0.0):
    """Multi-head self-attention from packed projections qkv (B, T, 3E) to the heads'
    outputs side by side (B, T, E), fused (see ``SelfAttention``)."""
    float_input(qkv, "self_attention")
    if qkv.ndim != 3 or qkv.shape[-1] % (3 * num_heads):
        raise ValueError(f"self_attention: qkv of shape {qkv.shape}, expected (batch, time, "
                         f"3 * embed_dim) with embed_dim divisible by {num_heads} heads")
    d = qkv.shape[-1] // (3 * num_heads)
    return SelfAttention.apply(qkv, num_heads=int(num_heads), causal=bool(causal),
                               dropout_p=_dropout_p(dropout_p, "self_attention"),
                               scale=1.0 / math.sqrt(d))


def _dropout_p(p, op):
    if not 0 <= p < 1:
        raise ValueError(f"{op}: dropout_p must be in [0, 1), got {p}")
    return float(p)
