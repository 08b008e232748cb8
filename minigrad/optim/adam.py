"""Adam (Kingma and Ba, 2015) and AdamW (Loshchilov and Hutter, 2019: decoupled weight
decay), in PyTorch's formulation, bias correction included."""
from minigrad import backend
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
        beta1, beta2 = group["betas"]
        # The backend's update kernel: cache-blocked on the CPU, one launch on a GPU.
        backend.kernels(p).adam_update(p, g, state["exp_avg"], state["exp_avg_sq"], group["lr"],
                                       beta1, beta2, group["eps"], group["weight_decay"],
                                       self.decoupled, state["step"])


class AdamW(Adam):
    """Adam with decoupled weight decay: before the Adam step (which then has no L2 term),

        p = p * (1 - lr * weight_decay)
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
