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


def test_add_rows_matches_add_at():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (5, 6))
    rows = rng.standard_normal((5, 6, 3))
    expected = np.zeros((7, 3))
    np.add.at(expected, ids.reshape(-1), rows.reshape(-1, 3))
    np.testing.assert_allclose(backend.add_rows(np.zeros((7, 3)), ids, rows), expected)


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
