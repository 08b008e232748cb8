"""Matrix products, the ops where almost all of a model's time goes: ``matmul`` (and
``bmm``), the affine map of a layer, ``linear``, and ``einsum``. Under ``minigrad.amp.autocast`` both compute in a low
precision (``low``); their backward products use the precision of their forward."""
from minigrad import amp, backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import add
from minigrad.ops.base import broadcast_shapes, pair
from minigrad.ops.broadcast import expand, reshape, sum, sum_to_shape, sum_to_shape_array
from minigrad.ops.shape import swapaxes, unsqueeze


def _mm(a, b, low):
    """``a @ b`` on arrays, or under autocast computed in the ``low`` dtype."""
    return a @ b if low is None else amp.matmul(a, b, low)


@register("matmul", "d(A@B)/dA = G @ B^T, d(A@B)/dB = A^T @ G (batch dims summed back)")
class MatMul(Function):
    """``a @ b`` for a.ndim, b.ndim >= 2, batch dimensions broadcast as in NumPy.
    ``low``: the dtype autocast computes in (None: the operands' own)."""

    saved_inputs = (0, 1)
    saves_output = False

    low = None

    def forward(self, a, b):
        return _mm(a, b, self.low)

    def backward(self, grad, out):
        a, b = out._inputs
        ga = gb = None
        if a.requires_grad:
            ga = sum_to_shape(MatMul.apply(grad, swapaxes(b, -1, -2), low=self.low), a.shape)
        if b.requires_grad:
            gb = sum_to_shape(MatMul.apply(swapaxes(a, -1, -2), grad, low=self.low), b.shape)
        return ga, gb

    def backward_arrays(self, grad, out):
        a, b = out._inputs
        ga = gb = None
        if a.requires_grad:
            ga = sum_to_shape_array(_mm(grad, b.data.swapaxes(-1, -2), self.low), a.shape)
        if b.requires_grad:
            gb = sum_to_shape_array(_mm(a.data.swapaxes(-1, -2), grad, self.low), b.shape)
        return ga, gb


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are treated as a row (left) or a
    column (right) vector and that dimension is removed from the result."""
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
    low = amp.compute_dtype(a2.data, b2.data)
    if b2.ndim == 2 and a2.ndim > 2:
        # (..., K) @ (K, N) as one (M, K) @ (K, N) product: one BLAS call instead of one per
        # batch entry, and the weight gradient comes out summed over the batch for free.
        flat = MatMul.apply(reshape(a2, (-1, a2.shape[-1])), b2, low=low)
        out = reshape(flat, a2.shape[:-1] + b2.shape[-1:])
    else:
        out = MatMul.apply(a2, b2, low=low)
    if a.ndim == 1:
        out = reshape(out, out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        out = reshape(out, out.shape[:-1])
    return out


@register("linear", "y = x W^T + b: dx = G W, dW = G^T x (summed over the batch), db = sum G",
          kind="fused")
class Linear(Function):
    """A layer's affine map as one op: one matrix product each way on the flattened batch,
    and the weight gradient comes out in W's own layout. ``low`` as in MatMul."""

    saved_inputs = (0, 1)
    saves_output = False

    low = None

    def forward(self, x, w, *b):
        y = _mm(x.reshape(-1, x.shape[-1]), w.T, self.low)
        if b:
            y += b[0]
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, grad, out):
        x, w, *b = out._inputs
        g = reshape(grad, (-1, w.shape[0]))
        gx = reshape(MatMul.apply(g, w, low=self.low), x.shape)
        gw = MatMul.apply(swapaxes(g, 0, 1), reshape(x, (-1, x.shape[-1])), low=self.low)
        return (gx, gw, *([sum(g, 0)] if b else []))

    def backward_arrays(self, grad, out):
        x, w, *b = out._inputs
        g = grad.reshape(-1, w.shape[0])
        gx = _mm(g, w.data, self.low).reshape(x.shape) if x.requires_grad else None
        gw = _mm(g.T, x.data.reshape(-1, x.shape[-1]), self.low) if w.requires_grad else None
        return (gx, gw, *([g.sum(axis=0)] if b else []))

    def reference(self, x, w, *b):
        y = matmul(x, swapaxes(w, 0, 1))
        return add(y, b[0]) if b else y


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input {x.shape} has {x.shape[-1] if x.ndim else 0} features, "
                         f"but the weight {weight.shape} expects {weight.shape[-1]}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"linear: bias has shape {bias.shape}, expected {weight.shape[:1]}")
    if x.dtype != weight.dtype:
        raise TypeError(f"linear: input is {x.dtype} but the weight is {weight.dtype}")
    return Linear.apply(x, weight, *([] if bias is None else [bias]),
                        low=amp.compute_dtype(x.data, weight.data))


