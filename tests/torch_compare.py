"""Comparing a minigrad layer or function with PyTorch's: the same weights (a PyTorch state
dict loaded as it is), the same inputs, then the outputs and the gradient of every input and
parameter, to 1e-9 in float64 and 1e-5 in float32."""

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F

TOL = {"float64": 1e-9, "float32": 1e-5}


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def flat_outputs(result):
    out = []
    for r in result if isinstance(result, (tuple, list)) else (result,):
        if isinstance(r, (tuple, list)):
            out.extend(flat_outputs(r))
        elif r is not None:
            out.append(r)
    return out


class Fixed:
    """An input array that does not require grad (a float mask)."""

    def __init__(self, array):
        self.array = array


def inputs_of(torch, arrays, dtype):
    """(ours, theirs) for each input: float arrays require grad, other arrays (targets,
    masks) and ``Fixed`` ones do not, anything else is passed as it is."""
    ours, theirs = [], []
    for a in arrays:
        fixed = isinstance(a, Fixed)
        a = a.array if fixed else a
        if isinstance(a, np.ndarray):
            float_ = a.dtype.kind == "f" and not fixed
            a = a.astype(dtype) if a.dtype.kind == "f" else a
            ours.append(mg.tensor(a, requires_grad=float_))
            theirs.append(torch.tensor(a, requires_grad=float_))
        else:
            ours.append(a)
            theirs.append(a)
    return ours, theirs


def compare(torch, ours, theirs, inputs, our_call=None, their_call=None, dtype="float64"):
    """Load ``theirs``' state dict into ``ours`` (same names), run both on ``inputs``,
    and compare every output, then every input's and parameter's gradient after the
    backward of one random weighting of the outputs."""
    tol = TOL[dtype]
    if theirs is not None:
        theirs.to(getattr(torch, dtype))
        ours.to(getattr(mg, dtype))
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    our_in, their_in = inputs_of(torch, inputs, dtype)
    a = flat_outputs((our_call or (lambda m, *x: m(*x)))(ours, *our_in))
    b = flat_outputs((their_call or (lambda m, *x: m(*x)))(theirs, *their_in))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == tuple(y.shape)
        np.testing.assert_allclose(x.numpy(), y.detach().numpy(), rtol=tol, atol=tol)
    weights = [np.random.default_rng(i).standard_normal(x.shape).astype(dtype)
               for i, x in enumerate(a)]
    sum(((x * mg.tensor(w)).sum() for x, w in zip(a, weights)), mg.tensor(0.0)).backward()
    sum((y * torch.tensor(w)).sum() for y, w in zip(b, weights)).backward()
    for x, y in zip(our_in, their_in):
        if getattr(y, "requires_grad", False):
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=tol, atol=tol)
    if theirs is not None:
        their_params = dict(theirs.named_parameters())
        assert [n for n, _ in ours.named_parameters()] == list(their_params)
        for name, p in ours.named_parameters():
            q = their_params[name].grad
            got = p.grad.numpy() if p.grad is not None else np.zeros(p.shape)
            np.testing.assert_allclose(got, q.numpy() if q is not None else 0 * got,
                                       rtol=tol, atol=tol, err_msg=name)


def functional(name):
    """Call F.<name> on ours and torch.nn.functional.<name> on theirs."""
    def ours(_, *args, **kw):
        return getattr(F, name)(*args, **kw)

    def theirs_(torch):
        return lambda _, *args, **kw: getattr(torch.nn.functional, name)(*args, **kw)
    return ours, theirs_
