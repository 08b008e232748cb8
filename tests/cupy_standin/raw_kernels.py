"""Raw kernels: the CUDA text compiled on the host where g++ is installed, signatures parsed and
every launch checked against them, and the emulations of minigrad's row kernels."""
import math
import os
import re

import numpy as np

from .arrays import ndarray

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


def ctype_of(dtype):
    return {"float16": "__half", "float32": "float", "float64": "double", "int8": "signed char",
            "int16": "short", "int32": "int", "int64": "long long", "uint8": "unsigned char",
            "uint16": "unsigned short", "uint32": "unsigned int",
            "uint64": "unsigned long long", "bool": "bool"}[np.dtype(dtype).name]


# ---------------------------------------------------------------- raw kernels

C_TYPES = {
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
        if ctype not in C_TYPES:
            raise NotImplementedError(f"cupy stand-in: unknown C type {self.ctype!r}")
        self.dtype = np.dtype(C_TYPES[ctype])

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


