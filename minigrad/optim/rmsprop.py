"""RMSprop (Hinton's lecture 6e), in PyTorch's formulation."""
from minigrad import backend
from minigrad.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """For each step, with g the gradient of parameter p:

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g^2                  (s starts at 0)
        d = g / (sqrt(s) + eps)
        b = momentum * b + d;  p = p - lr * b              (if momentum; b starts at 0)
        p = p - lr * d                                     (otherwise)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum))

    def check_options(self, group):
        super().check_options(group)
        if not 0 <= group["alpha"] <= 1 or group["eps"] < 0 or group["momentum"] < 0:
            raise ValueError(f"RMSprop: invalid alpha {group['alpha']}, eps {group['eps']} or "
                             f"momentum {group['momentum']}")

    def update(self, p, g, state, group):
        xp = backend.get_array_module(p)
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
        state["step"] += 1
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p
        alpha, s = group["alpha"], state["square_avg"]
        s *= alpha
        s += (1 - alpha) * g * g
        d = g / (xp.sqrt(s) + group["eps"])
        if group["momentum"]:
            buf = state.setdefault("momentum_buffer", xp.zeros_like(p))
            buf *= group["momentum"]
            buf += d
            d = buf
        p -= group["lr"] * d
