"""Fused ops: a whole formula (softmax, cross-entropy, LayerNorm, GELU) computed in one
forward over arrays, with a hand-derived backward. Each backward is written with engine
ops, so it is differentiable again; for first-order backward it reuses the arrays saved by
forward instead of recomputing them. ``tests/test_fused.py`` compares every fused op with
the same formula composed from primitive ops."""
import functools
import math

from minigrad import backend, backend_cuda
from minigrad.autograd import Function, is_grad_enabled, register
from minigrad.ops.base import (broadcast_shapes, const, normalize_axis, reference_backward,
                               sum_to_shape, sum_to_shape_array)
from minigrad.ops.elementwise import add, div, erf, exp, mul, rsub, sub, tanh
from minigrad.ops.reduce import mean, sum
from minigrad.ops.shape import reshape


def _stable_softmax(x, axis):
    xp = backend.get_array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _stable_log_softmax(x, axis):
    xp = backend.get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


@register("softmax", "dy/dx = y * (g - sum(g * y)) along the axis", kind="fused")
class Softmax(Function):
    def forward(self, x):
        if self.axis == (x.ndim - 1,) and backend_cuda.supports(x):
            return backend_cuda.softmax(x)
        return _stable_softmax(x, self.axis)

    def backward(self, grad, out):
        if not is_grad_enabled():  # first order: plain array math, no graph
            y, g = out.data, grad.data
            if self.axis == (y.ndim - 1,) and backend_cuda.supports(y, g):
                return (const(backend_cuda.softmax_backward(y, g)),)
            return (const(y * (g - (g * y).sum(axis=self.axis, keepdims=True))),)
        return (mul(out, sub(grad, sum(mul(grad, out), axis=self.axis, keepdims=True))),)


@register("log_softmax", "dy/dx = g - softmax(x) * sum(g) along the axis", kind="fused")
class LogSoftmax(Function):
    def forward(self, x):
        return _stable_log_softmax(x, self.axis)

    def backward(self, grad, out):
        if not is_grad_enabled():
            xp, g = grad.xp, grad.data
            return (const(g - xp.exp(out.data) * g.sum(axis=self.axis, keepdims=True)),)
        return (sub(grad, mul(exp(out), sum(grad, axis=self.axis, keepdims=True))),)


@register("cross_entropy", "dL/dlogits = (softmax(logits) - onehot(target)) * weight",
          kind="fused")
class CrossEntropy(Function):
    """Mean (or sum, or per-item) of -w[t] log softmax(logits)[t] over the last axis, for
    target class t and class weights w (all 1 by default). Targets equal to
    ``ignore_index`` contribute nothing; the mean divides by the sum of the weights of the
    counted positions (PyTorch's rule)."""

    lse = None  # the GPU forward's log-sum-exp per row, kept instead of the probabilities

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        keep = self.target != self.ignore_index
        safe = xp.where(keep, self.target, 0)
        if backend_cuda.supports(logits):  # one kernel, which keeps lse, not the probabilities
            nll, self.lse = backend_cuda.cross_entropy_forward(logits, safe)
            self.probs = None
        else:
            self.probs, nll = _softmax_nll(logits, safe)
        self.weight = keep.astype(logits.dtype)
        if self.class_weight is not None:
            self.weight *= self.class_weight[safe]
        self.onehot_index = safe
        self.total_weight = float(self.weight.sum())
        losses = nll * self.weight
        if self.reduction == "none":
            return losses
        total = losses.sum()
        if self.reduction == "sum":
            return total
        return total / self.total_weight if self.total_weight else total * xp.nan

    def backward(self, grad, out):
        x = out._inputs[0]
        xp = x.xp
        weight = self.weight
        if self.reduction == "mean":
            weight = weight / max(self.total_weight, 1e-30)
        if not is_grad_enabled():
            if self.lse is not None:  # the GPU forward: softmax recomputed from lse
                return (const(backend_cuda.cross_entropy_backward(
                    x.data, self.lse, self.onehot_index, grad.data * weight)),)
            # (softmax - onehot) * scale, built in place in the saved probabilities; a
            # second backward through the same graph recomputes them.
            d, self.probs = self.probs, None
            if d is None:
                d = _stable_softmax(x.data, -1)
            _add_at_targets(d, self.onehot_index, -1.0)
            d *= (grad.data * weight)[..., None]
            return (const(d),)
        onehot = xp.zeros(x.shape, dtype=x.dtype)
        _add_at_targets(onehot, self.onehot_index, 1.0)
        scale = mul(grad if self.reduction == "none" else reshape(grad, (1,) * (x.ndim - 1)),
                    const(weight))
        return (mul(sub(softmax(x, -1), const(onehot)), reshape(scale, scale.shape + (1,))),)


