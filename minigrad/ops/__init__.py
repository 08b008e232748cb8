"""Every op of the engine. Each op's forward and backward stand side by side in one
``Function`` class, with its derivative in the registry (``minigrad.autograd.REGISTRY``).

- ``elementwise``: arithmetic, exp/log/tanh/..., comparisons, dtype and device moves
- ``reduce``: sum, mean, max, min, logsumexp, var
- ``shape``: reshape, permute, expand, indexing, cat/stack/split, where, masked_fill
- ``linalg``: matmul
- ``fused``: softmax, log_softmax, cross_entropy, layer_norm, gelu, embedding, dropout
- ``recurrent``: the LSTM recurrence over a whole sequence
"""
from minigrad.ops.base import as_tensor, sum_to_shape  # noqa: F401
from minigrad.ops.elementwise import (  # noqa: F401
    abs, add, astype, clamp, clone, compare, cos, div, erf, exp, log, logical_not, maximum,
    minimum, mul, neg, pow, relu, rsub, sigmoid, sin, sqrt, sub, tanh, to_device)
from minigrad.ops.fused import (  # noqa: F401
    attention, cross_entropy, dropout, embedding, gelu, layer_norm, log_softmax, self_attention,
    softmax)
from minigrad.ops.linalg import linear, matmul  # noqa: F401
from minigrad.ops.recurrent import lstm_sequence  # noqa: F401
from minigrad.ops.reduce import logsumexp, max, mean, min, sum, var  # noqa: F401
from minigrad.ops.shape import (  # noqa: F401
    broadcast_to, cat, chunk, concat, expand, flatten, getitem, index_add_into, index_arrays,
    masked_fill, permute, reshape, split, squeeze, stack, swapaxes, transpose, tril, triu,
    unsqueeze, where)
