"""Learning-rate schedules. Each sets ``group['lr']`` of every parameter group from the
group's initial rate and the number of ``step()`` calls so far (``last_epoch``), in closed
form, so a schedule restored from ``state_dict`` continues exactly.

    scheduler = WarmupCosineLR(optimizer, warmup_steps=100, max_steps=2000, min_lr=1e-4)
    for step in range(2000):
        ...; optimizer.step(); scheduler.step()
"""
import math


class LRScheduler:
    """Base class: subclasses define ``get_lr()``, the rates at step ``self.last_epoch``.
    Creating a scheduler sets the rates of step 0 (as PyTorch does)."""

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} "
                               f"needs 'initial_lr' in parameter group {i}")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def get_lr(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def step(self):
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimizer and LambdaLR's functions (which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(step); one function, or one per parameter group.
    The functions are not saved by ``state_dict``: pass them again when resuming."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups)
        many = isinstance(lr_lambda, (list, tuple))
        self.lr_lambdas = list(lr_lambda) if many else [lr_lambda] * n
        if len(self.lr_lambdas) != n:
            raise ValueError(f"LambdaLR: got {len(self.lr_lambdas)} functions for {n} "
                             "parameter groups")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (step // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class WarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine decay, then constant (step s counts from 0):

        s < warmup_steps:            lr * (s + 1) / warmup_steps     (lr/warmup ... lr)
        warmup_steps <= s < max:     min_lr + (lr - min_lr) * (1 + cos(pi * q)) / 2,
                                     q = (s - warmup_steps) / (max_steps - warmup_steps)
        s >= max_steps:              min_lr
    """

    def __init__(self, optimizer, warmup_steps, max_steps, min_lr=0.0, last_epoch=-1):
        if not 0 <= warmup_steps <= max_steps:
            raise ValueError(f"WarmupCosineLR: need 0 <= warmup_steps <= max_steps, got "
                             f"warmup_steps={warmup_steps}, max_steps={max_steps}")
        self.warmup_steps, self.max_steps, self.min_lr = warmup_steps, max_steps, min_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def lr_at(self, base_lr, s):
        if s < self.warmup_steps:
            return base_lr * (s + 1) / self.warmup_steps
        if s >= self.max_steps:
            return self.min_lr
        q = (s - self.warmup_steps) / (self.max_steps - self.warmup_steps)
        return self.min_lr + (base_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * q))


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2: PyTorch's
    closed form (its step-by-step update gives the same rates while step <= T_max)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = initial_lr * f, with f going linearly from start_factor to end_factor over
    total_iters steps, then staying at end_factor (a linear warmup or decay)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1, "
                             f"got {start_factor} and {end_factor}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        done = min(self.last_epoch, self.total_iters) / self.total_iters if self.total_iters else 1
        f = self.start_factor + (self.end_factor - self.start_factor) * done
        return [base * f for base in self.base_lrs]
