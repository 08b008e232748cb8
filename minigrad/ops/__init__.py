"""Every op of the engine. Each op is a ``Function`` class with its forward and backward
side by side and its derivative in the registry (``minigrad.autograd.REGISTRY``), and its
public function directly beneath it. By concept:

- ``broadcast``: reshape, expand and sum, and ``sum_to_shape``, the backward of broadcasting
- ``arithmetic``: + - * /, neg, maximum, minimum
- ``elementwise``: powers, exp/log, tanh/sigmoid/relu, erf, sin/cos, abs, clamp
- ``convert``: dtype and device moves, clone, comparisons
- ``reduce``: mean, max, min, logsumexp, var, std
- ``index``: indexing and its backward, where, masked_fill, tril/triu, gather, scatter,
  scatter_add, index_select
- ``shape``: permute/transpose, squeeze/unsqueeze, flatten, cat/stack/split, flip, roll,
  repeat, repeat_interleave
- ``scan``: cumsum, cumprod
- ``linalg``: matmul, bmm, linear, einsum
- fused ops, one formula each with a hand-derived backward: ``softmax`` (softmax,
  log_softmax, cross_entropy), ``layer_norm``, ``activations`` (GELU), ``attention``
  (attention, self_attention), ``recurrent`` (the LSTM over a sequence)
- ``embedding``: embedding and dropout, composed from the ops above

Imports run one way, in that order: a module imports only modules listed before it.
"""
from minigrad.ops.base import as_tensor  # noqa: F401
from minigrad.ops.broadcast import (  # noqa: F401
    broadcast_to, expand, expand_back, reshape, sum, sum_to_shape, sum_to_shape_array)
from minigrad.ops.arithmetic import (  # noqa: F401
    add, div, maximum, minimum, mul, neg, rsub, sub)
from minigrad.ops.elementwise import (  # noqa: F401
    abs, clamp, cos, erf, exp, log, pow, relu, sigmoid, sin, sqrt, tanh)
from minigrad.ops.convert import astype, clone, compare, logical_not, to_device  # noqa: F401
from minigrad.ops.reduce import logsumexp, max, mean, min, std, var  # noqa: F401
from minigrad.ops.index import (  # noqa: F401
    gather, getitem, index_add_into, index_arrays, index_select, masked_fill, scatter,
    scatter_add, scatter_add_into, tril, triu, where)
from minigrad.ops.shape import (  # noqa: F401
    cat, chunk, concat, flatten, flip, permute, repeat, repeat_interleave, roll, split,
    squeeze, stack, swapaxes, transpose, unsqueeze)
from minigrad.ops.scan import cumprod, cumsum  # noqa: F401
from minigrad.ops.linalg import bmm, einsum, linear, matmul  # noqa: F401
from minigrad.ops.softmax import cross_entropy, log_softmax, softmax  # noqa: F401
from minigrad.ops.layer_norm import layer_norm  # noqa: F401
from minigrad.ops.activations import gelu  # noqa: F401
from minigrad.ops.attention import attention, self_attention  # noqa: F401
from minigrad.ops.recurrent import lstm_sequence  # noqa: F401
from minigrad.ops.embedding import dropout, embedding  # noqa: F401
