"""``MultiheadAttention`` as PyTorch spells and calls it: query, key and value of their
own (self-attention, cross-attention), PyTorch's masks and parameter layout, so that a
PyTorch state dict loads as it is. (``MultiHeadAttention`` in ``attention.py`` is the
project's own self-attention with a key/value cache, used by its models.)

Shapes: N batch, L target (query) length, S source (key) length, E = embed_dim,
H = num_heads, D = E / H.
"""
import math

from minigrad import functional as F
from minigrad import ops
from minigrad.creation import empty, zeros
from minigrad.nn import init
from minigrad.nn.layers import Linear
from minigrad.nn.module import Module, Parameter
from minigrad.ops.base import const
from minigrad.tensor import Tensor


def additive_mask(mask, dtype):
    """A mask as a tensor to add to the attention scores: a bool mask gives -inf where it
    is True (the position may not be attended) and 0 elsewhere, a float mask is used as it
    is (a float tensor that requires grad gets its gradient, as in PyTorch). None stays
    None."""
    if mask is None:
        return None
    mask = mask if isinstance(mask, Tensor) else Tensor(mask)
    if mask.dtype.kind == "b":
        return const(mask.xp.where(mask.data, -math.inf, 0.0).astype(dtype))
    return mask if mask.dtype == dtype else mask.to(dtype=dtype)


