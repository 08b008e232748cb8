"""The backend seam: the only module that knows whether arrays live on a CPU or a GPU.

Everything else asks an array for its module (``xp = get_array_module(a)``) and writes one
code path that runs on NumPy and on CuPy alike (Chainer's ``xp`` pattern). This module owns
the device strings, the default dtype, the seeded random generators and the few array
functions NumPy lacks (``erf``).
"""
import contextlib
import ctypes
import math
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
    if isinstance(array, np.ndarray) or np.isscalar(array):
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

def parse_device(device):
    """Normalise a device string: 'cpu', 'cuda' (current GPU) or 'cuda:N'."""
    if device is None:
        return "cpu"
    device = str(device)
    if device == "cpu":
        return device
    if device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit()):
        return device if ":" in device else "cuda:0"
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def cuda_is_available():
    cupy = _cupy()
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # a CuPy without a driver raises its own error types
        return False


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
        return "cpu"
    return f"cuda:{array.device.id}"


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


def keep_mask(xp, shape, p):
    """Dropout's mask: a boolean array of ``shape``, each entry True with probability
    1 - p, from the seeded generator. On the CPU each 64-bit word of the generator's raw
    output gives two 32-bit draws, compared with p * 2^32: 2.6 times as fast as drawing
    floats, and dropout masks are the largest random draws of a training step."""
    if xp is np:
        n = math.prod(shape)
        draws = generator(np).bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
        return (draws >= min(round(p * (1 << 32)), (1 << 32) - 1)).reshape(shape)
    return generator(xp).random(shape, dtype=xp.float32) >= p


def get_rng_state():
    """The CPU generator's state, as a JSON-friendly dict (for exact resume)."""
    return generator(np).bit_generator.state


def set_rng_state(state):
    generator(np).bit_generator.state = state


# ---------------------------------------------------------------- functions NumPy lacks

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


def _erf_float32(x):
    x = np.clip(x, -4.0, 4.0)
    x2 = x * x
    p = _horner(_ERF_P, x2)
    p *= x
    p /= _horner(_ERF_Q, x2)
    return p


def erf(x):
    """The error function, elementwise, on either backend: exact (to float64 rounding) for
    float64, the fast rational approximation above for float32 and float16 on the CPU."""
    xp = get_array_module(x)
    if xp is not np:
        from cupyx.scipy.special import erf as cupy_erf
        return cupy_erf(x)
    if x.dtype.itemsize <= 4:
        return _erf_float32(x.astype(np.float32, copy=False)).astype(x.dtype, copy=False)
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        return np.vectorize(math.erf, otypes=[x.dtype])(x)
    return scipy_erf(x)


# Abramowitz and Stegun 7.1.26: Phi(-|x|) = 0.5 erfc(|x|/sqrt 2) = P(t) exp(-x^2/2), with
# t = 1/(1 + c |x|) and P of degree 5 (here with A&S's coefficients halved); absolute error
# below 1e-7, float32's rounding. Fewer passes over memory than the rational erf above, and
# exp(-x^2/2) is the normal density GELU's backward needs anyway.
_CDF_C = 0.3275911 / math.sqrt(2.0)
_CDF_P = (0.5 * 1.061405429, 0.5 * -1.453152027, 0.5 * 1.421413741, 0.5 * -0.284496736,
          0.5 * 0.254829592)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_BLOCK = 1 << 16  # elements per block: the few temporaries of a block stay in L2 cache


def gelu_parts(x):
    """(x Phi(x), Phi(x), phi(x)) for GELU's forward and backward, with Phi the standard
    normal CDF and phi its density. Exact (to float64 rounding) for float64; for float32 on
    the CPU the approximation above, computed block by block so that its dozen passes over
    the data run in cache instead of main memory."""
    xp = get_array_module(x)
    if xp is not np or x.dtype.itemsize > 4:
        cdf = 0.5 * (1.0 + erf(x * (1.0 / math.sqrt(2.0))))
        return x * cdf, cdf, xp.exp(-0.5 * x * x) * _INV_SQRT_2PI
    x = np.ascontiguousarray(x)
    y, cdf, pdf = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    flat = [a.reshape(-1) for a in (x, y, cdf, pdf)]
    scratch = np.empty(min(_BLOCK, x.size), x.dtype)
    positive = np.empty(scratch.shape, bool)
    for start in range(0, x.size, _BLOCK):
        blocks = [a[start:start + _BLOCK] for a in flat]
        n = blocks[0].size
        _gelu_block(*blocks, scratch[:n], positive[:n])
    return y, cdf, pdf


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


def scatter_add(target, index, values):
    """target[index] += values, adding repeated indices once each (np.add.at semantics)."""
    xp = get_array_module(target)
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)
    return target


_ONE_HOT_ROWS = 256  # measured: the product wins up to a few hundred rows, sorting beyond


def add_rows(table, ids, rows):
    """table[ids] += rows for a 2-D table and integer ids of any shape (the embedding
    gradient). On NumPy, for a small table (a character vocabulary) as one matrix product
    with the one-hot matrix of the ids, else by sorting the ids and summing each run with
    ``reduceat``; both are much faster than ``add.at``. CuPy's ``scatter_add`` is already a
    fast atomic kernel."""
    xp = get_array_module(table)
    flat = ids.reshape(-1)
    rows = rows.reshape(flat.size, table.shape[1])
    if xp is not np:
        return scatter_add(table, flat, rows)
    if flat.size == 0:
        return table
    if table.shape[0] <= _ONE_HOT_ROWS:
        one_hot = np.zeros((table.shape[0], flat.size), dtype=rows.dtype)
        one_hot[flat, np.arange(flat.size)] = 1
        table += one_hot @ rows
        return table
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_ids[1:] != sorted_ids[:-1]]))
    table[sorted_ids[starts]] += np.add.reduceat(rows[order], starts, axis=0)
    return table


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
    touching them again cost up to a third of a small model's step. Blocks up to
    ``mmap_threshold`` bytes (32 MiB, glibc's largest) then come from the heap, which grows
    ``top_pad`` bytes at a time and is never trimmed. Returns False where the C library is
    not glibc (nothing is changed there). Called on import unless the environment variable
    MINIGRAD_SYSTEM_MALLOC is set."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
    ok &= mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    ok &= mallopt(_M_TOP_PAD, int(top_pad))
    return bool(ok)


if not os.environ.get("MINIGRAD_SYSTEM_MALLOC"):
    keep_freed_memory()
