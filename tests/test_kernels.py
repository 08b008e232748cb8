"""The CPU kernels against their plain-array formulas (``minigrad.backend_plain``), in
float64 and float32, on sizes that span several of their cache blocks. (The CUDA kernels
are compared with the same formulas in tests/test_cuda.py, on a GPU.)"""
import math

import numpy as np
import pytest

from minigrad import backend_cpu as cpu
from minigrad import backend_plain as plain

RNG = np.random.default_rng(0)
TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def normal(*shape, dtype=np.float64, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def test_erf_float64_is_exact_and_float32_close():
    x = np.linspace(-6, 6, 20001)
    exact = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(cpu.erf(x), exact, rtol=0, atol=1e-15)
    approx = cpu.erf(x.astype(np.float32))
    assert approx.dtype == np.float32
    assert np.abs(approx.astype(np.float64) - exact).max() < 5e-7


@pytest.mark.parametrize("size", [1, 7, (1 << 16) + 3])  # one block, a part, several
def test_gelu_keeps_the_normal_cdf_and_density(size):
    x = np.random.default_rng(0).standard_normal(size) * 3
    x[0] = -9.0
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    for dtype, atol in ((np.float64, 1e-15), (np.float32, 4e-7)):
        y, (c, p) = cpu.gelu_forward(x.astype(dtype))
        assert y.dtype == c.dtype == p.dtype == dtype
        np.testing.assert_allclose(c, cdf, rtol=0, atol=atol)
        np.testing.assert_allclose(p, pdf, rtol=0, atol=atol)
        np.testing.assert_allclose(y, x * cdf, rtol=0, atol=atol * 9)
    # Deep in the left tail Phi is tiny; it must not be lost to cancellation.
    assert 0 < cpu.gelu_forward(np.float32([-9.0]))[1][0][0] < 1e-15


@DTYPES
@pytest.mark.parametrize("kind", ["gelu", "gelu_tanh"])
def test_gelu_kernels_match_the_plain_formulas(dtype, kind):
    """In float32 against the formula in float64: the kernels must not lose digits where
    the plain float32 formula would (1 + tanh u cancels for large negative x)."""
    x, g = normal(3, 70000, dtype=dtype, scale=3), normal(3, 70000, dtype=dtype)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    y, saved = getattr(cpu, f"{kind}_forward")(x)
    y_ref, saved_ref = getattr(plain, f"{kind}_forward")(x64)
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, y_ref, **tol)
    np.testing.assert_allclose(getattr(cpu, f"{kind}_backward")(x, g, saved),
                               getattr(plain, f"{kind}_backward")(x64, g64, saved_ref), **tol)


@DTYPES
@pytest.mark.parametrize("rows, classes", [(5, 3), (700, 1000)])  # one block; several
def test_cross_entropy_kernels_match_the_plain_formulas(dtype, rows, classes):
    x = normal(rows, classes, dtype=dtype, scale=4)
    t = RNG.integers(0, classes, rows)
    scale = normal(rows, dtype=dtype)
    nll, saved = cpu.cross_entropy_forward(x, t)
    nll_ref, saved_ref = plain.cross_entropy_forward(x, t)
    np.testing.assert_allclose(nll, nll_ref, **TOL[dtype])
    expected = plain.cross_entropy_backward(x, saved_ref, t, scale)
    np.testing.assert_allclose(cpu.cross_entropy_backward(x, saved, t, scale), expected, **TOL[dtype])
    # The probabilities were used up; a second backward recomputes them.
    assert saved == []
    np.testing.assert_allclose(cpu.cross_entropy_backward(x, saved, t, scale), expected, **TOL[dtype])


@DTYPES
@pytest.mark.parametrize("rows, width", [(6, 8), (3000, 384)])  # one block; several
def test_layer_norm_kernels_match_the_plain_formulas(dtype, rows, width):
    x, g = normal(rows, width, dtype=dtype, scale=2) + 1, normal(rows, width, dtype=dtype)
    w, b = normal(width, dtype=dtype), normal(width, dtype=dtype)
    y, saved = cpu.layer_norm_forward(x, w, b, 1e-5)
    y_ref, saved_ref = plain.layer_norm_forward(x, w, b, 1e-5)
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-4, atol=2e-4)  # sums of rows
    for a, ref in zip(cpu.layer_norm_backward(x, w, g, saved),
                      plain.layer_norm_backward(x, w, g, saved_ref)):
        np.testing.assert_allclose(a, ref, **tol)


