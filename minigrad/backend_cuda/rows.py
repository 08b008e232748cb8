"""The row kernels of the CUDA backend, as CuPy RawModule source: softmax (with an optional
score scale and causal mask) and its backward, softmax cross-entropy forward and backward,
LayerNorm forward and backward.

Each runs one thread block per row: each thread strides over the row, then the block
combines its partial sums or maxima with warp shuffles and one shared-memory step. They
take C-contiguous float32 or float64 arrays (``minigrad.backend_cuda.supports`` says
whether a set of arrays qualifies). Each wrapper's docstring names the plain-array formula
it replaces (``minigrad.backend_plain``). Compiled on first use: importing this module
never needs CuPy.
"""
import functools

import numpy as np

from minigrad.backend_cuda.elementwise import elementwise_kernel


def _cupy():
    import cupy  # CuPy is optional: imported on first use of a kernel
    return cupy


# ---------------------------------------------------------------- row kernels (RawModule)

# Per dtype: the element type and the math functions of that precision (NVRTC has no
# overloads without headers, and a float kernel must not compute in double).
_PRELUDE = {
    "float32": "typedef float real;\n#define EXP expf\n#define LOG logf\n#define RSQRT rsqrtf\n",
    "float64": "typedef double real;\n#define EXP exp\n#define LOG log\n#define RSQRT rsqrt\n",
}

_ROW_KERNELS = r"""
// Sum and maximum over a warp: after the butterfly every lane holds the result.
__device__ __forceinline__ real warp_sum(real v) {
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    return v;
}

__device__ __forceinline__ real warp_max(real v) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        real other = __shfl_xor_sync(0xffffffffu, v, offset);
        v = other > v ? other : v;
    }
    return v;
}

// Sum over the block, returned to every thread. blockDim.x is a multiple of 32 and
// `shared` holds 32 values. Each warp sums the per-warp partials itself, so no second
// broadcast is needed; the first barrier keeps a previous call's readers from seeing
// this call's writes.
__device__ real block_sum(real v, real* shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    return warp_sum(lane < warps ? shared[lane] : (real)0);
}

// Maximum over the block, as block_sum; lanes past the last warp repeat warp 0's value
// (no infinity literal needed).
__device__ real block_max(real v, real* shared) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    return warp_max(shared[lane < warps ? lane : 0]);
}

// y = softmax(scale * x) over each row of n (one block per row; y may be x). Causal: the
// rows are queries q = row % tq of tq, the last tq of n positions, and query q sees keys
// j <= q + n - tq; the keys after it get probability 0.
extern "C" __global__ void softmax_rows(const real* x, real* y, int n, real scale,
                                        int causal, int tq) {
    __shared__ real shared[32];
    long long row = blockIdx.x;
    const real* xr = x + row * n;
    real* yr = y + row * n;
    int visible = causal ? (int)(row % tq) + n - tq + 1 : n;
    real m = scale * xr[0];
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        real v = scale * xr[j];
        m = v > m ? v : m;
    }
    m = block_max(m, shared);
    real s = 0;
    for (int j = threadIdx.x; j < visible; j += blockDim.x)
        s += EXP(scale * xr[j] - m);
    real inv = (real)1 / block_sum(s, shared);
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        yr[j] = j < visible ? EXP(scale * xr[j] - m) * inv : (real)0;
}

// dx = scale * y * (g - sum_j g_j y_j) over each row of n: the softmax backward, times the
// score scale of attention (dx may be g).
extern "C" __global__ void softmax_backward_rows(const real* y, const real* g, real* dx,
                                                 int n, real scale) {
    __shared__ real shared[32];
    long long row = blockIdx.x;
    const real* yr = y + row * n;
    const real* gr = g + row * n;
    real* dr = dx + row * n;
    real s = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        s += gr[j] * yr[j];
    s = block_sum(s, shared);
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        dr[j] = scale * yr[j] * (gr[j] - s);
}

// Per row of n logits: lse = log(sum_j exp(x_j)) (shifted by the row maximum) and
// loss = lse - x[target].
extern "C" __global__ void cross_entropy_forward(const real* x, const long long* target,
                                                 real* loss, real* lse, int n) {
    __shared__ real shared[32];
    long long row = blockIdx.x;
    const real* xr = x + row * n;
    real m = xr[0];
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        m = xr[j] > m ? xr[j] : m;
    m = block_max(m, shared);
    real s = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        s += EXP(xr[j] - m);
    s = block_sum(s, shared);
    if (threadIdx.x == 0) {
        real l = m + LOG(s);
        lse[row] = l;
        loss[row] = l - xr[target[row]];
    }
}

// d[r, j] = (exp(x[r, j] - lse[r]) - (j == target[r])) * scale[r], over all `total`
// elements with a grid-stride loop.
extern "C" __global__ void cross_entropy_backward(const real* x, const real* lse,
                                                  const long long* target, const real* scale,
                                                  real* d, long long total, int n) {
    long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += stride) {
        long long row = i / n;
        long long j = i - row * n;
        real p = EXP(x[i] - lse[row]);
        d[i] = (p - (j == target[row] ? (real)1 : (real)0)) * scale[row];
    }
}

// y = (x - mean) * rstd * w + b over each row of n, rstd = 1 / sqrt(var + eps) with the
// biased variance; mean and rstd are kept for backward.
extern "C" __global__ void layer_norm_forward(const real* x, const real* w, const real* b,
                                              real* y, real* mean, real* rstd, int n,
                                              real eps) {
    __shared__ real shared[32];
    long long row = blockIdx.x;
    const real* xr = x + row * n;
    real* yr = y + row * n;
    real s = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        s += xr[j];
    real mu = block_sum(s, shared) / n;
    real v = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        real c = xr[j] - mu;
        v += c * c;
    }
    real r = RSQRT(block_sum(v, shared) / n + eps);
    for (int j = threadIdx.x; j < n; j += blockDim.x)
        yr[j] = (xr[j] - mu) * r * w[j] + b[j];
    if (threadIdx.x == 0) {
        mean[row] = mu;
        rstd[row] = r;
    }
}

// dx = rstd * (gh - mean(gh) - xh * mean(gh * xh)) over each row of n, with gh = g * w
// and xh = (x - mean) * rstd.
extern "C" __global__ void layer_norm_backward(const real* x, const real* w, const real* g,
                                               const real* mean, const real* rstd, real* dx,
                                               int n) {
    __shared__ real shared[32];
    long long row = blockIdx.x;
    const real* xr = x + row * n;
    const real* gr = g + row * n;
    real* dr = dx + row * n;
    real mu = mean[row], r = rstd[row];
    real s1 = 0, s2 = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        real gh = gr[j] * w[j];
        s1 += gh;
        s2 += gh * (xr[j] - mu) * r;
    }
    real mean_gh = block_sum(s1, shared) / n;
    real mean_ghxh = block_sum(s2, shared) / n;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        real xh = (xr[j] - mu) * r;
        dr[j] = r * (gr[j] * w[j] - mean_gh - xh * mean_ghxh);
    }
}
"""


