"""Matrix multiplication, the op where almost all of a model's time goes."""
from minigrad.autograd import Function, is_grad_enabled, register
from minigrad.ops.base import broadcast_shapes, const, pair, sum_to_shape


@register("matmul", "d(A@B)/dA = G @ B^T, d(A@B)/dB = A^T @ G (batch dims summed back)")
class MatMul(Function):
    """``a @ b`` for a.ndim, b.ndim >= 2, batch dimensions broadcast as in NumPy."""

    def forward(self, a, b):
        return a @ b

    def backward(self, grad, out):
        from minigrad.ops.shape import swapaxes
        a, b = out._inputs
        ga = sum_to_shape(MatMul.apply(grad, swapaxes(b, -1, -2)), a.shape) if a.requires_grad else None
        gb = sum_to_shape(MatMul.apply(swapaxes(a, -1, -2), grad), b.shape) if b.requires_grad else None
        return ga, gb


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are treated as a row (left) or a
    column (right) vector and that dimension is removed from the result."""
    from minigrad.ops.shape import reshape, unsqueeze
    a, b = pair(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: both operands need at least 1 "
                         "dimension (use * for scalars)")
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, -1) if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: inner dimensions {a2.shape[-1]} "
                         f"and {b2.shape[-2]} differ")
    broadcast_shapes(a2.shape[:-2], b2.shape[:-2], "matmul (batch dimensions)")
    if b2.ndim == 2 and a2.ndim > 2:
        # (..., K) @ (K, N) as one (M, K) @ (K, N) product: one BLAS call instead of one per
        # batch entry, and the weight gradient comes out summed over the batch for free.
        flat = MatMul.apply(reshape(a2, (-1, a2.shape[-1])), b2)
        out = reshape(flat, a2.shape[:-1] + b2.shape[-1:])
    else:
        out = MatMul.apply(a2, b2)
    if a.ndim == 1:
        out = reshape(out, out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        out = reshape(out, out.shape[:-1])
    return out


@register("linear", "y = x W^T + b: dx = G W, dW = G^T x (summed over the batch), db = sum G",
          kind="fused")
class Linear(Function):
    """A layer's affine map as one op: one matrix product each way on the flattened batch,
    and the weight gradient comes out in W's own layout."""

    def forward(self, x, w, *b):
        y = x.reshape(-1, x.shape[-1]) @ w.T
        if b:
            y += b[0]
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, grad, out):
        x, w, *b = out._inputs
        if is_grad_enabled():
            return self._backward_graph(grad, x, w, b)
        g = grad.data.reshape(-1, w.shape[0])
        gx = const((g @ w.data).reshape(x.shape)) if x.requires_grad else None
        gw = const(g.T @ x.data.reshape(-1, x.shape[-1])) if w.requires_grad else None
        gb = [const(g.sum(axis=0))] if b else []
        return (gx, gw, *gb)

    @staticmethod
    def _backward_graph(grad, x, w, b):
        from minigrad.ops.reduce import sum as sum_
        from minigrad.ops.shape import reshape, swapaxes
        g = reshape(grad, (-1, w.shape[0]))
        gx = reshape(matmul(g, w), x.shape)
        gw = matmul(swapaxes(g, 0, 1), reshape(x, (-1, x.shape[-1])))
        return (gx, gw, *([sum_(g, axis=0)] if b else []))


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input {x.shape} has {x.shape[-1] if x.ndim else 0} features, "
                         f"but the weight {weight.shape} expects {weight.shape[-1]}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"linear: bias has shape {bias.shape}, expected {weight.shape[:1]}")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input is {x.dtype} but the weight is {weight.dtype}")
    return Linear.apply(x, weight, *([] if bias is None else [bias]))
