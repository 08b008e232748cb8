"""The checks every op passes on its case in ``op_cases.CASES``, in float64.

An op has two backward paths (``minigrad.autograd``): the array fast path that a plain
``backward()`` takes (``backward_arrays``, or ``backward`` run without recording), and the
engine-op ``backward`` that ``create_graph=True`` takes. Each must be right on its own:

1. ``fast_path``: the Jacobian of a plain backward against central differences;
2. ``engine_path``: the Jacobian of a backward with ``create_graph=True`` against central
   differences;
3. ``paths_agree``: the two paths' gradients for one random output gradient, to rounding;
4. ``second_order``: gradgradcheck, the derivative of the engine path itself.

``tests/test_planted_bugs.py`` proves that these checks catch wrong backward rules.
"""
import contextlib
import sys

import numpy as np

import minigrad as mg
from op_cases import CASES, NEEDS_SECOND_DEVICE


def _case(name):
    fn, make, *options = CASES[name]
    return fn, make(), (options[0] if options else {})


@contextlib.contextmanager
def devices(name):
    """A second device for the cases that move tensors: the GPU where there is one, else,
    for the duration of the check, the NumPy stand-in for CuPy (tests/cupy_standin/),
    whose arrays are a device of their own to minigrad's backend."""
    if name not in NEEDS_SECOND_DEVICE or mg.cuda.is_available():
        yield
        return
    import cupy_standin
    saved = {module: sys.modules.get(module) for module in cupy_standin.MODULES}
    cupy_standin.install(patch_minigrad=False)
    try:
        yield
    finally:
        for module, before in saved.items():
            if before is None:
                sys.modules.pop(module, None)
            else:
                sys.modules[module] = before


def fast_path(name):
    fn, inputs, options = _case(name)
    mg.gradcheck(fn, inputs, **options)


def engine_path(name):
    fn, inputs, options = _case(name)
    mg.gradcheck(fn, inputs, create_graph=True, **options)


def paths_agree(name):
    fn, inputs, _ = _case(name)
    wanted = [x for x in inputs if x.requires_grad]
    grads = []
    for create_graph in (False, True):
        out = fn(*inputs)
        upstream = np.random.default_rng(3).standard_normal(out.shape)
        grads.append(mg.grad(out, wanted, mg.tensor(upstream, dtype=out.dtype, device=out.device),
                             create_graph=create_graph, allow_unused=True))
    for i, (fast, engine) in enumerate(zip(*grads)):
        assert (fast is None) == (engine is None), f"{name}: input {i} has a gradient on one path only"
        if fast is not None:
            np.testing.assert_allclose(fast.numpy(), engine.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name}: the two backward paths disagree "
                                               f"for input {i}")


def second_order(name):
    fn, inputs, options = _case(name)
    mg.gradgradcheck(fn, inputs, **options)


CHECKS = (fast_path, engine_path, paths_agree, second_order)


def run_checks(name):
    """Every check on op ``name``'s case, in order; the first failure raises."""
    with devices(name):
        for check in CHECKS:
            check(name)
