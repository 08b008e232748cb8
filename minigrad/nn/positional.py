"""Positional encodings: how a transformer learns where each token sits.

- ``LearnedPositionalEmbedding``: a trained table added to the input (GPT-2, HW4).
- ``SinusoidalPositionalEncoding``: a fixed table of sines and cosines added to the input
  ("Attention Is All You Need").
- ``RotaryEmbedding``: rotates queries and keys by an angle proportional to the position
  (RoPE, Su et al. 2021), so that q . k depends on the distance between positions only.

All three take ``offset``: the position of the first token, which is the length of the
key/value cache when decoding one token at a time.
"""
import math

from minigrad import backend
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.ops import cat, cos, exp, sin, stack
from minigrad.creation import arange, empty


def _check_length(layer, offset, length, max_len):
    if offset + length > max_len:
        raise ValueError(f"{layer}: positions {offset}..{offset + length - 1} (offset {offset} + "
                         f"length {length}) exceed the table of {max_len} positions")


def _angles(max_len, dim):
    """pos / 10000^(2i/dim) for pos < max_len, i < dim/2: (max_len, dim/2), in float64."""
    inv_freq = exp(arange(0, dim, 2, dtype=backend.float64) * (-math.log(10000.0) / dim))
    return arange(max_len, dtype=backend.float64).reshape(max_len, 1) * inv_freq


class LearnedPositionalEmbedding(Module):
    """x (B, T, dim) -> x + weight[offset : offset + T]; weight (max_len, dim) ~ N(0, 0.02^2)
    (GPT-2's init)."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.max_len, self.dim = max_len, dim
        self.weight = Parameter(empty(max_len, dim))
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x, offset=0):
        t = x.shape[-2]
        _check_length(repr(self), offset, t, self.max_len)
        return x + self.weight[offset:offset + t]

    def extra_repr(self):
        return f"{self.max_len}, {self.dim}"


class SinusoidalPositionalEncoding(Module):
    """x (B, T, dim) -> x + pe[offset : offset + T], with the fixed table (max_len, dim)
    pe[p, 2i] = sin(p / 10000^(2i/dim)), pe[p, 2i+1] = cos(p / 10000^(2i/dim))."""

    def __init__(self, dim, max_len=4096):
        super().__init__()
        if dim % 2:
            raise ValueError(f"SinusoidalPositionalEncoding: dim must be even, got {dim}")
        self.dim, self.max_len = dim, max_len
        angles = _angles(max_len, dim)
        pe = stack([sin(angles), cos(angles)], dim=-1).reshape(max_len, dim)
        self.register_buffer("pe", pe.to(backend.get_default_dtype()), persistent=False)

    def forward(self, x, offset=0):
        t = x.shape[-2]
        _check_length(repr(self), offset, t, self.max_len)
        return x + self.pe[offset:offset + t]

    def extra_repr(self):
        return f"{self.dim}, max_len={self.max_len}"


class RotaryEmbedding(Module):
    """Rotary position embedding for queries and keys: x (..., T, dim) -> same shape.

    The channel pairs (j, j + dim/2) of position p are rotated by the angle
    p / 10000^(2j/dim) (the "rotate half" layout of GPT-NeoX and LLaMA):
        out[..., :h] = x1 cos - x2 sin,   out[..., h:] = x1 sin + x2 cos,   h = dim/2.
    No parameters; the cos/sin tables (max_len, dim/2) are non-persistent buffers."""

    def __init__(self, dim, max_len=4096):
        super().__init__()
        if dim % 2:
            raise ValueError(f"RotaryEmbedding: dim (the head size) must be even, got {dim}")
        self.dim, self.max_len = dim, max_len
        angles = _angles(max_len, dim)
        dtype = backend.get_default_dtype()
        self.register_buffer("cos", cos(angles).to(dtype), persistent=False)
        self.register_buffer("sin", sin(angles).to(dtype), persistent=False)

    def forward(self, x, offset=0):
        t, h = x.shape[-2], self.dim // 2
        if x.shape[-1] != self.dim:
            raise ValueError(f"{self!r}: input of shape {x.shape} must end with dim {self.dim}")
        _check_length(repr(self), offset, t, self.max_len)
        c, s = self.cos[offset:offset + t], self.sin[offset:offset + t]
        x1, x2 = x[..., :h], x[..., h:]
        return cat([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1)

    def extra_repr(self):
        return f"{self.dim}, max_len={self.max_len}"
