"""The backend seam: the only room that knows whether arrays live on a CPU or a GPU.

Everything else asks an array for its module (``xp = get_array_module(a)``) and writes one
code path that runs on NumPy and on CuPy alike (Chainer's ``xp`` pattern). Where a formula
pays for a device-specific kernel (softmax, LayerNorm, GELU, attention, the Adam update,
...), an op asks ``kernels(array)`` for the kernel set of that array's device:
``minigrad.backend_cpu`` or ``minigrad.backend_cuda``, which define the same kernels
(``KERNELS``), and ``minigrad.backend_plain`` holds the plain-array formula of each.

This module owns the device strings, the default dtype, the seeded random generators, the
BLAS thread count and, on request, the host allocator's settings.
"""
import contextlib
import ctypes
import os
import threading

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)
long = int64
double = float64
half = float16

_default_dtype = float32
_seed = 0
_generators = {}

CUDA_INSTALL_HINT = ("install CuPy from the checkout with pip install -e '.[cuda]' (or the wheel "
                     "matching your CUDA driver: cupy-cuda12x or cupy-cuda13x)")


def _cupy():
    """CuPy if it is installed, else None. Imported lazily: minigrad never requires it."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def get_array_module(array):
    """The array module (numpy or cupy) that owns ``array``."""
    if type(array) is np.ndarray or np.isscalar(array):
        return np
    cupy = _cupy()
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return np


def is_floating(dtype):
    return np.dtype(dtype).kind == "f"


def get_default_dtype():
    return _default_dtype


def set_default_dtype(dtype):
    """Set the dtype of new float tensors (float32 unless changed; float64 for gradchecks)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if not is_floating(dtype):
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


# ---------------------------------------------------------------- devices

class Device(str):
    """A device name, 'cpu' or 'cuda:N', that also reads like PyTorch's ``torch.device``:
    ``.type`` ('cpu' or 'cuda') and ``.index`` (N, or None on the CPU). Being a str, it
    compares, hashes and prints as its name."""

    @property
    def type(self):
        return self.split(":")[0]

    @property
    def index(self):
        return int(self.split(":")[1]) if ":" in self else None

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{index})"


CPU = Device("cpu")


def parse_device(device, index=None):
    """Normalise a device spec to a ``Device``: 'cpu', 'cuda' (GPU 0), 'cuda:N', an int N
    (GPU N, as PyTorch reads it), or ('cuda', N)."""
    if device is None:
        return CPU
    if isinstance(device, int) and not isinstance(device, bool):
        device, index = "cuda", device
    device = str(device) if index is None else f"{device}:{index}"
    if device == "cpu":
        return CPU
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        return Device(device if ":" in device else "cuda:0")
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def cuda_device_count():
    cupy = _cupy()
    if cupy is None:
        return 0
    try:
        return cupy.cuda.runtime.getDeviceCount()
    except Exception:  # a CuPy without a driver raises its own error types
        return 0


def cuda_is_available():
    return cuda_device_count() > 0


def require_cuda():
    """CuPy, or a clear error saying whether CuPy or the GPU is what is missing."""
    cupy = _cupy()
    if cupy is None:
        raise RuntimeError(f"device 'cuda' needs CuPy, which is not installed: {CUDA_INSTALL_HINT}")
    if not cuda_is_available():
        raise RuntimeError("device 'cuda' needs an NVIDIA GPU, but CuPy finds none "
                           "(check nvidia-smi and the CUDA driver)")
    return cupy


def xp_for_device(device):
    device = parse_device(device)
    return np if device == "cpu" else require_cuda()


def device_of(array):
    if get_array_module(array) is np:
        return CPU
    return Device(f"cuda:{array.device.id}")


def same_device(a, b):
    """Whether arrays ``a`` and ``b`` live on one device (cheap for two NumPy arrays)."""
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return True
    return device_of(a) == device_of(b)


def to_device(array, device):
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    device = parse_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    cupy = require_cuda()
    with cupy.cuda.Device(int(device.split(":")[1])):
        return cupy.asarray(array)


def synchronize():
    """Wait for queued GPU work to finish (a no-op without CuPy)."""
    cupy = _cupy()
    if cupy is not None and cuda_is_available():
        cupy.cuda.get_current_stream().synchronize()


def empty_cache():
    """Hand the GPU memory CuPy keeps for reuse back to the driver (a no-op without CuPy)."""
    cupy = _cupy()
    if cupy is not None and cuda_is_available():
        cupy.get_default_memory_pool().free_all_blocks()


