"""The element-wise kernels of the CUDA backend (CuPy ElementwiseKernel and ReductionKernel):
exact and tanh GELU with their backward, the Adam(W) update, and the LayerNorm weight
gradient. One launch each instead of one per NumPy-style operator. Compiled on first use:
importing this module never needs CuPy.
"""
import functools


def _cupy():
    import cupy  # CuPy is optional: imported on first use of a kernel
    return cupy


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
    # One Adam(W) step for one parameter, in place (see backend_plain.adam_update).
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
def elementwise_kernel(name):
    cupy = _cupy()
    if name in _REDUCTIONS:
        return cupy.ReductionKernel(*_REDUCTIONS[name], name="minigrad_" + name)
    return cupy.ElementwiseKernel(*_ELEMENTWISE[name], name="minigrad_" + name)


def _apply(name, *args):
    with args[0].device:
        return elementwise_kernel(name)(*args)


def gelu(x):
    """Exact GELU, x Phi(x). Replaces (backend_plain.gelu_forward):
    x * 0.5 * (1 + erf(x / sqrt 2))."""
    return _apply("gelu", x)


def gelu_backward(x, g):
    """Gradient of exact GELU, recomputed from x (nothing saved).
    Replaces (backend_plain.gelu_backward): g * (cdf + x * exp(-x^2/2) / sqrt(2 pi))."""
    return _apply("gelu_backward", x, g)


def gelu_tanh(x):
    """Tanh-approximate GELU. Replaces (backend_plain.gelu_tanh_forward):
    x * sigmoid(2u) = x/2 (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    return _apply("gelu_tanh", x)


def gelu_tanh_backward(x, g):
    """Gradient of tanh-approximate GELU, recomputed from x. Replaces
    (backend_plain.gelu_tanh_backward): g * (s + 2 x s (1 - s) u'), s = sigmoid(2u)."""
    return _apply("gelu_tanh_backward", x, g)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step):
    """One Adam (or AdamW, ``decoupled``) step for one parameter: p, m and v change in
    place in a single launch.

    Replaces (backend_plain.adam_update), for step t:
        p *= 1 - lr * wd (AdamW)  or  g = g + wd * p (Adam)
        m += (1 - beta1) (g - m);  v = beta2 v + (1 - beta2) g^2
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)"""
    l2 = 0.0 if decoupled else weight_decay
    decay = 1.0 - lr * weight_decay if decoupled else 1.0
    step_size = lr / (1.0 - beta1 ** step)
    bias2_sqrt = (1.0 - beta2 ** step) ** 0.5
    with p.device:
        elementwise_kernel("adam")(g, 1.0 - beta1, beta2, 1.0 - beta2, eps, l2, decay, step_size,
                             bias2_sqrt, p, m, v)
