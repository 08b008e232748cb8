"""The public functions, with PyTorch's names and argument orders
(``import minigrad.functional as F``).

The activations, the losses and ``pad`` / ``one_hot`` are compositions of ops (their
gradients follow from the ops'); ``cross_entropy`` without label smoothing, ``softmax``,
``layer_norm``, ``gelu`` and attention are fused ops."""
import math
import warnings

import numpy as np

from minigrad import backend, ops
from minigrad.ops import lstm_sequence  # noqa: F401  (re-exported)
from minigrad.ops.base import const
from minigrad.tensor import Tensor


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
    return ops.linear(input, weight, bias)


# ---------------------------------------------------------------- activations
# ``inplace=True`` is accepted for PyTorch code, but the result is a new tensor: the input
# is left as it was.

def relu(input, inplace=False):
    """max(x, 0), elementwise."""
    return ops.relu(input)


def gelu(input, approximate="none"):
    """x Phi(x) (``approximate='none'``, with erf) or its tanh approximation ('tanh')."""
    return ops.gelu(input, approximate)


def sigmoid(input):
    """1 / (1 + exp(-x)), elementwise."""
    return ops.sigmoid(input)


def tanh(input):
    return ops.tanh(input)


def silu(input, inplace=False):
    """x * sigmoid(x) (the swish), elementwise."""
    return ops.mul(input, ops.sigmoid(input))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) while
    ``training``; the identity otherwise."""
    return ops.dropout(input, p, training)


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_2 along ``dim``, eps): unit vectors along ``dim``. Composed of
    ops (so its gradient is theirs); the 2-norm only."""
    if p != 2:
        raise NotImplementedError(f"normalize: only p=2 is supported, got p={p!r}")
    norm = ops.sqrt(ops.sum(input * input, dim, True))
    return input / ops.maximum(norm, const(input.xp.asarray(eps, dtype=input.dtype)))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dimensions, then scale by
    ``weight`` and shift by ``bias`` (both of shape ``normalized_shape``)."""
    return ops.layer_norm(input, normalized_shape, weight, bias, eps)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` (num_embeddings, dim) looked up by the integer ids ``input``
    (any shape) -> (*input.shape, dim). The row ``padding_idx`` receives no gradient.
    ``sparse=True`` gives the same (dense) gradient."""
    if max_norm is not None or scale_grad_by_freq:
        raise NotImplementedError("embedding: max_norm and scale_grad_by_freq are not "
                                  "supported by minigrad")
    if padding_idx is not None:
        rows = weight.shape[0]
        if not -rows <= padding_idx < rows:
            raise ValueError(f"embedding: padding_idx {padding_idx} is outside [-{rows}, {rows})")
        padding_idx %= rows
    return ops.embedding(input, weight, padding_idx)


# ---------------------------------------------------------------- losses

def _reduction(size_average, reduce, reduction, name):
    """PyTorch's rule for the deprecated ``size_average`` / ``reduce`` arguments."""
    if size_average is None and reduce is None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        return reduction
    warnings.warn("size_average and reduce are deprecated, please use reduction='mean', "
                  "'sum' or 'none' instead", stacklevel=3)
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _integer_target(target, input, name):
    t = target.data if isinstance(target, Tensor) else input.xp.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {t.dtype}")
    return t.astype(input.xp.int64, copy=False)


def _classes_last(input, t, name):
    """``input`` with its class dimension last, for integer targets ``t``: input (..., C)
    with t (...) as it is, PyTorch's (N, C, d1, ...) with t (N, d1, ...) permuted to
    (N, d1, ..., C). (For input (N, C, C) with t (N, C) the first rule wins.)"""
    if tuple(t.shape) == input.shape[:-1]:
        return input
    if input.ndim > 2 and tuple(t.shape) == input.shape[:1] + input.shape[2:]:
        return ops.permute(input, (0,) + tuple(range(2, input.ndim)) + (1,))
    raise ValueError(f"{name}: input {input.shape} needs a target of shape "
                     f"{input.shape[:-1]} (classes last) or {input.shape[:1] + input.shape[2:]} "
                     f"(classes in dimension 1), got {tuple(t.shape)}")


def _class_weight(weight, input, n_classes, name):
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else input.xp.asarray(weight)
    if tuple(w.shape) != (n_classes,):
        raise ValueError(f"{name}: weight has shape {tuple(w.shape)}, expected "
                         f"({n_classes},), one per class")
    return w.astype(input.dtype, copy=False)


