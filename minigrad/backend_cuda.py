"""Fused CUDA kernels for the CuPy backend.

A plain-array op on CuPy launches one kernel per NumPy-style expression and writes every
intermediate to GPU memory. The functions here do a whole formula in one or two launches:
softmax cross-entropy, LayerNorm, GELU, the Adam update, and the (causal) softmax inside
attention. Each docstring names the plain-array formula it replaces; that formula stays in
minigrad/ops and minigrad/optim as the reference, and tests/test_cuda.py compares the two.

The row kernels (softmax, cross-entropy, LayerNorm) run one thread block per row: each
thread strides over the row, then the block combines its partial sums or maxima with warp
shuffles and one shared-memory step. They take C-contiguous float32 or float64 arrays
(``supports`` says whether a set of arrays qualifies); anything else stays on the plain
path. Importing this module never needs CuPy: kernels are compiled on first use.
"""
import functools

import numpy as np

from minigrad import backend

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _cupy():
    import cupy
    return cupy


def _device(a):
    """The context that makes ``a``'s GPU the current one: kernels launch there."""
    return a.device


def supports(*arrays):
    """True when every array is a CuPy array of one float dtype (float32 or float64): what
    these kernels take."""
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
        import ml_dtypes
        cupy = _cupy()
        a = cupy.ones((2, 2), dtype=ml_dtypes.bfloat16)
        (a @ a).astype(cupy.float32)
        return np.dtype(ml_dtypes.bfloat16)
    except Exception:  # no ml_dtypes, or a CuPy without bfloat16: each fails its own way
        return None


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
    with _device(like):
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

    Replaces (ops/fused.py Attention.forward and Softmax):
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

    Replaces (ops/fused.py Attention.backward and Softmax.backward):
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

    Replaces (ops/fused.py CrossEntropy.forward):
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

    Replaces (ops/fused.py CrossEntropy.backward):
        d = probs; d[range, target] -= 1; d *= (grad * weight)[..., None]"""
    cupy = _cupy()
    x2, n = _rows(logits)
    scale = cupy.broadcast_to(cupy.asarray(scale, dtype=x2.dtype), logits.shape[:-1])
    d = cupy.empty(x2.shape, x2.dtype)
    total = x2.size
    if total:
        threads = 256
        blocks = min(-(-total // threads), 65536)  # the grid-stride loop covers the rest
        with _device(x2):
            _module(x2.dtype.name).get_function("cross_entropy_backward")(
                (blocks,), (threads,),
                (x2, _flat(lse, x2.dtype), _flat(target, cupy.int64), _flat(scale, x2.dtype),
                 d, np.int64(total), np.int32(n)))
    return d.reshape(logits.shape)


def layer_norm_forward(x, w, b, eps):
    """LayerNorm over the last axis of x (..., n) with weight and bias of shape (n,):
    returns (y, mean, rstd), mean and rstd of shape x.shape[:-1].

    Replaces (ops/fused.py LayerNorm.forward):
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

    Replaces (ops/fused.py LayerNorm._backward_arrays), with xh = (x - mean) * rstd:
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
    with _device(x2):
        dw = _elementwise("layer_norm_dw")(g2, x2, mean1[:, None], rstd1[:, None], axis=0)
        db = g2.sum(axis=0)
    return dx.reshape(x.shape), dw, db


# ---------------------------------------------------------------- element-wise kernels

