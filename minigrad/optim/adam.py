"""Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019: decoupled weight
decay), in PyTorch's formulation, bias correction included."""
import math

from minigrad import backend, backend_cuda
from minigrad.optim.optimizer import Optimizer


class Adam(Optimizer):
    """For step t = 1, 2, ..., with g the gradient of parameter p:

        g = g + weight_decay * p                     (L2 penalty, coupled to the gradient)
        m = beta1 * m + (1 - beta1) * g              (m, v start at 0)
        v = beta2 * v + (1 - beta2) * g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def check_options(self, group):
        super().check_options(group)
        beta1, beta2 = group["betas"]
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1) or group["eps"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid betas {group['betas']} (each must "
                             f"be in [0, 1)) or eps {group['eps']}")

    def update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        t, lr, wd = state["step"], group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if backend_cuda.supports(p, g, state["exp_avg"], state["exp_avg_sq"]):
            # On a GPU, one fused kernel instead of about ten array passes.
            backend_cuda.adam_update(p, g, state["exp_avg"], state["exp_avg_sq"], lr, beta1,
                                     beta2, group["eps"], wd, self.decoupled, t)
            return
        m, v = state["exp_avg"], state["exp_avg_sq"]
        coefficients = (lr * wd if self.decoupled else 0.0, 0.0 if self.decoupled else wd,
                        beta1, beta2, math.sqrt(1 - beta2 ** t), group["eps"],
                        lr / (1 - beta1 ** t))
        if backend.device_of(p) != "cpu" or p.size <= _BLOCK:
            _adam_arrays(p, g, m, v, *coefficients)
            return
        # Block by block, so that the dozen passes of the update run in cache: on large
        # matrices (an LM head) main memory, not arithmetic, bounds the whole-array version.
        flat = [a.reshape(-1) for a in (p, xp.ascontiguousarray(g), m, v)]
        for start in range(0, p.size, _BLOCK):
            _adam_arrays(*(a[start:start + _BLOCK] for a in flat), *coefficients)


_BLOCK = 1 << 15


def _adam_arrays(p, g, m, v, decay, l2, beta1, beta2, correction2, eps, step_size):
    """One Adam step on arrays, in place: decoupled ``decay`` (AdamW's lr * weight_decay)
    or an ``l2`` term added to the gradient (Adam's weight_decay), then the moments and the
    bias-corrected update. ``p``, ``m`` and ``v`` must be views of the optimizer's arrays."""
    xp = backend.get_array_module(p)
    if decay:
        p *= 1 - decay
    if l2:
        g = g + l2 * p
    tmp = g - m
    tmp *= 1 - beta1
    m += tmp
    v *= beta2
    xp.multiply(g, g, out=tmp)
    tmp *= 1 - beta2
    v += tmp
    xp.sqrt(v, out=tmp)
    tmp *= 1 / correction2
    tmp += eps
    xp.divide(m, tmp, out=tmp)
    tmp *= step_size
    p -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay: before the Adam step (which then has no L2 term),

        p = p * (1 - lr * weight_decay)
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
