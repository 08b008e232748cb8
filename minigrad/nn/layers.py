"""The basic layers: Linear, Embedding, LayerNorm, RMSNorm, Dropout and the activations.

Each layer holds its parameters and calls one function of ``minigrad.functional`` (whose
ops carry the forward and backward). Shapes: ``*`` is any number of leading dimensions.
"""
import math

import numpy as np

from minigrad import functional as F
from minigrad.autograd import no_grad
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.creation import empty, ones, zeros
from minigrad.tensor import Tensor, tensor


class Linear(Module):
    """y = x W^T + b.

    x (*, in_features) -> y (*, out_features); weight (out_features, in_features),
    bias (out_features,). Init as PyTorch: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(empty(out_features, in_features))
        self.bias = Parameter(empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            width = x.shape[-1] if x.ndim else "no"
            raise ValueError(f"{self.describe()}: input of shape {x.shape} has {width} "
                             f"features in its last dimension, expected {self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def describe(self):
        return f"Linear({self.in_features}, {self.out_features})"

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: integer ids (*) -> rows of weight (*, embedding_dim).

    weight (num_embeddings, embedding_dim) ~ N(0, 1) as in PyTorch. The row ``padding_idx``
    starts at zero and receives no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding({num_embeddings}, {embedding_dim}): padding_idx "
                                 f"{padding_idx} is outside [-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(empty(num_embeddings, embedding_dim))
        self.reset_parameters()

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding whose weight is a copy of ``embeddings`` (rows, dim); ``freeze``
        keeps it from training."""
        rows, dim = embeddings.shape
        layer = cls(rows, dim, padding_idx)
        with no_grad():
            layer.weight.copy_(embeddings if isinstance(embeddings, Tensor) else tensor(embeddings))
        layer.weight.requires_grad_(not freeze)
        return layer

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, ids):
        ids = ids if isinstance(ids, Tensor) else tensor(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"{self.describe()}: ids must be integers, got dtype {ids.dtype}")
        if ids.numel():
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.num_embeddings:
                raise IndexError(f"{self.describe()}: id {low if low < 0 else high} is out of "
                                 f"range; ids must be in [0, {self.num_embeddings})")
        return F.embedding(ids, self.weight, self.padding_idx)

    def describe(self):
        return f"Embedding({self.num_embeddings}, {self.embedding_dim})"

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimensions.

    x (*, *normalized_shape) -> y of the same shape; weight (ones) and bias (zeros) have
    shape ``normalized_shape``. Uses the fused ``layer_norm`` op."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        shape = tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(ones(*shape)) if elementwise_affine else None
        self.bias = Parameter(zeros(*shape)) if elementwise_affine and bias else None

    def forward(self, x):
        n = len(self.normalized_shape)
        if x.ndim < n or x.shape[x.ndim - n:] != self.normalized_shape:
            raise ValueError(f"LayerNorm({self.normalized_shape}): input of shape {x.shape} "
                             f"must end with {self.normalized_shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.weight is not None}"


class RMSNorm(Module):
    """y = x / sqrt(mean(x^2) + eps) * weight over the last dimensions (LLaMA's norm,
    PyTorch's ``nn.RMSNorm``): LayerNorm without the mean subtracted and without a bias.
    ``eps=None`` takes the machine epsilon of the input's dtype, as PyTorch does. Composed
    of ops, so its gradient is theirs."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.weight = Parameter(ones(*self.normalized_shape)) if elementwise_affine else None

    def forward(self, x):
        n = len(self.normalized_shape)
        if x.ndim < n or x.shape[x.ndim - n:] != self.normalized_shape:
            raise ValueError(f"RMSNorm({self.normalized_shape}): input of shape {x.shape} "
                             f"must end with {self.normalized_shape}")
        eps = float(np.finfo(x.dtype).eps) if self.eps is None else self.eps
        mean_square = (x * x).mean(dim=tuple(range(-n, 0)), keepdim=True)
        y = x * (mean_square + eps) ** -0.5
        return y if self.weight is None else y * self.weight

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.weight is not None}"


class Dropout(Module):
    """Zero each element with probability p during training (scaling the rest by 1/(1-p));
    the identity in eval mode. Any shape. (``inplace`` is accepted; the result is a new
    tensor.)"""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    """max(x, 0), elementwise. (``inplace`` is accepted; the result is a new tensor.)"""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)


class GELU(Module):
    """x Phi(x) (``approximate='none'``, with erf) or its tanh approximation ('tanh')."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x):
        return F.tanh(x)