@DTYPES
@pytest.mark.parametrize("causal, p", [(False, 0.0), (True, 0.0), (True, 0.3)])
@pytest.mark.parametrize("shapes", [((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 6)),
                                    ((2, 1, 3, 4), (1, 2, 7, 4), (2, 2, 7, 6)),  # broadcast
                                    ((2, 2, 300, 8),) * 3])  # one batch entry at a time
def test_attention_kernels_match_the_plain_formulas(dtype, causal, p, shapes):
    q, k, v = (normal(*s, dtype=dtype) for s in shapes)
    out, pt, keep = cpu.attention_forward(q, k, v, 0.5, causal, p)
    probs = plain.softmax(0.5 * q @ np.swapaxes(k, -1, -2)
                          + (plain.future_bias(np, q.shape[-2], k.shape[-2], dtype) if causal
                             else 0), (3,)).astype(dtype)
    np.testing.assert_allclose(np.swapaxes(pt, -1, -2), probs, **TOL[dtype])
    assert (keep is None) == (p == 0)
    mask = 1.0 if keep is None else keep / (1 - p)
    np.testing.assert_allclose(out, (probs * mask) @ v, **TOL[dtype])
    g = normal(*out.shape, dtype=dtype)
    tol = TOL[dtype] if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    for a, ref in zip(cpu.attention_backward(g, out, pt, keep, p, q, k, v, 0.5),
                      plain.attention_backward(g, out, probs, keep, p, q, k, v, 0.5)):
        np.testing.assert_allclose(a, ref, **tol)


@pytest.mark.parametrize("decoupled, weight_decay", [(False, 0.0), (False, 0.1), (True, 0.1)])
@pytest.mark.parametrize("size", [10, 100_003])  # one block; several
def test_adam_kernel_matches_the_plain_update(decoupled, weight_decay, size):
    p, g = normal(size), normal(size)
    m, v = normal(size) * 0.1, np.abs(normal(size))
    mine, ref = [a.copy() for a in (p, m, v)], [a.copy() for a in (p, m, v)]
    for step in (1, 2, 3):
        cpu.adam_update(mine[0], g, mine[1], mine[2], 1e-2, 0.9, 0.99, 1e-8, weight_decay,
                        decoupled, step)
        plain.adam_update(ref[0], g, ref[1], ref[2], 1e-2, 0.9, 0.99, 1e-8, weight_decay,
                          decoupled, step)
    for a, b in zip(mine, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_keep_mask_keeps_about_one_minus_p():
    keep = cpu.keep_mask(np.zeros(1), (400, 500), 0.2)
    assert keep.dtype == bool and keep.shape == (400, 500) and abs(keep.mean() - 0.8) < 0.005
    assert cpu.keep_mask(np.zeros(1), (10,), 0.0).all()


@pytest.mark.parametrize("vocab", [7, 300])  # the one-hot product, and sorted runs
def test_add_rows_matches_add_at(vocab):
    ids = RNG.integers(0, vocab, (50, 6))
    rows = normal(50, 6, 3)
    expected = np.ones((vocab, 3))
    np.add.at(expected, ids.reshape(-1), rows.reshape(-1, 3))
    np.testing.assert_allclose(cpu.add_rows(np.ones((vocab, 3)), ids, rows), expected)
    np.testing.assert_allclose(plain.add_rows(np.ones((vocab, 3)), ids, rows), expected)


def test_float16_matmul_rounds_like_float16_hardware():
    a, b = normal(8, 300, dtype=np.float32), normal(300, 5, dtype=np.float32)
    assert cpu.autocast_dtype("float16") == np.float16
    with pytest.raises(TypeError, match="bfloat16"):
        cpu.autocast_dtype("bfloat16")
    out = cpu.matmul_low(a, b, np.float16)
    exact = a.astype(np.float16).astype(np.float64) @ b.astype(np.float16).astype(np.float64)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, exact.astype(np.float16).astype(np.float32), rtol=2e-3)
