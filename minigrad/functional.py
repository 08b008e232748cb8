"""The public functions, with PyTorch's names and argument orders
(``import minigrad.functional as F``)."""
import math

from minigrad import ops
from minigrad.ops import (  # noqa: F401  (re-exported under PyTorch's names)
    cross_entropy, dropout, embedding, gelu, layer_norm, lstm_sequence, relu, sigmoid, tanh)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
    return ops.linear(input, weight, bias)


def mse_loss(input, target, reduction="mean"):
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input {input.shape} and target {target.shape} differ")
    d = ops.sub(input, target)
    sq = ops.mul(d, d)
    return {"mean": ops.mean, "sum": ops.sum}[reduction](sq) if reduction != "none" else sq


def nll_loss(log_probs, target, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of ``log_probs`` (..., C) at integer ``target`` (...)."""
    t = target.data if hasattr(target, "data") else log_probs.xp.asarray(target)
    keep = (t != ignore_index).reshape(-1)
    rows = ops.reshape(log_probs, (-1, log_probs.shape[-1]))
    picked = rows[log_probs.xp.flatnonzero(keep), t.reshape(-1)[keep]]
    if reduction == "none":
        # ignored positions stay 0
        losses = ops.index_add_into(ops.neg(picked), keep.shape, log_probs.xp.flatnonzero(keep))
        return ops.reshape(losses, t.shape)
    total = ops.neg(ops.sum(picked))
    return total if reduction == "sum" else ops.div(total, max(int(keep.sum()), 1))


def softmax(input, dim=-1):
    """exp(x) / sum(exp(x)) along ``dim`` (numerically stable)."""
    return ops.softmax(input, dim)


def log_softmax(input, dim=-1):
    """x - logsumexp(x) along ``dim``."""
    return ops.log_softmax(input, dim)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, return_weights=False):
    """softmax(q k^T * scale + mask) v over q (..., L, d), k (..., S, d), v (..., S, dv),
    as PyTorch's: ``attn_mask`` is bool (True where a query may attend) or float (added to
    the scores); ``is_causal`` hides the keys after each query (the queries are the last L
    of S positions, as with a key/value cache); dropout ``dropout_p`` is applied to the
    weights (pass 0 in eval). ``scale`` defaults to 1/sqrt(d).

    Without a mask or ``return_weights`` (ours: also return the weights, for plots) this is
    one fused op, ``minigrad.ops.attention.Attention``; otherwise it is composed of ops."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if attn_mask is None and not return_weights:
        return ops.attention(query, key, value, is_causal, dropout_p, scale)
    scores = ops.mul(ops.matmul(query, ops.swapaxes(key, -1, -2)), scale)
    if is_causal:
        xp, tq, tk = query.xp, query.shape[-2], key.shape[-2]
        scores = ops.masked_fill(scores, xp.triu(xp.ones((tq, tk), dtype=bool), k=tk - tq + 1),
                                 -math.inf)
    if attn_mask is not None:
        mask = attn_mask.data if hasattr(attn_mask, "data") else attn_mask
        if mask.dtype.kind == "b":
            scores = ops.masked_fill(scores, ~mask, -math.inf)
        else:
            scores = ops.add(scores, attn_mask)
    weights = ops.softmax(scores, -1)
    out = ops.matmul(ops.dropout(weights, dropout_p), value)
    return (out, weights) if return_weights else out
