"""A CuPy stand-in on NumPy: rehearse the GPU code paths on a machine without a GPU.

Only for rehearsals (``MINIGRAD_CUPY_STANDIN=1 python -m pytest -m cuda``, ``make gpu-check
ARGS=--standin``): it runs minigrad's CuPy branch, its kernel launches and its device moves
on the CPU, so that a wrong call shows up before a GPU is lent. It proves nothing about
speed, about NVRTC accepting the CUDA source, or about GPU arithmetic.

What it provides, the subset of CuPy that minigrad, its tests and its benchmarks use:

- ``ndarray``, a subclass of ``numpy.ndarray`` that NumPy code cannot mistake for its own
  where CuPy would refuse: a ufunc or array function mixing it with a plain NumPy array, a
  list as a ufunc operand, raises ``TypeError`` as CuPy does; ``.get()`` copies to a plain
  NumPy array, ``.device`` is ``cuda.Device(0)``; reductions and scalar indexing return
  0-d arrays, never NumPy scalars; ``empty`` fills floats with NaN (a GPU's fresh memory is
  garbage, so a kernel that leaves an element unwritten shows); no warnings (a GPU has
  none); float16 matmul rounds its float32 product as tensor cores do (NumPy's own float16
  matmul is tens of times slower).
- module functions: every NumPy function by name, converting results (``asarray`` and
  ``array`` copy host data, as a transfer does), ``asnumpy``, ``get_array_module``,
  ``random.default_rng`` (NumPy's generator, so not CuPy's numbers), ``linalg``,
  ``get_default_memory_pool`` (reports 0 bytes), ``cuda.runtime`` (``getDeviceCount``,
  ``getDeviceProperties``, ``driverGetVersion``, ``runtimeGetVersion``), ``cuda.Device``,
  streams and events, ``cupyx.scatter_add``, ``cupyx.scipy.special.erf`` / ``erfc``.
- kernels: ``RawModule(code=...).get_function(name)`` parses the kernel's signature from the
  CUDA source and checks every launch against it (argument count, pointer dtypes and
  C-contiguity, the exact NumPy scalar type of each scalar: a Python int goes to the GPU as
  ``long long``, a float as ``double``), then runs an emulation of the kernel written from
  its CUDA text (softmax_rows, softmax_backward_rows, cross_entropy_forward,
  cross_entropy_backward, layer_norm_forward, layer_norm_backward), rows given by the grid
  as on the GPU. ``ElementwiseKernel`` and ``ReductionKernel`` interpret their own
  operation text (a small C subset: typed locals, casts, arithmetic, the math functions),
  with CuPy's rules for type placeholders, broadcasting and in-place outputs.
- compilation: where ``g++`` is installed, each kernel's CUDA text (the RawModule source;
  an element-wise operation as CuPy wraps it, for the types of the call) is compiled once
  on the host with shims for the CUDA built-ins (``cxx_check``): syntax and type errors show
  as ``CompileException`` at the first launch, as NVRTC would show them on a GPU. It is not
  NVRTC: what only the device compiler refuses still passes (``MINIGRAD_STANDIN_CXX=0``
  turns the check off).

``MINIGRAD_STANDIN_GPUS=0`` makes ``getDeviceCount`` fail as CuPy does on a machine without
a GPU. ``install()`` puts the stand-in in ``sys.modules`` as ``cupy`` (and ``cupyx``,
``cupyx.scipy``, ``cupyx.scipy.special``); ``tests/cupy_standin_path`` holds ``cupy`` and
``cupyx`` packages that do that on import, for subprocesses (put it on PYTHONPATH).
"""
import ast
import contextlib
import functools
import math
import os
import re
import sys
import time
import types

import numpy as np

VERSION = "0.0.0+numpy-standin"
DEVICE_NAME = "CuPy stand-in (NumPy on the CPU)"
_SUPPORTED_KINDS = "biufc"  # CuPy's dtypes: bool, integers, floats, complex

#: set by install() when minigrad's backend.get_array_module had to be patched
PATCHED = []


# ---------------------------------------------------------------- conversions

def _plain(obj):
    """Stand-in arrays as plain NumPy views (inside lists, tuples and dicts too)."""
    if isinstance(obj, ndarray):
        return obj.view(np.ndarray)
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _wrap(obj):
    """NumPy results as stand-in arrays: arrays viewed, NumPy scalars as 0-d arrays (CuPy
    returns arrays, never scalars); tuples and lists of them too."""
    if isinstance(obj, ndarray):
        return obj
    if isinstance(obj, np.ndarray):
        _check_dtype(obj.dtype)
        return obj.view(ndarray)
    if isinstance(obj, np.generic):
        _check_dtype(obj.dtype)
        return np.asarray(obj).view(ndarray)
    if isinstance(obj, tuple):
        return tuple(_wrap(x) for x in obj)
    if isinstance(obj, list):
        return [_wrap(x) for x in obj]
    return obj


def _check_dtype(dtype):
    if dtype.kind not in _SUPPORTED_KINDS:
        raise TypeError(f"cupy (stand-in): dtype {dtype} is not supported (CuPy holds bool, "
                        f"integer, float and complex arrays only)")


def _host_arrays(obj):
    """The plain NumPy arrays in ``obj`` (nested in lists, tuples, dict values)."""
    if type(obj) is np.ndarray:
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [a for x in obj for a in _host_arrays(x)]
    if isinstance(obj, dict):
        return [a for x in obj.values() for a in _host_arrays(x)]
    return []


def _refuse_host(what, *objs):
    """CuPy's refusal of a NumPy array where it computes: TypeError."""
    for obj in objs:
        if _host_arrays(obj):
            raise TypeError(f"Unsupported type <class 'numpy.ndarray'>: {what} got a NumPy "
                            f"(host) array next to CuPy arrays; move it with cupy.asarray "
                            f"(cupy stand-in)")


# ---------------------------------------------------------------- the array type

def _matmul16(ufunc, inputs, kwargs):
    """float16 @ float16 as a GPU does it: float32 products and sums, rounded once."""
    a, b = inputs
    out = kwargs.pop("out", None)
    result = np.matmul(a.astype(np.float32), b.astype(np.float32), **kwargs).astype(np.float16)
    if out is not None:
        out[0][...] = result
        return out[0]
    return result


