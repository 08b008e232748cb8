"""``minigrad.nn.functional``: the same functions as ``minigrad.functional``, importable
the way PyTorch code does it (``import minigrad.nn.functional as F``)."""
from minigrad.functional import (  # noqa: F401
    cross_entropy, dropout, embedding, gelu, layer_norm, linear, log_softmax, mse_loss,
    normalize, nll_loss, one_hot, pad, relu, scaled_dot_product_attention, sigmoid, silu,
    softmax, tanh)
