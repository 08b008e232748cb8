"""Row kernels on the CPU: softmax, softmax cross-entropy and LayerNorm, over the rows of
a (N, D) matrix, a few hundred kilobytes of rows at a time so that the several passes over
a block run in cache. Sums along rows run as matrix-vector products and row dot products
(BLAS), several times faster than NumPy's reductions along short rows."""
import numpy as np

from minigrad import backend_plain

softmax = backend_plain.softmax
softmax_backward = backend_plain.softmax_backward

_BLOCK_ELEMENTS = 1 << 18


def _row_blocks(n_rows, row_size):
    """Slices of about 256K elements of rows (1 MB in float32)."""
    step = max(1, _BLOCK_ELEMENTS // max(row_size, 1))
    return [slice(i, i + step) for i in range(0, n_rows, step)]


def cross_entropy_forward(logits, target):
    """(nll, [probabilities]): -log softmax(logits)[target] along the last axis, in one
    sweep with one exp per entry. The probabilities are kept in a one-item list that
    ``cross_entropy_backward`` takes them from: it builds the gradient in them in place, so
    a second backward through the same graph recomputes them."""
    classes = logits.shape[-1]
    x = logits.reshape(-1, classes)
    t = target.reshape(-1)
    probs = np.empty(x.shape, dtype=x.dtype)
    nll = np.empty(x.shape[0], dtype=x.dtype)
    for rows in _row_blocks(x.shape[0], classes):
        xb, pb, tb = x[rows], probs[rows], t[rows]
        np.subtract(xb, xb.max(axis=-1, keepdims=True), out=pb)
        picked = pb[np.arange(pb.shape[0]), tb]
        np.exp(pb, out=pb)
        total = pb.sum(axis=-1)
        pb *= (1.0 / total)[:, None]
        nll[rows] = np.log(total) - picked
    return nll.reshape(target.shape), [probs.reshape(logits.shape)]


def cross_entropy_backward(logits, saved, target, scale):
    """(softmax(logits) - onehot(target)) * scale[..., None], built in the saved
    probabilities when they are still there."""
    d = saved.pop() if saved else backend_plain.softmax(logits, (logits.ndim - 1,))
    flat = d.reshape(-1, d.shape[-1])  # a view: d is contiguous
    flat[np.arange(flat.shape[0]), target.reshape(-1)] -= 1.0
    d *= scale[..., None]
    return d


def layer_norm_forward(x, w, b, eps):
    """(y, (xhat, rstd)) for the rows of x (N, D): y = xhat * w + b, xhat = (x - mean) *
    rstd, rstd = 1 / sqrt(var + eps)."""
    y, xhat = np.empty_like(x), np.empty_like(x)
    rstd = np.empty((len(x), 1), dtype=x.dtype)
    for rows in _row_blocks(*x.shape):
        _layer_norm_rows(x[rows], w, b, eps, y[rows], xhat[rows], rstd[rows])
    return y, (xhat, rstd)


def _layer_norm_rows(x, w, b, eps, y, xhat, rstd):
    np.subtract(x, (x @ np.full(w.size, 1.0 / w.size, x.dtype))[:, None], out=xhat)
    var = np.einsum("ij,ij->i", xhat, xhat) / w.size
    rstd[:, 0] = 1.0 / np.sqrt(var + eps)
    xhat *= rstd
    np.multiply(xhat, w, out=y)
    y += b


def layer_norm_backward(x, w, g, saved):
    """(dx, dw, db) from the saved xhat and rstd (see ``backend_plain``)."""
    xhat, rstd = saved
    dx = np.empty_like(g)
    dw, db = np.zeros(w.size, dtype=g.dtype), np.zeros(w.size, dtype=g.dtype)
    for rows in _row_blocks(*g.shape):
        _layer_norm_grad_rows(g[rows], xhat[rows], rstd[rows], w, dx[rows], dw, db)
    return dx, dw, db


def _layer_norm_grad_rows(g, xhat, rstd, w, dx, dw, db):
    """The input gradient of the rows into dx; adds their weight and bias gradients to
    dw and db."""
    gxh = g * xhat
    dw += gxh.sum(axis=0)
    db += g.sum(axis=0)
    w_mean = w / w.size  # mean(g * w) = g @ (w / D), mean(g * w * xh) = (g * xh) @ (w / D)
    mean_gh, mean_ghxh = g @ w_mean, gxh @ w_mean
    np.multiply(g, w, out=dx)
    dx -= mean_gh[:, None]
    dx -= np.multiply(xhat, mean_ghxh[:, None], out=gxh)
    dx *= rstd
