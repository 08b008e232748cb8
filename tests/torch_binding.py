"""Run PyTorch-style code twice in one test process: once with ``import torch`` giving the
real PyTorch, once giving minigrad, so that PyTorch stays the oracle next to it.

The binding is per namespace, not per process: the code runs with its own ``__builtins__``
whose ``__import__`` maps torch's module names to minigrad's (``minigrad.compat``'s table).
``sys.modules['torch']`` is never touched, so the real PyTorch, imported or not, is unchanged."""
import builtins
import importlib
import sys
import types
from pathlib import Path

import numpy as np

import minigrad
from minigrad.compat import TORCH_MODULES

SEED_STYLE = Path(__file__).resolve().parent / "seed_style"


def _import_with(torch_modules, extra_modules):
    """An ``__import__`` that answers torch's names from ``torch_modules`` (or the real
    PyTorch where that is None) and the names in ``extra_modules`` with the given modules."""
    real_import = builtins.__import__

    def bound_import(name, globals=None, locals=None, fromlist=(), level=0):
        top = name.split(".")[0]
        if level == 0 and top in extra_modules:
            return extra_modules[top]
        if level == 0 and top == "torch" and torch_modules is not None:
            if name not in torch_modules:
                raise ModuleNotFoundError(f"No module named '{name}': minigrad stands in for "
                                          f"{sorted(torch_modules)}")
            wanted = importlib.import_module(torch_modules[name])
            return wanted if fromlist else importlib.import_module(torch_modules["torch"])
        return real_import(name, globals, locals, fromlist, level)
    return bound_import


def namespace(on_minigrad, name="__seed_style__", extra_modules=None):
    """A fresh globals dict whose ``import torch`` gives minigrad (``on_minigrad``) or PyTorch."""
    names = dict(vars(builtins))
    names["__import__"] = _import_with(TORCH_MODULES if on_minigrad else None,
                                       dict(extra_modules or {}))
    return {"__builtins__": names, "__name__": name}


def run(source, ns, label):
    """Execute ``source`` in ``ns``; tracebacks name it ``label``."""
    exec(compile(source, label, "exec"), ns)
    return ns


def load(module_name, on_minigrad, extra_modules=None):
    """Import ``tests/seed_style/<module_name>.py`` as a fresh module bound to minigrad or
    PyTorch. Registered in sys.modules under a name of its own while it runs (dataclasses
    look their module up there), then removed."""
    path = SEED_STYLE / f"{module_name}.py"
    qualified = f"seed_style_{'minigrad' if on_minigrad else 'torch'}_{module_name}"
    module = types.ModuleType(qualified)
    module.__dict__.update(namespace(on_minigrad, qualified, extra_modules))
    module.__file__ = str(path)
    sys.modules[qualified] = module
    try:
        run(path.read_text(), module.__dict__, str(path))
    finally:
        del sys.modules[qualified]
    return module


# ---------------------------------------------------------------- comparing with PyTorch

TOL = {"float64": 1e-9, "float32": 1e-5}


def array(t):
    """A NumPy array from a minigrad or a PyTorch tensor (or a number)."""
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_close(ours, theirs, dtype, what=""):
    np.testing.assert_allclose(array(ours), array(theirs), rtol=TOL[dtype], atol=TOL[dtype],
                               err_msg=what)


def same_weights(ours, theirs, dtype):
    """Cast both models to ``dtype`` and load PyTorch's state dict (as arrays) into ours."""
    import torch  # the real one: callers have skipped where it is absent

    theirs.to(getattr(torch, dtype))
    ours.to(getattr(minigrad, dtype))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def assert_grads_match(ours, theirs, dtype):
    """Every parameter, by name and in order, has PyTorch's gradient (None counts as 0)."""
    their_params = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(their_params)
    for name, p in ours.named_parameters():
        q = their_params[name].grad
        got = np.zeros(p.shape) if p.grad is None else array(p.grad)
        assert_close(got, np.zeros(p.shape) if q is None else array(q), dtype, name)


def assert_params_match(ours, theirs, dtype, skip=None):
    """Every parameter has PyTorch's value, but those whose name contains ``skip``."""
    theirs_ = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        if skip is None or skip not in name:
            assert_close(p, theirs_[name], dtype, name)
