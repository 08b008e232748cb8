"""The backend seam: dtypes, devices, RNG and the array functions it provides."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend


def test_erf_float64_is_exact_and_float32_close():
    x = np.linspace(-6, 6, 20001)
    exact = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(backend.erf(x), exact, rtol=0, atol=1e-15)
    approx = backend.erf(x.astype(np.float32))
    assert approx.dtype == np.float32
    assert np.abs(approx.astype(np.float64) - exact).max() < 5e-7


@pytest.mark.parametrize("size", [1, 7, (1 << 16) + 3])  # one block, a part, several
def test_gelu_parts_match_the_normal_cdf(size):
    x = np.random.default_rng(0).standard_normal(size) * 3
    x[0] = -9.0
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    for dtype, atol in ((np.float64, 1e-15), (np.float32, 4e-7)):
        y, c, p = backend.gelu_parts(x.astype(dtype))
        assert y.dtype == c.dtype == p.dtype == dtype
        np.testing.assert_allclose(c, cdf, rtol=0, atol=atol)
        np.testing.assert_allclose(p, pdf, rtol=0, atol=atol)
        np.testing.assert_allclose(y, x * cdf, rtol=0, atol=atol * 9)
    # Deep in the left tail Phi is tiny; it must not be lost to cancellation.
    assert 0 < backend.gelu_parts(np.float32([-9.0]))[1][0] < 1e-15


def test_keep_freed_memory_is_safe_to_call():
    assert backend.keep_freed_memory() in (True, False)


@pytest.mark.parametrize("vocab", [7, 300])  # the one-hot product, and sorted runs
def test_add_rows_matches_add_at(vocab):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab, (50, 6))
    rows = rng.standard_normal((50, 6, 3))
    expected = np.ones((vocab, 3))
    np.add.at(expected, ids.reshape(-1), rows.reshape(-1, 3))
    np.testing.assert_allclose(backend.add_rows(np.ones((vocab, 3)), ids, rows), expected)


def test_devices_and_clear_cuda_errors():
    assert backend.parse_device(None) == "cpu"
    assert backend.parse_device("cuda") == "cuda:0"
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        backend.parse_device("gpu")
    if not mg.cuda.is_available():
        with pytest.raises(RuntimeError, match="CuPy|GPU"):
            mg.zeros(2, device="cuda")


def test_rng_state_round_trip():
    mg.manual_seed(5)
    state = mg.get_rng_state()
    a = mg.randn(3).tolist()
    mg.set_rng_state(state)
    assert mg.randn(3).tolist() == a


def test_default_dtype_must_be_float():
    with pytest.raises(TypeError, match="floating"):
        mg.set_default_dtype(mg.int64)
