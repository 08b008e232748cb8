"""``Tensor``: an array from the backend plus what autograd needs (the op that made it).

The methods here are thin: operators call the ops in ``minigrad.ops``, where each op's
forward and backward stand side by side; the math and shape methods with PyTorch's names
(``x.sum(dim)``, ``x.reshape(...)``) are in ``minigrad.tensor_methods``.
"""
import numpy as np

from minigrad import autograd, backend
from minigrad.tensor_methods import InPlaceMethods, TensorMethods


def _to_array(data, dtype=None, device=None):
    """Turn Python data, a NumPy/CuPy array or a Tensor into a backend array.

    Python floats (and lists of them) become the default float dtype (float32), Python
    ints become int64, arrays keep their dtype (and memory) unless ``dtype`` or ``device``
    ask for another."""
    if isinstance(data, Tensor):
        data = data.data
    dtype = None if dtype is None else np.dtype(dtype)
    if backend.get_array_module(data) is np and not isinstance(data, np.ndarray):
        is_numpy_scalar = isinstance(data, np.generic)
        data = np.asarray(data)
        if data.dtype.kind not in "fiub":
            raise TypeError(f"tensor: cannot make a tensor from data of NumPy dtype {data.dtype}; "
                            "expected numbers or nested lists of numbers")
        if dtype is None and data.dtype.kind == "f" and not is_numpy_scalar:
            dtype = backend.get_default_dtype()
    if device is not None:
        data = backend.to_device(data, device)
    if dtype is not None and data.dtype != dtype:
        data = data.astype(dtype)
    return data