def _softmax_nll(logits, target):
    """(softmax(logits), -log softmax(logits)[target]) along the last axis, in one sweep:
    one exp per entry, and on the CPU a few rows at a time, so that the passes over a block
    stay in cache (a language model's logits are tens of megabytes)."""
    xp = backend.get_array_module(logits)
    classes = logits.shape[-1]
    x = logits.reshape(-1, classes)
    t = target.reshape(-1)
    probs = xp.empty(x.shape, dtype=x.dtype)
    nll = xp.empty(x.shape[0], dtype=x.dtype)
    on_cpu = backend.device_of(x) == "cpu"
    rows = max(1, (1 << 18) // max(classes, 1)) if on_cpu else x.shape[0]
    for start in range(0, x.shape[0], rows):
        xb, pb, tb = x[start:start + rows], probs[start:start + rows], t[start:start + rows]
        xp.subtract(xb, xb.max(axis=-1, keepdims=True), out=pb)
        picked = pb[xp.arange(pb.shape[0]), tb]
        xp.exp(pb, out=pb)
        total = pb.sum(axis=-1)
        pb *= (1.0 / total)[:, None]
        nll[start:start + rows] = xp.log(total) - picked
    return probs.reshape(logits.shape), nll.reshape(target.shape)


def _add_at_targets(a, target, value):
    """a[..., target] += value at each position's target class (in place)."""
    xp = backend.get_array_module(a)
    flat = a.reshape(-1, a.shape[-1])  # a view: a is contiguous
    flat[xp.arange(flat.shape[0]), target.reshape(-1)] += value


@register("layer_norm",
          "y = (x - mu) * rstd * w + b; dx = rstd * (gh - mean(gh) - xh * mean(gh * xh)), "
          "gh = g * w, xh = (x - mu) * rstd; dw = sum(g * xh), db = sum(g)", kind="fused")
class LayerNorm(Function):
    """Normalises over the trailing ``axes``, viewed as the rows of a (N, D) matrix. Sums
    along rows run as matrix-vector products and row dot products (BLAS), which are several
    times faster than NumPy's reductions along short rows."""

    def forward(self, x, w, b):
        if backend_cuda.supports(x, w, b):  # one kernel; keeps mean and rstd, not xhat
            y, self.mean, self.rstd = backend_cuda.layer_norm_forward(
                x.reshape(-1, w.size), w.reshape(-1), b.reshape(-1), self.eps)
            self.xhat = None
            return y.reshape(x.shape)
        xp = backend.get_array_module(x)
        x2 = x.reshape(-1, w.size)
        y, self.xhat = xp.empty_like(x2), xp.empty_like(x2)
        self.rstd = xp.empty((len(x2), 1), dtype=x.dtype)
        for rows in _row_blocks(x2):
            _layer_norm_rows(x2[rows], w.reshape(-1), b.reshape(-1), self.eps, y[rows],
                             self.xhat[rows], self.rstd[rows])
        return y.reshape(x.shape)

    def backward(self, grad, out):
        x, w, b = out._inputs
        if not is_grad_enabled():
            if self.xhat is None:  # the GPU forward
                gx, gw, gb = backend_cuda.layer_norm_backward(
                    x.data.reshape(-1, w.data.size), w.data.reshape(-1),
                    grad.data.reshape(-1, w.data.size), self.mean, self.rstd)
                return (const(gx.reshape(x.shape)),
                        const(gw.reshape(w.shape)) if w.requires_grad else None,
                        const(gb.reshape(b.shape)) if b.requires_grad else None)
            return self._backward_arrays(grad.data, w, b)
        xhat, rstd = _normalize(x, self.axes, self.eps)
        gh = mul(grad, w)
        gx = mul(rstd, sub(sub(gh, mean(gh, axis=self.axes, keepdims=True)),
                           mul(xhat, mean(mul(gh, xhat), axis=self.axes, keepdims=True))))
        gw = sum_to_shape(mul(grad, xhat), w.shape) if w.requires_grad else None
        gb = sum_to_shape(grad, b.shape) if b.requires_grad else None
        return gx, gw, gb

    def _backward_arrays(self, g, w, b):
        xp = backend.get_array_module(g)
        g2 = g.reshape(self.xhat.shape)
        gx = xp.empty_like(g2)
        gw, gb = xp.zeros(w.numel(), dtype=g.dtype), xp.zeros(w.numel(), dtype=g.dtype)
        for rows in _row_blocks(g2):
            _layer_norm_grad_rows(g2[rows], self.xhat[rows], self.rstd[rows], w.data.reshape(-1),
                                  gx[rows], gw, gb)
        return (const(gx.reshape(g.shape)),
                const(gw.reshape(w.shape)) if w.requires_grad else None,
                const(gb.reshape(b.shape)) if b.requires_grad else None)


def _row_blocks(a):
    """Slices of the rows of a 2-D array to work on one at a time: on the CPU about a
    megabyte each, so that the several passes over a block run in cache; else all rows."""
    if backend.device_of(a) != "cpu":
        return (slice(None),)
    step = max(1, (1 << 18) // max(a.shape[1], 1))
    return [slice(i, i + step) for i in range(0, len(a), step)]


def _layer_norm_rows(x, w, b, eps, y, xhat, rstd):
    """LayerNorm of the rows of x into y, keeping xhat and rstd for backward."""
    xp = backend.get_array_module(x)
    xp.subtract(x, (x @ xp.full(w.size, 1.0 / w.size, x.dtype))[:, None], out=xhat)
    var = xp.einsum("ij,ij->i", xhat, xhat) / w.size
    rstd[:, 0] = 1.0 / xp.sqrt(var + eps)
    xhat *= rstd
    xp.multiply(xhat, w, out=y)
    y += b


def _layer_norm_grad_rows(g, xhat, rstd, w, gx, gw, gb):
    """The input gradient of rows into gx; adds their weight and bias gradients to gw, gb."""
    xp = backend.get_array_module(g)
    gxh = g * xhat
    gw += gxh.sum(axis=0)
    gb += g.sum(axis=0)
    w_mean = w / w.size  # mean(g * w) = g @ (w / D), mean(g * w * xh) = (g * xh) @ (w / D)
    mean_gh, mean_ghxh = g @ w_mean, gxh @ w_mean
    xp.multiply(g, w, out=gx)
    gx -= mean_gh[:, None]
    gx -= xp.multiply(xhat, mean_ghxh[:, None], out=gxh)
    gx *= rstd


def _normalize(x, axes, eps):
    """(x - mean) / sqrt(var + eps) and 1/sqrt(var + eps), composed from primitive ops."""
    from minigrad.ops.elementwise import sqrt
    xc = sub(x, mean(x, axis=axes, keepdims=True))
    rstd = div(1.0, sqrt(add(mean(mul(xc, xc), axis=axes, keepdims=True), eps)))
    return mul(xc, rstd), rstd


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@register("gelu", "d/dx x Phi(x) = Phi(x) + x phi(x) (exact, erf)", kind="fused")
class GELU(Function):
    def forward(self, x):
        if backend_cuda.supports(x):  # backward recomputes from x: nothing kept
            self.cdf = self.pdf = None
            return backend_cuda.gelu(x)
        y, self.cdf, self.pdf = backend.gelu_parts(x)
        return y

    def backward(self, grad, out):
        x = out._inputs[0]
        if not is_grad_enabled():
            if self.cdf is None:
                return (const(backend_cuda.gelu_backward(x.data, grad.data)),)
            d = x.data * self.pdf
            d += self.cdf
            d *= grad.data
            return (const(d),)
        cdf = mul(add(erf(mul(x, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
        pdf = mul(exp(mul(mul(x, x), -0.5)), 1.0 / math.sqrt(2.0 * math.pi))
        return (mul(grad, add(cdf, mul(x, pdf))),)


@register("gelu_tanh", "y = x/2 (1 + tanh u), u = c (x + 0.044715 x^3); "
          "dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 * 0.044715 x^2)", kind="fused")
class GELUTanh(Function):
    def forward(self, x):
        if backend_cuda.supports(x):  # backward recomputes from x: nothing kept
            self.s = None
            return backend_cuda.gelu_tanh(x)
        # 0.5 (1 + tanh u) = sigmoid(2u): one exp instead of a tanh, which costs 2-3x more.
        xp = backend.get_array_module(x)
        s = x * x
        s *= -2 * _SQRT_2_OVER_PI * 0.044715
        s -= 2 * _SQRT_2_OVER_PI
        s *= x
        xp.minimum(s, 80.0, out=s)  # exp(-2u) would overflow float32 for x below about -6
        xp.exp(s, out=s)
        s += 1.0
        xp.reciprocal(s, out=s)
        self.s = s
        return x * s

    def backward(self, grad, out):
        x = out._inputs[0]
        if not is_grad_enabled():
            if self.s is None:
                return (const(backend_cuda.gelu_tanh_backward(x.data, grad.data)),)
            # d = s + 2 x s (1 - s) u', with s = sigmoid(2u), u' = c (1 + 3 * 0.044715 x^2)
            xa, s = x.data, self.s
            d = xa * xa
            d *= 3 * 0.044715 * 2 * _SQRT_2_OVER_PI
            d += 2 * _SQRT_2_OVER_PI
            d *= xa
            d *= s
            d *= 1.0 - s
            d += s
            d *= grad.data
            return (const(d),)
        x2 = mul(x, x)
        t = tanh(mul(add(x, mul(mul(x2, x), 0.044715)), _SQRT_2_OVER_PI))
        du = mul(add(mul(x2, 3 * 0.044715), 1.0), _SQRT_2_OVER_PI)
        d = add(mul(add(t, 1.0), 0.5), mul(mul(mul(x, 0.5), rsub(mul(t, t), 1.0)), du))
        return (mul(grad, d),)


@register("attention", "P = softmax(s Q K^T + mask), O = (P * M) V for dropout's scaled "
          "keep-mask M (1 without dropout); dV = (P * M)^T G, dP = (G V^T) * M, "
          "dS = P * (dP - rowsum(G * O)), dQ = s dS K, dK = s dS^T Q", kind="fused")
class Attention(Function):
    """Scaled dot-product attention over the last two dimensions of q (..., Tq, d),
    k (..., Tk, d) and v (..., Tk, dv), optionally causal, with dropout ``dropout_p`` on
    the weights. One op instead of six: the T x T scores are masked and normalised in
    place, and only the probabilities (and the dropout mask) are kept for backward.

    The scores are held transposed, S^T = K Q^T (keys down, queries across), so that the
    softmax's max and sum run down columns: NumPy reduces across contiguous rows of 64
    entries several times slower than down columns. BLAS takes the transposes for free.
    rowsum(dP * P) equals rowsum(G * O) (FlashAttention's identity: sum_j P_ij G_i.V_j =
    G_i.O_i, also with dropout), which costs T x d instead of T x T."""

    def forward(self, q, k, v):
        self.keep = _dropout_keep(q, k, self.dropout_p)
        out, self.pt = _attention_arrays(q, k, v, self.scale, self.causal, self.keep,
                                         self.dropout_p)
        return out

    def backward(self, grad, out):
        q, k, v = out._inputs
        if is_grad_enabled():
            return reference_backward(self._reference, out._inputs, grad)
        grads = _attention_grads(grad.data, out.data, self.pt, self.keep, self.dropout_p,
                                 q.data, k.data, v.data, self.scale)
        return tuple(const(sum_to_shape_array(g, t.shape)) for g, t in zip(grads, (q, k, v)))

    def _reference(self, q, k, v):
        return _attention_reference(q, k, v, self.scale, self.causal, self.keep,
                                    self.dropout_p)


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
        q, k, v = _heads(qkv, 3, self.num_heads)
        self.keep = _dropout_keep(q, k, self.dropout_p)
        out, self.pt = _attention_arrays(q, k, v, self.scale, self.causal, self.keep,
                                         self.dropout_p)
        return _merge_heads(out)

    def backward(self, grad, out):
        (qkv,) = out._inputs
        if is_grad_enabled():
            return reference_backward(self._reference, out._inputs, grad)
        xp = grad.xp
        q, k, v = _heads(qkv.data, 3, self.num_heads)
        (g,) = _heads(grad.data, 1, self.num_heads)
        (o,) = _heads(out.data, 1, self.num_heads)
        d = xp.empty(qkv.shape, dtype=qkv.dtype)
        grads = _attention_grads(g, o, self.pt, self.keep, self.dropout_p, q, k, v,
                                 self.scale)
        for target, part in zip(_heads(d, 3, self.num_heads), grads):
            target[...] = part
        return (const(d),)

    def _reference(self, qkv):
        from minigrad.ops.shape import permute, reshape
        b, t, width = qkv.shape
        heads = permute(reshape(qkv, (b, t, 3, self.num_heads, width // (3 * self.num_heads))),
                        (2, 0, 3, 1, 4))
        out = _attention_reference(heads[0], heads[1], heads[2], self.scale, self.causal,
                                   self.keep, self.dropout_p)
        return reshape(permute(out, (0, 2, 1, 3)), (b, t, width // 3))


def _heads(packed, parts, num_heads):
    """Views (B, heads, T, d) of the ``parts`` blocks of ``packed`` (B, T, parts * E)."""
    b, t, width = packed.shape
    split = packed.reshape(b, t, parts, num_heads, width // (parts * num_heads))
    return [split[:, :, i].transpose(0, 2, 1, 3) for i in range(parts)]


def _merge_heads(out):
    """(B, heads, T, d) -> (B, T, heads * d)."""
    b, h, t, d = out.shape
    return out.transpose(0, 2, 1, 3).reshape(b, t, h * d)


def _dropout_keep(q, k, p):
    """Dropout's keep-mask of the transposed weights (..., Tk, Tq), or None without."""
    if not p:
        return None
    xp = backend.get_array_module(q)
    batch = broadcast_shapes(q.shape[:-2], k.shape[:-2], "attention")
    return backend.keep_mask(xp, batch + (k.shape[-2], q.shape[-2]), p)


def _attention_arrays(q, k, v, scale, causal, keep, p):
    """(out, P^T) on arrays: P = softmax(scale q k^T + causal mask) over the keys, held
    transposed; out = (P * keep / (1 - p)) v."""
    if backend_cuda.supports(q, k, v):
        return _attention_arrays_cuda(q, k, v, scale, causal, keep, p)
    xp = backend.get_array_module(q)
    batch = broadcast_shapes(broadcast_shapes(q.shape[:-2], k.shape[:-2], "attention"),
                             v.shape[:-2], "attention")
    pt = xp.empty(batch + (k.shape[-2], q.shape[-2]), dtype=q.dtype)
    out = xp.empty(batch + (q.shape[-2], v.shape[-1]), dtype=q.dtype)
    for i in _blocks(q, k, v, pt):
        _attention_block(q[i], k[i], v[i], scale, causal, keep[i] if keep is not None else None,
                         p, pt[i], out[i])
    return out, pt


def _blocks(q, k, v, pt):
    """Indices of the slices to run one at a time: on the CPU, when the scores of one
    batch entry are large, one entry at a time, so that the softmax's passes over them run
    in cache instead of main memory; else everything at once (``...``)."""
    same = q.shape[:-2] == k.shape[:-2] == v.shape[:-2] and q.ndim > 2
    per_entry = pt[0].nbytes if pt.ndim > 2 and len(pt) else 0
    if same and backend.device_of(q) == "cpu" and per_entry >= _BLOCK_BYTES:
        return range(len(pt))
    return (Ellipsis,)


_BLOCK_BYTES = 1 << 18  # below this, the per-slice calls cost more than the cache saves


def _attention_block(q, k, v, scale, causal, keep, p, pt, out):
    xp = backend.get_array_module(q)
    xp.matmul(k, xp.swapaxes(q * scale, -1, -2), out=pt)
    if causal:
        pt += _future_bias(xp, q.shape[-2], k.shape[-2], pt.dtype)
    pt -= pt.max(axis=-2, keepdims=True)
    xp.exp(pt, out=pt)
    pt /= pt.sum(axis=-2, keepdims=True)
    if keep is None:
        xp.matmul(xp.swapaxes(pt, -1, -2), v, out=out)
        return
    xp.matmul(xp.swapaxes(pt * keep, -1, -2), v, out=out)
    out *= 1.0 / (1.0 - p)  # on the (T, d) output rather than the (T, T) weights


def _attention_grads(g, out, pt, keep, p, q, k, v, scale):
    """(dq, dk, dv) on arrays, for the output gradient g (see ``Attention``); each with the
    batch shape of the scores (the caller sums broadcast dimensions back)."""
    if backend_cuda.supports(g, pt):
        return _attention_grads_cuda(g, pt, keep, p, q, k, v, scale)
    xp = backend.get_array_module(g)
    batch = pt.shape[:-2]
    dq = xp.empty(batch + q.shape[-2:], dtype=g.dtype)
    dk = xp.empty(batch + k.shape[-2:], dtype=g.dtype)
    dv = xp.empty(batch + v.shape[-2:], dtype=g.dtype)
    for i in _blocks(q, k, v, pt):
        _attention_grads_block(g[i], out[i], pt[i], keep[i] if keep is not None else None, p,
                               q[i], k[i], v[i], scale, dq[i], dk[i], dv[i])
    return dq, dk, dv


def _attention_grads_block(g, out, pt, keep, p, q, k, v, scale, dq, dk, dv):
    """Into dq, dk, dv. The constant factors, 1/(1-p) and the scale, are applied to the
    (T, d) arrays, not the (T, T) ones."""
    xp = backend.get_array_module(g)
    if keep is None:
        xp.matmul(pt, g, out=dv)
        dst = v @ xp.swapaxes(g, -1, -2)
    else:
        g_kept = g * (1.0 / (1.0 - p))
        xp.matmul(pt * keep, g_kept, out=dv)
        dst = v @ xp.swapaxes(g_kept, -1, -2)
        dst *= keep
    dst -= xp.expand_dims((g * out).sum(axis=-1), -2)
    dst *= pt
    xp.matmul(xp.swapaxes(dst, -1, -2), k, out=dq)
    dq *= scale
    xp.matmul(dst, q, out=dk)
    dk *= scale


def _attention_arrays_cuda(q, k, v, scale, causal, keep, p):
    """``_attention_arrays`` on the GPU: the scores in row layout (queries down), scaled,
    masked and normalised in place by one fused kernel; P^T is a view of them."""
    xp = backend.get_array_module(q)
    s = q @ xp.swapaxes(k, -1, -2)
    s = backend_cuda.softmax(s, scale, causal, out=s if s.flags.c_contiguous else None)
    pt = xp.swapaxes(s, -1, -2)
    if keep is None:
        return s @ v, pt
    out = xp.swapaxes(pt * keep, -1, -2) @ v
    out *= 1.0 / (1.0 - p)  # on the (T, d) output rather than the (T, T) weights
    return out, pt


def _attention_grads_cuda(g, pt, keep, p, q, k, v, scale):
    """``_attention_grads`` on the GPU, in row layout: dS = P * (dP - rowsum(dP * P)) by
    one fused kernel instead of three passes over the (T, T) arrays."""
    xp = backend.get_array_module(g)
    if keep is not None:
        g = g * (1.0 / (1.0 - p))
    dv = (pt if keep is None else pt * keep) @ g
    ds = g @ xp.swapaxes(v, -1, -2)
    if keep is not None:
        ds *= xp.swapaxes(keep, -1, -2)
    ds = backend_cuda.softmax_backward(xp.swapaxes(pt, -1, -2), ds,
                                       out=ds if ds.flags.c_contiguous else None)
    dq = ds @ k
    dq *= scale
    dk = xp.swapaxes(ds, -1, -2) @ q
    dk *= scale
    return dq, dk, dv


def _attention_reference(q, k, v, scale, causal, keep, p):
    """The same attention composed from engine ops (the graph of second-order gradients)."""
    from minigrad.ops.linalg import matmul
    probs = _attention_probs(q, k, scale, causal)
    if keep is not None:
        kept = keep.swapaxes(-1, -2).astype(q.dtype) * (1.0 / (1.0 - p))
        probs = mul(probs, const(kept))
    return matmul(probs, v)


def _future(xp, tq, tk):
    """Mask of the keys after each query; queries are the last tq of tk positions (a
    key/value cache holds the earlier ones)."""
    return xp.triu(xp.ones((tq, tk), dtype=bool), k=tk - tq + 1)


@functools.lru_cache(maxsize=16)
def _future_bias(xp, tq, tk, dtype):
    """(tk, tq) additive mask of the transposed scores: -inf where the key comes after
    the query, 0 elsewhere. Cached: every layer of every step asks for the same one."""
    return xp.where(_future(xp, tq, tk).T, -xp.inf, 0.0).astype(dtype)


def _attention_probs(q, k, scale, causal):
    """softmax(scale q k^T + causal mask), composed from engine ops (the reference)."""
    from minigrad.ops.linalg import matmul
    from minigrad.ops.shape import masked_fill, swapaxes
    scores = mul(matmul(q, swapaxes(k, -1, -2)), scale)
    if causal:
        scores = masked_fill(scores, _future(q.xp, q.shape[-2], k.shape[-2]), -math.inf)
    return softmax(scores, -1)


# ---------------------------------------------------------------- public functions

def _float(x, op):
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{op}: expected a float tensor, got dtype {x.dtype}")


def softmax(x, axis=-1):
    _float(x, "softmax")
    return Softmax.apply(x, axis=normalize_axis(axis, x.ndim, "softmax"))


def log_softmax(x, axis=-1):
    _float(x, "log_softmax")
    return LogSoftmax.apply(x, axis=normalize_axis(axis, x.ndim, "log_softmax"))


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """Cross-entropy of ``logits`` against integer class ``target``, optionally with a
    weight per class (``weight``, shape (C,)).

    Shapes: logits (N, C) with target (N,), or logits (..., C) with target (...) (the
    class dimension last, the shape language models produce), or PyTorch's
    (N, C, d1, ...) with target (N, d1, ...)."""
    from minigrad.ops.shape import permute
    from minigrad.tensor import Tensor
    _float(logits, "cross_entropy")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    t = target.data if isinstance(target, Tensor) else logits.xp.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class indices, got dtype {t.dtype}")
    if tuple(t.shape) != logits.shape[:-1]:
        if logits.ndim > 2 and tuple(t.shape) == logits.shape[:1] + logits.shape[2:]:
            logits = permute(logits, (0,) + tuple(range(2, logits.ndim)) + (1,))
        else:
            raise ValueError(f"cross_entropy: logits {logits.shape} need target of shape "
                             f"{logits.shape[:-1]}, got {tuple(t.shape)}")
    n_classes = logits.shape[-1]
    valid = t[t != ignore_index]
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= n_classes):
        bad = int(valid.min()) if int(valid.min()) < 0 else int(valid.max())
        raise IndexError(f"cross_entropy: target {bad} is out of range for {n_classes} classes")
    if weight is not None:
        weight = weight.data if isinstance(weight, Tensor) else logits.xp.asarray(weight)
        if tuple(weight.shape) != (n_classes,):
            raise ValueError(f"cross_entropy: weight has shape {tuple(weight.shape)}, expected "
                             f"({n_classes},), one per class")
        weight = weight.astype(logits.dtype, copy=False)
    return CrossEntropy.apply(logits, target=t.astype(logits.xp.int64, copy=False),
                              class_weight=weight, ignore_index=ignore_index,
                              reduction=reduction)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dimensions, then scale and shift."""
    from minigrad.ops.base import const as constant
    _float(x, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: input {x.shape} does not end with normalized_shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {p.shape}, expected {shape}")
    weight = weight if weight is not None else constant(x.xp.ones(shape, x.dtype))
    bias = bias if bias is not None else constant(x.xp.zeros(shape, x.dtype))
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return LayerNorm.apply(x, weight, bias, axes=axes, eps=float(eps))


def gelu(x, approximate="none"):
    """GELU: exact x Phi(x) (``approximate='none'``) or the tanh approximation ('tanh')."""
    _float(x, "gelu")
    if approximate == "none":
        return GELU.apply(x)
    if approximate == "tanh":
        return GELUTanh.apply(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


@register("embedding", "composite: weight[ids]; the gradient of each row is the sum of the "
          "output gradients of the positions that looked it up", kind="composite")
def embedding(ids, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) looked up by integer ``ids`` of any shape."""
    from minigrad.ops.shape import getitem, where
    from minigrad.tensor import Tensor
    idx = ids.data if isinstance(ids, Tensor) else weight.xp.asarray(ids)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got {weight.shape}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= weight.shape[0]):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"embedding: id {bad} is out of range for a table of "
                         f"{weight.shape[0]} rows")
    out = getitem(weight, idx)
    if padding_idx is not None:
        # The padding row receives no gradient (PyTorch's padding_idx).
        out = where((idx == padding_idx)[..., None], out.detach(), out)
    return out


@register("dropout", "composite: x * mask / (1 - p), mask ~ Bernoulli(1 - p)", kind="composite")
def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return mul(x, 0.0)
    scale = backend.keep_mask(x.xp, x.shape, p).astype(x.dtype)
    scale *= 1.0 / (1.0 - p)
    return mul(x, const(scale))


def attention(q, k, v, causal=False, dropout_p=0.0, scale=None):
    """softmax(q k^T * scale [+ causal mask]) v with dropout ``dropout_p`` on the weights,
    fused (see ``Attention``); ``scale`` defaults to 1/sqrt(d)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        _float(t, "attention")
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


def self_attention(qkv, num_heads, causal=False, dropout_p=0.0):
    """Multi-head self-attention from packed projections qkv (B, T, 3E) to the heads'
    outputs side by side (B, T, E), fused (see ``SelfAttention``)."""
    _float(qkv, "self_attention")
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