@functools.lru_cache(maxsize=None)
def _module(dtype_name):
    return _cupy().RawModule(code=_PRELUDE[dtype_name] + _ROW_KERNELS)


def _threads(n):
    """Threads per block for rows of n: whole warps, enough to cover short rows, 256 at
    most (longer rows are strided)."""
    return min(256, 32 * max(1, -(-n // 32)))


def _launch(name, like, rows, n, args):
    """Run row kernel ``name`` with one block per row on ``like``'s device."""
    with like.device:
        _module(like.dtype.name).get_function(name)((rows,), (_threads(n),), args)


def _rows(x):
    """``x`` as C-contiguous (rows, n) over its last axis."""
    x = _cupy().ascontiguousarray(x)
    n = x.shape[-1]
    return x.reshape(-1, n), n


def _flat(a, dtype):
    """``a`` as a C-contiguous 1-D array of ``dtype`` (raw kernels ignore strides)."""
    return _cupy().ascontiguousarray(a, dtype=dtype).reshape(-1)


def _output(out, like):
    """``out`` to write into (C-contiguous, since raw kernels ignore strides), or a new
    array shaped like ``like``."""
    if out is None:
        return _cupy().empty(like.shape, like.dtype)  # empty_like would copy like's strides
    if not out.flags.c_contiguous or out.shape != like.shape or out.dtype != like.dtype:
        raise ValueError("out must be a C-contiguous array of the input's shape and dtype")
    return out


def softmax(x, scale=1.0, causal=False, out=None):
    """softmax(scale * x) over the last axis; ``causal`` masks, for x of shape (..., Tq, Tk)
    with Tq <= Tk, the keys after each query (the queries are the last Tq positions).
    ``out`` may be x itself.

    Replaces (backend_plain.softmax, inside attention_forward):
        p = scale * x; p[..., future] = -inf; p -= p.max(-1); p = exp(p); p /= p.sum(-1)"""
    if causal and (x.ndim < 2 or x.shape[-2] > x.shape[-1]):
        raise ValueError(f"softmax: causal needs scores (..., Tq, Tk) with Tq <= Tk, got {x.shape}")
    x2, n = _rows(x)
    out = _output(out, x)
    if x2.size:
        tq = x.shape[-2] if causal else 1
        _launch("softmax_rows", x2, x2.shape[0], n,
                (x2, out, np.int32(n), x2.dtype.type(scale), np.int32(bool(causal)), np.int32(tq)))
    return out


def softmax_backward(y, g, scale=1.0, out=None):
    """Gradient of softmax(scale * x) over the last axis, from its output ``y`` (broadcast
    to g's shape) and the output gradient ``g``. ``out`` may be g itself.

    Replaces (backend_plain.softmax_backward):
        dx = y * (g - (g * y).sum(-1, keepdims=True)); dx *= scale"""
    y2, n = _rows(_cupy().broadcast_to(y, g.shape))
    g2, _ = _rows(g)
    out = _output(out, g)
    if y2.size:
        _launch("softmax_backward_rows", y2, y2.shape[0], n,
                (y2, g2, out, np.int32(n), y2.dtype.type(scale)))
    return out


def cross_entropy_forward(logits, target):
    """Softmax cross-entropy of each row of ``logits`` (..., C) against integer ``target``
    (...): returns (loss, lse), loss = lse - logits[target] per row and
    lse = log sum_j exp(logits_j), which backward needs instead of the probabilities.

    Replaces (backend_plain.cross_entropy_forward):
        logp = log_softmax(logits); loss = -take_along_axis(logp, target)"""
    cupy = _cupy()
    x2, n = _rows(logits)
    t = _flat(target, cupy.int64)
    loss = cupy.empty(x2.shape[0], x2.dtype)
    lse = cupy.empty(x2.shape[0], x2.dtype)
    if x2.size:
        _launch("cross_entropy_forward", x2, x2.shape[0], n, (x2, t, loss, lse, np.int32(n)))
    shape = logits.shape[:-1]
    return loss.reshape(shape), lse.reshape(shape)


def cross_entropy_backward(logits, lse, target, scale):
    """d loss / d logits = (softmax(logits) - onehot(target)) * scale[..., None], with the
    softmax recomputed as exp(logits - lse). ``scale`` (one per row) carries the incoming
    gradient, the class weight and the mean's 1/total (0 for ignored rows).

    Replaces (backend_plain.cross_entropy_backward):
        d = probs; d[range, target] -= 1; d *= (grad * weight)[..., None]"""
    cupy = _cupy()
    x2, n = _rows(logits)
    scale = cupy.broadcast_to(cupy.asarray(scale, dtype=x2.dtype), logits.shape[:-1])
    d = cupy.empty(x2.shape, x2.dtype)
    total = x2.size
    if total:
        threads = 256
        blocks = min(-(-total // threads), 65536)  # the grid-stride loop covers the rest
        with x2.device:
            _module(x2.dtype.name).get_function("cross_entropy_backward")(
                (blocks,), (threads,),
                (x2, _flat(lse, x2.dtype), _flat(target, cupy.int64), _flat(scale, x2.dtype),
                 d, np.int64(total), np.int32(n)))
    return d.reshape(logits.shape)


def layer_norm_forward(x, w, b, eps):
    """LayerNorm over the last axis of x (..., n) with weight and bias of shape (n,):
    returns (y, mean, rstd), mean and rstd of shape x.shape[:-1].

    Replaces (backend_plain.layer_norm_forward):
        mu = x.mean(-1); xc = x - mu; rstd = 1 / sqrt((xc * xc).mean(-1) + eps)
        y = xc * rstd * w + b"""
    cupy = _cupy()
    x2, n = _rows(x)
    y = cupy.empty(x2.shape, x2.dtype)
    mean = cupy.empty(x2.shape[0], x2.dtype)
    rstd = cupy.empty(x2.shape[0], x2.dtype)
    if x2.size:
        _launch("layer_norm_forward", x2, x2.shape[0], n,
                (x2, _flat(w, x2.dtype), _flat(b, x2.dtype), y, mean, rstd, np.int32(n),
                 x2.dtype.type(eps)))
    return y.reshape(x.shape), mean.reshape(x.shape[:-1]), rstd.reshape(x.shape[:-1])


def layer_norm_backward(x, w, g, mean, rstd):
    """Gradients (dx, dw, db) of LayerNorm over the last axis, from the saved mean and rstd.

    Replaces (backend_plain.layer_norm_backward), with xh = (x - mean) * rstd:
        gh = g * w; dx = rstd * (gh - gh.mean(-1) - xh * (gh * xh).mean(-1))
        dw = (g * xh).sum(over rows); db = g.sum(over rows)"""
    cupy = _cupy()
    x2, n = _rows(x)
    g2, _ = _rows(g)
    mean1, rstd1 = mean.reshape(-1), rstd.reshape(-1)
    dx = cupy.empty(x2.shape, x2.dtype)
    if x2.size:
        _launch("layer_norm_backward", x2, x2.shape[0], n,
                (x2, _flat(w, x2.dtype), g2, _flat(mean1, x2.dtype), _flat(rstd1, x2.dtype), dx,
                 np.int32(n)))
    with x2.device:
        dw = elementwise_kernel("layer_norm_dw")(g2, x2, mean1[:, None], rstd1[:, None], axis=0)
        db = g2.sum(axis=0)
    return dx.reshape(x.shape), dw, db
