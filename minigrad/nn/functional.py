"""``minigrad.nn.functional``: the functions of ``minigrad.functional`` under the names and
signatures that PyTorch code uses with ``import torch.nn.functional as F``.

Three differ from ``minigrad.functional`` to match PyTorch's signatures: ``softmax`` and
``log_softmax`` take ``dim``; ``scaled_dot_product_attention`` takes ``attn_mask`` (bool,
True where a query may attend), ``dropout_p`` and ``is_causal`` and returns the output only.
"""
from minigrad import functional as _F
from minigrad.functional import (  # noqa: F401  (the same functions as minigrad.functional)
    cross_entropy, dropout, embedding, gelu, layer_norm, linear, mse_loss, nll_loss, relu,
    sigmoid, tanh)


def softmax(input, dim):
    """exp(x) / sum(exp(x)) along ``dim``."""
    return _F.softmax(input, dim)


def log_softmax(input, dim):
    """x - logsumexp(x) along ``dim``."""
    return _F.log_softmax(input, dim)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False):
    """softmax(q k^T / sqrt(d)) v for q (..., L, d), k, v (..., S, d), as PyTorch's:
    ``attn_mask`` (bool, broadcastable to (..., L, S)) is True where attention is allowed;
    dropout with ``dropout_p`` is applied to the weights whenever it is given."""
    mask = None
    if attn_mask is not None:
        if attn_mask.dtype.kind != "b":
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = "
                            f"attend), got dtype {attn_mask.dtype}")
        mask = ~attn_mask
    return _F.scaled_dot_product_attention(query, key, value, causal=is_causal, mask=mask,
                                           dropout_p=dropout_p, training=True)
