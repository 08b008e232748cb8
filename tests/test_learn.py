"""The lessons' exercise checker: each reference solution is right (proved against the
engine's autograd) and passes ``check``; planted mistakes are caught and named."""
import importlib

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.learn import EXERCISES, check, inputs
from minigrad.learn.checker import reference


def _leaf(a):
    return mg.tensor(np.asarray(a, dtype=np.float64), dtype=mg.float64, requires_grad=True)


def _engine_neuron(c):
    x1, w1, x2, w2, b = (_leaf(getattr(c, k)) for k in ("x1", "w1", "x2", "w2", "b"))
    n = x1 * w1 + x2 * w2 + b
    return n.tanh(), mg.tensor(c.do, dtype=mg.float64), dict(dn=n, dw1=w1, dx1=x1, dw2=w2,
                                                             dx2=x2, db=b)


def _engine_linear(c):
    x, W, b = _leaf(c.x), _leaf(c.W), _leaf(c.b)
    return x @ W + b, mg.tensor(c.dy), dict(dx=x, dW=W, db=b)


def _engine_softplus(c):
    x = _leaf(c.x)
    return (x.exp() + 1).log(), mg.tensor(c.dy), dict(dx=x)


def _engine_cross_entropy(c):
    logits = _leaf(c.logits)
    maxes = logits.max(1, keepdim=True).values
    shifted = logits - maxes
    counts = shifted.exp()
    sums = counts.sum(1, keepdim=True)
    inv = 1.0 / sums
    probs = counts * inv
    logprobs = probs.log()
    loss = -logprobs[mg.arange(len(c.y)), mg.tensor(c.y)].mean()
    return loss, None, dict(dlogprobs=logprobs, dprobs=probs, dinv=inv, dsums=sums,
                            dcounts=counts, dshifted=shifted, dmaxes=maxes, dlogits=logits)


def _engine_layer_norm(c):
    x, w, b = _leaf(c.x), _leaf(c.w), _leaf(c.b)
    mean = x.mean(1, keepdim=True)
    xc = x - mean
    var = (xc ** 2).mean(1, keepdim=True)
    rstd = (var + c.eps) ** -0.5
    xhat = xc * rstd
    return xhat * w + b, mg.tensor(c.dy), dict(dw=w, db=b, dxhat=xhat, drstd=rstd, dvar=var,
                                                dxc=xc, dmean=mean, dx=x)


def _engine_attention(c):
    Q, K, V = _leaf(c.Q), _leaf(c.K), _leaf(c.V)
    S = Q @ K.T * c.scale
    future = mg.tensor(np.triu(np.ones(c.S.shape, dtype=bool), 1))
    P = F.softmax(mg.where(future, mg.tensor(-np.inf, dtype=mg.float64), S), -1)
    return P @ V, mg.tensor(c.G), dict(dV=V, dP=P, dS=S, dQ=Q, dK=K)


def _engine_lstm_cell(c):
    x, h_prev, c_prev, W, b = (_leaf(getattr(c, k)) for k in ("x", "h_prev", "c_prev", "W", "b"))
    h = c.h.shape[1]
    z = mg.cat([x, h_prev], 1) @ W + b
    i, f = z[:, :h].sigmoid(), z[:, h:2 * h].sigmoid()
    g, o = z[:, 2 * h:3 * h].tanh(), z[:, 3 * h:].sigmoid()
    cell = f * c_prev + i * g
    loss = (o * cell.tanh() * mg.tensor(c.dh)).sum() + (cell * mg.tensor(c.dc_next)).sum()
    return loss, None, dict(do=o, dc=cell, di=i, df=f, dg=g, dc_prev=c_prev, dz=z, dW=W, db=b,
                            dx=x, dh_prev=h_prev)


def _engine_gelu(c):
    x = _leaf(c.x)
    return F.gelu(x), mg.tensor(c.dy), dict(dx=x)


ENGINE = {"neuron": _engine_neuron, "linear": _engine_linear, "softplus": _engine_softplus,
          "cross_entropy": _engine_cross_entropy, "layer_norm": _engine_layer_norm,
          "attention": _engine_attention, "lstm_cell": _engine_lstm_cell, "gelu": _engine_gelu}


@pytest.mark.parametrize("name", sorted(ENGINE))
def test_reference_gradients_match_the_engine(name):
    out, seed, tensors = ENGINE[name](inputs(name))
    keys = list(tensors)
    grads = mg.grad(out, [tensors[k] for k in keys], seed)
    expected = reference(name)
    for key, g in zip(keys, grads):
        np.testing.assert_allclose(expected[key], g.numpy(), rtol=1e-9, atol=1e-12, err_msg=key)


def test_hessian_vector_product_reference_matches_double_backward():
    c = inputs("hvp")
    w = _leaf(c.w)
    f = ((mg.tensor(c.X) @ w).exp() + 1).log().sum()
    (g,) = mg.grad(f, [w], create_graph=True)
    (hv,) = mg.grad((g * mg.tensor(c.v)).sum(), [w])
    np.testing.assert_allclose(reference("hvp")["Hv"], hv.numpy(), rtol=1e-9)


