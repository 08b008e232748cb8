"""The backend seam: dtypes, devices, RNG, the kernel sets and the host allocator."""
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, backend_cpu, backend_cuda, backend_plain


def test_every_kernel_set_defines_every_kernel():
    for module in (backend_cpu, backend_cuda, backend_plain):
        missing = [name for name in backend.KERNELS if not callable(getattr(module, name, None))]
        assert not missing, f"{module.__name__} lacks {missing}"


def test_numpy_arrays_get_the_cpu_kernels():
    assert backend.kernels(np.zeros(3)) is backend_cpu
    assert backend.kernels(np.zeros(3, np.float16)[::2]) is backend_cpu


def test_importing_minigrad_changes_no_process_settings():
    """The allocator tuning is an explicit call (the CLI, trainer and benchmarks make it):
    importing the library must not reach for the C library at all."""
    code = """if True:
        import ctypes
        opened = []
        real = ctypes.CDLL
        ctypes.CDLL = lambda name, *a, **k: opened.append(name) or real(name, *a, **k)
        import minigrad, minigrad.nn, minigrad.optim
        assert not [n for n in opened if n and "libc" in str(n)], opened
    """
    subprocess.run([sys.executable, "-c", code], check=True)


def test_keep_freed_memory_is_an_explicit_opt_in(monkeypatch):
    assert backend.keep_freed_memory() in (True, False)
    monkeypatch.setenv("MINIGRAD_SYSTEM_MALLOC", "1")
    assert backend.keep_freed_memory() is False


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
