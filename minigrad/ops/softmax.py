"""Softmax, log-softmax and softmax cross-entropy, each fused into one op: one forward over
arrays (the backend's kernel for the input's device) and a hand-derived backward, instead
of the half-dozen ops and intermediate arrays of the composed formula (``reference``)."""
from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import div, mul, neg, sub
from minigrad.ops.base import const, dim_args, float_input, normalize_axis
from minigrad.ops.broadcast import reshape, sum
from minigrad.ops.elementwise import exp
from minigrad.ops.reduce import logsumexp
from minigrad.ops.shape import permute
from minigrad.tensor import Tensor


@register("softmax", "y = exp(x) / sum(exp(x)); dx = y * (g - sum(g * y)) along the axis",
          kind="fused")
class Softmax(Function):
    saved_inputs = ()

    def forward(self, x):
        return backend.kernels(x).softmax(x, self.axis)

    def backward(self, grad, out):
        return (mul(out, sub(grad, sum(mul(grad, out), self.axis, keepdim=True))),)

    def backward_arrays(self, grad, out):
        return (backend.kernels(grad).softmax_backward(out.data, grad, self.axis),)

    def reference(self, x):
        # Shifting by a constant leaves softmax unchanged and keeps exp from overflowing.
        e = exp(sub(x, const(x.data.max(axis=self.axis, keepdims=True))))
        return div(e, sum(e, self.axis, keepdim=True))


def softmax(input, dim=-1, *, axis=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (numerically stable)."""
    dim, _ = dim_args("softmax", dim, False, axis)
    if dtype is not None:                  # PyTorch's dtype=: cast first (differentiably)
        input = input.to(dtype=dtype)
    float_input(input, "softmax")
    return Softmax.apply(input, axis=normalize_axis(dim, input.ndim, "softmax"))


@register("log_softmax", "y = x - logsumexp(x); dx = g - softmax(x) * sum(g) along the axis",
          kind="fused")
class LogSoftmax(Function):
    saved_inputs = ()

    def forward(self, x):
        xp = backend.get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return shifted

    def backward(self, grad, out):
        return (sub(grad, mul(exp(out), sum(grad, self.axis, keepdim=True))),)

    def backward_arrays(self, grad, out):
        xp = backend.get_array_module(grad)
        return (grad - xp.exp(out.data) * grad.sum(axis=self.axis, keepdims=True),)

    def reference(self, x):
        return sub(x, logsumexp(x, self.axis, keepdim=True))


def log_softmax(input, dim=-1, *, axis=None, dtype=None):
    """x - logsumexp(x) along ``dim``."""
    dim, _ = dim_args("log_softmax", dim, False, axis)
    if dtype is not None:                  # PyTorch's dtype=: cast first (differentiably)
        input = input.to(dtype=dtype)
    float_input(input, "log_softmax")
    return LogSoftmax.apply(input, axis=normalize_axis(dim, input.ndim, "log_softmax"))


@register("cross_entropy", "L = -w[t] log softmax(x)[t]; dL/dx = (softmax(x) - onehot(t)) * w[t]",
          kind="fused")
class CrossEntropy(Function):
    """Mean (or sum, or per-item) of -w[t] log softmax(logits)[t] over the last axis, for
    target class t and class weights w (all 1 by default). Targets equal to
    ``ignore_index`` contribute nothing; the mean divides by the sum of the weights of the
    counted positions (PyTorch's rule)."""

    saved_inputs = (0,)
    saves_output = False

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        keep = self.target != self.ignore_index
        self.safe_target = xp.where(keep, self.target, 0)
        nll, self.saved = backend.kernels(logits).cross_entropy_forward(logits, self.safe_target)
        self.weight = keep.astype(logits.dtype)
        if self.class_weight is not None:
            self.weight *= self.class_weight[self.safe_target]
        self.total_weight = float(self.weight.sum())
        losses = nll * self.weight
        if self.reduction == "none":
            return losses
        total = losses.sum()
        if self.reduction == "sum":
            return total
        return total / self.total_weight if self.total_weight else total * xp.nan

    def _row_weight(self):
        """Each position's weight in the loss: w[t], divided by the total for the mean."""
        if self.reduction == "mean":
            return self.weight / max(self.total_weight, 1e-30)
        return self.weight

    def backward(self, grad, out):
        x = out._inputs[0]
        g = grad if self.reduction == "none" else reshape(grad, (1,) * (x.ndim - 1))
        scale = mul(g, const(self._row_weight()))
        onehot = const(_one_hot(self.safe_target, x.shape[-1], x.dtype))
        probs = exp(sub(x, logsumexp(x, -1, keepdim=True)))
        return (mul(sub(probs, onehot), reshape(scale, scale.shape + (1,))),)

    def backward_arrays(self, grad, out):
        x = out._inputs[0]
        return (backend.kernels(grad).cross_entropy_backward(
            x.data, self.saved, self.safe_target, grad * self._row_weight()),)

    def reference(self, logits):
        log_probs = sub(logits, logsumexp(logits, -1, keepdim=True))
        onehot = const(_one_hot(self.safe_target, logits.shape[-1], logits.dtype))
        losses = mul(neg(sum(mul(log_probs, onehot), -1)), const(self.weight))
        if self.reduction == "none":
            return losses
        total = sum(losses)
        return total if self.reduction == "sum" else div(total, self.total_weight)


def _one_hot(target, classes, dtype):
    """(..., classes) array: 1 at each position's target class, 0 elsewhere."""
    xp = backend.get_array_module(target)
    out = xp.zeros((target.size, classes), dtype=dtype)
    out[xp.arange(target.size), target.reshape(-1)] = 1
    return out.reshape(target.shape + (classes,))


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean"):
    """Cross-entropy of ``logits`` against integer class ``target``, optionally with a
    weight per class (``weight``, shape (C,)).

    Shapes: logits (N, C) with target (N,), or logits (..., C) with target (...) (the
    class dimension last, the shape language models produce), or PyTorch's
    (N, C, d1, ...) with target (N, d1, ...)."""
    float_input(logits, "cross_entropy")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    t = target.data if isinstance(target, Tensor) else logits.xp.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold integer class indices, got dtype {t.dtype}")
    if tuple(t.shape) != logits.shape[:-1]:
        if logits.ndim > 2 and tuple(t.shape) == logits.shape[:1] + logits.shape[2:]:
            logits = permute(logits, (0,) + tuple(range(2, logits.ndim)) + (1,))
        else:
            raise ValueError(f"cross_entropy: logits {logits.shape} need target of shape "
                             f"{logits.shape[:-1]}, got {tuple(t.shape)}")
    n_classes = logits.shape[-1]
    valid = t[t != ignore_index]
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= n_classes):
        bad = int(valid.min()) if int(valid.min()) < 0 else int(valid.max())
        raise IndexError(f"cross_entropy: target {bad} is out of range for {n_classes} classes")
    if weight is not None:
        weight = weight.data if isinstance(weight, Tensor) else logits.xp.asarray(weight)
        if tuple(weight.shape) != (n_classes,):
            raise ValueError(f"cross_entropy: weight has shape {tuple(weight.shape)}, expected "
                             f"({n_classes},), one per class")
        weight = weight.astype(logits.dtype, copy=False)
    return CrossEntropy.apply(logits, target=t.astype(logits.xp.int64, copy=False),
                              class_weight=weight, ignore_index=ignore_index,
                              reduction=reduction)
