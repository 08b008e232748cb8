"""Finite-difference checks of gradients (float64).

``gradcheck(fn, inputs)`` compares the Jacobian that backward computes with central
differences (f(x + eps) - f(x - eps)) / (2 eps), element by element, and explains the
worst mismatch. ``gradgradcheck`` does the same for the gradient itself (second order).

    x = minigrad.randn(3, 4, dtype=minigrad.float64, requires_grad=True)
    minigrad.gradcheck(lambda x: (x.tanh() ** 2).sum(1), (x,))
"""
import numpy as np

from minigrad import autograd, backend
from minigrad.tensor import Tensor


class GradcheckError(AssertionError):
    """Backward disagrees with finite differences (or the check cannot be trusted)."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float_outputs(fn, inputs):
    outs = _as_tuple(fn(*inputs))
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: output {i} is a {type(o).__name__}, expected a Tensor")
    return [o for o in outs if backend.is_floating(o.dtype)]


def _check_inputs(inputs):
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad; nothing to check")
    for i in diff:
        if inputs[i].dtype != backend.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences "
                            "need float64 (make it with dtype=minigrad.float64 or .double())")
    return diff


def _numeric_jacobians(fn, inputs, diff, eps):
    """J[k][j]: (outputs[k].size, inputs[diff[j]].size) by central differences."""
    # Not under no_grad: fn may itself call grad() (gradgradcheck).
    sizes = [o.numel() for o in _float_outputs(fn, inputs)]
    jac = [[np.zeros((n, inputs[j].numel())) for j in diff] for n in sizes]
    for col, j in enumerate(diff):
        flat = inputs[j].data.reshape(-1)  # a view: perturbs the input in place
        for e in range(flat.size):
            orig = flat[e].item()
            flat[e] = orig + eps
            plus = [o.numpy().reshape(-1).copy() for o in _float_outputs(fn, inputs)]
            flat[e] = orig - eps
            minus = [o.numpy().reshape(-1).copy() for o in _float_outputs(fn, inputs)]
            flat[e] = orig
            for k in range(len(sizes)):
                jac[k][col][:, e] = (plus[k] - minus[k]) / (2 * eps)
    return jac


def _analytic_jacobians(fn, inputs, diff, create_graph):
    outs = _float_outputs(fn, inputs)
    targets = [inputs[j] for j in diff]
    jac = [[np.zeros((o.numel(), t.numel())) for t in targets] for o in outs]
    for k, out in enumerate(outs):
        if not out.requires_grad:
            continue
        for row in range(out.numel()):
            onehot = np.zeros(out.numel())
            onehot[row] = 1.0
            seed = Tensor._wrap(backend.to_device(onehot.reshape(out.shape).astype(out.dtype),
                                                  out.device), False)
            grads = autograd.grad(out, targets, seed, create_graph=create_graph,
                                  allow_unused=True)
            for col, g in enumerate(grads):
                if g is not None:
                    jac[k][col][row] = g.numpy().reshape(-1)
    return jac


def _one_sided_disagree(fn, inputs, j, e, k, row, eps, tol):
    """True when the left and right differences differ: x sits on a kink (relu at 0,
    max with ties, |x| at 0), where no finite difference is meaningful."""
    flat = inputs[j].data.reshape(-1)
    orig = flat[e].item()
    f0 = _float_outputs(fn, inputs)[k].numpy().reshape(-1)[row]
    flat[e] = orig + eps
    right = (_float_outputs(fn, inputs)[k].numpy().reshape(-1)[row] - f0) / eps
    flat[e] = orig - eps
    left = (f0 - _float_outputs(fn, inputs)[k].numpy().reshape(-1)[row]) / eps
    flat[e] = orig
    return abs(right - left) > 10 * tol + 1e-3 * abs(right)


def _position(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def _report(fn, inputs, diff, k, col, analytic, numeric, atol, rtol, eps):
    j = diff[col]
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    out_shape = _float_outputs(fn, inputs)[k].shape
    in_shape = inputs[j].shape
    lines = [f"gradcheck: Jacobian mismatch for output {k} (shape {out_shape}) with respect to "
             f"input {j} (shape {in_shape}): {int((excess > 0).sum())} of {excess.size} entries "
             f"differ by more than atol {atol} + rtol {rtol} * |numeric| (eps {eps}).",
             "  output element, input element: analytic (backward) vs numeric, relative error"]
    worst = np.argsort(excess, axis=None)[::-1][:3]
    for flat in worst:
        row, e = np.unravel_index(flat, excess.shape)
        if excess[row, e] <= 0:
            break
        a, n = analytic[row, e], numeric[row, e]
        lines.append(f"  {_position(row, out_shape)}, {_position(e, in_shape)}: {a:.10g} vs "
                     f"{n:.10g}, {abs(a - n) / max(abs(n), 1e-12):.3g}")
    row, e = np.unravel_index(worst[0], excess.shape)
    if _one_sided_disagree(fn, inputs, j, e, k, row, eps, atol):
        lines.append("  note: left and right differences disagree at the worst entry: the input "
                     "sits on a point where the function is not differentiable; move the test "
                     "input away from it")
    return "\n".join(lines)


def _check_not_mutated(fn, inputs):
    before = [t.numpy().copy() if isinstance(t, Tensor) else None for t in inputs]
    fn(*inputs)
    for i, (t, b) in enumerate(zip(inputs, before)):
        if b is not None and not np.array_equal(t.numpy(), b, equal_nan=True):
            raise GradcheckError(f"gradcheck: the function changed input {i} in place; "
                                 "finite differences need a function without side effects")


def _inputs_tuple(inputs):
    """``gradcheck(fn, x, y)`` and ``gradcheck(fn, (x, y))`` both work."""
    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)):
        return tuple(inputs[0])
    return tuple(inputs)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast=False, raise_exception=True,
              create_graph=False):
    """Check the gradients of ``fn(*inputs)`` w.r.t. every input with ``requires_grad``.

    Full mode compares every Jacobian entry. ``fast=True`` compares one random
    projection v^T J u per input (one backward, two forwards), for large shapes.
    ``create_graph=True`` checks the gradients that a backward with ``create_graph=True``
    computes: every op's engine-op ``backward`` (the path of second-order gradients)
    instead of its array fast path ``backward_arrays`` (see ``minigrad.autograd``).
    Returns True, or raises ``GradcheckError`` (or returns False with
    ``raise_exception=False``) naming the output, the input and the worst entry."""
    inputs = _inputs_tuple(inputs)
    diff = _check_inputs(inputs)
    try:
        _check_not_mutated(fn, inputs)
        if fast:
            _fast_check(fn, inputs, diff, eps, atol, rtol, create_graph)
        else:
            numeric = _numeric_jacobians(fn, inputs, diff, eps)
            analytic = _analytic_jacobians(fn, inputs, diff, create_graph)
            for k in range(len(numeric)):
                for col in range(len(diff)):
                    a, n = analytic[k][col], numeric[k][col]
                    if not np.allclose(a, n, rtol=rtol, atol=atol):
                        raise GradcheckError(_report(fn, inputs, diff, k, col, a, n, atol, rtol, eps))
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _fast_check(fn, inputs, diff, eps, atol, rtol, create_graph):
    rng = np.random.default_rng(0)
    outs = _float_outputs(fn, inputs)
    vs = [rng.standard_normal(o.shape) for o in outs]
    for j in diff:
        u = rng.standard_normal(inputs[j].shape)
        flat, ud = inputs[j].data, backend.to_device(u, inputs[j].device)
        flat += eps * ud
        plus = [o.numpy() for o in _float_outputs(fn, inputs)]
        flat -= 2 * eps * ud
        minus = [o.numpy() for o in _float_outputs(fn, inputs)]
        flat += eps * ud
        numeric = sum(float(((p - m) / (2 * eps) * v).sum()) for p, m, v in zip(plus, minus, vs))
        analytic = 0.0
        for o, v in zip(outs, vs):
            if o.requires_grad:
                seed = Tensor._wrap(backend.to_device(v.astype(o.dtype), o.device), False)
                (g,) = autograd.grad(o, [inputs[j]], seed, create_graph=create_graph,
                                     allow_unused=True)
                if g is not None:
                    analytic += float((g.numpy() * u).sum())
        if abs(analytic - numeric) > atol + rtol * abs(numeric):
            raise GradcheckError(
                f"gradcheck (fast): projection v^T J u for input {j} (shape {inputs[j].shape}): "
                f"analytic {analytic:.10g} vs numeric {numeric:.10g}; run with fast=False to "
                "see the worst entry")


def gradgradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast=False, raise_exception=True,
                  create_graph=False):
    """Check second derivatives: gradcheck of x, v -> (dfn/dx)^T v (built with
    ``create_graph=True``) with respect to x and to a random v. ``create_graph`` is passed
    on to that gradcheck (the backward path of the second derivative)."""
    inputs = _inputs_tuple(inputs)
    diff = _check_inputs(inputs)
    n_in = len(inputs)
    with autograd.no_grad():
        outs = [(o.shape, o.device) for o in _float_outputs(fn, inputs)]
    rng = np.random.default_rng(1)
    vs = [Tensor(rng.standard_normal(s), dtype=backend.float64, device=d, requires_grad=True)
          for s, d in outs]

    def first_grads(*args):
        xs, seeds = args[:n_in], args[n_in:]
        outs = _float_outputs(fn, xs)
        pairs = [(o, s) for o, s in zip(outs, seeds) if o.requires_grad]
        targets = [xs[j] for j in diff]
        if not pairs:
            return tuple(Tensor(np.zeros(t.shape), device=t.device) for t in targets)
        grads = autograd.grad([o for o, _ in pairs], targets, [s for _, s in pairs],
                              create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(t.shape), device=t.device) for g, t in zip(grads, targets))

    return gradcheck(first_grads, inputs + tuple(vs), eps=eps, atol=atol, rtol=rtol, fast=fast,
                     raise_exception=raise_exception, create_graph=create_graph)
