"""Mixed precision on the CPU: autocast's float16 matrix products, the loss scaler's rule,
and a small transformer that trains with both (the thesis's float16 run went NaN)."""
import io
import math
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import amp, backend_cuda, optim
from minigrad import functional as F

from models import checkpoint as ckpt
from models.cli import UsageError, build_parser
from models.config import Config, build_model
from models.train import Trainer, read_log


def sgd_on(values, lr=0.5):
    p = mg.tensor(values, requires_grad=True)
    return p, optim.SGD([p], lr=lr)


# ---------------------------------------------------------------- GradScaler

def test_scaler_skips_a_step_with_inf_grads_and_backs_off():
    p, opt = sgd_on([1.0, 2.0])
    scaler = amp.GradScaler(init_scale=8.0, growth_interval=3)
    for bad in (math.inf, math.nan):
        p.grad = mg.tensor([bad, 1.0])
        assert scaler.step(opt) is None
        scaler.update()
        np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])
    assert scaler.get_scale() == 2.0


def test_scaler_grows_after_growth_interval_clean_steps():
    p, opt = sgd_on([1.0])
    scaler = amp.GradScaler(init_scale=4.0, growth_factor=3.0, growth_interval=3)
    scales = []
    for _ in range(7):
        p.grad = mg.tensor([1.0])
        scaler.step(opt)
        scaler.update()
        scales.append(scaler.get_scale())
    assert scales == [4.0, 4.0, 12.0, 12.0, 12.0, 36.0, 36.0]
    # An overflow resets the count of clean steps as well as halving the scale.
    p.grad = mg.tensor([math.inf])
    scaler.step(opt)
    scaler.update()
    assert scaler.state_dict()["_growth_tracker"] == 0 and scaler.get_scale() == 18.0


def test_unscale_gives_the_true_gradients_and_step_uses_them():
    p, opt = sgd_on([1.0, -3.0], lr=0.1)
    scaler = amp.GradScaler(init_scale=1024.0)
    loss = (p * p).sum()
    scaled = scaler.scale(loss)
    assert scaled.item() == pytest.approx(1024.0 * loss.item())
    scaled.backward()
    np.testing.assert_allclose(p.grad.numpy(), [2048.0, -6144.0])
    scaler.unscale_(opt)
    np.testing.assert_allclose(p.grad.numpy(), [2.0, -6.0])   # d(p^2)/dp = 2p
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.step(opt)                                         # does not unscale twice
    np.testing.assert_allclose(p.numpy(), [0.8, -2.4])
    with pytest.raises(RuntimeError, match="step"):
        scaler.step(opt)
    scaler.update()
    with pytest.raises(RuntimeError, match="no inf checks"):
        scaler.update()


def test_scaler_state_dict_and_disabled_pass_through():
    scaler = amp.GradScaler(init_scale=32.0, growth_interval=5)
    p, opt = sgd_on([1.0])
    p.grad = mg.tensor([1.0])
    scaler.step(opt)
    scaler.update()
    copy = amp.GradScaler()
    copy.load_state_dict(scaler.state_dict())
    assert copy.state_dict() == scaler.state_dict() == {
        "scale": 32.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5,
        "_growth_tracker": 1}

    off = amp.GradScaler(enabled=False)
    loss = mg.tensor(3.0)
    assert off.scale(loss) is loss and off.get_scale() == 1.0 and off.state_dict() == {}
    p.grad = mg.tensor([math.inf])
    off.unscale_(opt)
    off.step(opt)            # a plain optimizer.step(): no inf check when disabled
    off.update()
    assert math.isinf(p.item())
    with pytest.raises(RuntimeError, match="empty"):
        amp.GradScaler().load_state_dict({})
    with pytest.raises(ValueError, match="growth_factor"):
        amp.GradScaler(growth_factor=0.5)


# ---------------------------------------------------------------- autocast

def test_autocast_matmul_matches_float32_within_float16_precision():
    rng = np.random.default_rng(0)
    a = mg.tensor(rng.standard_normal((2, 5, 16)), dtype=mg.float32, requires_grad=True)
    w = mg.tensor(rng.standard_normal((8, 16)), dtype=mg.float32, requires_grad=True)
    b = mg.tensor(rng.standard_normal(8), dtype=mg.float32, requires_grad=True)
    g = rng.standard_normal((2, 5, 8)).astype(np.float32)

    def run(low):
        for t in (a, w, b):
            t.grad = None
        with amp.autocast("float16", enabled=low):
            out = a @ w.T + F.linear(a, w, b)
        out.backward(mg.tensor(g))
        return out.numpy(), [t.grad.numpy() for t in (a, w, b)], out.dtype, a.grad.dtype

    ref, ref_grads, _, _ = run(False)
    out, grads, out_dtype, grad_dtype = run(True)
    assert out_dtype == grad_dtype == mg.float32
    assert not np.array_equal(out, ref), "the products were not computed in float16"
    # float16 keeps 11 significant bits: relative error ~ 2^-11 per operand, summed over 16.
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-2 * np.abs(ref).max())
    for ours, theirs in zip(grads, ref_grads):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-2 * np.abs(theirs).max())