def _apply_ufunc(ufunc, method, inputs, kwargs):
    name = f"cupy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    _refuse_host(name, inputs, kwargs.get("out", ()))
    for x in inputs:
        if isinstance(x, (list, tuple)):
            raise TypeError(f"Unsupported type {type(x)}: {name} takes arrays and scalars "
                            f"(cupy stand-in)")
    out = kwargs.get("out")
    args = _plain(inputs)
    kwargs = _plain(kwargs)
    with np.errstate(all="ignore"):
        if (ufunc is np.matmul and method == "__call__" and len(args) == 2
                and all(getattr(a, "dtype", None) == np.float16 for a in args)):
            result = _matmul16(ufunc, args, kwargs)
        else:
            result = getattr(ufunc, method)(*args, **kwargs)
    if out is not None:
        return out[0] if len(out) == 1 else out
    return _wrap(result)


_SCALAR_METHODS = ("sum", "prod", "max", "min", "mean", "var", "std", "argmax", "argmin",
                   "all", "any", "dot", "trace", "nonzero", "cumsum", "cumprod",
                   "round", "clip", "take", "repeat", "searchsorted", "diagonal")


class ndarray(np.ndarray):
    """A CuPy array, held in host memory."""

    __module__ = "cupy"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        # CuPy dispatches numpy.f(cupy arrays) to cupy.f, which refuses host arrays.
        if np.ndarray in types:
            _refuse_host(f"numpy.{func.__name__}", args, kwargs)
        with np.errstate(all="ignore"):
            return _wrap(func(*_plain(args), **_plain(kwargs)))

    def __getitem__(self, key):
        return _wrap(np.ndarray.__getitem__(self.view(np.ndarray), _plain(key)))

    def __setitem__(self, key, value):
        # CuPy copies a host value over (a transfer); a stand-in value is viewed.
        np.ndarray.__setitem__(self.view(np.ndarray), _plain(key), _plain(value))

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for i in range(len(self)):
            yield self[i]

    def astype(self, dtype, *args, **kwargs):
        _check_dtype(np.dtype(dtype))
        return np.ndarray.astype(self, dtype, *args, **kwargs)

    @property
    def device(self):
        return cuda.Device(0)

    def get(self, stream=None, order="C", out=None, blocking=True):
        """A copy in host memory (a plain NumPy array)."""
        host = np.array(self.view(np.ndarray), order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def set(self, arr, stream=None):
        """Copy host array ``arr`` in."""
        self.view(np.ndarray)[...] = arr

    def toDlpack(self):  # noqa: N802 (CuPy's name)
        raise NotImplementedError("cupy stand-in: no DLPack")


def _scalar_method(name):
    base = getattr(np.ndarray, name)

    def method(self, *args, **kwargs):
        _refuse_host(f"cupy.ndarray.{name}", args, kwargs)
        out = kwargs.get("out")
        with np.errstate(all="ignore"):
            result = base(self.view(np.ndarray), *_plain(args), **_plain(kwargs))
        return out if out is not None else _wrap(result)

    method.__name__ = name
    return method


for _name in _SCALAR_METHODS:
    setattr(ndarray, _name, _scalar_method(_name))


# ---------------------------------------------------------------- module functions

def _fill_garbage(a):
    """Fresh GPU memory holds garbage: NaN for floats, a large odd value for integers."""
    if a.dtype.kind in "fc":
        a.fill(np.nan)
    elif a.dtype.kind in "iu":
        a.fill(np.iinfo(a.dtype).max // 3)
    elif a.dtype.kind == "b":
        a.fill(True)
    return a


def asarray(a, dtype=None, order=None, *, blocking=False):
    if isinstance(a, ndarray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a if order in (None, "K", "A") or a.flags[f"{order}_CONTIGUOUS"] \
                else _wrap(np.array(a.view(np.ndarray), order=order))
        return a.astype(dtype)
    # a host object: always copied, as a transfer to the GPU is
    return _wrap(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray) and not copy:
        return asarray(obj, dtype)
    return _wrap(np.array(_plain(obj), dtype=dtype, order=order, copy=True, ndmin=ndmin))


asanyarray = asarray


def empty(shape, dtype=float, order="C"):
    return _wrap(_fill_garbage(np.empty(shape, dtype=dtype, order=order)))


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    if not isinstance(prototype, ndarray):
        raise TypeError(f"cupy.empty_like: expected a cupy.ndarray, got {type(prototype)} "
                        f"(cupy stand-in)")
    return _wrap(_fill_garbage(np.empty_like(prototype.view(np.ndarray), dtype=dtype,
                                             order=order, shape=shape)))


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    return cupy if any(isinstance(a, ndarray) for a in args) else np


def is_available():
    return cuda.is_available()


def _function(name, func):
    def wrapper(*args, **kwargs):
        _refuse_host(f"cupy.{name}", args, kwargs)
        out = kwargs.get("out")
        with np.errstate(all="ignore"):
            result = func(*_plain(args), **_plain(kwargs))
        return out if out is not None else _wrap(result)

    wrapper.__name__ = name
    wrapper.__doc__ = f"numpy.{name} on stand-in arrays"
    return wrapper


class _Ufunc:
    """A CuPy ufunc: NumPy's, refusing host arrays and lists, returning stand-in arrays."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout, self.nargs = ufunc.nin, ufunc.nout, ufunc.nargs

    def __call__(self, *inputs, **kwargs):
        return _apply_ufunc(self._ufunc, "__call__", inputs, kwargs)

    def __getattr__(self, method):
        if method not in ("reduce", "accumulate", "reduceat", "outer", "at"):
            raise AttributeError(method)
        return lambda *inputs, **kwargs: _apply_ufunc(self._ufunc, method, inputs, kwargs)

    def __repr__(self):
        return f"<ufunc 'cupy.{self.__name__}' (stand-in)>"


def _namespace_getattr(module, source, prefix):
    """A module __getattr__ that serves ``source``'s functions wrapped, its types and
    constants as they are, and caches what it made."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            attr = getattr(source, name)
        except AttributeError:
            raise AttributeError(f"module '{prefix}' (stand-in) has no attribute {name!r}") \
                from None
        if isinstance(attr, np.ufunc):
            attr = _Ufunc(attr)
        elif isinstance(attr, types.ModuleType):
            raise AttributeError(f"the cupy stand-in does not emulate {prefix}.{name}")
        elif callable(attr) and not isinstance(attr, type):
            attr = _function(name, attr)
        setattr(module, name, attr)
        return attr

    return __getattr__


# ---------------------------------------------------------------- random numbers

class Generator:
    """cupy.random.Generator: NumPy's generator (other numbers than CuPy's), stand-in
    arrays out."""

    def __init__(self, seed=None):
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name):
        method = getattr(self._rng, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            _refuse_host(f"cupy.random.Generator.{name}", args, kwargs)
            return _wrap(method(*_plain(args), **_plain(kwargs)))

        return call


def default_rng(seed=None):
    return Generator(seed)


# ---------------------------------------------------------------- the device

class CUDARuntimeError(RuntimeError):
    pass


def _device_count():
    count = int(os.environ.get("MINIGRAD_STANDIN_GPUS", "1"))
    if count < 1:
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected "
                               "(cupy stand-in, MINIGRAD_STANDIN_GPUS=0)")
    return count


_TOTAL_MEMORY = 16 << 30


def _device_properties(device):
    _check_device(device)
    return {"name": DEVICE_NAME.encode(), "totalGlobalMem": _TOTAL_MEMORY, "major": 0,
            "minor": 0, "multiProcessorCount": os.cpu_count() or 1, "warpSize": 32,
            "maxThreadsPerBlock": 1024, "sharedMemPerBlock": 48 << 10}


def _check_device(device):
    if not 0 <= int(device) < _device_count():
        raise CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {device} "
                               f"(cupy stand-in)")


_current = [0]


class Device:
    def __init__(self, device=None):
        self.id = _current[-1] if device is None else int(device)
        _check_device(self.id)

    def __enter__(self):
        _current.append(self.id)
        return self

    def __exit__(self, *exc):
        _current.pop()

    def use(self):
        _current[-1] = self.id

    def synchronize(self):
        pass

    @property
    def compute_capability(self):
        return "00"

    @property
    def mem_info(self):
        return _TOTAL_MEMORY, _TOTAL_MEMORY

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("cuda", self.id))

    def __int__(self):
        return self.id

    def __repr__(self):
        return f"<CUDA Device {self.id} (stand-in)>"


