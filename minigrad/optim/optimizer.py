"""``Optimizer``: parameter groups, per-parameter state, zero_grad and state dicts.

A subclass gives its defaults and one method, ``update(p, g, state, group)``, that changes
the parameter array ``p`` in place from its gradient array ``g``. Updates work on the
arrays directly: they are not part of any graph, so they record nothing and cost no more
than the arithmetic.
"""
from minigrad import backend
from minigrad.tensor import Tensor


class Optimizer:
    """Base class. ``params`` is an iterable of parameters, or of dicts (parameter groups),
    each with a ``'params'`` list and any options that override the defaults:

        AdamW([{"params": matrices, "weight_decay": 0.1},
               {"params": biases_and_norms, "weight_decay": 0.0}], lr=1e-3)

    ``state[p]`` holds the per-parameter buffers (backend arrays) and step counts."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        groups = [params] if isinstance(params, Tensor) else list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group of parameters with its own options (e.g. no weight decay)."""
        name = type(self).__name__
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf or not p.requires_grad:
                raise ValueError(f"{name}: can only optimize leaf tensors that require grad "
                                 f"(got one of shape {p.shape})")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter of shape {p.shape} appears in more "
                                 "than one place; each parameter must be in one group once")
            seen.add(id(p))
        group = {**self.defaults, **group, "params": params}
        self.check_options(group)
        self.param_groups.append(group)

    def check_options(self, group):
        """Raise ``ValueError`` for an invalid option of ``group``."""
        if group["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay {group['weight_decay']}")

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def step(self):
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p.data, p.grad.data, self.state.setdefault(p, {}), group)
                    p._vc[0] += 1  # changed in place: a graph that saved p is stale now

    def update(self, p, g, state, group):
        """Change the array ``p`` in place, given its gradient ``g``."""
        raise NotImplementedError(f"{type(self).__name__} must define update()")

    # ------------------------------------------------------------ state dict

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self):
        """``{'state': {index: {name: array or number}}, 'param_groups': [options with
        'params' as indices]}``, indices counting the parameters over the groups in order.
        The arrays are the optimizer's own (as in PyTorch): save them or copy them."""
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]
        state = {index[id(p)]: dict(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore options and state saved by ``state_dict`` (copied, moved to each
        parameter's device and float dtype), so that training resumes exactly."""
        name = type(self).__name__
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(saved)} parameter "
                             f"groups, the optimizer {len(self.param_groups)}")
        for i, (s, g) in enumerate(zip(saved, self.param_groups)):
            if len(s["params"]) != len(g["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has {len(s['params'])} "
                                 f"parameters in the state, {len(g['params'])} in the optimizer")
        params = self._params()
        state = {}
        for i, entries in state_dict["state"].items():
            p = params[int(i)]
            state[p] = {k: _restore(v, p, k, name) for k, v in entries.items()}
        for s, g in zip(saved, self.param_groups):
            g.update({k: v for k, v in s.items() if k != "params"})
        self.state = state


def _restore(value, p, key, name):
    """A state entry for parameter ``p``: numbers as they are, arrays copied onto p's
    device (floats in p's dtype)."""
    if not hasattr(value, "shape"):
        return value
    if tuple(value.shape) != p.shape:
        raise ValueError(f"{name}.load_state_dict: state {key!r} has shape "
                         f"{tuple(value.shape)}, its parameter {p.shape}")
    dtype = p.dtype if backend.is_floating(value.dtype) else None
    return Tensor(value, dtype=dtype, device=p.device).data.copy()
