"""The trainer: exact resume, checkpoints that survive a crash, early stopping, Ctrl-C,
gradient accumulation, the log and the run directory."""
import importlib.util
import io
import os
import signal

import numpy as np
import pytest

import minigrad as mg

from models import checkpoint as ckpt
from models.config import Config
from models.train import Trainer, read_log

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 12


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def micro(corpus, **changes):
    base = dict(model="transformer", corpus=corpus, n_layer=1, n_head=2, n_embd=16, context=8,
                batch_size=4, steps=12, warmup_steps=3, eval_every=4, eval_batches=2,
                final_eval=False, sample_tokens=0)
    return Config(**{**base, **changes})


def run(config, run_dir, resume=False, stop_at=None, **kwargs):
    trainer = Trainer(config, run_dir, resume=resume, stream=io.StringIO())
    if stop_at is not None:
        trainer.on_step = lambda step: trainer.request_stop() if step == stop_at else None
    summary = trainer.run()
    return trainer, summary


def weights(trainer):
    return {k: v.numpy().copy() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("changes", [
    dict(dropout=0.1, grad_accum=2),          # dropout draws from the minigrad generator
    dict(model="lstm", hidden_size=16),       # hidden state and data position carried
    dict(model="lstm", hidden_size=16, objective="last", optimizer="sgd", momentum=0.9),
    dict(optimizer="rmsprop", momentum=0.5, decay_all=True, weight_decay=0.01),
], ids=["transformer-dropout-accum", "lstm", "lstm-last-sgd", "rmsprop"])
@pytest.mark.parametrize("stop_at", [5, 8])   # between evaluations, and at one
def test_resume_is_exact(corpus, tmp_path, changes, stop_at):
    config = micro(corpus, **changes)
    straight, _ = run(config, tmp_path / "straight")
    _, stopped = run(config, tmp_path / "resumed", stop_at=stop_at)
    assert stopped["step"] == stop_at and stopped["stopped"] == "interrupted"
    resumed, summary = run(config, tmp_path / "resumed", resume=True)
    assert summary["step"] == config.steps
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # The resumed log has each evaluation once, as the straight one.
    steps = lambda d: [r["step"] for r in read_log(d / ckpt.LOG) if "val_loss" in r]  # noqa: E731
    assert steps(tmp_path / "resumed") == steps(tmp_path / "straight") == [0, 4, 8, 12]
    losses = lambda d: [r.get("val_loss") for r in read_log(d / ckpt.LOG)]  # noqa: E731
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")


def test_checkpoint_contents(corpus, tmp_path):
    trainer, _ = run(micro(corpus), tmp_path / "run")
    state = ckpt.load_checkpoint(tmp_path / "run" / ckpt.LAST)
    assert state["step"] == 12
    assert set(state) >= {"config", "model", "optimizer", "scheduler", "rng", "data",
                          "best_val", "evals_since_best"}
    assert Config.from_dict(state["config"]) == trainer.config
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(state["model"][name].numpy(), value.numpy())
    assert (tmp_path / "run" / ckpt.BEST).is_file()
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {
        "config.json", "tokenizer.json", "cache", "last.npz", "best.npz", "log.jsonl"}


def test_a_crash_while_saving_keeps_the_previous_checkpoint(corpus, tmp_path, monkeypatch):
    trainer, _ = run(micro(corpus, steps=4), tmp_path / "run")
    last = tmp_path / "run" / ckpt.LAST
    before = last.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a zip archive")
        raise OSError("disk full")

    monkeypatch.setattr("minigrad.serialization.np.savez", crash)
    with pytest.raises(OSError, match="disk full"):
        trainer.save(ckpt.LAST)
    assert last.read_bytes() == before
    assert ckpt.load_checkpoint(last)["step"] == 4
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")) == []


def test_early_stopping(corpus, tmp_path):
    # lr 0: the loss never improves on step 0's, so patience 2 stops at the second evaluation
    # after it.
    config = micro(corpus, lr=0.0, min_lr=0.0, steps=40, eval_every=2, patience=2)
    _, summary = run(config, tmp_path / "run")
    assert summary["stopped"] == "early stop"
    assert summary["step"] == 4
    assert [r["step"] for r in read_log(tmp_path / "run" / ckpt.LOG)] == [0, 2, 4]
    assert mg.load(tmp_path / "run" / ckpt.BEST)["step"] == 0


def test_ctrl_c_saves_and_resumes(corpus, tmp_path):
    trainer = Trainer(micro(corpus), tmp_path / "run", stream=io.StringIO())
    trainer.on_step = lambda step: os.kill(os.getpid(), signal.SIGINT) if step == 3 else None
    # Whatever handled Ctrl-C before (a job started in the background ignores it) comes back.
    before = signal.getsignal(signal.SIGINT)
    summary = trainer.run()
    assert summary["stopped"] == "interrupted" and summary["step"] == 3
    assert mg.load(tmp_path / "run" / ckpt.LAST)["step"] == 3
    assert "saved" in trainer.progress.stream.getvalue()
    assert signal.getsignal(signal.SIGINT) is before
    _, summary = run(micro(corpus), tmp_path / "run", resume=True)
    assert summary["step"] == 12


def test_gradient_accumulation_matches_a_larger_batch(corpus, tmp_path):
    mg.set_default_dtype(mg.float64)
    a, _ = run(micro(corpus, batch_size=8, steps=3, grad_clip=0.0), tmp_path / "a")
    b, _ = run(micro(corpus, batch_size=4, grad_accum=2, steps=3, grad_clip=0.0), tmp_path / "b")
    for name, value in weights(a).items():
        np.testing.assert_allclose(weights(b)[name], value, rtol=1e-6, atol=1e-9, err_msg=name)


def test_log_records_and_final_evaluation(corpus, tmp_path):
    config = micro(corpus, steps=10, final_eval=True, sample_tokens=20)
    _, summary = run(config, tmp_path / "run")
    records = read_log(tmp_path / "run" / ckpt.LOG)
    assert [r["step"] for r in records if "val_loss" in r] == [0, 4, 8, 10]
    assert set(records[0]) >= {"train_loss", "val_loss", "lr", "tokens", "time"}
    assert records[-1]["full_val_loss"] == pytest.approx(summary["full_val"]["loss"])
    assert summary["full_val"]["targets"] == len(TEXT) - int(len(TEXT) * 0.9) - 1
    assert (tmp_path / "run" / ckpt.SAMPLES).read_text().startswith("--- step 10")
    if importlib.util.find_spec("matplotlib"):
        assert summary["plot"] == str(tmp_path / "run" / ckpt.PLOT)
        assert (tmp_path / "run" / ckpt.PLOT).is_file()
    else:
        assert summary["plot"] is None


def test_run_directory_rules(corpus, tmp_path):
    run(micro(corpus, steps=2), tmp_path / "run")
    with pytest.raises(ValueError, match="already holds a run"):
        run(micro(corpus, steps=2), tmp_path / "run")
    with pytest.raises(ValueError, match="n_embd"):
        run(micro(corpus, steps=4, n_embd=32), tmp_path / "run", resume=True)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        run(micro(corpus), tmp_path / "empty", resume=True)
    # More steps on resume: the schedule is stretched to the new end.
    trainer, summary = run(micro(corpus, steps=6), tmp_path / "run", resume=True)
    assert summary["step"] == 6 and trainer.scheduler.max_steps == 6


def test_corpus_too_short_for_the_context(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("abcdefghij" * 2)
    with pytest.raises(ValueError, match="too few"):
        run(micro(str(path), context=32), tmp_path / "run")
