"""Elementwise kernels on the CPU: erf and GELU, computed in cache-sized blocks.

A NumPy expression makes one pass over memory per operator. GELU's erf is a dozen
operators, so on a large activation the plain formula is bound by main memory; here each
block of 64K elements goes through all of them while it sits in L2 cache."""
import math

import numpy as np

from minigrad import backend_plain

# Rational approximation of erf for float32 (Eigen's generic_fast_erf_float): x P(x^2) / Q(x^2)
# on [-4, 4], where erf is 1 to float32 precision beyond. Absolute error < 5e-7, a few
# float32 ulps, and 2-3x faster than SciPy's float32 erf.
_ERF_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
          -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
          -1.60960333262415e-02)
_ERF_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
          -7.37332916720468e-03, -1.42647390514189e-02)


def _horner(coefficients, x2):
    acc = np.full_like(x2, coefficients[0])
    for c in coefficients[1:]:
        acc *= x2
        acc += c
    return acc


def erf(x):
    """The error function: exact (to float64 rounding) for float64, the rational
    approximation above for float32 and float16."""
    if x.dtype.itemsize > 4:
        return backend_plain.erf(x)
    x32 = np.clip(x.astype(np.float32, copy=False), -4.0, 4.0)
    x2 = x32 * x32
    p = _horner(_ERF_P, x2)
    p *= x32
    p /= _horner(_ERF_Q, x2)
    return p.astype(x.dtype, copy=False)


# Abramowitz and Stegun 7.1.26: Phi(-|x|) = 0.5 erfc(|x|/sqrt 2) = P(t) exp(-x^2/2), with
# t = 1/(1 + c |x|) and P of degree 5 (here with A&S's coefficients halved); absolute error
# below 1e-7, float32's rounding. Fewer passes over memory than the rational erf above, and
# exp(-x^2/2) is the normal density GELU's backward needs anyway.
_CDF_C = 0.3275911 / math.sqrt(2.0)
_CDF_P = (0.5 * 1.061405429, 0.5 * -1.453152027, 0.5 * 1.421413741, 0.5 * -0.284496736,
          0.5 * 0.254829592)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_BLOCK = 1 << 16  # elements per block: the few temporaries of a block stay in L2 cache


def gelu_forward(x):
    """(x Phi(x), (Phi(x), phi(x))): exact GELU, keeping the normal CDF and density for
    backward. Exact (to float64 rounding) for float64; for float32 the approximation
    above, block by block."""
    if x.dtype.itemsize > 4:
        cdf = 0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
        return x * cdf, (cdf, np.exp(-0.5 * x * x) * _INV_SQRT_2PI)
    x = np.ascontiguousarray(x)
    y, cdf, pdf = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    flat = [a.reshape(-1) for a in (x, y, cdf, pdf)]
    scratch = np.empty(min(_BLOCK, x.size), x.dtype)
    positive = np.empty(scratch.shape, bool)
    for start in range(0, x.size, _BLOCK):
        blocks = [a[start:start + _BLOCK] for a in flat]
        n = blocks[0].size
        _gelu_block(*blocks, scratch[:n], positive[:n])
    return y, (cdf, pdf)


def _gelu_block(x, y, cdf, pdf, t, positive):
    np.abs(x, out=t)
    t *= _CDF_C
    t += 1.0
    np.reciprocal(t, out=t)
    np.multiply(t, _CDF_P[0], out=cdf)
    for c in _CDF_P[1:]:
        cdf += c
        cdf *= t
    np.multiply(x, x, out=pdf)
    pdf *= -0.5
    np.exp(pdf, out=pdf)
    cdf *= pdf  # Phi(-|x|)
    np.greater(x, 0.0, out=positive)
    np.subtract(positive, cdf, out=cdf)  # 1 - Phi(-x) for x > 0; -Phi(x) else
    np.abs(cdf, out=cdf)
    pdf *= _INV_SQRT_2PI
    np.multiply(x, cdf, out=y)


def gelu_backward(x, g, saved):
    """g (Phi(x) + x phi(x)) from the saved CDF and density."""
    cdf, pdf = saved
    d = x * pdf
    d += cdf
    d *= g
    return d


_C = math.sqrt(2.0 / math.pi)


def gelu_tanh_forward(x):
    """(x/2 (1 + tanh u), s) with u = c (x + 0.044715 x^3) and s = sigmoid(2u) =
    (1 + tanh u)/2 kept for backward: one exp instead of a tanh, which costs 2-3x more."""
    s = x * x
    s *= -2 * _C * 0.044715
    s -= 2 * _C
    s *= x
    np.minimum(s, 80.0, out=s)  # exp(-2u) would overflow float32 for x below about -6
    np.exp(s, out=s)
    s += 1.0
    np.reciprocal(s, out=s)
    return x * s, s


def gelu_tanh_backward(x, g, saved):
    """g (s + 2 x s (1 - s) u'), s = sigmoid(2u), u' = c (1 + 3 * 0.044715 x^2)."""
    s = saved
    d = x * x
    d *= 3 * 0.044715 * 2 * _C
    d += 2 * _C
    d *= x
    d *= s
    d *= 1.0 - s
    d += s
    d *= g
    return d
