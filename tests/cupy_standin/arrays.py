"""The stand-in's array type and module functions: conversions between it and NumPy, the
ndarray subclass and its ufunc rules, NumPy's functions under CuPy's names, random numbers."""
import types

import numpy as np

from .device import Device, cuda_is_available
_SUPPORTED_KINDS = "biufc"  # CuPy's dtypes: bool, integers, floats, complex


# ---------------------------------------------------------------- conversions

def unwrap(obj):
    """Stand-in arrays as plain NumPy views (inside lists, tuples and dicts too)."""
    if isinstance(obj, ndarray):
        return obj.view(np.ndarray)
    if isinstance(obj, list):
        return [unwrap(x) for x in obj]
    if isinstance(obj, tuple):
        return tuple(unwrap(x) for x in obj)
    if isinstance(obj, dict):
        return {k: unwrap(v) for k, v in obj.items()}
    return obj


def wrap(obj):
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
        return tuple(wrap(x) for x in obj)
    if isinstance(obj, list):
        return [wrap(x) for x in obj]
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


def refuse_host(what, *objs):
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
    refuse_host(name, inputs, kwargs.get("out", ()))
    for x in inputs:
        if isinstance(x, (list, tuple)):
            raise TypeError(f"Unsupported type {type(x)}: {name} takes arrays and scalars "
                            f"(cupy stand-in)")
    out = kwargs.get("out")
    args = unwrap(inputs)
    kwargs = unwrap(kwargs)
    with np.errstate(all="ignore"):
        if (ufunc is np.matmul and method == "__call__" and len(args) == 2
                and all(getattr(a, "dtype", None) == np.float16 for a in args)):
            result = _matmul16(ufunc, args, kwargs)
        else:
            result = getattr(ufunc, method)(*args, **kwargs)
    if out is not None:
        return out[0] if len(out) == 1 else out
    return wrap(result)


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
            refuse_host(f"numpy.{func.__name__}", args, kwargs)
        with np.errstate(all="ignore"):
            return wrap(func(*unwrap(args), **unwrap(kwargs)))

    def __getitem__(self, key):
        return wrap(np.ndarray.__getitem__(self.view(np.ndarray), unwrap(key)))

    def __setitem__(self, key, value):
        # CuPy copies a host value over (a transfer); a stand-in value is viewed.
        np.ndarray.__setitem__(self.view(np.ndarray), unwrap(key), unwrap(value))

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
        return Device(0)

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
        refuse_host(f"cupy.ndarray.{name}", args, kwargs)
        out = kwargs.get("out")
        with np.errstate(all="ignore"):
            result = base(self.view(np.ndarray), *unwrap(args), **unwrap(kwargs))
        return out if out is not None else wrap(result)

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
                else wrap(np.array(a.view(np.ndarray), order=order))
        return a.astype(dtype)
    # a host object: always copied, as a transfer to the GPU is
    return wrap(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if isinstance(obj, ndarray) and not copy:
        return asarray(obj, dtype)
    return wrap(np.array(unwrap(obj), dtype=dtype, order=order, copy=True, ndmin=ndmin))


asanyarray = asarray


def empty(shape, dtype=float, order="C"):
    return wrap(_fill_garbage(np.empty(shape, dtype=dtype, order=order)))


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    if not isinstance(prototype, ndarray):
        raise TypeError(f"cupy.empty_like: expected a cupy.ndarray, got {type(prototype)} "
                        f"(cupy stand-in)")
    return wrap(_fill_garbage(np.empty_like(prototype.view(np.ndarray), dtype=dtype,
                                             order=order, shape=shape)))


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def get_array_module(*args):
    # the module object is assembled in the package from this file's names
    from . import cupy
    return cupy if any(isinstance(a, ndarray) for a in args) else np


def is_available():
    return cuda_is_available()


def _function(name, func):
    def wrapper(*args, **kwargs):
        refuse_host(f"cupy.{name}", args, kwargs)
        out = kwargs.get("out")
        with np.errstate(all="ignore"):
            result = func(*unwrap(args), **unwrap(kwargs))
        return out if out is not None else wrap(result)

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


def namespace_getattr(module, source, prefix):
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
            refuse_host(f"cupy.random.Generator.{name}", args, kwargs)
            return wrap(method(*unwrap(args), **unwrap(kwargs)))

        return call


def default_rng(seed=None):
    return Generator(seed)