# name -> the arguments of cupy.ElementwiseKernel (or, for "reduce", ReductionKernel).
# Literals are cast to T so that float32 kernels compute in float32.
_ELEMENTWISE = {
    # y = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2: erfc, not 1 + erf, keeps the digits of
    # the negative tail, where 1 + erf(x) cancels
    "gelu": ("T x", "T y",
             "y = x * ((T)0.5 * erfc(x * (T)-0.7071067811865476))"),
    # dx = g (Phi(x) + x phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
    "gelu_backward": ("T x, T g", "T dx",
                      "T cdf = (T)0.5 * erfc(x * (T)-0.7071067811865476);\n"
                      "T pdf = exp((T)-0.5 * x * x) * (T)0.3989422804014327;\n"
                      "dx = g * (cdf + x * pdf);"),
    # y = x/2 (1 + tanh u) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3); the sigmoid
    # form does not cancel for negative u (exp overflowing to inf gives y = -0)
    "gelu_tanh": ("T x", "T y",
                  "T u = (T)0.7978845608028654 * (x + (T)0.044715 * x * x * x);\n"
                  "y = x / ((T)1 + exp((T)-2 * u));"),
    # dx = g (s + 2 x s (1 - s) u'), s = sigmoid(2u), u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    "gelu_tanh_backward": ("T x, T g", "T dx",
                           "T u = (T)0.7978845608028654 * (x + (T)0.044715 * x * x * x);\n"
                           "T s = (T)1 / ((T)1 + exp((T)-2 * u));\n"
                           "dx = g * (s + (T)2 * x * s * ((T)1 - s) * (T)0.7978845608028654"
                           " * ((T)1 + (T)0.134145 * x * x));"),
    # One Adam(W) step for one parameter, in place (see minigrad/optim/adam.py).
    "adam": ("T g, T one_minus_beta1, T beta2, T one_minus_beta2, T eps, T l2, T decay, "
             "T step_size, T bias2_sqrt", "T p, T m, T v",
             "T grad = g + l2 * p;\n"
             "p = p * decay;\n"
             "m = m + one_minus_beta1 * (grad - m);\n"
             "v = beta2 * v + one_minus_beta2 * grad * grad;\n"
             "p = p - step_size * m / (sqrt(v) / bias2_sqrt + eps);"),
}

# dw = sum over rows of g * (x - mean) * rstd, the LayerNorm weight gradient.
_REDUCTIONS = {
    "layer_norm_dw": ("T g, T x, T mean, T rstd", "T dw", "g * (x - mean) * rstd", "a + b",
                      "dw = a", "0"),
}


@functools.lru_cache(maxsize=None)
def _elementwise(name):
    cupy = _cupy()
    if name in _REDUCTIONS:
        return cupy.ReductionKernel(*_REDUCTIONS[name], name="minigrad_" + name)
    return cupy.ElementwiseKernel(*_ELEMENTWISE[name], name="minigrad_" + name)


def _apply(name, *args):
    with _device(args[0]):
        return _elementwise(name)(*args)


def gelu(x):
    """Exact GELU, x Phi(x). Replaces (ops/fused.py GELU.forward, backend.gelu_parts):
    x * 0.5 * (1 + erf(x / sqrt 2))."""
    return _apply("gelu", x)


def gelu_backward(x, g):
    """Gradient of exact GELU, recomputed from x (nothing saved).
    Replaces (ops/fused.py GELU.backward): g * (cdf + x * exp(-x^2/2) / sqrt(2 pi))."""
    return _apply("gelu_backward", x, g)


def gelu_tanh(x):
    """Tanh-approximate GELU. Replaces (ops/fused.py GELUTanh.forward):
    x * sigmoid(2u) = x/2 (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    return _apply("gelu_tanh", x)


def gelu_tanh_backward(x, g):
    """Gradient of tanh-approximate GELU, recomputed from x. Replaces (ops/fused.py
    GELUTanh.backward): g * (s + 2 x s (1 - s) u'), s = sigmoid(2u)."""
    return _apply("gelu_tanh_backward", x, g)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """One Adam (or AdamW, ``decoupled``) step for one parameter: p, m and v change in
    place in a single launch.

    Replaces (minigrad/optim/adam.py Adam.update), for step t:
        p *= 1 - lr * wd (AdamW)  or  g = g + wd * p (Adam)
        m += (1 - beta1) (g - m);  v = beta2 v + (1 - beta2) g^2
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)"""
    l2 = 0.0 if decoupled else weight_decay
    decay = 1.0 - lr * weight_decay if decoupled else 1.0
    step_size = lr / (1.0 - beta1 ** step)
    bias2_sqrt = (1.0 - beta2 ** step) ** 0.5
    with _device(p):
        _elementwise("adam")(g, 1.0 - beta1, beta2, 1.0 - beta2, eps, l2, decay, step_size,
                             bias2_sqrt, p, m, v)
