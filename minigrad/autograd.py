"""Reverse-mode automatic differentiation: the op base class, grad mode and the backward walk.

An op is a ``Function`` subclass with its methods side by side:

* ``forward(*arrays)`` computes the output from raw arrays (NumPy or CuPy),
* ``backward(grad, out)`` returns one gradient per input, written with *engine ops* on
  Tensors. Because the gradient is itself built from ops, differentiating it again
  (``create_graph=True``) gives gradients of gradients.
* optionally ``backward_arrays(grad, out)``: the same gradients computed on raw arrays,
  for speed. It cannot be differentiated again, so the backward walk uses it only when no
  graph is being built (``create_graph=False``, the usual ``loss.backward()``); with
  ``create_graph=True`` it uses ``backward``. The choice is made in one place,
  ``run_backward``, and the tests check both paths against finite differences.

``Function.apply`` runs ``forward`` and, when grad mode is on and an input requires grad,
records the op on its output (``out._fn``, ``out._inputs``). ``backward`` then walks that
graph once, in reverse topological order, found iteratively (no recursion limit).
"""
import contextlib
import threading
import traceback

import numpy as np

from minigrad import backend


class _Modes(threading.local):
    """Grad mode and anomaly mode, per thread (as in PyTorch): a thread running backward
    must not switch off recording in another thread's forward."""
    grad_enabled = True
    anomaly = False


_modes = _Modes()

#: Every op of the engine, by name: ``name -> OpInfo``. docs/ops.md and the test that
#: proves each op has a gradient check are generated from it.
REGISTRY = {}


class OpInfo:
    """What the registry knows of one op: how to call it and its derivative."""

    def __init__(self, name, impl, derivative, kind):
        self.name, self.impl, self.derivative, self.kind = name, impl, derivative, kind

    def __repr__(self):
        return f"OpInfo({self.name!r}, kind={self.kind!r})"


def register(name, derivative, kind="primitive"):
    """Class or function decorator adding an op to ``REGISTRY``.

    ``kind`` is 'primitive' (its own backward), 'fused' (hand-derived fast backward, with a
    composed reference used for second order) or 'composite' (built from other ops).
    """
    def decorate(impl):
        if name in REGISTRY:
            raise ValueError(f"op {name!r} is registered twice")
        REGISTRY[name] = OpInfo(name, impl, derivative, kind)
        return impl
    return decorate


# ---------------------------------------------------------------- grad mode

def is_grad_enabled():
    return _modes.grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev, _modes.grad_enabled = _modes.grad_enabled, self.mode

    def __exit__(self, *exc):
        _modes.grad_enabled = self.prev


class no_grad(set_grad_enabled):
    """``with no_grad():`` (or ``@no_grad()``, or bare ``@no_grad`` as PyTorch 2 allows)
    runs ops without recording a graph."""

    def __new__(cls, *func):
        if func and callable(func[0]):
            return cls()(func[0])
        return super().__new__(cls)

    def __init__(self):
        super().__init__(False)

    def __call__(self, fn):
        # Also allow the bare ``@no_grad`` form used in PyTorch code.
        if isinstance(fn, type(self)):
            return fn
        return super().__call__(fn)


class enable_grad(set_grad_enabled):
    def __init__(self):
        super().__init__(True)


class inference_mode(no_grad):
    """PyTorch's ``inference_mode()``: here the same as ``no_grad()`` (minigrad keeps no
    per-tensor bookkeeping that inference mode would skip); ``mode=False`` records again.
    Also a decorator, bare (``@inference_mode``) or called (``@inference_mode()``)."""

    def __new__(cls, mode=True):
        if callable(mode):
            return cls()(mode)
        return object.__new__(cls)

    def __init__(self, mode=True):
        set_grad_enabled.__init__(self, not mode)


class detect_anomaly(contextlib.ContextDecorator):
    """Within this context, a NaN or Inf produced by a backward rule raises an error naming
    the op and showing where the op was called in the forward pass."""

    def __enter__(self):
        self.prev, _modes.anomaly = _modes.anomaly, True

    def __exit__(self, *exc):
        _modes.anomaly = self.prev


# ---------------------------------------------------------------- ops