def test_head_reference_matches_the_engines_attention():
    c = inputs("head")
    q, k, v = (mg.tensor(c.x @ W) for W in (c.Wq, c.Wk, c.Wv))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    np.testing.assert_allclose(reference("head")["out"], out.numpy(), rtol=1e-9, atol=1e-12)


def test_every_exercise_has_a_solution_module_and_names_it_checks():
    assert len(EXERCISES) == 10
    assert sorted(e.lesson for e in EXERCISES.values()) == list(range(1, 11))
    for name, exercise in EXERCISES.items():
        assert importlib.import_module(f"minigrad.learn.solutions.{name}").solve
        assert set(reference(name)) == set(exercise.names), name


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_check_accepts_the_reference(name):
    solve = importlib.import_module(f"minigrad.learn.solutions.{name}").solve
    report = check(name, solve)
    assert report.ok and report.first_wrong is None, str(report)
    assert "all" in str(report) and "match" in str(report)


def _planted(name, **changes):
    """The reference solution with some of its values replaced: changes[key](c, ref) -> value."""
    def fn(c):
        ref = importlib.import_module(f"minigrad.learn.solutions.{name}").solve(c)
        return {**ref, **{k: change(c, ref) for k, change in changes.items()}}
    return fn


def test_catches_a_missing_transpose_and_names_it():
    report = check("linear", _planted("linear", dW=lambda c, r: c.dy.T @ c.x))
    assert not report.ok and report.first_wrong.name == "dW"
    assert "transpose" in report.first_wrong.why and "(3, 4)" in str(report)
    assert "dW = x.T @ dy" in report.verdict()  # the hint


def test_catches_a_missing_transpose_with_the_same_shape():
    report = check("attention", _planted("attention", dK=lambda c, r: c.scale * r["dS"] @ c.Q))
    assert report.first_wrong.name == "dK"
    verdict = report.verdict()
    assert "shape (6, 4)" in verdict and "max difference" in verdict and "dS.T @ Q" in verdict
    assert report.first_wrong.maxdiff > 0.01


def test_catches_a_missing_sum_over_the_batch():
    report = check("linear", _planted("linear", db=lambda c, r: c.dy))
    assert report.first_wrong.name == "db"
    assert "summed over axis 0 it would be right" in report.first_wrong.why
    report = check("layer_norm", _planted("layer_norm", dw=lambda c, r: c.dy * c.xhat))
    assert report.first_wrong.name == "dw" and "axis 0" in report.first_wrong.why


def test_catches_a_flipped_sign():
    report = check("cross_entropy", _planted("cross_entropy",
                                             dlogprobs=lambda c, r: -r["dlogprobs"]))
    assert report.first_wrong.name == "dlogprobs" and "sign" in report.first_wrong.why
    report = check("linear", _planted("linear", dx=lambda c, r: -r["dx"]))
    assert report.first_wrong.name == "dx" and "sign is flipped" in report.verdict()


def test_catches_a_constant_factor_and_keeps_checking_later_intermediates():
    n = inputs("cross_entropy").logits.shape[0]
    report = check("cross_entropy", _planted("cross_entropy", dlogits=lambda c, r: r["dlogits"] * n))
    assert report.first_wrong.name == "dlogits" and f"{n:.6g} times" in report.first_wrong.why
    assert all(r.status in ("exact", "approx") for r in report.rows[:-1])


def test_names_the_first_wrong_one_when_several_are():
    report = check("layer_norm", _planted("layer_norm", dxhat=lambda c, r: c.dy,
                                          dx=lambda c, r: r["dx"] + 1))
    assert report.first_wrong.name == "dxhat"
    assert [r.name for r in report.rows if r.status == "wrong"] == ["dxhat", "dx"]


def test_unwritten_intermediates_are_reported_with_their_hint():
    report = check("layer_norm", lambda c: {"dw": (c.dy * c.xhat).sum(0), "db": None})
    assert report.first_wrong.name == "db" and report.first_wrong.status == "missing"
    assert "not written yet" in str(report) and "sum dy over axis 0" in report.verdict()


def test_learner_values_may_be_engine_tensors():
    def fn(c):
        dy, W, x = mg.tensor(c.dy), mg.tensor(c.W), mg.tensor(c.x)
        return {"dx": dy @ W.T, "dW": x.T @ dy, "db": dy.sum(0)}
    assert check("linear", fn).ok


def test_check_refuses_an_unknown_exercise_and_a_non_dict():
    with pytest.raises(KeyError, match="no exercise 'nope'; there are: neuron"):
        check("nope", lambda c: {})
    with pytest.raises(TypeError, match="returned a tuple; return a dict with the keys dx, dW, db"):
        check("linear", lambda c: (1, 2, 3))