def _divide(total, denominator):
    """total / denominator, NaN (as PyTorch) when nothing was counted."""
    return ops.div(total, denominator) if denominator else ops.mul(total, math.nan)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood: -w[t] * input[..., t] at each integer target t, for
    log-probabilities ``input`` (N, C) with target (N,), (..., C) with target (...), or
    PyTorch's (N, C, d1, ...) with target (N, d1, ...). Targets equal to ``ignore_index``
    count 0; the mean divides by the sum of the weights w[t] of the counted positions."""
    reduction = _reduction(size_average, reduce, reduction, "nll_loss")
    t = _integer_target(target, input, "nll_loss")
    rows = _classes_last(input, t, "nll_loss")
    n_classes, xp = rows.shape[-1], input.xp
    keep = t != ignore_index
    safe = xp.where(keep, t, 0).reshape(-1)
    if safe.size and (int(safe.min()) < 0 or int(safe.max()) >= n_classes):
        bad = int(safe.min()) if int(safe.min()) < 0 else int(safe.max())
        raise IndexError(f"nll_loss: target {bad} is out of range for {n_classes} classes")
    w = keep.reshape(-1).astype(input.dtype)
    class_weight = _class_weight(weight, input, n_classes, "nll_loss")
    if class_weight is not None:
        w = w * class_weight[safe]
    flat = ops.reshape(rows, (-1, n_classes))
    losses = ops.mul(ops.neg(flat[xp.arange(safe.size), safe]), const(w))
    if reduction == "none":
        return ops.reshape(losses, t.shape)
    total = ops.sum(losses)
    return total if reduction == "sum" else _divide(total, float(w.sum()))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of logits ``input`` against ``target``, PyTorch's loss:

    - integer class targets: logits (N, C) with target (N,), (..., C) with target (...)
      (the language-model layout) or (N, C, d1, ...) with target (N, d1, ...); positions
      whose target is ``ignore_index`` count 0, and the mean divides by the sum of the class
      weights w[t] of the counted positions;
    - class probabilities: a float target of the input's shape, classes in dimension 1 (0
      for a 1-D input); the mean divides by the number of positions.

    ``label_smoothing`` = e mixes the target with the uniform distribution over the C
    classes: with class targets the loss is (1 - e) * nll + e / C * sum_c -w[c] log p_c,
    the second term's mean divided by the same sum of weights as the first (PyTorch's
    definition). Without it and with class targets this is one fused op."""
    reduction = _reduction(size_average, reduce, reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got "
                         f"{label_smoothing}")
    t = target.data if isinstance(target, Tensor) else target
    if getattr(t, "dtype", None) is not None and t.dtype.kind == "f":
        return _soft_cross_entropy(input, target, weight, reduction, label_smoothing)
    if label_smoothing == 0.0:
        return ops.cross_entropy(input, target, weight, ignore_index, reduction)
    t = _integer_target(target, input, "cross_entropy")
    log_probs = ops.log_softmax(_classes_last(input, t, "cross_entropy"), -1)
    n_classes = log_probs.shape[-1]
    nll = nll_loss(log_probs, t, weight, ignore_index=ignore_index, reduction=reduction)
    w = _class_weight(weight, input, n_classes, "cross_entropy")
    keep = t != ignore_index
    weighted = log_probs if w is None else ops.mul(log_probs, const(w))
    smooth = ops.mul(ops.neg(ops.sum(weighted, -1)), const(keep.astype(input.dtype)))
    if reduction == "mean":
        counted = keep.sum() if w is None else w[input.xp.where(keep, t, 0)][keep].sum()
        smooth = _divide(ops.sum(smooth), float(counted))
    elif reduction == "sum":
        smooth = ops.sum(smooth)
    return ops.add(ops.mul(nll, 1.0 - label_smoothing),
                   ops.mul(smooth, label_smoothing / n_classes))