class Stream:
    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        pass

    def synchronize(self):
        pass

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


Stream.null = Stream(null=True)


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = time.perf_counter()

    def synchronize(self):
        pass

    @property
    def done(self):
        return True


def _elapsed_ms(start, end):
    return (end.time - start.time) * 1e3


class MemoryPool:
    """CuPy's pool API; the stand-in does not count its memory (every figure is 0)."""

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_bytes(self):
        return 0

    def n_free_blocks(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return 0


_POOL, _PINNED_POOL = MemoryPool(), MemoryPool()


# ---------------------------------------------------------------- compiling the CUDA text

class CompileException(Exception):
    """cupy.cuda.compiler.CompileException: the kernel source does not compile."""


# Host C++ stand-ins for the CUDA built-ins the kernels use: enough for g++ to check the
# syntax and the types of a kernel's source (not what NVRTC alone would refuse).
_CXX_SHIM = r"""
#include <cmath>
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
struct _standin_dim3 { unsigned int x, y, z; };
extern _standin_dim3 threadIdx, blockIdx, blockDim, gridDim;
inline void __syncthreads() {}
template <typename V> V __shfl_xor_sync(unsigned int, V v, int, int = 32) { return v; }
inline float rsqrtf(float v) { return 1.0f / std::sqrt(v); }
inline double rsqrt(double v) { return 1.0 / std::sqrt(v); }
using std::exp; using std::log; using std::erfc; using std::erf; using std::sqrt;
using std::tanh; using std::fabs; using std::pow; using std::fmax; using std::fmin;
"""
_CXX_DONE = {}


def cxx_check(source, what):
    """Compile ``source`` (after the shim above) with ``g++ -fsyntax-only -Wall``: a
    CompileException with g++'s message where it fails. Where no g++ is installed, or with
    MINIGRAD_STANDIN_CXX=0, nothing is checked (returns None). Each source is checked once
    per process, and its success remembered in the temporary folder."""
    import hashlib
    import shutil
    import subprocess
    import tempfile
    if os.environ.get("MINIGRAD_STANDIN_CXX") == "0" or shutil.which("g++") is None:
        return None
    text = _CXX_SHIM + source
    key = hashlib.sha256(text.encode()).hexdigest()[:24]
    if key in _CXX_DONE:
        return _CXX_DONE[key]
    stamp = os.path.join(tempfile.gettempdir(), "minigrad-standin-cxx", key + ".ok")
    if os.path.exists(stamp):
        _CXX_DONE[key] = True
        return True
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
        f.write(text)
    try:
        proc = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-Wall",
                               "-Wno-unused-variable", "-Wno-unused-function", f.name],
                              capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(f.name)
    if proc.returncode != 0 or "warning" in proc.stderr:
        raise CompileException(f"{what} does not compile (g++ on the host, with CUDA shims):\n"
                               f"{proc.stderr.strip()[:3000]}")
    os.makedirs(os.path.dirname(stamp), exist_ok=True)
    open(stamp, "w").close()
    _CXX_DONE[key] = True
    return True


def _ctype_of(dtype):
    return {"float16": "__half", "float32": "float", "float64": "double", "int8": "signed char",
            "int16": "short", "int32": "int", "int64": "long long", "uint8": "unsigned char",
            "uint16": "unsigned short", "uint32": "unsigned int",
            "uint64": "unsigned long long", "bool": "bool"}[np.dtype(dtype).name]


# ---------------------------------------------------------------- raw kernels

_C_TYPES = {
    "float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64,
    "long long int": np.int64, "unsigned int": np.uint32, "unsigned long long": np.uint64,
    "size_t": np.uint64, "short": np.int16, "unsigned short": np.uint16,
    "signed char": np.int8, "char": np.int8, "unsigned char": np.uint8, "bool": np.bool_,
    "half": np.float16, "__half": np.float16, "int32_t": np.int32, "int64_t": np.int64,
}

_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')
_TYPEDEF = re.compile(r"\btypedef\s+([\w\s]+?)\s+(\w+)\s*;")


class _Param:
    def __init__(self, text, typedefs):
        words = text.replace("*", " * ").split()
        self.pointer = "*" in words
        self.const = "const" in words
        words = [w for w in words if w not in ("*", "const", "__restrict__", "__restrict")]
        self.name = words[-1]
        ctype = " ".join(words[:-1])
        self.ctype = ctype
        ctype = typedefs.get(ctype, ctype)
        if ctype not in _C_TYPES:
            raise NotImplementedError(f"cupy stand-in: unknown C type {self.ctype!r}")
        self.dtype = np.dtype(_C_TYPES[ctype])

    def __repr__(self):
        return f"{'const ' if self.const else ''}{self.ctype}{'*' if self.pointer else ''} " \
               f"{self.name}"


