"""The optimiser and learning-rate schedule a Config describes.

    optimizer = build_optimizer(config, model)       # AdamW, Adam, SGD or RMSprop
    scheduler = build_scheduler(config, optimizer)   # warmup, then cosine or constant

Every argument of the four optimisers is a Config field, with PyTorch's meaning: `betas`
and `eps` (Adam, AdamW), `eps`, `alpha` and `momentum` (RMSprop), `momentum`, `dampening`
and `nesterov` (SGD), `weight_decay` (decoupled for AdamW, added to the gradient for the
others). Weight decay applies to matrices only (nanoGPT), or with `decay_all` to every
parameter, as `torch.optim.AdamW(model.parameters(), ...)` does in the seeds.

The schedule is per optimiser step: a linear warmup over `warmup_steps` (lr/warmup ... lr),
then a cosine from lr down to `min_lr` at the last step (`schedule` "cosine": PyTorch's
CosineAnnealingLR stepped every batch, as the thesis did, when warmup_steps is 0 and
min_lr 0), or the peak rate throughout ("constant").
"""
from minigrad import optim


def parameter_groups(config, model):
    """The parameters, grouped for weight decay (see the module docstring)."""
    if config.decay_all:
        return [{"params": list(model.parameters()), "weight_decay": config.weight_decay}]
    return model.param_groups(config.weight_decay)


def build_optimizer(config, model):
    """The optimiser of `config.optimizer` over `model`'s parameters."""
    groups, c = parameter_groups(config, model), config
    if c.optimizer in ("adamw", "adam"):
        cls = optim.AdamW if c.optimizer == "adamw" else optim.Adam
        return cls(groups, lr=c.lr, betas=c.betas, eps=c.eps)
    if c.optimizer == "sgd":
        return optim.SGD(groups, lr=c.lr, momentum=c.momentum, dampening=c.dampening,
                         nesterov=c.nesterov)
    if c.optimizer == "rmsprop":
        return optim.RMSprop(groups, lr=c.lr, alpha=c.alpha, eps=c.eps, momentum=c.momentum)
    raise ValueError(f"optimizer must be adamw, adam, sgd or rmsprop, got {c.optimizer!r}")


def build_scheduler(config, optimizer):
    """Linear warmup, then cosine to min_lr at the last step (or constant)."""
    c = config
    min_lr = c.min_lr if c.schedule == "cosine" else c.lr
    # A run shorter than the warmup (a quick timing, a test) warms up over all of it.
    return optim.lr_scheduler.WarmupCosineLR(optimizer, min(c.warmup_steps, c.steps), c.steps,
                                             min_lr)