def _soft_cross_entropy(input, target, weight, reduction, label_smoothing):
    """Cross-entropy against class probabilities (see ``cross_entropy``)."""
    target = target if isinstance(target, Tensor) else Tensor(target, dtype=input.dtype)
    if target.shape != input.shape:
        raise ValueError(f"cross_entropy: a probability target must have the input's shape "
                         f"{input.shape}, got {target.shape}")
    dim = 1 if input.ndim > 1 else 0
    n_classes = input.shape[dim]
    if label_smoothing:
        target = ops.add(ops.mul(target, 1.0 - label_smoothing), label_smoothing / n_classes)
    terms = ops.mul(ops.log_softmax(input, dim), target)
    w = _class_weight(weight, input, n_classes, "cross_entropy")
    if w is not None:
        terms = ops.mul(terms, const(w.reshape((n_classes,) + (1,) * (input.ndim - dim - 1))))
    losses = ops.neg(ops.sum(terms, dim))
    if reduction == "none":
        return losses
    total = ops.sum(losses)
    return total if reduction == "sum" else _divide(total, losses.numel())


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Mean (or sum, or each) of (input - target)^2; shapes broadcast (with PyTorch's
    warning when they differ)."""
    reduction = _reduction(size_average, reduce, reduction, "mse_loss")
    if input.shape != tuple(target.shape):
        warnings.warn(f"Using a target size ({tuple(target.shape)}) that is different to the "
                      f"input size ({input.shape}). This will likely lead to incorrect "
                      "results due to broadcasting. Please ensure they have the same size.",
                      stacklevel=2)
    d = ops.sub(input, target)
    sq = ops.mul(d, d)
    return {"mean": ops.mean, "sum": ops.sum}[reduction](sq) if reduction != "none" else sq


# ---------------------------------------------------------------- pad, one_hot

def pad(input, pad, mode="constant", value=None):
    """``input`` padded by ``pad`` = (left, right) for the last dimension, then (left,
    right) for the one before, and so on (PyTorch's order). Modes: 'constant' (``value``,
    default 0; negative pads crop), 'reflect' (mirrored, the edge not repeated),
    'replicate' (the edge repeated), 'circular' (wrapped around)."""
    if len(pad) % 2:
        raise ValueError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise ValueError(f"Padding length should be less than or equal to two times the input "
                         f"dimension but got padding length {len(pad)} and input of "
                         f"dimension {input.ndim}")
    pairs = {input.ndim - 1 - i: (int(pad[2 * i]), int(pad[2 * i + 1]))
             for i in range(len(pad) // 2)}
    if mode == "constant":
        return _pad_constant(input, pairs, 0.0 if value is None else value)
    if mode not in _PAD_INDEX:
        raise NotImplementedError(f"pad: mode {mode!r} is not supported (use 'constant', "
                                  "'reflect', 'replicate' or 'circular')")
    if value is not None:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
    x = input
    for dim, (left, right) in pairs.items():
        if left or right:
            index = x.xp.asarray(_PAD_INDEX[mode](x.shape[dim], left, right, dim))
            x = x[(slice(None),) * dim + (index,)]
    return x


def _pad_constant(x, pairs, value):
    """Crop the negative pads, then place x in a tensor of ``value`` (as the backward of
    indexing: zeros with x added at its place, plus the value outside)."""
    crop, place, shape = [], [], []
    for dim, size in enumerate(x.shape):
        left, right = pairs.get(dim, (0, 0))
        start, stop = max(-left, 0), size - max(-right, 0)
        if stop < start:
            raise ValueError(f"pad: the pads {(left, right)} of dimension {dim} leave a "
                             f"negative size from {size}")
        crop.append(slice(start, stop))
        place.append(slice(max(left, 0), max(left, 0) + stop - start))
        shape.append(stop - start + max(left, 0) + max(right, 0))
    if any(s.start or s.stop != n for s, n in zip(crop, x.shape)):
        x = x[tuple(crop)]
    out = ops.index_add_into(x, tuple(shape), tuple(place))
    if value:
        outside = x.xp.full(tuple(shape), value, dtype=x.dtype)
        outside[tuple(place)] = 0
        out = ops.add(out, const(outside))
    return out


def _reflect(size, left, right, dim):
    if max(left, right) >= size:
        raise ValueError(f"pad: reflect padding ({left}, {right}) must be smaller than the "
                         f"size {size} of dimension {dim}")
    i = np.abs(np.arange(-left, size + right))
    return np.where(i >= size, 2 * (size - 1) - i, i)


def _replicate(size, left, right, dim):
    return np.clip(np.arange(-left, size + right), 0, size - 1)


def _circular(size, left, right, dim):
    if max(left, right) > size:
        raise ValueError(f"pad: circular padding ({left}, {right}) must be at most the "
                         f"size {size} of dimension {dim}")
    return np.arange(-left, size + right) % size


_PAD_INDEX = {"reflect": _reflect, "replicate": _replicate, "circular": _circular}


def one_hot(tensor, num_classes=-1):
    """Integer class indices (*) -> (*, num_classes) int64 tensor with a 1 at each index
    (``num_classes=-1``: one more than the largest index). Not differentiable."""
    t = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to index tensor, got dtype {t.dtype}")
    xp = backend.get_array_module(t)
    if t.size and int(t.min()) < 0:
        raise ValueError("one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
    elif t.size and int(t.max()) >= num_classes:
        raise ValueError(f"one_hot: class value {int(t.max())} is out of range for "
                         f"num_classes {num_classes}")
    hot = t[..., None] == xp.arange(num_classes)
    return Tensor(hot.astype(xp.int64))


# ---------------------------------------------------------------- softmax, attention

def softmax(input, dim=-1, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (numerically stable)."""
    return ops.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=-1, dtype=None):
    """x - logsumexp(x) along ``dim``."""
    return ops.log_softmax(input, dim, dtype=dtype)


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
