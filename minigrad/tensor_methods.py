"""The methods of ``Tensor`` with PyTorch's names and arguments (``x.sum(dim, keepdim)``,
``x.reshape(2, 3)``, ``x.max(dim)`` returning values and indices), each a call of its op
in ``minigrad.ops``, where the op's forward and backward stand side by side."""
# The package, not minigrad.ops: the ops import Tensor, which is built on this module, so
# they are looked up when a method is called.
import minigrad


class TensorMethods:
    """Mixed into ``Tensor``."""

    __slots__ = ()

    # ------------------------------------------------------------ math methods (PyTorch names)

    def sum(self, dim=None, keepdim=False):
        return minigrad.ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return minigrad.ops.mean(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, correction=1):
        return minigrad.ops.var(self, dim, keepdim, correction)

    def std(self, dim=None, keepdim=False, correction=1):
        return minigrad.ops.sqrt(minigrad.ops.var(self, dim, keepdim, correction))

    def max(self, dim=None, keepdim=False):
        """The maximum; with ``dim``, ``(values, indices)`` as in PyTorch."""
        if dim is None:
            return minigrad.ops.max(self)
        return MinMax(minigrad.ops.max(self, dim, keepdim), self.argmax(dim, keepdim))

    def min(self, dim=None, keepdim=False):
        if dim is None:
            return minigrad.ops.min(self)
        return MinMax(minigrad.ops.min(self, dim, keepdim), self.argmin(dim, keepdim))

    def any(self):
        return bool(self.data.any())

    def all(self):
        return bool(self.data.all())

    def argmax(self, dim=None, keepdim=False):
        return self._wrap(self.xp.argmax(self.data, axis=dim, keepdims=keepdim), False)

    def argmin(self, dim=None, keepdim=False):
        return self._wrap(self.xp.argmin(self.data, axis=dim, keepdims=keepdim), False)

    def logsumexp(self, dim, keepdim=False):
        return minigrad.ops.logsumexp(self, dim, keepdim)

    def exp(self):
        return minigrad.ops.exp(self)

    def log(self):
        return minigrad.ops.log(self)

    def sqrt(self):
        return minigrad.ops.sqrt(self)

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

    def clamp(self, min=None, max=None):
        return minigrad.ops.clamp(self, min, max)

    def matmul(self, other):
        return minigrad.ops.matmul(self, other)

    def softmax(self, dim):
        return minigrad.ops.softmax(self, dim)

    def log_softmax(self, dim):
        return minigrad.ops.log_softmax(self, dim)

    def masked_fill(self, mask, value):
        return minigrad.ops.masked_fill(self, mask, value)

    def tril(self, diagonal=0):
        return minigrad.ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        return minigrad.ops.triu(self, diagonal)

    # ------------------------------------------------------------ shape methods

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

    def type_as(self, other):
        return self.to(dtype=other.dtype)


class MinMax(tuple):
    """``(values, indices)`` from ``Tensor.max(dim)`` / ``Tensor.min(dim)``."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


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
