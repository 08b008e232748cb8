"""The op harness itself under test: a checker that cannot fail checks nothing.

For every op with a backward rule of its own, wrong rules are planted one at a time, on
each of its backward paths (the engine-op ``backward`` and the array fast path
``backward_arrays``) and for each of its inputs:

- ``scale``: that input's gradient times 1.1;   ``negate``: its sign flipped;
- ``zero``: replaced by zeros;                    ``swap``: exchanged with the next input's;
- ``unsummed``: not summed back to the input's shape after broadcasting.

The op's checks (``op_harness.run_checks``) must then fail. A planted bug that changes
nothing on the op's case (a gradient that is zero there, two equal gradients swapped, an
input that was not broadcast) is not counted: it is not live. Every input of an op that
broadcasts must be broadcast in its case, so that ``unsummed`` is live for it.

Run as a script for the table of counts: ``python tests/test_planted_bugs.py``.
"""
import numpy as np
import pytest

from minigrad import REGISTRY, ops
from minigrad.autograd import Function
from minigrad.gradcheck import GradcheckError
from minigrad.tensor import Tensor
from op_cases import CASES
from op_harness import devices, run_checks

KINDS = ("scale", "negate", "zero", "swap", "unsummed")

#: Ops that broadcast their inputs, and the inputs each broadcasts.
BROADCASTING = {"add": (0, 1), "sub": (0, 1), "mul": (0, 1), "div": (0, 1), "pow": (0, 1),
                "maximum": (0, 1), "minimum": (0, 1), "where": (0, 1), "expand": (0,),
                "matmul": (0, 1), "attention": (0, 1, 2), "layer_norm": (1, 2)}

RULE_OPS = sorted(name for name, info in REGISTRY.items()
                  if isinstance(info.impl, type) and issubclass(info.impl, Function))


def _paths(cls):
    return ("backward",) + (("backward_arrays",) if cls.backward_arrays is not None else ())


class Mutant:
    """One wrong rule: ``kind`` applied to input ``index``'s gradient on ``path``. ``live``
    becomes True once the wrong rule has changed a gradient."""

    def __init__(self, name, path, kind, index):
        self.name, self.path, self.kind, self.index = name, path, kind, index
        self.live = False

    def __repr__(self):
        return f"{self.name}.{self.path}: {self.kind} of input {self.index}"

    def rule(self, original):
        def wrong(fn, grad, out):
            grads = list(original(fn, grad, out))
            self.live |= _mutate(grads, self.kind, self.index, out)
            return grads
        return wrong


def _values(g):
    return g.data if isinstance(g, Tensor) else g


def _changed(before, after):
    a, b = _values(before), _values(after)
    return a.shape != b.shape or not np.array_equal(a, b)


def _mutate(grads, kind, i, out):
    """Apply ``kind`` to gradient ``i`` in place; whether any gradient changed."""
    if i >= len(grads) or grads[i] is None:
        return False
    g = grads[i]
    if kind == "swap":
        j = next((j for j in range(i + 1, len(grads)) if grads[j] is not None), None)
        if j is None:
            return False
        grads[i], grads[j] = grads[j], grads[i]
        return _changed(g, grads[i])
    if kind == "unsummed":
        shape = _unsummed_shape(out._inputs[i].shape, out.shape)
        if shape is None:
            return False
        grads[i] = ops.expand(g, shape) if isinstance(g, Tensor) else np.broadcast_to(g, shape)
    else:
        grads[i] = {"scale": lambda: g * 1.1, "negate": lambda: -g, "zero": lambda: g * 0.0}[kind]()
    return _changed(g, grads[i])


def _unsummed_shape(shape, out_shape):
    """The shape a gradient had before it was summed back to ``shape``: the output's shape
    for an elementwise broadcast, the output's batch dimensions for a batched product; None
    where the input was not broadcast."""
    try:
        if np.broadcast_shapes(shape, out_shape) == out_shape and shape != out_shape:
            return out_shape
    except ValueError:
        pass
    if len(shape) >= 2 and len(out_shape) >= 2:
        try:
            batched = np.broadcast_shapes(shape[:-2], out_shape[:-2]) + shape[-2:]
        except ValueError:
            return None
        return batched if batched != shape else None
    return None


def mutants(name, monkeypatch):
    """Every wrong rule for op ``name``: each kind, on each path, for each of its inputs."""
    cls = REGISTRY[name].impl
    return [Mutant(name, path, kind, i) for path in _paths(cls) for kind in KINDS
            for i in range(_arity(name, monkeypatch))]


def _arity(name, monkeypatch):
    """The most inputs op ``name`` takes in its case."""
    cls, seen = REGISTRY[name].impl, [0]
    forward = cls.forward

    def counting(fn, *arrays):
        seen[0] = max(seen[0], len(arrays))
        return forward(fn, *arrays)
    with monkeypatch.context() as patch, devices(name):
        patch.setattr(cls, "forward", counting)
        fn, make = CASES[name][:2]
        fn(*make())
    return seen[0]


def caught(mutant, monkeypatch):
    """Plant ``mutant``, run the op's checks; True when they fail as the harness fails."""
    cls = REGISTRY[mutant.name].impl
    with monkeypatch.context() as patch:
        patch.setattr(cls, mutant.path, mutant.rule(getattr(cls, mutant.path)))
        try:
            run_checks(mutant.name)
        except (GradcheckError, AssertionError):
            return True
        except RuntimeError as err:  # the engine refuses a gradient of the wrong shape
            if "returned a gradient of shape" in str(err):
                return True
            raise
    return False


@pytest.mark.parametrize("name", RULE_OPS)
def test_every_planted_wrong_backward_is_caught(name, monkeypatch):
    results = [(m, caught(m, monkeypatch)) for m in mutants(name, monkeypatch)]
    live = [(m, c) for m, c in results if m.live]
    assert live, f"{name}: no planted bug changed a gradient: the op never ran in its case"
    survivors = [m for m, c in live if not c]
    assert not survivors, f"planted bugs the checks did not catch: {survivors}"
    for path in _paths(REGISTRY[name].impl):
        for i in BROADCASTING.get(name, ()):
            assert any(m.live for m, _ in results
                       if (m.path, m.kind, m.index) == (path, "unsummed", i)), \
                f"{name}: input {i} is never broadcast in its case ({path})"


if __name__ == "__main__":
    pytest_monkeypatch = pytest.MonkeyPatch()
    total = live_total = caught_total = 0
    for name in RULE_OPS:
        results = [(m, caught(m, pytest_monkeypatch)) for m in mutants(name, pytest_monkeypatch)]
        live = [c for m, c in results if m.live]
        total, live_total, caught_total = total + len(results), live_total + len(live), \
            caught_total + sum(live)
        print(f"{name:16s} planted {len(results):3d}  live {len(live):3d}  caught {sum(live):3d}")
    print(f"{'all':16s} planted {total:3d}  live {live_total:3d}  caught {caught_total:3d}")