def test_autocast_leaves_float64_alone_and_is_per_thread():
    a = mg.randn(3, 4, dtype=mg.float64)
    with amp.autocast():
        assert amp.get_autocast_dtype() == "float16"
        np.testing.assert_array_equal((a @ a.T).numpy(), a.numpy() @ a.numpy().T)
        seen = []
        thread = threading.Thread(target=lambda: seen.append(amp.is_autocast_enabled()))
        thread.start()
        thread.join()
        assert seen == [False]
        with amp.autocast(enabled=False):
            assert amp.get_autocast_dtype() is None
    assert not amp.is_autocast_enabled()
    with pytest.raises(ValueError, match="float16"):
        amp.autocast("int8")


def test_bfloat16_needs_a_gpu_that_has_it():
    if backend_cuda.bfloat16() is None:
        with pytest.raises(ValueError, match="bfloat16 is not available"):
            amp.autocast("bfloat16")
    with pytest.raises(ValueError, match="bfloat16 needs --device cuda"):
        Config(amp="bfloat16").validate()
    with pytest.raises(UsageError, match="invalid choice"):
        build_parser().parse_args(["train", "--amp", "float32"])


def test_float16_overflow_is_caught_by_the_scaler():
    """A gradient product beyond float16's 65504 becomes inf: the step is skipped and the
    scale backed off, instead of the weights turning NaN."""
    w = mg.tensor(np.full((4, 4), 10.0), dtype=mg.float32, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    scaler = amp.GradScaler(init_scale=2.0 ** 16)
    with amp.autocast():
        loss = (mg.ones(2, 4) @ w).sum()
    scaler.scale(loss).backward()
    assert scaler.step(opt) is None
    scaler.update()
    np.testing.assert_array_equal(w.numpy(), 10.0)
    assert scaler.get_scale() == 2.0 ** 15


# ---------------------------------------------------------------- training

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak.\n" * 12


def test_small_transformer_trains_under_float16_autocast():
    chars = sorted(set(TEXT))
    ids = np.array([chars.index(c) for c in TEXT])
    model = build_model(Config(n_layer=2, n_head=2, n_embd=32, context=16), len(chars))
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    scaler = amp.GradScaler()
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(40):
        starts = rng.integers(0, len(ids) - 17, 8)
        x = mg.tensor(np.stack([ids[s:s + 16] for s in starts]))
        y = mg.tensor(np.stack([ids[s + 1:s + 17] for s in starts]))
        with amp.autocast("float16"):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert all(p.dtype == mg.float32 and np.isfinite(p.numpy()).all() for p in model.parameters())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_trainer_with_amp_resumes_exactly(tmp_path):
    """--amp float16 through the trainer (both batch halves in their own threads), with the
    scaler's state in the checkpoint: a run stopped and resumed ends where a straight one does."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    config = Config(model="transformer", corpus=str(corpus), n_layer=1, n_head=2, n_embd=16,
                    context=8, batch_size=4, steps=8, warmup_steps=2, eval_every=4,
                    eval_batches=2, final_eval=False, sample_tokens=0, amp="float16")

    def run(run_dir, resume=False, stop_at=None):
        trainer = Trainer(config, run_dir, resume=resume, stream=io.StringIO())
        if stop_at:
            trainer.on_step = lambda step: trainer.request_stop() if step == stop_at else None
        trainer.run()
        return trainer

    straight = run(tmp_path / "straight")
    run(tmp_path / "resumed", stop_at=5)
    saved = ckpt.load_checkpoint(tmp_path / "resumed" / ckpt.LAST)["scaler"]
    assert saved["scale"] > 0 and saved["_growth_tracker"] == 5
    resumed = run(tmp_path / "resumed", resume=True)
    assert resumed.scaler.state_dict() == straight.scaler.state_dict()
    for name, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name].numpy(), value.numpy())
    losses = [r["val_loss"] for r in read_log(tmp_path / "straight" / ckpt.LOG)]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