# ---------------------------------------------------------------- kernels

#: The kernels that ``backend_cpu``, ``backend_cuda`` and ``backend_plain`` all define.
KERNELS = (
    "erf", "gelu_forward", "gelu_backward", "gelu_tanh_forward", "gelu_tanh_backward",
    "softmax", "softmax_backward", "cross_entropy_forward", "cross_entropy_backward",
    "layer_norm_forward", "layer_norm_backward", "attention_forward", "attention_backward",
    "keep_mask", "add_rows", "scatter_add", "adam_update", "autocast_dtype", "matmul_low")


def kernels(array):
    """The kernel set of ``array``'s device: ``backend_cpu`` for a NumPy array,
    ``backend_cuda`` for a CuPy one. Ops and optimizers call this once per use and never
    look at the device themselves."""
    return backend_cpu if get_array_module(array) is np else backend_cuda


def bfloat16_dtype():
    """The bfloat16 dtype where a GPU computes in it (CuPy with ml_dtypes), else None."""
    return backend_cuda.bfloat16()


# ---------------------------------------------------------------- random numbers

def manual_seed(seed):
    """Seed every backend's generator, so runs are reproducible."""
    global _seed
    _seed = int(seed)
    _generators.clear()


class _ThreadGenerators(threading.local):
    by_module = None


_thread_generators = _ThreadGenerators()


def generator(xp=np):
    """The seeded generator of array module ``xp`` (numpy or cupy); inside
    ``thread_generator`` the calling thread's own one."""
    own = _thread_generators.by_module
    if own is not None and xp in own:
        return own[xp]
    if xp not in _generators:
        _generators[xp] = xp.random.default_rng(_seed)
    return _generators[xp]


@contextlib.contextmanager
def thread_generator(seed, xp=np):
    """Give the calling thread its own generator, seeded with ``seed``: threads that draw
    random numbers at once (dropout in a split batch) stay reproducible."""
    previous = _thread_generators.by_module
    _thread_generators.by_module = {xp: xp.random.default_rng(seed)}
    try:
        yield
    finally:
        _thread_generators.by_module = previous


def get_rng_state():
    """The CPU generator's state, as a JSON-friendly dict (for exact resume)."""
    return generator(np).bit_generator.state


def set_rng_state(state):
    generator(np).bit_generator.state = state


# ---------------------------------------------------------------- BLAS threads

def _openblas_thread_functions():
    """(set, get) of the OpenBLAS that NumPy loaded, found by name in the process's shared
    libraries (NumPy's wheels prefix the symbols), or None on other BLAS builds."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        return None
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("", "")):
            setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                return setter, getter
    return None


_blas = None


def _blas_functions():
    global _blas
    if _blas is None:
        _blas = _openblas_thread_functions() or False
    return _blas


def blas_thread_count():
    """How many threads NumPy's BLAS uses, or None where it cannot be asked."""
    return _blas_functions()[1]() if _blas_functions() else None


@contextlib.contextmanager
def blas_threads(n):
    """Run the block with NumPy's BLAS on ``n`` threads (a no-op where the BLAS cannot be
    told, e.g. MKL or Accelerate builds)."""
    if not _blas_functions():
        yield
        return
    setter, getter = _blas
    previous = getter()
    setter(int(n))
    try:
        yield
    finally:
        setter(previous)


# ---------------------------------------------------------------- host memory

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def keep_freed_memory(top_pad=256 << 20, mmap_threshold=32 << 20):
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the
    system, as a caching allocator does. A training step frees and reallocates the same
    multi-megabyte activation and gradient arrays every step; by default malloc serves each
    with fresh pages from ``mmap`` and returns them with ``munmap``, and the page faults of
    touching them again cost up to a third of a small model's step (measured on the tiny
    preset: 150 -> 108 ms per step). Blocks up to ``mmap_threshold`` bytes (32 MiB, glibc's
    largest) then come from the heap, which grows ``top_pad`` bytes at a time and is never
    trimmed.

    This changes the whole process, so ``import minigrad`` never does it: the ``minigrad``
    CLI, the trainer and the benchmarks call it. Returns False without changing anything
    where the C library is not glibc or the environment variable MINIGRAD_SYSTEM_MALLOC is
    set."""
    if os.environ.get("MINIGRAD_SYSTEM_MALLOC"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
    ok &= mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    ok &= mallopt(_M_TOP_PAD, int(top_pad))
    return bool(ok)


# Last: the kernel modules build on this one.
from minigrad import backend_cpu, backend_cuda  # noqa: E402
