"""minigrad.optim: updates checked by hand for two steps, parameter groups, schedulers,
state dicts and exact resume, and (where torch is installed) trajectories against
torch.optim in float64."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.optim.lr_scheduler import LambdaLR, StepLR, WarmupCosineLR


def two_steps(make_optimizer, p0=1.0):
    """p after each of two steps on the loss p^2 (gradient 2p), from p = p0."""
    p = nn.Parameter(mg.tensor([p0], dtype=mg.float64))
    opt = make_optimizer([p])
    values = []
    for _ in range(2):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
        values.append(p.item())
    return values


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- updates by hand

def test_sgd_by_hand():
    assert_close(two_steps(lambda ps: optim.SGD(ps, lr=0.1)), [0.8, 0.64])
    # weight decay 0.1: g = 2p + 0.1p
    assert_close(two_steps(lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1)), [0.79, 0.79 * 0.79])


def test_sgd_momentum_and_nesterov_by_hand():
    # step 1: g = 2, b = 2, p = 1 - 0.1 * 2;  step 2: g = 1.6, b = 0.9 * 2 + 1.6 = 3.4
    assert_close(two_steps(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)), [0.8, 0.8 - 0.34])
    # dampening 0.5 acts from the second step: b = 0.9 * 2 + 0.5 * 1.6
    assert_close(two_steps(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5)),
                 [0.8, 0.8 - 0.1 * (1.8 + 0.8)])
    # nesterov: step 1 uses g + 0.9 b = 3.8; step 2: g = 1.24, b = 1.8 + 1.24, g + 0.9 b
    assert_close(two_steps(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
                 [0.62, 0.62 - 0.1 * (1.24 + 0.9 * 3.04)])


def test_rmsprop_by_hand():
    eps = 1e-8
    p1 = 1 - 0.01 * 2 / (math.sqrt(0.04) + eps)          # s = 0.01 * 2^2
    g2 = 2 * p1
    s2 = 0.99 * 0.04 + 0.01 * g2 * g2
    assert_close(two_steps(lambda ps: optim.RMSprop(ps, lr=0.01)),
                 [p1, p1 - 0.01 * g2 / (math.sqrt(s2) + eps)])
    b1 = 2 / (math.sqrt(0.04) + eps)
    b2 = 0.5 * b1 + g2 / (math.sqrt(s2) + eps)
    assert_close(two_steps(lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5)),
                 [1 - 0.01 * b1, 1 - 0.01 * b1 - 0.01 * b2])


def _adam_step(p, g, m, v, t, lr=0.1, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * g
    v = betas[1] * v + (1 - betas[1]) * g * g
    p = p - lr / (1 - betas[0] ** t) * m / (math.sqrt(v) / math.sqrt(1 - betas[1] ** t) + eps)
    return p, m, v


def test_adam_by_hand():
    # step 1: m = 0.2, v = 0.004, bias-corrected m/sqrt(v) = 2/2, so p moves by lr.
    p1 = 1 - 0.1 * (0.2 / 0.1) / (math.sqrt(0.004 / 0.001) + 1e-8)
    m2, v2 = 0.9 * 0.2 + 0.1 * 2 * p1, 0.999 * 0.004 + 0.001 * (2 * p1) ** 2
    p2 = p1 - 0.1 / (1 - 0.81) * m2 / (math.sqrt(v2) / math.sqrt(1 - 0.999 ** 2) + 1e-8)
    assert_close(two_steps(lambda ps: optim.Adam(ps, lr=0.1)), [p1, p2])
    # L2 weight decay enters the gradient: g = 2p + 0.5p
    q1, m, v = _adam_step(1.0, 2.5, 0.0, 0.0, 1)
    q2, _, _ = _adam_step(q1, 2.5 * q1, m, v, 2)
    assert_close(two_steps(lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.5)), [q1, q2])


def test_adamw_decays_the_weights_before_the_adam_step():
    p1, m, v = _adam_step(1.0 * (1 - 0.1 * 0.5), 2.0, 0.0, 0.0, 1)
    p2, _, _ = _adam_step(p1 * (1 - 0.1 * 0.5), 2 * p1, m, v, 2)
    assert_close(two_steps(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5)), [p1, p2])
    assert optim.AdamW([nn.Parameter(mg.zeros(1))]).defaults["weight_decay"] == 1e-2


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_adam_on_a_large_parameter_is_updated_block_by_block_the_same(cls):
    # More elements than one block of the blocked update, and a number that leaves a part.
    rng = np.random.default_rng(0)
    start = rng.standard_normal((257, 300))
    grads = [rng.standard_normal(start.shape) for _ in range(3)]
    p = nn.Parameter(mg.tensor(start, dtype=mg.float64))
    opt = cls([p], lr=0.1, weight_decay=0.3)
    expected, m, v = start.copy(), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        p.grad = mg.tensor(g, dtype=mg.float64)
        opt.step()
        if cls is optim.AdamW:
            expected = expected * (1 - 0.1 * 0.3)
        else:
            g = g + 0.3 * expected
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        expected = expected - 0.1 / (1 - 0.9 ** t) * m / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- groups and bookkeeping

def test_param_groups_have_their_own_options():
    w = nn.Parameter(mg.ones(2, 2, dtype=mg.float64))
    b = nn.Parameter(mg.ones(2, dtype=mg.float64))
    opt = optim.AdamW([{"params": [w], "weight_decay": 0.5}, {"params": [b], "weight_decay": 0.0,
                                                               "lr": 0.2}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.2]
    (w.sum() * 0 + b.sum() * 0).backward()  # zero gradients: only decay moves a weight
    opt.step()
    np.testing.assert_allclose(w.numpy(), 1 - 0.1 * 0.5)
    np.testing.assert_allclose(b.numpy(), 1.0)


def test_parameters_without_gradients_are_skipped():
    a, b = nn.Parameter(mg.ones(2)), nn.Parameter(mg.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert len(opt.state) == 1 and a in opt.state
    np.testing.assert_array_equal(b.numpy(), 1)


def test_zero_grad_drops_or_zeroes():
    p = nn.Parameter(mg.ones(3))
    opt = optim.SGD([p], lr=0.1)
    (p * 3).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), 0)
    opt.zero_grad()
    assert p.grad is None


def test_step_keeps_parameter_identity_and_dtype():
    layer = nn.Linear(3, 2)
    weight, data = layer.weight, layer.weight.data
    opt = optim.AdamW(layer.parameters(), lr=0.1)
    layer(mg.randn(4, 3)).sum().backward()
    opt.step()
    assert layer.weight is weight and weight.data is data and weight.dtype == mg.float32


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-1.0), "invalid learning rate -1.0"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov momentum needs momentum > 0"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"invalid betas \(1.0, 0.999\)"),
    (lambda p: optim.AdamW(p, weight_decay=-0.1), "invalid weight_decay"),
    (lambda p: optim.RMSprop(p, alpha=1.5), "invalid alpha 1.5"),
    (lambda p: optim.SGD(p + p, lr=0.1), "appears in more than one place"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD([p[0] * 2], lr=0.1), "leaf tensors that require grad"),
])
def test_invalid_options_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make([nn.Parameter(mg.ones(2))])


# ---------------------------------------------------------------- schedulers

def _lrs(scheduler_factory, steps, lr=1.0):
    opt = optim.SGD([nn.Parameter(mg.ones(1))], lr=lr)
    scheduler = scheduler_factory(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(scheduler.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == lrs[-1]
        opt.step()
        scheduler.step()
    return lrs


def test_step_lr_and_lambda_lr():
    assert_close(_lrs(lambda o: StepLR(o, step_size=3, gamma=0.5), 7),
                 [1, 1, 1, 0.5, 0.5, 0.5, 0.25])
    assert_close(_lrs(lambda o: LambdaLR(o, lambda s: 1 / (s + 1)), 4, lr=0.2),
                 [0.2, 0.1, 0.2 / 3, 0.05])


def test_warmup_cosine_shape():
    lrs = _lrs(lambda o: WarmupCosineLR(o, warmup_steps=4, max_steps=12, min_lr=0.1), 16)
    assert_close(lrs[:5], [0.25, 0.5, 0.75, 1.0, 1.0])
    assert_close(lrs[8], 0.1 + 0.9 * 0.5)   # halfway through the cosine
    assert_close(lrs[12:], [0.1] * 4)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:])), "decreasing after warmup"
    with pytest.raises(ValueError, match="warmup_steps <= max_steps"):
        WarmupCosineLR(optim.SGD([nn.Parameter(mg.ones(1))]), warmup_steps=5, max_steps=2)


def test_scheduler_state_dict_resumes_the_schedule():
    opt = optim.SGD([nn.Parameter(mg.ones(1))], lr=1.0)
    sched = WarmupCosineLR(opt, warmup_steps=3, max_steps=10, min_lr=0.0)
    for _ in range(5):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 5
    opt2 = optim.SGD([nn.Parameter(mg.ones(1))], lr=1.0)
    sched2 = WarmupCosineLR(opt2, warmup_steps=3, max_steps=10, min_lr=0.0)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()


# ---------------------------------------------------------------- state dicts and resume

def _train(model, opt, sched, steps, start=0):
    """Steps on fixed batches (batch k depends only on k), with clipping."""
    for k in range(start, start + steps):
        rng = np.random.default_rng(k)
        x = mg.tensor(rng.standard_normal((8, 3)).astype(np.float32))
        y = mg.tensor(rng.integers(0, 4, 8))
        opt.zero_grad()
        mg.functional.cross_entropy(model(x), y).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        sched.step()


def _setup(seed):
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 4))
    decay = [p for p in model.parameters() if p.ndim == 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = optim.AdamW([{"params": decay, "weight_decay": 0.1},
                       {"params": rest, "weight_decay": 0.0}], lr=1e-2, betas=(0.9, 0.99))
    return model, opt, WarmupCosineLR(opt, warmup_steps=3, max_steps=10, min_lr=1e-3)


def test_resume_from_saved_state_continues_exactly(tmp_path):
    model, opt, sched = _setup(seed=0)
    _train(model, opt, sched, 12)

    model_a, opt_a, sched_a = _setup(seed=0)
    _train(model_a, opt_a, sched_a, 5)
    mg.save({"model": model_a.state_dict(), "optimizer": opt_a.state_dict(),
             "scheduler": sched_a.state_dict()}, tmp_path / "ckpt.npz")

    model_b, opt_b, sched_b = _setup(seed=1)  # different initial weights, overwritten below
    ckpt = mg.load(tmp_path / "ckpt.npz")
    model_b.load_state_dict(ckpt["model"])
    opt_b.load_state_dict(ckpt["optimizer"])
    sched_b.load_state_dict(ckpt["scheduler"])
    assert opt_b.param_groups[0]["betas"] == (0.9, 0.99)
    _train(model_b, opt_b, sched_b, 7, start=5)
    for (name, p), q in zip(model.named_parameters(), model_b.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
    assert sched_b.get_last_lr() == sched.get_last_lr()


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
    lambda ps: optim.Adam(ps, lr=0.1),
])
def test_optimizer_state_dict_round_trip_in_memory(make):
    def run(opt, p, steps):
        for _ in range(steps):
            opt.zero_grad()
            (p * p * p).sum().backward()
            opt.step()

    p = nn.Parameter(mg.tensor([1.0, -0.5], dtype=mg.float64))
    opt = make([p])
    run(opt, p, 2)
    q = nn.Parameter(mg.tensor(p.numpy()))
    opt_q = make([q])
    opt_q.load_state_dict(opt.state_dict())
    assert opt_q.state[q] is not opt.state[p]
    run(opt, p, 3)
    run(opt_q, q, 3)
    np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_optimizer_load_state_dict_errors():
    a, b = nn.Parameter(mg.ones(2)), nn.Parameter(mg.ones(3))
    opt = optim.Adam([a, b])
    (a.sum() + b.sum()).backward()
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="the state has 1 parameter groups, the optimizer 2"):
        optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(state)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state, 1 in"):
        optim.Adam([a]).load_state_dict(state)
    with pytest.raises(ValueError, match=r"state 'exp_avg' has shape \(2,\), its parameter \(3,\)"):
        optim.Adam([b, a]).load_state_dict(state)


# ---------------------------------------------------------------- against torch.optim

@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _trajectory(lib, make_opt, make_sched=None, steps=5):
    """Parameters (and lr) after each step of ``make_opt`` on a small nonlinear loss, with
    minigrad (lib=None) or torch (lib=torch); weights and data are the same for both."""
    rng = np.random.default_rng(0)
    w0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x = rng.standard_normal((5, 3))
    if lib is None:
        w, b = nn.Parameter(mg.tensor(w0)), nn.Parameter(mg.tensor(b0))
        data = mg.tensor(x)
    else:
        w, b = (lib.tensor(a, requires_grad=True) for a in (w0, b0))
        data = lib.tensor(x)
    # Two groups, the bias one without weight decay (as for biases and LayerNorm).
    opt = make_opt([{"params": [w]}, {"params": [b], "weight_decay": 0.0}])
    sched = make_sched(opt) if make_sched else None
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((data @ w + b).tanh() ** 2).sum() + (w * w * w).sum() * 0.1
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        out.append((w.detach().numpy().copy(), b.detach().numpy().copy(),
                    [g["lr"] for g in opt.param_groups]))
    return out


OPTIMIZER_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.5)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.9, 0.99), weight_decay=0.1)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, options", OPTIMIZER_CASES)
def test_optimizer_trajectories_match_torch(torch, name, options):
    def make(lib):
        cls = getattr(optim if lib is None else lib.optim, name)
        return lambda groups: cls(groups, **options)

    ours, theirs = _trajectory(None, make(None)), _trajectory(torch, make(torch))
    for (w, b, _), (tw, tb, _) in zip(ours, theirs):
        np.testing.assert_allclose(w, tw, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(b, tb, rtol=1e-6, atol=1e-12)


def warmup_cosine_factor(s, base=0.1, warmup=2, max_steps=5, min_lr=0.01):
    """WarmupCosineLR's curve as a LambdaLR factor (torch has no warmup + cosine in one)."""
    if s < warmup:
        return (s + 1) / warmup
    if s >= max_steps:
        return min_lr / base
    q = (s - warmup) / (max_steps - warmup)
    return (min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * q))) / base


