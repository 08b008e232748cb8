"""The embedding lookup and dropout, both composed from other ops: a lookup is indexing
(its backward adds each position's gradient into the row it looked up), dropout is a
product with a random mask."""
from minigrad import backend
from minigrad.autograd import register
from minigrad.ops.arithmetic import mul
from minigrad.ops.base import const
from minigrad.ops.index import getitem, where
from minigrad.tensor import Tensor


@register("embedding", "composite: weight[ids]; the gradient of each row is the sum of the "
          "output gradients of the positions that looked it up", kind="composite")
def embedding(ids, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) looked up by integer ``ids`` of any shape."""
    idx = ids.data if isinstance(ids, Tensor) else weight.xp.asarray(ids)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got {weight.shape}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= weight.shape[0]):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(f"embedding: id {bad} is out of range for a table of "
                         f"{weight.shape[0]} rows")
    out = getitem(weight, idx)
    if padding_idx is not None:
        # The padding row receives no gradient (PyTorch's padding_idx).
        out = where((idx == padding_idx)[..., None], out.detach(), out)
    return out


@register("dropout", "composite: x * mask / (1 - p), mask ~ Bernoulli(1 - p)", kind="composite")
def dropout(x, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p)."""
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return mul(x, 0.0)
    scale = backend.kernels(x.data).keep_mask(x.data, x.shape, p).astype(x.dtype)
    scale *= 1.0 / (1.0 - p)
    return mul(x, const(scale))