class Function:
    """Base class of every op. Subclasses define ``forward`` and ``backward``.

    Parameters that are not tensors (an axis, an exponent) are passed as keywords to
    ``apply`` and stored as attributes; ``forward`` may also save arrays on ``self`` for
    ``backward``.
    """

    #: Optional array fast path: ``backward_arrays(grad, out)`` with ``grad`` an array,
    #: returning one array (or None) per input. Used when no graph is being built.
    backward_arrays = None
    #: What the backward rules read: the indices of the inputs (None: all of them) and
    #: whether the output. If one of these is changed in place after the op ran, backward
    #: refuses to compute a gradient from the changed values (see ``check_saved``).
    saved_inputs = None
    saves_output = True
    #: The output shares the first input's memory (reshape, permute, slicing), so it shares
    #: its version counter: an in-place change through one is a change of the other.
    is_view = False

    def __init__(self, **params):
        self.__dict__.update(params)

    @property
    def name(self):
        return type(self).__name__

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad, out):
        """Gradients w.r.t. ``out._inputs`` (Tensors or None), given ``grad`` = dL/d(out),
        written with engine ops."""
        raise NotImplementedError

    def reference(self, *inputs):
        """A fused op's formula composed from simpler engine ops, with the op's parameters:
        the same function, slower. The tests compare the op with it."""
        raise NotImplementedError(f"{self.name} has no composed reference")

    def backward_by_reference(self, grad_out, out):
        """An engine-op backward for a fused op whose gradient is long to write out with
        engine ops (the LSTM through time): the gradient of ``self.reference(*inputs)``,
        through the backward rules of the ops it is composed of."""
        inputs = out._inputs
        wanted = [t for t in inputs if t.requires_grad]
        with enable_grad():
            composed = self.reference(*inputs)
        grads = iter(grad(composed, wanted, grad_out, create_graph=True, allow_unused=True))
        return tuple(next(grads) if t.requires_grad else None for t in inputs)

    @classmethod
    def apply(cls, *inputs, **params):
        fn = object.__new__(cls)  # what __init__ does, without the call: apply runs per op
        if params:
            fn.__dict__.update(params)
        data = fn.forward(*[t.data for t in inputs])
        if isinstance(data, np.generic):  # NumPy reductions return scalars, not 0-d arrays
            data = np.asarray(data)
        if _modes.grad_enabled and _any_requires_grad(inputs):
            out = Tensor._wrap(data, True)
            out._fn, out._inputs = fn, inputs
            if fn.is_view:
                out._vc = inputs[0]._vc
            fn.versions = tuple(t._vc[0] for t in _saved(fn, inputs))
            fn.out_version = out._vc[0]
            if _modes.anomaly:
                fn.trace = "".join(traceback.format_stack()[:-2])
                fn.checksums = tuple(_checksum(t.data) for t in _saved(fn, inputs))
        else:
            out = Tensor._wrap(data, False)
            if fn.is_view:
                out._vc = inputs[0]._vc
        return out


def _saved(fn, inputs):
    return inputs if fn.saved_inputs is None else [inputs[i] for i in fn.saved_inputs]


def _checksum(array):
    """A fingerprint of an array's bytes (anomaly mode: catches writes through ``.data``)."""
    return hash(backend.to_device(array, "cpu").tobytes())


def check_saved(node):
    """Refuse to differentiate ``node``'s op when a tensor its backward reads was changed in
    place after the op ran: the gradient would be computed from the changed values."""
    fn, inputs = node._fn, node._inputs
    indices = range(len(inputs)) if fn.saved_inputs is None else fn.saved_inputs
    for i, version in zip(indices, fn.versions):
        if inputs[i]._vc[0] != version:
            _modified(fn, f"input {i} (shape {inputs[i].shape})", version, inputs[i]._vc[0])
    if fn.saves_output and node._vc[0] != fn.out_version:
        _modified(fn, f"its output (shape {node.shape})", fn.out_version, node._vc[0])
    for i, checksum in zip(indices, getattr(fn, "checksums", ())):
        if _checksum(inputs[i].data) != checksum:
            raise RuntimeError(f"backward of {fn.name}: input {i} (shape {inputs[i].shape}) was "
                               "changed after the op ran (through .data, which no version "
                               "counter sees); the gradient would be wrong")


def _modified(fn, what, expected, now):
    raise RuntimeError(
        f"backward of {fn.name}: {what}, which its gradient needs, was changed by an in-place "
        f"operation after {fn.name} used it (version {now}, expected {expected}). Use the "
        "out-of-place form (x = x.add(y) instead of x.add_(y)) or clone() the tensor first.\n"
        f"The forward call that created {fn.name}:\n{getattr(fn, 'trace', '(run under minigrad.detect_anomaly() to see it)')}")


def _any_requires_grad(inputs):
    for t in inputs:
        if t.requires_grad:
            return True
    return False


