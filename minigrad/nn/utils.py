"""Helpers for training loops: ``clip_grad_norm_`` and ``clip_grad_value_``."""
import math

from minigrad import backend
from minigrad.tensor import Tensor


def _grads(parameters):
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad.data for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale the gradients of ``parameters`` in place so that their global ``norm_type``-norm
    (all gradients seen as one vector; ``inf`` for the largest magnitude) is at most
    ``max_norm``; return that norm before clipping, as a float.

    As PyTorch: the scale is min(1, max_norm / (norm + 1e-6)); parameters without a
    gradient are skipped; a NaN or Inf norm spreads into the gradients, or, with
    ``error_if_nonfinite``, raises. (``foreach`` picks a PyTorch kernel; there is one way here.)"""
    grads = _grads(parameters)
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or inf, got {norm_type}")
    xp = backend.get_array_module(grads[0])
    # the norm of the per-gradient norms (one transfer from a GPU, as PyTorch does it)
    each = xp.stack([xp.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads])
    total = float(xp.linalg.norm(each, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           f"gradients is {total}; pass error_if_nonfinite=False to clip anyway")
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g *= scale
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient of ``parameters`` to [-clip_value, clip_value], in place."""
    for g in _grads(parameters):
        backend.get_array_module(g).clip(g, -clip_value, clip_value, out=g)