def parse_kernels(code):
    """{kernel name: [_Param, ...]} of every ``extern "C" __global__`` function in ``code``,
    with the file's typedefs resolved."""
    typedefs = {}
    for ctype, alias in _TYPEDEF.findall(code):
        typedefs[alias] = " ".join(ctype.split())
    return {name: [_Param(p, typedefs) for p in params.split(",") if p.strip()]
            for name, params in _SIGNATURE.findall(code)}


def _dims(value, what):
    dims = tuple(int(v) for v in (value if isinstance(value, tuple) else (value,)))
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise ValueError(f"cupy stand-in: {what} must be 1 to 3 positive ints, got {value!r}")
    return dims + (1,) * (3 - len(dims))


def _cupy_scalar_dtype(value):
    """The type CuPy passes a scalar kernel argument as."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, np.generic):
        return value.dtype
    if isinstance(value, int):
        return np.dtype(np.int64)
    if isinstance(value, float):
        return np.dtype(np.float64)
    raise TypeError(f"Unsupported type {type(value)}")


class RawFunction:
    """One kernel of a RawModule: checks each launch against the kernel's signature, then
    runs its emulation."""

    def __init__(self, name, params, emulation):
        self.name = name
        self.params = params
        self.emulation = emulation
        self.launches = 0

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None,
                 enable_cooperative_groups=False):
        grid, block = _dims(grid, "grid"), _dims(block, "block")
        if math.prod(block) > 1024:
            raise ValueError(f"{self.name}: {math.prod(block)} threads per block (at most 1024)")
        if not isinstance(args, tuple):
            raise TypeError(f"{self.name}: args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name} takes {len(self.params)} arguments "
                            f"({', '.join(map(repr, self.params))}), got {len(args)}")
        bound = {}
        for i, (p, a) in enumerate(zip(self.params, args)):
            where = f"{self.name} argument {i} ({p!r})"
            if p.pointer:
                if type(a) is np.ndarray:
                    raise TypeError(f"{where}: a NumPy (host) array; a kernel needs device "
                                    f"memory (Unsupported type <class 'numpy.ndarray'>)")
                if not isinstance(a, ndarray):
                    raise TypeError(f"{where}: expected a cupy.ndarray, got {type(a).__name__}")
                if a.dtype != p.dtype:
                    raise TypeError(f"{where}: array of {a.dtype}, but the kernel reads "
                                    f"{p.dtype} (the bytes would be misread)")
                if not a.flags.c_contiguous:
                    raise ValueError(f"{where}: array not C-contiguous (shape {a.shape}, "
                                     f"strides {a.strides}); a raw kernel ignores strides")
                bound[p.name] = a.view(np.ndarray).reshape(-1)
            else:
                try:
                    passed = _cupy_scalar_dtype(a)
                except TypeError:
                    raise TypeError(f"{where}: unsupported argument {a!r}") from None
                if passed != p.dtype:
                    raise TypeError(f"{where}: CuPy would pass {a!r} as {passed} "
                                    f"({passed.itemsize} bytes), the kernel reads {p.dtype} "
                                    f"({p.dtype.itemsize} bytes); pass numpy.{p.dtype}(...)")
                bound[p.name] = p.dtype.type(a)
        self.launches += 1
        with np.errstate(all="ignore"):
            self.emulation(self.name, grid, block, bound, self.params)


class RawModule:
    """cupy.RawModule: the kernels' signatures come from the CUDA source; each kernel runs
    the emulation registered under its name."""

    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc",
                 translate_cucomplex=False, enable_cooperative_groups=False,
                 name_expressions=None, jitify=False):
        if code is None:
            raise NotImplementedError("cupy stand-in: RawModule from a path (cubin/ptx)")
        self.code = code
        self.kernels = parse_kernels(code)

    def get_function(self, name):
        if name not in self.kernels:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name!r} "
                               f"(kernels in the source: {', '.join(self.kernels)})")
        if name not in RAW_EMULATIONS:
            raise NotImplementedError(f"cupy stand-in: no emulation of kernel {name!r}; "
                                      f"emulated: {', '.join(RAW_EMULATIONS)}")
        if not getattr(self, "_compiled", False):
            cxx_check(self.code, "RawModule source")
            self._compiled = True
        params = self.kernels[name]
        needed, emulation = RAW_EMULATIONS[name]
        if [p.name for p in params] != list(needed):
            raise NotImplementedError(
                f"cupy stand-in: kernel {name} now takes ({', '.join(map(repr, params))}); "
                f"its emulation was written for ({', '.join(needed)}): update it")
        return RawFunction(name, params, emulation)


class RawKernel(RawFunction):
    def __init__(self, code, name, options=(), backend="nvrtc", **kwargs):
        fn = RawModule(code=code).get_function(name)
        super().__init__(fn.name, fn.params, fn.emulation)


# Emulations. Each receives (kernel name, grid, block, {parameter: flat array or scalar},
# params) and does what the CUDA text does, one block per row (blockIdx.x = row) where the
# kernel works by rows. Arithmetic is in the kernel's `real` type.

def _row_launch(name, grid, block):
    if grid[1] != 1 or grid[2] != 1 or block[1] != 1 or block[2] != 1:
        raise ValueError(f"{name}: a row kernel takes a 1-D grid and 1-D blocks, got grid "
                         f"{grid}, block {block}")
    if block[0] % 32:
        raise ValueError(f"{name}: blockDim.x = {block[0]} is not a multiple of 32 "
                         f"(block_sum / block_max shuffle whole warps)")
    return grid[0]


def _row_view(name, flat, rows, n, what):
    if n < 1:
        raise ValueError(f"{name}: n = {n}; the kernel reads {what}[0] of every row")
    if rows * n > flat.size:
        raise IndexError(f"{name}: {rows} rows of {n} read {rows * n} elements of {what}, "
                         f"which holds {flat.size} (illegal memory access)")
    return flat[:rows * n].reshape(rows, n)


def _per_row(name, flat, rows, what):
    if rows > flat.size:
        raise IndexError(f"{name}: {rows} rows touch {what}[{rows - 1}], which holds "
                         f"{flat.size} (illegal memory access)")
    return flat[:rows]


def _softmax_rows(name, grid, block, a, params):
    rows = _row_launch(name, grid, block)
    n, causal, tq, scale = int(a["n"]), int(a["causal"]), int(a["tq"]), a["scale"]
    x = _row_view(name, a["x"], rows, n, "x")
    y = _row_view(name, a["y"], rows, n, "y")
    v = scale * x
    if causal:
        if tq < 1:
            raise ZeroDivisionError(f"{name}: causal with tq = {tq} (row % tq)")
        visible = (np.arange(rows) % tq) + n - tq + 1
    else:
        visible = np.full(rows, n)
    mask = np.arange(n)[None, :] < visible[:, None]
    m = np.maximum(v[:, 0], np.where(mask, v, v[:, :1]).max(axis=1))  # m starts at x[0]
    e = np.exp(v - m[:, None])
    s = np.where(mask, e, 0).sum(axis=1, dtype=x.dtype)
    inv = x.dtype.type(1) / s
    y[...] = np.where(mask, e * inv[:, None], 0)  # x is read above: y may be x


def _softmax_backward_rows(name, grid, block, a, params):
    rows = _row_launch(name, grid, block)
    n, scale = int(a["n"]), a["scale"]
    y = _row_view(name, a["y"], rows, n, "y")
    g = _row_view(name, a["g"], rows, n, "g")
    dx = _row_view(name, a["dx"], rows, n, "dx")
    s = (g * y).sum(axis=1, dtype=y.dtype)
    dx[...] = scale * y * (g - s[:, None])  # dx may be g


def _cross_entropy_forward(name, grid, block, a, params):
    rows = _row_launch(name, grid, block)
    n = int(a["n"])
    flat = a["x"]
    x = _row_view(name, flat, rows, n, "x")
    target = _per_row(name, a["target"], rows, "target")
    loss = _per_row(name, a["loss"], rows, "loss")
    lse = _per_row(name, a["lse"], rows, "lse")
    m = x.max(axis=1)
    s = np.exp(x - m[:, None]).sum(axis=1, dtype=x.dtype)
    lse_rows = m + np.log(s)
    picked = np.arange(rows) * n + target  # xr[target[row]]: any target reads memory
    bad = (picked < 0) | (picked >= flat.size)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise IndexError(f"{name}: row {row} has target {int(target[row])}, which reads "
                         f"x[{int(picked[row])}] outside the {flat.size} logits (illegal "
                         f"memory access)")
    if ((target < 0) | (target >= n)).any():
        row = int(np.flatnonzero((target < 0) | (target >= n))[0])
        raise IndexError(f"{name}: row {row} has target {int(target[row])} outside "
                         f"[0, {n}): the kernel would read another row's logit")
    lse[...] = lse_rows
    loss[...] = lse_rows - flat[picked]


def _cross_entropy_backward(name, grid, block, a, params):
    # a grid-stride loop over all `total` elements: any grid covers them
    total, n = int(a["total"]), int(a["n"])
    if n < 1 or total < 0:
        raise ValueError(f"{name}: n = {n}, total = {total}")
    if total == 0:
        return
    x, d = a["x"], a["d"]
    for what, flat in (("x", x), ("d", d)):
        if total > flat.size:
            raise IndexError(f"{name}: total = {total} elements, but {what} holds {flat.size} "
                             f"(illegal memory access)")
    rows = (total - 1) // n + 1
    lse = _per_row(name, a["lse"], rows, "lse")
    target = _per_row(name, a["target"], rows, "target")
    scale = _per_row(name, a["scale"], rows, "scale")
    i = np.arange(total)
    row = i // n
    j = i - row * n
    p = np.exp(x[:total] - lse[row])
    d[:total] = (p - (j == target[row]).astype(x.dtype)) * scale[row]


def _layer_norm_forward(name, grid, block, a, params):
    rows = _row_launch(name, grid, block)
    n, eps = int(a["n"]), a["eps"]
    x = _row_view(name, a["x"], rows, n, "x")
    y = _row_view(name, a["y"], rows, n, "y")
    w = _per_row(name, a["w"], n, "w")
    b = _per_row(name, a["b"], n, "b")
    mean = _per_row(name, a["mean"], rows, "mean")
    rstd = _per_row(name, a["rstd"], rows, "rstd")
    mu = x.sum(axis=1, dtype=x.dtype) / x.dtype.type(n)
    c = x - mu[:, None]
    r = x.dtype.type(1) / np.sqrt((c * c).sum(axis=1, dtype=x.dtype) / x.dtype.type(n) + eps)
    y[...] = c * r[:, None] * w + b
    mean[...] = mu
    rstd[...] = r


def _layer_norm_backward(name, grid, block, a, params):
    rows = _row_launch(name, grid, block)
    n = int(a["n"])
    x = _row_view(name, a["x"], rows, n, "x")
    g = _row_view(name, a["g"], rows, n, "g")
    dx = _row_view(name, a["dx"], rows, n, "dx")
    w = _per_row(name, a["w"], n, "w")
    mu = _per_row(name, a["mean"], rows, "mean")[:, None]
    r = _per_row(name, a["rstd"], rows, "rstd")[:, None]
    gh = g * w
    xh = (x - mu) * r
    mean_gh = gh.sum(axis=1, dtype=x.dtype)[:, None] / x.dtype.type(n)
    mean_ghxh = (gh * xh).sum(axis=1, dtype=x.dtype)[:, None] / x.dtype.type(n)
    dx[...] = r * (gh - mean_gh - xh * mean_ghxh)


#: kernel name -> (its parameter names, in order, as the emulation reads them; emulation)
RAW_EMULATIONS = {
    "softmax_rows": (("x", "y", "n", "scale", "causal", "tq"), _softmax_rows),
    "softmax_backward_rows": (("y", "g", "dx", "n", "scale"), _softmax_backward_rows),
    "cross_entropy_forward": (("x", "target", "loss", "lse", "n"), _cross_entropy_forward),
    "cross_entropy_backward": (("x", "lse", "target", "scale", "d", "total", "n"),
                               _cross_entropy_backward),
    "layer_norm_forward": (("x", "w", "b", "y", "mean", "rstd", "n", "eps"),
                           _layer_norm_forward),
    "layer_norm_backward": (("x", "w", "g", "mean", "rstd", "dx", "n"), _layer_norm_backward),
}


# ---------------------------------------------------------------- element-wise kernels

def _erf_like(name):
    try:
        import scipy.special
        return getattr(scipy.special, name)
    except ImportError:
        fn = np.vectorize(getattr(math, name), otypes=[np.float64])
        return lambda x: fn(x).astype(np.result_type(x, np.float32))


def _typed(fn, dtype=None):
    """A C math function: the result in its argument's float type (or ``dtype``, for the
    ``f``-suffixed single-precision forms)."""
    def call(*args):
        if dtype is not None:
            args = [np.asarray(v, dtype=dtype) for v in args]
        result = fn(*args)
        kind = np.result_type(*args)
        return np.asarray(result, dtype=kind if kind.kind == "f" else np.float64)[()]
    return call


def _math_functions():
    base = {
        "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh, "sin": np.sin,
        "cos": np.cos, "fabs": np.abs, "abs": np.abs, "log1p": np.log1p, "expm1": np.expm1,
        "pow": np.power, "fmax": np.fmax, "fmin": np.fmin, "max": np.maximum,
        "min": np.minimum, "erf": _erf_like("erf"), "erfc": _erf_like("erfc"),
        "rsqrt": lambda v: 1 / np.sqrt(v),
    }
    out = {name: _typed(fn) for name, fn in base.items()}
    out.update({name + "f": _typed(fn, np.float32) for name, fn in base.items()
                if name not in ("abs", "max", "min")})
    return out


_MATH = _math_functions()
_LITERAL = r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
_UNSUPPORTED = ("&&", "||", "?", "++", "--", "->", "[", "{", "}", "<<", ">>", "&", "|")


class _Program:
    """The statements of an ElementwiseKernel operation (or a reduction's map / post-map
    expression), in Python: ``T u = expr;`` (a typed local), ``name = expr;`` and
    ``name op= expr;``. Anything else raises NotImplementedError, never a wrong answer."""

    def __init__(self, text, type_names, where):
        self.where = where
        self.type_names = set(type_names)
        self.statements = []
        text = re.sub(r"//[^\n]*", "", text)
        for stmt in text.split(";"):
            stmt = " ".join(stmt.split())
            if stmt:
                self.statements.append(self._statement(stmt))

    def _fail(self, what):
        raise NotImplementedError(f"cupy stand-in cannot interpret {what} in {self.where}")

    def _statement(self, stmt):
        types_ = "|".join(sorted(map(re.escape, self.type_names | set(_C_TYPES)), key=len,
                                 reverse=True))
        m = re.fullmatch(rf"(?:const )?({types_}) (\w+) = (.+)", stmt)
        if m:
            return ("declare", m.group(2), m.group(1), self.expression(m.group(3)))
        m = re.fullmatch(r"(\w+) ?([-+*/])= ?(.+)", stmt)
        if m:
            return ("assign", m.group(1), None,
                    self.expression(f"{m.group(1)} {m.group(2)} ({m.group(3)})"))
        m = re.fullmatch(r"(\w+) ?= ?(?!=)(.+)", stmt)
        if m:
            return ("assign", m.group(1), None, self.expression(m.group(2)))
        self._fail(f"the statement {stmt!r}")

    def expression(self, text):
        original = text
        for token in _UNSUPPORTED:
            if token in text:
                self._fail(f"{token!r} in {original!r}")
        if re.search(r"!(?!=)", text):
            self._fail(f"'!' in {original!r}")
        text = re.sub(rf"({_LITERAL})[fF]\b", r"\1", text)
        text = self._casts(text, original)
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            self._fail(f"the expression {original!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
                self._fail(f"a call in {original!r}")
            if isinstance(node, (ast.Attribute, ast.Subscript, ast.Lambda, ast.IfExp,
                                 ast.BoolOp, ast.Compare, ast.Starred, ast.keyword)):
                self._fail(f"{type(node).__name__} in {original!r}")
        return compile(tree, self.where, "eval")

    def _casts(self, text, original):
        """C casts ``(T)operand`` as ``_cast('T', operand)``. The operand of a cast is what
        a C unary expression is: an optional minus, then a literal, a name, a call
        ``name(...)`` or a parenthesised expression."""
        types_ = "|".join(sorted(map(re.escape, self.type_names | set(_C_TYPES)), key=len,
                                 reverse=True))
        cast = re.compile(rf"\(\s*({types_})\s*\)\s*")
        while True:
            m = cast.search(text)
            if m is None:
                return text
            i = m.end()
            j = i + 1 if text[i:i + 1] == "-" else i
            while text[j:j + 1] == " ":
                j += 1
            lit = re.match(_LITERAL + "|[A-Za-z_]\\w*", text[j:])
            if lit:
                j += lit.end()
            if text[j:j + 1] == "(" and (lit is None or not lit.group()[0].isdigit()):
                depth = 0
                for k in range(j, len(text)):
                    depth += (text[k] == "(") - (text[k] == ")")
                    if depth == 0:
                        j = k + 1
                        break
                else:
                    self._fail(f"unbalanced parentheses in {original!r}")
            elif lit is None:
                self._fail(f"the cast in {original!r}")
            text = f"{text[:m.start()]}_cast({m.group(1)!r}, {text[i:j]}){text[j:]}"

    def run(self, env, types_, inputs, outputs):
        """Execute with ``env`` (name -> array or scalar); types_ maps type names to dtypes.
        Returns the final values of ``outputs``."""
        def cast(type_name, value):
            dtype = types_.get(type_name) or np.dtype(_C_TYPES[type_name])
            return np.asarray(value, dtype=dtype)[()]

        names = dict(env)
        names.update(_MATH)
        names["_cast"] = cast
        for kind, target, type_name, code in self.statements:
            if target in inputs:
                self._fail(f"an assignment to the input {target!r} (inputs are const)")
            if kind == "assign" and target not in names:
                self._fail(f"an assignment to the undeclared {target!r}")
            try:
                value = eval(code, {"__builtins__": {}}, names)  # noqa: S307 (our own text)
            except NameError as exc:
                self._fail(f"an unknown name ({exc})")
            if kind == "declare":
                value = cast(type_name, value)
            elif target in outputs:
                value = np.asarray(value).astype(types_[outputs[target]], copy=False)
            names[target] = value
        return [names[o] for o in outputs]


def _params(text):
    params = []
    for item in text.split(","):
        words = item.split()
        if not words:
            continue
        if len(words) != 2:
            raise NotImplementedError(f"cupy stand-in: parameter {item.strip()!r} (raw and "
                                      f"other qualifiers are not emulated)")
        params.append((words[0], words[1]))
    return params


@functools.lru_cache(maxsize=None)
def _is_placeholder(type_name):
    return not any(type_name == np.dtype(t).name for t in
                   (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                    np.uint8, np.uint16, np.uint32, np.uint64, np.bool_, np.complex64,
                    np.complex128))


class ElementwiseKernel:
    """cupy.ElementwiseKernel, run by interpreting its operation text."""

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True,
                 preamble="", no_return=False, return_tuple=False, **kwargs):
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.nargs = self.nin + self.nout
        self.name = self.__name__ = name
        self.operation = operation
        self.no_return, self.return_tuple = no_return, return_tuple
        self.calls = 0
        type_names = {t for t, _ in self.in_params + self.out_params}
        self.program = _Program(operation, type_names, f"ElementwiseKernel {name}")

    def _compile(self, types_, args, body=None, extra_params=()):
        """The operation as CuPy puts it in its loop (inputs as const references, outputs as
        references, ``operation;``), checked by cxx_check once per set of types."""
        key = tuple(sorted((t, d.name) for t, d in types_.items() if d is not None))
        done = self.__dict__.setdefault("_compiled", set())
        if key in done:
            return
        typedefs = "".join(f"typedef {_ctype_of(d)} {t};\n" for t, d in types_.items()
                           if _is_placeholder(t) and d is not None)
        params = [f"const {t} &{n}" for t, n in self.in_params]
        params += [f"{t} &{n}" for t, n in self.out_params] + list(extra_params)
        typed = {"float32": "float32", "float64": "float64"}
        source = typedefs + "".join(f"typedef {_ctype_of(t)} {t};\n" for t in typed
                                    if any(p == t for p, _ in self.in_params + self.out_params))
        source += (f"__device__ void {self.name}({', '.join(params)}) {{\n"
                   f"{self.operation if body is None else body};\n}}\n")
        cxx_check(source, f"{type(self).__name__} {self.name}")
        done.add(key)

    def _types(self, args, params):
        """Type placeholders bound by the arrays, as CuPy binds them (scalars never bind;
        they are cast), with CuPy's mismatch error."""
        bound = {}
        for (t, n), a in zip(params, args):
            if not isinstance(a, ndarray):
                continue
            if _is_placeholder(t):
                if t in bound and bound[t] != a.dtype:
                    raise TypeError(f"Type is mismatched. {n} {a.dtype} {bound[t]} {t} "
                                    f"({self.name})")
                bound.setdefault(t, a.dtype)
            elif a.dtype != np.dtype(t):
                raise TypeError(f"Type is mismatched. {n} {a.dtype} {t} ({self.name})")
        return bound

    def _prepare(self, args, params):
        _refuse_host(self.name, args)
        for (t, n), a in zip(params, args):
            if not isinstance(a, (ndarray, int, float, bool, np.generic)):
                raise TypeError(f"Unsupported type {type(a)} for {n} ({self.name})")
        return self._types(args, params)

    def __call__(self, *args, size=None, block_size=128, stream=None):
        if len(args) not in (self.nin, self.nargs):
            raise TypeError(f"Wrong number of arguments for {self.name!r}. It must be either "
                            f"{self.nin} or {self.nargs} (with outputs), but given {len(args)}.")
        if size is not None:
            raise NotImplementedError("cupy stand-in: size= (raw parameters) is not emulated")
        params = self.in_params + self.out_params
        outs = list(args[self.nin:])
        for (t, n), o in zip(self.out_params, outs):
            if not isinstance(o, ndarray):
                raise TypeError("Output arguments must be cupy.ndarray")
        bound = self._prepare(args, params)
        types_ = {t: (np.dtype(t) if not _is_placeholder(t) else bound.get(t))
                  for t, _ in params}
        missing = [t for t, d in types_.items() if d is None]
        if missing:
            raise TypeError(f"{self.name}: cannot decide type {missing[0]} (no array bound it)")
        arrays = [a for a in args if isinstance(a, ndarray)]
        if not arrays:
            raise ValueError("Loop size is undecided.")
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        for o in outs:
            if o.shape != shape:
                raise ValueError(f"Out shape is mismatched ({self.name}: {o.shape} vs {shape})")
        if not outs:
            outs = [empty(shape, types_[t]) for t, _ in self.out_params]
        env = {}
        for (t, n), a in zip(self.in_params, args[:self.nin]):
            env[n] = (np.broadcast_to(a.view(np.ndarray), shape) if isinstance(a, ndarray)
                      else types_[t].type(a))
        for (t, n), o in zip(self.out_params, outs):
            env[n] = np.broadcast_to(o.view(np.ndarray), shape)
        self._compile(types_, args)
        self.calls += 1
        with np.errstate(all="ignore"):
            values = self.program.run(env, types_, {n for _, n in self.in_params},
                                      {n: t for t, n in self.out_params})
            for o, v in zip(outs, values):
                o.view(np.ndarray)[...] = v
        if self.no_return:
            return None
        return outs[0] if self.nout == 1 and not self.return_tuple else tuple(outs)


