"""Helpers for training loops: ``clip_grad_norm_``."""
from minigrad.tensor import Tensor


def clip_grad_norm_(parameters, max_norm):
    """Scale the gradients of ``parameters`` in place so that their global 2-norm (all
    gradients seen as one vector) is at most ``max_norm``; return that norm before
    clipping, as a float.

    As PyTorch: the scale is min(1, max_norm / (norm + 1e-6)); parameters without a
    gradient are skipped; a NaN or Inf norm spreads into the gradients."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad.data for p in params if p.grad is not None]
    if not grads:
        return 0.0
    xp = params[0].xp
    total = float(xp.linalg.norm(xp.stack([xp.linalg.norm(g.reshape(-1)) for g in grads])))
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for g in grads:
            g *= scale
    return total
