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
import contextlib
import os
import sys
import types

import numpy as np

from .arrays import (
    Generator, array, asanyarray, asarray, asnumpy, default_rng, empty, empty_like,
    get_array_module, is_available, namespace_getattr, ndarray, unwrap, wrap)
from .device import (
    PINNED_POOL, POOL, TOTAL_MEMORY, CURRENT_DEVICES, CUDARuntimeError, Device, Event,
    MemoryPool, Stream, cuda_is_available, device_count, device_properties, elapsed_ms)
from .elementwise import ElementwiseKernel, ReductionKernel, erf_like
from .raw_kernels import CompileException, RawKernel, RawModule

VERSION = "0.0.0+numpy-standin"

#: set by install() when minigrad's backend.get_array_module had to be patched
PATCHED = []


# ---------------------------------------------------------------- cupyx

def scatter_add(a, slices, value):
    """cupyx.scatter_add: a[slices] += value, repeated indices adding up."""
    if not isinstance(a, ndarray):
        raise TypeError("cupyx.scatter_add: a must be a cupy.ndarray")
    # CuPy's indexing turns lists and NumPy arrays in the index (and a host value) into
    # device arrays, as a[index] does
    np.add.at(a.view(np.ndarray), unwrap(slices), unwrap(value))


def _special(name):
    fn = erf_like(name)

    def call(x):
        if not isinstance(x, ndarray):
            raise TypeError(f"cupyx.scipy.special.{name}: expected a cupy.ndarray")
        plain = x.view(np.ndarray)
        result = fn(plain)
        kind = plain.dtype if plain.dtype.kind == "f" else np.dtype(np.float64)
        return wrap(np.asarray(result, dtype=kind))

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
    getDeviceCount=device_count, getDeviceProperties=device_properties,
    driverGetVersion=lambda: 0, runtimeGetVersion=lambda: 0,
    getDevice=lambda: CURRENT_DEVICES[-1], deviceSynchronize=lambda: None,
    memGetInfo=lambda: (TOTAL_MEMORY, TOTAL_MEMORY), CUDARuntimeError=CUDARuntimeError)

cuda = _module(
    "cupy.cuda", "CUDA device, streams and memory (stand-in)",
    runtime=runtime, Device=Device, Stream=Stream, Event=Event, MemoryPool=MemoryPool,
    get_current_stream=lambda device_id=-1: Stream.null, get_elapsed_time=elapsed_ms,
    is_available=lambda: cuda_is_available(), set_allocator=lambda allocator=None: None)


random = _module("cupy.random", "random numbers (NumPy's generator; stand-in)",
                 default_rng=default_rng, Generator=Generator)
random.__getattr__ = namespace_getattr(random, np.random, "cupy.random")

linalg = _module("cupy.linalg", "linear algebra (NumPy's; stand-in)")
linalg.__getattr__ = namespace_getattr(linalg, np.linalg, "cupy.linalg")

cupy = _module(
    "cupy", __doc__,
    __version__=VERSION, ndarray=ndarray, asarray=asarray, array=array,
    asanyarray=asanyarray, empty=empty, empty_like=empty_like, asnumpy=asnumpy,
    get_array_module=get_array_module, is_available=is_available, cuda=cuda, random=random,
    linalg=linalg, RawModule=RawModule, RawKernel=RawKernel,
    ElementwiseKernel=ElementwiseKernel, ReductionKernel=ReductionKernel,
    get_default_memory_pool=lambda: POOL, get_default_pinned_memory_pool=lambda: PINNED_POOL)
cuda.compiler = _module("cupy.cuda.compiler", "kernel compilation (stand-in)",
                        CompileException=CompileException)
cupy.__getattr__ = namespace_getattr(cupy, np, "cupy")

special = _module("cupyx.scipy.special", "special functions (stand-in)",
                  erf=_special("erf"), erfc=_special("erfc"))
scipy = _module("cupyx.scipy", "SciPy functions (stand-in)", special=special)
cupyx = _module("cupyx", "CuPy extensions (stand-in)", scatter_add=scatter_add, scipy=scipy)

MODULES = {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.runtime": runtime,
           "cupy.cuda.compiler": cuda.compiler,
           "cupy.random": random, "cupy.linalg": linalg, "cupyx": cupyx,
           "cupyx.scipy": scipy, "cupyx.scipy.special": special}

#: the folder with the `cupy` and `cupyx` packages that install the stand-in on import
IMPORT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "cupy_standin_path")


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