def bmm(input, mat2):
    """Batched matrix product of (B, n, m) and (B, m, p) tensors, as ``torch.bmm``."""
    if input.ndim != 3 or mat2.ndim != 3 or input.shape[0] != mat2.shape[0]:
        raise ValueError(f"bmm: expected (B, n, m) and (B, m, p) with the same B, got "
                         f"{input.shape} and {mat2.shape}")
    return matmul(input, mat2)


# ---------------------------------------------------------------- einsum

@register("einsum", "out = sum over the letters not kept of the product of the operands; "
          "d out/d operand k: einsum of g with the other operands, into k's letters")
class Einsum(Function):
    """``einsum`` with explicit letters, every letter of one size in all operands, and no
    letter twice in one operand (``einsum`` arranges that: it spells out '...' and
    broadcasts size-1 dimensions with ``expand``)."""

    saved_inputs = None
    saves_output = False

    def forward(self, *arrays):
        return backend.get_array_module(arrays[0]).einsum(self.equation, *arrays)

    def backward(self, grad, out):
        inputs, (subs, result) = out._inputs, _parse(self.equation)
        grads = []
        for k, x in enumerate(inputs):
            if not x.requires_grad:
                grads.append(None)
                continue
            others = [(s, t) for j, (s, t) in enumerate(zip(subs, inputs)) if j != k]
            available = set(result).union(*[s for s, _ in others])
            kept = "".join(c for c in subs[k] if c in available)
            g = Einsum.apply(grad, *[t for _, t in others],
                             equation=",".join([result] + [s for s, _ in others]) + "->" + kept)
            grads.append(_spread(g, kept, subs[k], x.shape))
        return grads


def _parse(equation):
    """(operand subscripts, output subscripts) of an explicit equation 'ij,jk->ik'."""
    inputs, result = equation.split("->")
    return inputs.split(","), result


def _spread(g, kept, subs, shape):
    """g over the letters ``kept`` as a tensor over ``subs`` of ``shape``: the letters that
    only this operand had (summed away by the forward) come back by broadcasting."""
    if kept == subs:
        return g
    g = reshape(g, tuple(shape[i] if c in kept else 1 for i, c in enumerate(subs)))
    return expand(g, shape)


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum``: 'ij,jk->ik' is a matrix product, 'bij->bji'
    a transpose, 'i,i->' a dot product; without '->' the output holds the letters that
    appear once, in alphabetical order; '...' stands for broadcast leading dimensions."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    subs, result = _explicit(equation.replace(" ", ""), [t.ndim for t in operands])
    sizes = {}
    for s, t in zip(subs, operands):
        if len(set(s)) != len(s):
            raise NotImplementedError(f"einsum: a letter repeated within one operand ({s!r}, a "
                                      "trace or diagonal) is not supported")
        for c, n in zip(s, t.shape):
            if sizes.get(c, 1) != 1 and n not in (1, sizes[c]):
                raise ValueError(f"einsum: letter {c!r} has sizes {sizes[c]} and {n}")
            sizes[c] = max(sizes.get(c, 1), n)
    operands = [expand(t, tuple(sizes[c] for c in s)) for s, t in zip(subs, operands)]
    return Einsum.apply(*operands, equation=",".join(subs) + "->" + result)


def _explicit(equation, ndims):
    """(operand subscripts, output subscripts) with '...' spelled out in unused capital
    letters (right-aligned, as broadcasting aligns) and the implicit output made explicit."""
    lhs, arrow, rhs = equation.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(ndims):
        raise ValueError(f"einsum: {equation!r} has {len(subs)} operands, got {len(ndims)}")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation]
    extra = max((n - len(s.replace("...", "")) for s, n in zip(subs, ndims) if "..." in s),
                default=0)
    dots = "".join(spare[:extra])
    spelled = []
    for s, n in zip(subs, ndims):
        if "..." in s:
            s = s.replace("...", dots[extra - (n - len(s.replace("...", ""))):])
        if len(s) != n:
            raise ValueError(f"einsum: operand subscripts {s!r} for a tensor of {n} dimensions")
        spelled.append(s)
    if arrow:
        result = rhs.replace("...", dots)
    else:
        counts = {c: "".join(spelled).count(c) for c in "".join(spelled)}
        result = dots + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in dots))
    return spelled, result