_REDUCERS = {"a + b": np.add, "a+b": np.add, "max(a, b)": np.maximum, "max(a,b)": np.maximum,
             "min(a, b)": np.minimum, "min(a,b)": np.minimum, "a * b": np.multiply}


class ReductionKernel(ElementwiseKernel):
    """cupy.ReductionKernel: map expression interpreted, reduce expression one of
    ``a + b``, ``max(a, b)``, ``min(a, b)``, ``a * b``, post-map interpreted."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                 identity, name="reduce_kernel", reduce_type=None, reduce_dims=True,
                 preamble="", options=()):
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.name = self.__name__ = name
        if " ".join(reduce_expr.split()) not in _REDUCERS:
            raise NotImplementedError(f"cupy stand-in: reduce expression {reduce_expr!r} "
                                      f"(emulated: {', '.join(_REDUCERS)})")
        self.reducer = _REDUCERS[" ".join(reduce_expr.split())]
        self.reduce_type = reduce_type
        self.calls = 0
        type_names = {t for t, _ in self.in_params + self.out_params}
        where = f"ReductionKernel {name}"
        self.map_expr, self.post_map_expr = map_expr, post_map_expr
        self.operation = None
        self.map = _Program(f"_mapped = {map_expr}", type_names, where)
        self.post = _Program(post_map_expr, type_names, where)

    def __call__(self, *args, out=None, axis=None, keepdims=False, stream=None):
        if len(args) != self.nin:
            raise TypeError(f"Wrong number of arguments for {self.name!r}: {self.nin} "
                            f"inputs, given {len(args)}")
        bound = self._prepare(args, self.in_params)
        params = self.in_params + self.out_params
        types_ = {t: (np.dtype(t) if not _is_placeholder(t) else bound.get(t))
                  for t, _ in params}
        if any(d is None for d in types_.values()):
            raise TypeError(f"{self.name}: cannot decide the output type")
        arrays = [a for a in args if isinstance(a, ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        env = {n: (np.broadcast_to(a.view(np.ndarray), shape) if isinstance(a, ndarray)
                   else types_[t].type(a)) for (t, n), a in zip(self.in_params, args)}
        (out_type, out_name), = self.out_params
        reduce_dtype = np.dtype(self.reduce_type) if self.reduce_type else types_[out_type]
        types_["_reduce"] = reduce_dtype
        self._compile({**types_, "_reduce": reduce_dtype}, args,
                      body=f"_reduce a = {self.map_expr};\n{self.post_map_expr}",
                      extra_params=())
        self.calls += 1
        with np.errstate(all="ignore"):
            env["_mapped"] = np.zeros((), reduce_dtype)
            mapped, = self.map.run(env, types_, set(env) - {"_mapped"},
                                   {"_mapped": "_reduce"})
            mapped = np.broadcast_to(mapped, shape)
            reduced = self.reducer.reduce(mapped, axis=axis, keepdims=keepdims,
                                          dtype=reduce_dtype)
            result, = self.post.run({"a": np.asarray(reduced), out_name: np.asarray(reduced)},
                                    types_, {"a"}, {out_name: out_type})
        result = np.asarray(result, dtype=types_[out_type])
        if out is not None:
            out.view(np.ndarray)[...] = result
            return out
        return _wrap(np.array(result))


# ---------------------------------------------------------------- cupyx

def scatter_add(a, slices, value):
    """cupyx.scatter_add: a[slices] += value, repeated indices adding up."""
    if not isinstance(a, ndarray):
        raise TypeError("cupyx.scatter_add: a must be a cupy.ndarray")
    # CuPy's indexing turns lists and NumPy arrays in the index (and a host value) into
    # device arrays, as a[index] does
    np.add.at(a.view(np.ndarray), _plain(slices), _plain(value))


def _special(name):
    fn = _erf_like(name)

    def call(x):
        if not isinstance(x, ndarray):
            raise TypeError(f"cupyx.scipy.special.{name}: expected a cupy.ndarray")
        plain = x.view(np.ndarray)
        result = fn(plain)
        kind = plain.dtype if plain.dtype.kind == "f" else np.dtype(np.float64)
        return _wrap(np.asarray(result, dtype=kind))

    call.__name__ = name
    return call


# ---------------------------------------------------------------- the modules

def _module(name, doc, **attrs):
    module = types.ModuleType(name, doc)
    module.__dict__.update(attrs)
    module.__dict__["STANDIN"] = True
    return module


runtime = _module(
    "cupy.cuda.runtime", "CUDA runtime calls (stand-in)",
    getDeviceCount=_device_count, getDeviceProperties=_device_properties,
    driverGetVersion=lambda: 0, runtimeGetVersion=lambda: 0,
    getDevice=lambda: _current[-1], deviceSynchronize=lambda: None,
    memGetInfo=lambda: (_TOTAL_MEMORY, _TOTAL_MEMORY), CUDARuntimeError=CUDARuntimeError)

cuda = _module(
    "cupy.cuda", "CUDA device, streams and memory (stand-in)",
    runtime=runtime, Device=Device, Stream=Stream, Event=Event, MemoryPool=MemoryPool,
    get_current_stream=lambda device_id=-1: Stream.null, get_elapsed_time=_elapsed_ms,
    is_available=lambda: cuda_is_available(), set_allocator=lambda allocator=None: None)


def cuda_is_available():
    try:
        return _device_count() > 0
    except CUDARuntimeError:
        return False


random = _module("cupy.random", "random numbers (NumPy's generator; stand-in)",
                 default_rng=default_rng, Generator=Generator)
random.__getattr__ = _namespace_getattr(random, np.random, "cupy.random")

linalg = _module("cupy.linalg", "linear algebra (NumPy's; stand-in)")
linalg.__getattr__ = _namespace_getattr(linalg, np.linalg, "cupy.linalg")

cupy = _module(
    "cupy", __doc__,
    __version__=VERSION, ndarray=ndarray, asarray=asarray, array=array,
    asanyarray=asanyarray, empty=empty, empty_like=empty_like, asnumpy=asnumpy,
    get_array_module=get_array_module, is_available=is_available, cuda=cuda, random=random,
    linalg=linalg, RawModule=RawModule, RawKernel=RawKernel,
    ElementwiseKernel=ElementwiseKernel, ReductionKernel=ReductionKernel,
    get_default_memory_pool=lambda: _POOL, get_default_pinned_memory_pool=lambda: _PINNED_POOL)
cuda.compiler = _module("cupy.cuda.compiler", "kernel compilation (stand-in)",
                        CompileException=CompileException)
cupy.__getattr__ = _namespace_getattr(cupy, np, "cupy")

special = _module("cupyx.scipy.special", "special functions (stand-in)",
                  erf=_special("erf"), erfc=_special("erfc"))
scipy = _module("cupyx.scipy", "SciPy functions (stand-in)", special=special)
cupyx = _module("cupyx", "CuPy extensions (stand-in)", scatter_add=scatter_add, scipy=scipy)

MODULES = {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.runtime": runtime,
           "cupy.cuda.compiler": cuda.compiler,
           "cupy.random": random, "cupy.linalg": linalg, "cupyx": cupyx,
           "cupyx.scipy": scipy, "cupyx.scipy.special": special}

#: the folder with the `cupy` and `cupyx` packages that install the stand-in on import
IMPORT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_standin_path")


def install(patch_minigrad=True):
    """Make ``import cupy`` (and cupyx) give the stand-in, in this process; then, unless
    told not to, make minigrad's backend tell stand-in arrays from NumPy ones."""
    sys.modules.setdefault("cupy_standin", sys.modules[__name__])
    sys.modules.update(MODULES)
    if patch_minigrad:
        patch_get_array_module()
    return cupy


def patch_get_array_module():
    """minigrad.backend.get_array_module tests isinstance(array, numpy.ndarray) first, which
    takes the stand-in's arrays (a NumPy subclass) for NumPy. Where it does, replace it
    with one that tests the exact NumPy type first, then CuPy's ndarray (what the real
    backend should do anyway). Recorded in PATCHED."""
    import minigrad.backend as backend
    probe = ndarray((1,))
    if backend.get_array_module(probe) is cupy:
        return False

    def get_array_module(array):
        """The array module (numpy or cupy) that owns ``array``."""
        if type(array) is np.ndarray or np.isscalar(array):
            return np
        module = backend._cupy()
        if module is not None and isinstance(array, module.ndarray):
            return module
        return np

    backend.get_array_module = get_array_module
    PATCHED.append("minigrad.backend.get_array_module")
    return True


@contextlib.contextmanager
def no_gpu():
    """Within the block getDeviceCount fails as on a machine without a GPU."""
    saved = os.environ.get("MINIGRAD_STANDIN_GPUS")
    os.environ["MINIGRAD_STANDIN_GPUS"] = "0"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MINIGRAD_STANDIN_GPUS"]
        else:
            os.environ["MINIGRAD_STANDIN_GPUS"] = saved
