"""The public functions, with PyTorch's names and argument orders
(``import minigrad.functional as F``)."""
import math

from minigrad import ops
from minigrad.ops import (  # noqa: F401  (re-exported under PyTorch's names)
    cross_entropy, dropout, embedding, gelu, layer_norm, log_softmax, relu, sigmoid, softmax,
    tanh)


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
    return ops.linear(x, weight, bias)


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


def scaled_dot_product_attention(q, k, v, causal=False, mask=None, dropout_p=0.0,
                                 training=True, return_weights=False):
    """softmax(q k^T / sqrt(d) + mask) v over the last two dimensions of q, k, v
    (..., T, d). ``causal`` masks keys after each query (offset for a key/value cache
    longer than the queries). Without an extra mask, dropout or returned weights this is
    one fused op (``minigrad.ops.fused.Attention``); otherwise it is composed of ops."""
    if mask is None and not return_weights and (dropout_p == 0 or not training):
        return ops.attention(q, k, v, causal)
    tq, tk = q.shape[-2], k.shape[-2]
    scores = ops.mul(ops.matmul(q, ops.swapaxes(k, -1, -2)), 1.0 / math.sqrt(q.shape[-1]))
    if causal:
        xp = q.xp
        future = xp.triu(xp.ones((tq, tk), dtype=bool), k=tk - tq + 1)
        scores = ops.masked_fill(scores, future, -math.inf)
    if mask is not None:
        scores = ops.masked_fill(scores, mask.data if hasattr(mask, "data") else mask, -math.inf)
    weights = ops.softmax(scores, -1)
    out = ops.matmul(ops.dropout(weights, dropout_p, training), v)
    return (out, weights) if return_weights else out