class Tensor(TensorMethods, InPlaceMethods):
    """An n-dimensional array that records the ops applied to it for ``backward()``.

    ``data`` is the backend array (``numpy.ndarray`` or ``cupy.ndarray``); ``grad`` is a
    Tensor of the same shape after ``backward()``. Tensors made by ops remember the op
    (``_fn``) and its inputs (``_inputs``); leaves have ``_fn = None``.
    """

    # _vc: the version counter, a one-item list shared with the views of the same memory;
    # every in-place change adds one (see autograd.check_saved).
    __slots__ = ("data", "requires_grad", "grad", "_fn", "_inputs", "_vc", "__weakref__")
    # Make NumPy defer to Tensor's reflected operators (ndarray + Tensor -> Tensor).
    __array_priority__ = 1000

    def __init__(self, data, dtype=None, requires_grad=False, device=None):
        self.data = _to_array(data, dtype, device)
        if requires_grad and not backend.is_floating(self.data.dtype):
            raise TypeError(f"tensor: only float tensors can require grad, got {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._fn = None
        self._inputs = ()
        self._vc = [0]

    @classmethod
    def _wrap(cls, array, requires_grad):
        """A Tensor around ``array`` without checks or copies (the ops' fast path)."""
        t = object.__new__(Tensor)
        t.data, t.requires_grad, t.grad, t._fn, t._inputs = array, requires_grad, None, None, ()
        t._vc = [0]
        return t

    # ------------------------------------------------------------ properties

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def xp(self):
        return backend.get_array_module(self.data)

    @property
    def is_leaf(self):
        return self._fn is None

    @property
    def grad_fn(self):
        return self._fn

    @property
    def T(self):
        return ops.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return ops.swapaxes(self, -2, -1)

    def size(self, dim=None):
        """``size()`` is the shape (PyTorch); ``size(d)`` its d-th entry."""
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.data.size)

    nelement = numel

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._fn is not None:
            extra = f", grad_fn={self._fn.name}"
        device = "" if self.device == "cpu" else f", device='{self.device}'"
        return f"tensor({np.array2string(self.numpy(), separator=', ', prefix='tensor(')}, dtype={self.dtype}{device}{extra})"

    def __format__(self, spec):
        """``f"{loss:.4f}"``: as in PyTorch, a 0-d tensor formats as its number; other
        tensors take no format spec."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"format spec {spec!r} given for a tensor of shape {self.shape}: "
                            "only a 0-d tensor formats as a number (use .item() or index it)")
        return str(self)

    # ------------------------------------------------------------ autograd

    def backward(self, grad=None, create_graph=False):
        """Accumulate the gradient of this tensor w.r.t. every leaf into the leaves' ``.grad``."""
        autograd.backward(self, grad, create_graph)

    def detach(self):
        """The same data, cut from the graph (sharing the version counter: an in-place change
        of either is seen by the ops that saved the other)."""
        t = Tensor._wrap(self.data, False)
        t._vc = self._vc
        return t

    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen (PyTorch's name)."""
        return self._vc[0]

    def _begin_inplace(self, op):
        """Check that ``op`` may change this tensor in place, and count the change. As in
        PyTorch, a leaf that requires grad changes in place only under ``no_grad()``;
        minigrad records no in-place ops, so neither does a tensor of a graph."""
        if self.requires_grad and autograd.is_grad_enabled():
            if self._fn is None:
                raise RuntimeError(f"{op}: a leaf tensor that requires grad (shape {self.shape}) "
                                   "cannot be changed in place while grad is recorded; do it "
                                   "under minigrad.no_grad()")
            raise RuntimeError(f"{op}: this tensor (shape {self.shape}) was computed by a "
                               f"recorded {self._fn.name} op, and minigrad does not record "
                               "in-place ops; use the out-of-place form (x = x.op(...)) or "
                               "do it under minigrad.no_grad()")
        self._vc[0] += 1

    def requires_grad_(self, requires_grad=True):
        if requires_grad and not backend.is_floating(self.dtype):
            raise TypeError(f"requires_grad_: only float tensors can require grad, got {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def zero_(self):
        self._begin_inplace("zero_")
        self.data[...] = 0
        return self

    # ------------------------------------------------------------ conversion

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: tensor has {self.data.size} elements (shape {self.shape}); "
                             "only a one-element tensor converts to a Python number")
        return self.data.reshape(()).item()

    def numpy(self):
        """The data as a NumPy array (copied from the GPU if need be)."""
        return np.asarray(backend.to_device(self.data, "cpu"))

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is "
                             "ambiguous; use .any() or .all()")
        return bool(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only a one-element integer tensor can be used as an index")
        return int(self.item())

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False,
           memory_format=None):
        """PyTorch's forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``,
        ``to(other)`` (other's device and dtype), with ``device=``/``dtype=`` keywords;
        differentiable. ``copy=True`` always returns a new tensor; ``non_blocking`` and
        ``memory_format`` change nothing here (copies are synchronous, memory is one layout)."""
        device, dtype = to_args(args, device, dtype)
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = ops.astype(out, np.dtype(dtype))
        if device is not None and backend.parse_device(device) != self.device:
            out = ops.to_device(out, backend.parse_device(device))
        return out.clone() if copy and out is self else out

    def astype(self, dtype):
        return self.to(dtype=dtype)

    def double(self):
        return self.to(dtype=backend.float64)

    def float(self):
        return self.to(dtype=backend.float32)

    def long(self):
        return self.to(dtype=backend.int64)

    def int(self):
        return self.to(dtype=backend.int32)

    def bool(self):
        return self.to(dtype=backend.bool_)

    def half(self):
        return self.to(dtype=backend.float16)

    def is_floating_point(self):
        return backend.is_floating(self.dtype)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else backend.parse_device(device))

    def pin_memory(self):
        """The tensor itself: pinned host memory speeds CUDA copies in PyTorch; here a copy
        to the GPU goes through CuPy either way."""
        return self

    def contiguous(self):
        return self

    def clone(self):
        return ops.clone(self)

    # ------------------------------------------------------------ operators

    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __setitem__(self, index, value):
        self._begin_inplace("x[index] = value")
        self.data[ops.index_arrays(index)] = value.data if isinstance(value, Tensor) else value

    def __eq__(self, other):
        return ops.compare(self, other, "equal")

    def __ne__(self, other):
        return ops.compare(self, other, "not_equal")

    def __lt__(self, other):
        return ops.compare(self, other, "less")

    def __le__(self, other):
        return ops.compare(self, other, "less_equal")

    def __gt__(self, other):
        return ops.compare(self, other, "greater")

    def __ge__(self, other):
        return ops.compare(self, other, "greater_equal")

    def __invert__(self):
        return ops.logical_not(self)

    def __and__(self, other):
        return ops.compare(self, other, "logical_and")

    def __or__(self, other):
        return ops.compare(self, other, "logical_or")

    # ``==`` returns a tensor, so hashing by identity must be restored explicitly.
    __hash__ = object.__hash__


def to_args(args, device=None, dtype=None):
    """(device, dtype) from the positional arguments of PyTorch's ``to``: a tensor gives
    both, a str or int (or a device) is a device, anything else a dtype."""
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif arg is None or isinstance(arg, (str, int)):
            device = arg
        else:
            dtype = arg
    return device, dtype


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A new leaf tensor from Python data or an array (floats default to float32)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, device=device)


from minigrad import ops  # noqa: E402  (ops import Tensor from this module)