SCHEDULER_CASES = {
    "StepLR": (lambda o: StepLR(o, step_size=2, gamma=0.5),
               lambda torch, o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    "LambdaLR": (lambda o: LambdaLR(o, lambda s: 0.9 ** s),
                 lambda torch, o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 0.9 ** s)),
    "WarmupCosineLR": (lambda o: WarmupCosineLR(o, warmup_steps=2, max_steps=5, min_lr=0.01),
                       lambda torch, o: torch.optim.lr_scheduler.LambdaLR(o, warmup_cosine_factor)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(SCHEDULER_CASES))
def test_scheduler_trajectories_match_torch(torch, name):
    ours_sched, their_sched = SCHEDULER_CASES[name]

    def sgd(lib):
        cls = optim.SGD if lib is None else lib.optim.SGD
        return lambda groups: cls(groups, lr=0.1, momentum=0.9)

    ours = _trajectory(None, sgd(None), ours_sched, steps=7)
    theirs = _trajectory(torch, sgd(torch), lambda o: their_sched(torch, o), steps=7)
    for (w, b, lrs), (tw, tb, tlrs) in zip(ours, theirs):
        np.testing.assert_allclose(lrs, tlrs, rtol=1e-12)
        np.testing.assert_allclose(w, tw, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(b, tb, rtol=1e-6, atol=1e-12)