def _topological_order(root):
    """Nodes reachable from ``root`` that require grad, each after all of its inputs.

    Iterative depth-first search: a chain of any length works, unlike a recursive sort."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for inp in node._inputs:
            if inp.requires_grad and id(inp) not in visited:
                if inp._inputs:
                    stack.append((inp, False))
                else:  # a leaf: nothing below it to order first
                    visited.add(id(inp))
                    order.append(inp)
    return order


def _check_finite(fn, grads):
    for i, g in enumerate(grads):
        if g is None:
            continue
        xp = backend.get_array_module(g.data)
        if not bool(xp.isfinite(g.data).all()):
            raise FloatingPointError(
                f"backward of {fn.name} returned NaN or Inf in its gradient for input {i}.\n"
                f"The forward call that created {fn.name}:\n{getattr(fn, 'trace', '(unknown)')}")


def run_backward(root, grad, create_graph=False, capture=None):
    """Propagate ``grad`` (dL/d root) through the graph below ``root``.

    Without ``capture``, gradients are accumulated into ``.grad`` of every leaf that
    requires grad. With ``capture`` (a list of tensors), nothing is accumulated and the
    gradients of those tensors are returned instead (``minigrad.grad``).

    The one place that picks a backward path: with ``create_graph`` every op's ``backward``
    (engine ops, recorded, so differentiable again); without, an op's ``backward_arrays``
    where it has one, else its ``backward`` with recording off.
    """
    wanted = None if capture is None else {id(t): None for t in capture}
    grads = {id(root): grad}
    anomaly = _modes.anomaly
    with set_grad_enabled(create_graph):
        for node in reversed(_topological_order(root)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if wanted is not None and id(node) in wanted:
                wanted[id(node)] = g if wanted[id(node)] is None else wanted[id(node)] + g
            if node._fn is None:
                if wanted is None:
                    _accumulate_leaf(node, g, create_graph)
                continue
            input_grads = _input_grads(node, g, create_graph)
            if anomaly:
                _check_finite(node._fn, input_grads)
            for i, (inp, ig) in enumerate(zip(node._inputs, input_grads)):
                if ig is None or not inp.requires_grad:
                    continue
                if ig.shape != inp.shape:
                    raise RuntimeError(
                        f"backward of {node._fn.name} returned a gradient of shape {ig.shape} "
                        f"for input {i} of shape {inp.shape}: a backward rule must sum the "
                        "gradient back to its input's shape (sum_to_shape)")
                key = id(inp)
                prev = grads.get(key)
                grads[key] = ig if prev is None else prev + ig
    if wanted is None:
        return None
    return [wanted[id(t)] for t in capture]


def _input_grads(node, g, create_graph):
    """The gradients of ``node``'s inputs, by the op's array fast path when it has one and
    no graph is being built, else by its engine-op ``backward``."""
    check_saved(node)
    fn = node._fn
    if create_graph or fn.backward_arrays is None:
        return fn.backward(g, node)
    return [None if a is None else Tensor._wrap(a, False) for a in fn.backward_arrays(g.data, node)]


def _accumulate_leaf(leaf, g, create_graph):
    if create_graph:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    elif leaf.grad is None:
        # A copy: backward rules may hand the same array to several inputs, and the
        # optimizer or clip_grad_norm_ may later change .grad in place.
        leaf.grad = Tensor._wrap(g.data.astype(leaf.data.dtype, copy=True), False)
    else:
        leaf.grad.data += g.data


def grad(outputs, inputs, grad_outputs=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (not accumulated in ``.grad``).

    With ``create_graph=True`` the gradients are themselves differentiable, which gives
    Hessian-vector products: ``grad(grad(f, x, create_graph=True)[0] @ v, x)``.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise ValueError(f"grad: input {i} (shape {t.shape}) does not require grad")
    total = [None] * len(inputs)
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            continue
        g = _initial_grad(out, g, "grad")
        for k, gk in enumerate(run_backward(out, g, create_graph, capture=inputs)):
            if gk is not None:
                total[k] = gk if total[k] is None else total[k] + gk
    for i, g in enumerate(total):
        if g is None and not allow_unused:
            raise ValueError(f"grad: input {i} (shape {inputs[i].shape}) was not used to "
                             "compute the outputs; pass allow_unused=True to get None")
    return total


def _initial_grad(out, g, who):
    if g is None:
        if out.numel() != 1:
            raise ValueError(f"{who}: output has shape {out.shape}; a gradient can be created "
                             "implicitly only for a scalar output: pass grad=<tensor of that shape>")
        return Tensor._wrap(out.xp.ones_like(out.data), False)
    if not isinstance(g, Tensor):
        g = Tensor(g, dtype=out.dtype)
    if g.shape != out.shape:
        raise ValueError(f"{who}: gradient has shape {g.shape} but the output has shape {out.shape}")
    return g


def backward(tensor, grad=None, create_graph=False):
    """``tensor.backward()``: accumulate d tensor / d leaf into every leaf's ``.grad``."""
    if not backend.is_floating(tensor.dtype):
        raise TypeError(f"backward: tensor has integer dtype {tensor.dtype}; only float "
                        "tensors carry gradients")
    if not tensor.requires_grad:
        raise ValueError("backward: tensor does not require grad (no input had "
                         "requires_grad=True, or it was computed under no_grad())")
    run_backward(tensor, _initial_grad(tensor, grad, "backward"), create_graph)


# Last: tensor.py builds on this module, and Function.apply wraps its results in Tensors.
from minigrad.tensor import Tensor  # noqa: E402
