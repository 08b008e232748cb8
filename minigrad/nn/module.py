"""``Module``: the base class of every layer and model, and ``Parameter``, the tensors it trains.

A module registers what is assigned to it by attribute, as in PyTorch:

    class MLP(Module):
        def __init__(self):
            super().__init__()
            self.fc = Linear(4, 8)                      # a submodule
            self.scale = Parameter(minigrad.ones(8))    # a parameter
            self.register_buffer("mask", minigrad.ones(8))  # state that is not trained

Parameters, buffers and submodules live in three ordered dicts (``_parameters``,
``_buffers``, ``_modules``), so the tree can be walked by name (``named_parameters``,
``state_dict``) in the order it was built.
"""
from collections import namedtuple

import numpy as np

from minigrad import backend
from minigrad.autograd import no_grad
from minigrad.tensor import Tensor, to_args


class Parameter(Tensor):
    """A tensor that a module trains: ``requires_grad=True`` by default, and registered in
    ``parameters()`` when assigned to a module attribute. Shares memory with ``data``."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclasses set attributes in ``__init__`` (after
    ``super().__init__()``) and define ``forward``; ``module(x)`` calls ``forward(x)``."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist already.
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(); define "
                                  "forward(self, ...) in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ registration

    def _require_init(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called: "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            self._require_init(name)
            self._forget(name)
            table = self._parameters if isinstance(value, Parameter) else self._modules
            table[name] = value
        elif name in self.__dict__.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name} is a parameter: assign a "
                                f"Parameter (or None), not a {type(value).__name__}")
            self._parameters[name] = None
        elif name in self.__dict__.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}.{name} is a buffer: assign a Tensor "
                                f"(or None), not a {type(value).__name__}")
            self._buffers[name] = value
        elif name in self.__dict__.get("_modules", ()):
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name} is a submodule: assign a "
                                f"Module (or None), not a {type(value).__name__}")
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name):
        """Drop ``name`` from every registry and the plain attributes (before re-registering)."""
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        # Only called when normal lookup fails: parameters, buffers and submodules.
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_buffer(self, name, tensor, persistent=True):
        """A tensor that belongs to the module but is not trained (a causal mask, running
        statistics). Buffers move with ``to()``; persistent ones are in ``state_dict``."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, got "
                            f"{type(tensor).__name__}")
        if "." in name or not name:
            raise ValueError(f"register_buffer: invalid name {name!r}")
        self._require_init(name)
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an optional one that is absent, as
        PyTorch's layers do) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got "
                            f"{type(param).__name__}")
        if "." in name or not name:
            raise ValueError(f"register_parameter: invalid name {name!r}")
        self._require_init(name)
        self._forget(name)
        self._parameters[name] = param

    def add_module(self, name, module):
        """Register ``module`` (or None) as the child ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module or None, got "
                            f"{type(module).__name__}")
        if "." in name or not name:
            raise ValueError(f"add_module: invalid name {name!r}")
        self._require_init(name)
        self._forget(name)
        self._modules[name] = module

    # ------------------------------------------------------------ walking the tree

    def named_modules(self, prefix=""):
        """``(dotted name, module)`` for this module and every descendant, each once."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, table, recurse):
        """``(dotted name, tensor)`` from one registry of every module, each tensor once
        (a weight tied between two layers is listed under its first name)."""
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name, t in getattr(module, table).items():
                if t is None or id(t) in seen:
                    continue
                seen.add(id(t))
                yield (f"{prefix}.{name}" if prefix else name), t

    def named_parameters(self, recurse=True):
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse):
            yield p

    def named_buffers(self, recurse=True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse):
            yield b

    def num_parameters(self, trainable_only=False):
        """Number of scalar parameters (a tied weight counted once)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule, children first, then on this module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ training state

    def train(self, mode=True):
        """Training mode (dropout on) or, with ``mode=False``, evaluation mode."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Clear the gradients: drop them (the default) or fill them with zeros."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    # ------------------------------------------------------------ devices and dtypes

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)`` (its device
        and dtype), also with ``device=``/``dtype=``, in place: every parameter and buffer
        keeps its identity (optimizers holding them stay valid) and gets new data. A dtype
        applies to float tensors only, so integer buffers stay integers."""
        device, dtype = to_args(args, device, dtype)
        device = None if device is None else backend.parse_device(device)
        dtype = None if dtype is None else np.dtype(dtype)
        for t in list(self.parameters()) + list(self.buffers()):
            _move_in_place(t, device, dtype)
        return self

    def double(self):
        return self.to(backend.float64)

    def float(self):
        return self.to(backend.float32)

    def half(self):
        return self.to(backend.float16)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else device)

    # ------------------------------------------------------------ state dict

    def state_dict(self):
        """``{dotted name: tensor}`` of every parameter and persistent buffer. The tensors
        share memory with the module (as in PyTorch): copy them to keep a snapshot."""
        return {name: t.detach() for name, t in self._state_tensors()}

    def load_state_dict(self, state_dict, strict=True):
        """Copy tensors (or arrays) from ``state_dict`` into this module's parameters and
        buffers, in place (cast to their dtype and device). Keys that a layer has renamed
        since (see ``_renamed_state_keys``) are read under their new names, so older
        checkpoints still load.

        Raises ``RuntimeError`` listing every missing key, unexpected key (both only when
        ``strict``) and shape mismatch (always), before copying anything. Returns
        ``(missing_keys, unexpected_keys)``."""
        state_dict = self.with_current_names(state_dict)
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        wrong = [f"{k}: checkpoint has shape {tuple(state_dict[k].shape)}, the model "
                 f"{own[k].shape}" for k in own
                 if k in state_dict and tuple(state_dict[k].shape) != own[k].shape]
        errors = []
        if strict and missing:
            errors.append(f"missing key(s): {', '.join(missing)}")
        if strict and unexpected:
            errors.append(f"unexpected key(s): {', '.join(unexpected)}")
        errors += wrong
        if errors:
            raise RuntimeError(f"error(s) in loading state_dict for {type(self).__name__}:\n  "
                               + "\n  ".join(errors))
        with no_grad():
            for name, target in self._state_tensors():
                if name in state_dict:
                    target.data[...] = _array_like(state_dict[name], target)
                    target._vc[0] += 1
        return IncompatibleKeys(missing, unexpected)

    def _renamed_state_keys(self):
        """``{old name: current name}`` of this module's own state_dict entries that were
        saved under another name by an earlier version (names relative to the module)."""
        return {}

    def with_current_names(self, state_dict):
        """``state_dict`` with every renamed key of every submodule under its current name
        (a new dict; the caller's is left alone)."""
        renames = {}
        for prefix, module in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for old, new in module._renamed_state_keys().items():
                if dot + old in state_dict and dot + new not in state_dict:
                    renames[dot + old] = dot + new
        if not renames:
            return state_dict
        return {renames.get(k, k): v for k, v in state_dict.items()}

    def _state_tensors(self):
        """``(dotted name, the registered tensor itself)`` for every state_dict entry."""
        for prefix, module in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, t in list(module._parameters.items()) + list(module._buffers.items()):
                if t is not None and name not in module._non_persistent:
                    yield dot + name, t

    # ------------------------------------------------------------ printing

    def extra_repr(self):
        """The arguments shown in ``repr`` (``Linear(4, 8, bias=True)``); override per layer."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + _indent(repr(m)) for name, m in self._modules.items()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([_indent(extra)] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"


def _indent(text):
    return text.replace("\n", "\n  ")


def _move_in_place(t, device, dtype):
    cast = dtype if dtype is not None and backend.is_floating(t.dtype) else None
    moved = Tensor(t.data, dtype=cast, device=device).data
    if moved is not t.data:
        t.data = moved
        t._vc[0] += 1
    if t.grad is not None:
        t.grad.data = Tensor(t.grad.data, dtype=cast, device=device).data


def _array_like(value, target):
    """``value`` (Tensor or array) as an array of ``target``'s dtype on its device."""
    return Tensor(value, dtype=target.dtype, device=target.device).data