class MultiheadAttention(Module):
    """Multi-head attention of PyTorch: ``forward(query, key, value)`` ->
    ``(output, weights)``.

        q = query W_q^T + b_q,  k = key W_k^T + b_k,  v = value W_v^T + b_v
        head_h = softmax(q_h k_h^T / sqrt(D) + mask) v_h     for each of the H heads
        output = concat(head_1, ..., head_H) W_out^T + b_out

    Inputs (L, N, E), (S, N, kdim), (S, N, vdim), or (N, L, E), ... with ``batch_first``,
    or unbatched (L, E), (S, kdim), (S, vdim). Parameters as PyTorch's:
    ``in_proj_weight`` (3E, E) = [W_q; W_k; W_v] and ``in_proj_bias`` (3E,) when kdim and
    vdim are E, else ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim); ``out_proj`` a Linear(E, E); ``bias_k``, ``bias_v``
    (1, 1, E) with ``add_bias_kv`` (a learned key and value appended to the S positions);
    ``add_zero_attn`` appends a zero key and value after them.

    Masks: ``attn_mask`` (L, S) or (N * H, L, S), ``key_padding_mask`` (N, S) (or (S,)
    unbatched); a bool mask is True where attention is not allowed, a float mask is added
    to the scores. ``is_causal`` is PyTorch's hint that ``attn_mask`` is the causal mask
    (it must then be given). The weights are returned with ``need_weights``: (N, L, S)
    averaged over heads, or (N, H, L, S) with ``average_attn_weights=False``, after
    dropout (as PyTorch's); otherwise the output comes from
    ``F.scaled_dot_product_attention`` (fused without masks) and the weights are None."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater "
                             f"than 0, got embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} must be divisible by "
                             f"num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.dropout, self.batch_first, self.add_zero_attn = dropout, batch_first, add_zero_attn
        e = embed_dim
        if self._qkv_same_embed_dim:
            self.register_parameter("in_proj_weight", Parameter(empty(3 * e, e)))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.register_parameter("q_proj_weight", Parameter(empty(e, e)))
            self.register_parameter("k_proj_weight", Parameter(empty(e, self.kdim)))
            self.register_parameter("v_proj_weight", Parameter(empty(e, self.vdim)))
            self.register_parameter("in_proj_weight", None)
        self.register_parameter("in_proj_bias", Parameter(empty(3 * e)) if bias else None)
        self.out_proj = Linear(e, e, bias=bias)
        for name in ("bias_k", "bias_v"):
            self.register_parameter(name, Parameter(empty(1, 1, e)) if add_bias_kv else None)
        self._reset_parameters()
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def _reset_parameters(self):
        """As PyTorch: Xavier-uniform projections, zero biases, Xavier-normal bias_k/v
        (``out_proj.weight`` keeps Linear's init)."""
        for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            if self._parameters[name] is not None:
                init.xavier_uniform_(self._parameters[name])
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        for name in ("bias_k", "bias_v"):
            if self._parameters[name] is not None:
                init.xavier_normal_(self._parameters[name])

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use "
                               "the Transformer module method `generate_square_subsequent_mask` "
                               "to create this mask.")
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None and key_padding_mask.ndim == 1:
                key_padding_mask = key_padding_mask[None]
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        self._check(query, key, value)
        n, tgt_len, e = query.shape
        q, k, v = self._project(query, key, value)                    # (N, L|S, E)
        mask = additive_mask(attn_mask, q.dtype)
        pad = additive_mask(key_padding_mask, q.dtype)
        if self.bias_k is not None:
            k = ops.cat([k, self.bias_k.expand(n, 1, e)], 1)
            v = ops.cat([v, self.bias_v.expand(n, 1, e)], 1)
            mask, pad = _extend(mask), _extend(pad)
        q, k, v = (self._heads(t) for t in (q, k, v))                 # (N, H, L|S, D)
        if self.add_zero_attn:
            k = ops.cat([k, zeros(*k.shape[:2], 1, k.shape[3], dtype=k.dtype, device=k.device)], 2)
            v = ops.cat([v, zeros(*v.shape[:2], 1, v.shape[3], dtype=v.dtype, device=v.device)], 2)
            mask, pad = _extend(mask), _extend(pad)
        src_len = k.shape[2]
        # PyTorch's rule: the causal hint replaces the mask only without padding or weights
        # (and, here, only for a square mask: the fused causal op aligns the last query with
        # the last key).
        causal = bool(is_causal) and pad is None and not need_weights and tgt_len == src_len
        scores_mask = None if causal else self._merge(mask, pad, n, tgt_len, src_len)
        dropout = self.dropout if self.training else 0.0
        if need_weights:
            scores = ops.matmul(ops.mul(q, 1.0 / math.sqrt(self.head_dim)), k.transpose(-2, -1))
            if scores_mask is not None:
                scores = ops.add(scores, scores_mask)
            weights = F.dropout(F.softmax(scores, -1), dropout)
            out = ops.matmul(weights, v)
        else:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=scores_mask, dropout_p=dropout, is_causal=causal)
            weights = None
        out = self.out_proj(out.transpose(1, 2).reshape(n, tgt_len, e))   # (N, L, E)
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(1)
            if unbatched:
                weights = weights.squeeze(0)
        return out, weights

    def _check(self, query, key, value):
        for name, t, width in (("query", query, self.embed_dim), ("key", key, self.kdim),
                               ("value", value, self.vdim)):
            if t.ndim != 3 or t.shape[-1] != width:
                raise ValueError(f"{self.describe()}: {name} of shape {t.shape} does not have "
                                 f"{width} features in its last dimension, or its batch "
                                 f"layout differs from the query's")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(f"{self.describe()}: query {query.shape}, key {key.shape} and "
                             f"value {value.shape} need one batch size, key and value one "
                             f"length")

    def _project(self, query, key, value):
        """q, k, v = query W_q^T + b_q, key W_k^T + b_k, value W_v^T + b_v."""
        e, b = self.embed_dim, self.in_proj_bias
        biases = (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            if query is key and key is value:                # self-attention: one product
                return F.linear(query, self.in_proj_weight, b).split(e, dim=-1)
            w = self.in_proj_weight
            weights = (w[:e], w[e:2 * e], w[2 * e:])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, bias) for x, w, bias in zip((query, key, value), weights,
                                                              biases))

    def _heads(self, t):
        """(N, T, E) -> (N, H, T, D)."""
        n, length, _ = t.shape
        return t.reshape(n, length, self.num_heads, self.head_dim).transpose(1, 2)

    def _merge(self, mask, pad, n, tgt_len, src_len):
        """attn_mask and key_padding_mask as one array that broadcasts to (N, H, L, S)."""
        if mask is not None:
            if mask.ndim == 2 and mask.shape != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(mask.shape)}, but "
                                   f"should be {(tgt_len, src_len)}.")
            if mask.ndim == 3:
                expected = (n * self.num_heads, tgt_len, src_len)
                if mask.shape != expected:
                    raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(mask.shape)}, "
                                       f"but should be {expected}.")
                mask = mask.reshape(n, self.num_heads, tgt_len, src_len)
            elif mask.ndim != 2:
                raise RuntimeError(f"attn_mask's dimension {mask.ndim} is not supported")
        if pad is not None:
            if pad.shape != (n, src_len):
                raise RuntimeError(f"key_padding_mask of shape {tuple(pad.shape)}, expected "
                                   f"{(n, src_len)} (batch, source length)")
            pad = pad.reshape(n, 1, 1, src_len)
        if mask is None or pad is None:
            return pad if mask is None else mask
        return ops.add(mask, pad)

    def describe(self):
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, " \
               f"dropout={self.dropout}, batch_first={self.batch_first}"


def _extend(mask):
    """A mask with one more key position (allowed) at the end of its last dimension."""
    return None if mask is None else F.pad(mask, (0, 1))
