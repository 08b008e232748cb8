"""Multi-head self-attention with a key/value cache for decoding one token at a time.

Shapes: B batch, T new positions, S = positions in the cache + T, E = embed_dim,
H = num_heads, D = E / H (head size).
"""
import contextlib

from minigrad import functional as F
from minigrad.nn.layers import Linear
from minigrad.nn.module import Module
from minigrad.nn.positional import RotaryEmbedding
from minigrad.ops import cat, self_attention


class KVCache:
    """The keys and values (B, H, S, D) one attention layer has seen so far.

    Pass the same cache to every call of one layer while decoding; each call appends the
    new positions. Use one cache per layer (a model keeps a list of them)."""

    def __init__(self):
        self.k = self.v = None

    def __len__(self):
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k, v):
        """Add k, v (B, H, T, D) after the cached positions; return all of them (B, H, S, D)."""
        if self.k is None:
            self.k, self.v = k, v
        else:
            self.k, self.v = cat([self.k, k], dim=-2), cat([self.v, v], dim=-2)
        return self.k, self.v


class MultiHeadAttention(Module):
    """Multi-head self-attention: x (B, T, E) -> (B, T, E).

        q, k, v = split(x W_in^T + b_in)             W_in (3E, E): rows [W_q; W_k; W_v]
        head_h = softmax(q_h k_h^T / sqrt(D) + mask) v_h     for each of the H heads
        out = concat(head_1, ..., head_H) W_out^T + b_out

    ``in_proj`` has the layout of ``torch.nn.MultiheadAttention.in_proj_weight``. ``causal``
    masks the keys after each query. ``dropout`` applies to the attention weights while
    training. ``rope=True`` (or a ``RotaryEmbedding(D)``) rotates q and k by position.

    ``forward(x, need_weights=False, cache=None)`` returns the output, or
    ``(output, weights)`` with the weights (B, H, T, S) before dropout when
    ``need_weights``. With ``keep_weights`` set (``record_attention`` sets it on every layer
    of a model), each call also keeps its weights, cut from the graph, in ``self.weights``:
    a model's plot reads them there instead of every layer passing them up. Without either,
    attention is one fused op. With a ``KVCache``, x holds only the new positions, which
    attend to the cached ones too."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, causal=True, bias=True, rope=False,
                 keep_weights=False):
        super().__init__()
        self.keep_weights, self.weights = keep_weights, None
        if embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim {embed_dim} is not divisible by "
                             f"num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout, self.causal = dropout, causal
        self.in_proj = Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        if rope is True:
            rope = RotaryEmbedding(self.head_dim)
        elif rope and rope.dim != self.head_dim:
            raise ValueError(f"{self.describe()}: the RotaryEmbedding has dim {rope.dim}, "
                             f"expected the head size {self.head_dim}")
        self.rope = rope or None

    def forward(self, x, need_weights=False, cache=None):
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            raise ValueError(f"{self.describe()}: input of shape {x.shape}, expected "
                             f"(batch, time, {self.embed_dim})")
        b, t, e = x.shape
        dropout = self.dropout if self.training else 0.0
        with_weights = need_weights or self.keep_weights
        if self.rope is None and cache is None and not with_weights:
            qkv = self.in_proj(x)
            return self.out_proj(self_attention(qkv, self.num_heads, self.causal, dropout))
        q, k, v = (self._split_heads(z) for z in self.in_proj(x).split(e, dim=-1))
        if self.rope is not None:
            offset = len(cache) if cache is not None else 0
            q, k = self.rope(q, offset), self.rope(k, offset)
        if cache is not None:
            k, v = cache.append(k, v)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=dropout, is_causal=self.causal,
            return_weights=with_weights)
        y, weights = out if with_weights else (out, None)
        if self.keep_weights:
            self.weights = weights.detach()
        y = self.out_proj(y.transpose(1, 2).reshape(b, t, e))
        return (y, weights) if need_weights else y

    def _split_heads(self, z):
        """(B, T, E) -> (B, H, T, D)."""
        b, t, _ = z.shape
        return z.reshape(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def describe(self):
        return f"MultiHeadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, " \
               f"dropout={self.dropout}, causal={self.causal}"


@contextlib.contextmanager
def record_attention(model):
    """Within the block, every attention layer of ``model`` keeps the weights of its last
    call in ``.weights`` (B, H, T, S); yields those layers, in order. An attention layer is
    a module with a ``keep_weights`` flag that it honours so: ``MultiHeadAttention``, and
    any head a model defines the same way.

        with nn.record_attention(model) as layers:
            model(ids)
        maps = [layer.weights for layer in layers]"""
    layers = [m for m in model.modules() if hasattr(m, "keep_weights")]
    before = [m.keep_weights for m in layers]
    for m in layers:
        m.keep_weights = True
    try:
        yield layers
    finally:
        for m, keep in zip(layers, before):
            m.keep_weights = keep
