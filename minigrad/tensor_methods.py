"""The methods of ``Tensor`` with PyTorch's names and arguments (``x.sum(dim, keepdim)``,
``x.reshape(2, 3)``, ``x.max(dim)`` returning values and indices), each a call of its op
in ``minigrad.ops`` (where the op's forward and backward stand side by side) or of a
top-level function in ``minigrad.functions``; and the in-place methods (``x.add_(y)``)."""
# The package, not minigrad.ops: the ops import Tensor, which is built on this module, so
# they are looked up when a method is called.
import minigrad


class TensorMethods:
    """Mixed into ``Tensor``: its methods with PyTorch's names."""

    __slots__ = ()

    def __getattr__(self, name):
        # Only reached when the attribute does not exist: say where the covered API is.
        raise AttributeError(f"'Tensor' object has no attribute {name!r}; minigrad covers "
                             "part of PyTorch's Tensor API: see docs/compat.md")

    # ------------------------------------------------------------ reductions

    def sum(self, dim=None, keepdim=False, **numpy_names):
        return minigrad.ops.sum(self, dim, keepdim, **numpy_names)

    def mean(self, dim=None, keepdim=False, **numpy_names):
        return minigrad.ops.mean(self, dim, keepdim, **numpy_names)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return minigrad.ops.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return minigrad.ops.std(self, dim, unbiased, keepdim, correction=correction)

    def logsumexp(self, dim, keepdim=False):
        return minigrad.ops.logsumexp(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        """The maximum; with ``dim``, ``(values, indices)``; with a tensor, the elementwise
        maximum (PyTorch's three forms)."""
        return minigrad.functions.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return minigrad.functions.min(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return minigrad.functions.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return minigrad.functions.argmin(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        """Over everything: a Python bool; over ``dim``: a bool tensor."""
        return self._any_or_all("any", dim, keepdim)

    def all(self, dim=None, keepdim=False):
        """Over everything: a Python bool; over ``dim``: a bool tensor."""
        return self._any_or_all("all", dim, keepdim)

    def _any_or_all(self, how, dim, keepdim):
        if dim is None and not keepdim:
            return bool(getattr(self.data, how)())
        return minigrad.functions.reduce_bool(self, how, dim, keepdim)

    def isnan(self):
        return minigrad.functions.isnan(self)

    def isinf(self):
        return minigrad.functions.isinf(self)

    def isfinite(self):
        return minigrad.functions.isfinite(self)

    def multinomial(self, num_samples, replacement=False):
        return minigrad.creation.multinomial(self, num_samples, replacement)

    def unflatten(self, dim, sizes):
        """Dimension ``dim`` split into ``sizes`` (one may be -1)."""
        dim = dim % self.ndim
        return minigrad.ops.reshape(self, self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])

    def norm(self, p=2, dim=None, keepdim=False):
        """The 2-norm (square root of the sum of squares) over ``dim``."""
        if p not in (2, "fro"):
            raise NotImplementedError(f"norm: only the 2-norm is supported, got p={p!r}")
        return minigrad.ops.sqrt(minigrad.ops.sum(self * self, dim, keepdim))

    # ------------------------------------------------------------ sorting and selecting

    def sort(self, dim=-1, descending=False, stable=False):
        return minigrad.functions.sort(self, dim, descending, stable)

    def argsort(self, dim=-1, descending=False, stable=False):
        return minigrad.functions.argsort(self, dim, descending, stable)

    def topk(self, k, dim=-1, largest=True, sorted=True):
        return minigrad.functions.topk(self, k, dim, largest, sorted)

    def gather(self, dim, index):
        return minigrad.ops.gather(self, dim, index)

    def scatter(self, dim, index, src=None, value=None):
        return minigrad.ops.scatter(self, dim, index, src, value)

    def scatter_add(self, dim, index, src):
        return minigrad.ops.scatter_add(self, dim, index, src)

    def index_select(self, dim, index):
        return minigrad.ops.index_select(self, dim, index)

    def masked_fill(self, mask, value):
        return minigrad.ops.masked_fill(self, mask, value)

    def nonzero(self, as_tuple=False):
        return minigrad.functions.nonzero(self, as_tuple)

    def cumsum(self, dim):
        return minigrad.ops.cumsum(self, dim)

    def cumprod(self, dim):
        return minigrad.ops.cumprod(self, dim)

    # ------------------------------------------------------------ elementwise

    def exp(self):
        return minigrad.ops.exp(self)

    def log(self):
        return minigrad.ops.log(self)

    def sqrt(self):
        return minigrad.ops.sqrt(self)

    def rsqrt(self):
        return minigrad.functions.rsqrt(self)

    def square(self):
        return minigrad.functions.square(self)

    def tanh(self):
        return minigrad.ops.tanh(self)

    def sigmoid(self):
        return minigrad.ops.sigmoid(self)

    def relu(self):
        return minigrad.ops.relu(self)

    def sin(self):
        return minigrad.ops.sin(self)

    def cos(self):
        return minigrad.ops.cos(self)

    def abs(self):
        return minigrad.ops.abs(self)

    def pow(self, exponent):
        return minigrad.ops.pow(self, exponent)

    def add(self, other, alpha=1):
        return minigrad.ops.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other, alpha=1):
        return minigrad.ops.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other):
        return minigrad.ops.mul(self, other)

    def div(self, other):
        return minigrad.ops.div(self, other)

    def neg(self):
        return minigrad.ops.neg(self)

    def clamp(self, min=None, max=None):
        return minigrad.functions.clamp(self, min, max)

    clip = clamp

    def softmax(self, dim, dtype=None):
        return minigrad.ops.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim, dtype=None):
        return minigrad.ops.log_softmax(self, dim, dtype=dtype)

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return minigrad.functions.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return minigrad.functions.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other):
        return minigrad.functions.equal(self, other)

    def eq(self, other):
        return self == other

    def ne(self, other):
        return self != other

    def lt(self, other):
        return self < other

    def le(self, other):
        return self <= other

    def gt(self, other):
        return self > other

    def ge(self, other):
        return self >= other

    def logical_and(self, other):
        return minigrad.functions.logical_and(self, other)

    def logical_or(self, other):
        return minigrad.functions.logical_or(self, other)

    def logical_xor(self, other):
        return minigrad.functions.logical_xor(self, other)

    def logical_not(self):
        return minigrad.functions.logical_not(self)

    # ------------------------------------------------------------ products

    def matmul(self, other):
        return minigrad.ops.matmul(self, other)

    def bmm(self, mat2):
        return minigrad.ops.bmm(self, mat2)

    def t(self):
        """The transpose of a matrix (a tensor of at most 2 dimensions)."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor of at most 2 dimensions, got {self.shape}")
        return minigrad.ops.permute(self, tuple(range(self.ndim))[::-1])

    def tril(self, diagonal=0):
        return minigrad.ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return minigrad.ops.triu(self, diagonal)

    # ------------------------------------------------------------ shape

    def reshape(self, *shape):
        return minigrad.ops.reshape(self, *shape)

    view = reshape

    def view_as(self, other):
        return minigrad.ops.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return minigrad.ops.flatten(self, start_dim, end_dim)

    def permute(self, *dims):
        return minigrad.ops.permute(self, *dims)

    def transpose(self, dim0, dim1):
        return minigrad.ops.swapaxes(self, dim0, dim1)

    def expand(self, *shape):
        return minigrad.ops.expand(self, *shape)

    def expand_as(self, other):
        return minigrad.ops.expand(self, other.shape)

    def squeeze(self, dim=None):
        return minigrad.ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return minigrad.ops.unsqueeze(self, dim)

    def split(self, split_size_or_sections, dim=0):
        return minigrad.ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        return minigrad.ops.chunk(self, chunks, dim)

    def unbind(self, dim=0):
        """The slices along ``dim``, each without it."""
        return tuple(minigrad.ops.squeeze(part, dim) for part in self.split(1, dim))

    def flip(self, dims):
        return minigrad.ops.flip(self, dims)

    def roll(self, shifts, dims=None):
        return minigrad.ops.roll(self, shifts, dims)

    def repeat(self, *sizes):
        return minigrad.ops.repeat(self, *sizes)

    def repeat_interleave(self, repeats, dim=None):
        return minigrad.ops.repeat_interleave(self, repeats, dim)

    def type_as(self, other):
        return self.to(dtype=other.dtype)

    # ------------------------------------------------------------ new tensors like this one

    def new_tensor(self, data, dtype=None, requires_grad=False):
        return minigrad.tensor(data, dtype=dtype or self.dtype, device=self.device,
                               requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, requires_grad=False):
        return minigrad.zeros(*size, dtype=dtype or self.dtype, device=self.device,
                              requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, requires_grad=False):
        return minigrad.ones(*size, dtype=dtype or self.dtype, device=self.device,
                             requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, requires_grad=False):
        return minigrad.full(size, fill_value, dtype=dtype or self.dtype, device=self.device,
                             requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, requires_grad=False):
        return minigrad.empty(*size, dtype=dtype or self.dtype, device=self.device,
                              requires_grad=requires_grad)


class InPlaceMethods:
    """In-place methods with PyTorch's trailing-underscore names. Each changes the tensor's
    own memory (so its views see the change) and counts one version: a recorded op that
    saved the tensor then refuses to differentiate with the changed values. As in
    PyTorch, a leaf that requires grad changes in place only under ``no_grad()``; unlike
    PyTorch, a tensor of a recorded graph does not change in place at all (minigrad records
    no in-place ops: write ``x = x.add(y)``)."""

    __slots__ = ()

    def _assign(self, op, result):
        """Write ``result`` (a Tensor, array or number broadcast to this shape) into this
        tensor's memory, in its dtype."""
        self._begin_inplace(op)
        values = result.data if isinstance(result, type(self)) else result
        if getattr(values, "shape", ()) != self.shape:
            values = self.xp.broadcast_to(self.xp.asarray(values), self.shape)
        self.data[...] = values
        return self

    def _out_of_place(self, op, fn, *args):
        """``fn(self, *args)`` computed without recording, to be written back in place."""
        with minigrad.no_grad():
            result = fn(self, *args)
        if result.shape != self.shape:
            raise RuntimeError(f"{op}: the result has shape {result.shape}, but an in-place "
                               f"op must keep the tensor's shape {self.shape}")
        return result

    def add_(self, other, alpha=1):
        other = other if alpha == 1 else other * alpha
        return self._assign("add_", self._out_of_place("add_", minigrad.ops.add, other))

    def sub_(self, other, alpha=1):
        other = other if alpha == 1 else other * alpha
        return self._assign("sub_", self._out_of_place("sub_", minigrad.ops.sub, other))

    def mul_(self, other):
        return self._assign("mul_", self._out_of_place("mul_", minigrad.ops.mul, other))

    def div_(self, other):
        return self._assign("div_", self._out_of_place("div_", minigrad.ops.div, other))

    def clamp_(self, min=None, max=None):
        return self._assign("clamp_", self._out_of_place("clamp_", minigrad.ops.clamp, min, max))

    clip_ = clamp_

    def masked_fill_(self, mask, value):
        return self._assign("masked_fill_", self._out_of_place(
            "masked_fill_", minigrad.ops.masked_fill, mask, value))

    def fill_(self, value):
        return self._assign("fill_", value.item() if isinstance(value, type(self)) else value)

    def copy_(self, src):
        """This tensor's values set to ``src``'s (broadcast, cast, moved to this device)."""
        if isinstance(src, type(self)):
            src = minigrad.backend.to_device(src.data, self.device)
        return self._assign("copy_", src)

    def normal_(self, mean=0.0, std=1.0):
        """Samples of N(mean, std^2) from the seeded generator."""
        draws = minigrad.backend.generator(self.xp).standard_normal(self.shape)
        return self._assign("normal_", draws * std + mean)

    def uniform_(self, a=0.0, b=1.0):
        """Samples of U(a, b) from the seeded generator."""
        draws = minigrad.backend.generator(self.xp).random(self.shape)
        return self._assign("uniform_", draws * (b - a) + a)
