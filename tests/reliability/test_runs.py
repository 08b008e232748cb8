"""No lost runs: the run lock between two processes, SIGTERM with a real process, a NaN
stop, stale temporary files; writes that are atomic and refuse symbolic links."""
import io
import itertools
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models import checkpoint as ckpt
from models import rundir as rundir_module
from models import train as train_module
from models.cli import main
from models.config import Config
from models.progress import Progress
from models.rundir import LOG, RunDir, read_log
from models.stopping import StopOnSignal, TrainingDiverged
from models.train import Trainer
from run_helpers import MICRO, REPO, copy_run, error_of, python, wait_for


# ---------------------------------------------------------------- lost work

def test_a_second_process_cannot_train_into_a_locked_run(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    holder = python("import sys, time\nfrom models.rundir import RunDir\n"
                    "RunDir(sys.argv[1]).open()\nprint('locked', flush=True)\ntime.sleep(60)",
                    run)
    try:
        assert holder.stdout.readline().strip() == "locked"
        line = error_of(["train", "--corpus", corpus, "--out", str(run), *MICRO], capsys)
        assert f"{run} is in use by another training run (PID {holder.pid}" in line
        assert not (run / "tokenizer.json").exists()  # refused before writing anything
    finally:
        holder.kill()  # SIGKILL: the lock goes with its holder
        holder.communicate()
    assert main(["train", "--corpus", corpus, "--out", str(run), "--steps", "2", *MICRO]) == 0


def test_sigterm_saves_last_npz_and_exits_143(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "models.cli", "train", "--corpus", corpus,
                             "--out", str(run), "--steps", "1000000", "--eval-every", "1000000",
                             *MICRO], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(run / "last.npz", proc)  # step 0 is evaluated inside the signal handling
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM: stopping after this step" in err and "Traceback" not in err
    step = int(err.split("interrupted at step ")[1].split(":")[0])
    assert ckpt.load_checkpoint(run / "last.npz")["step"] == step
    assert f"step {step}" in out
    assert main(["train", "--out", str(run), "--resume", "--steps", str(step + 2)]) == 0
    assert ckpt.load_checkpoint(run / "last.npz")["step"] == step + 2


class _FakeTrainer:
    stop_signal = None
    reason = None

    def __init__(self):
        self.progress = Progress(io.StringIO())

    def request_stop(self, reason):
        self.reason = reason


def test_a_second_signal_stops_at_once():
    for signum, exception, code in ((signal.SIGTERM, SystemExit, 143),
                                    (signal.SIGINT, KeyboardInterrupt, None)):
        trainer = _FakeTrainer()
        before = signal.getsignal(signum)
        with StopOnSignal(trainer) as handler:
            handler._handle(signum, None)
            assert trainer.reason == "interrupted" and trainer.stop_signal == signum
            with pytest.raises(exception) as raised:
                handler._handle(signum, None)
        if code is not None:
            assert raised.value.code == code
        assert signal.getsignal(signum) is before


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    line = error_of(["train", "--corpus", corpus, "--out", str(run), *MICRO, "--steps", "200",
                     "--eval-every", "1", "--lr", "1e3", "--warmup-steps", "0",
                     "--grad-clip", "0"], capsys, status=1)
    assert "training diverged at step" in line and "stopped without saving" in line
    assert "--detect-anomaly" in line and "Lower --lr (now 1000)" in line
    kept = int(line.split("still holds step ")[1].split(".")[0])
    state = ckpt.load_checkpoint(run / "last.npz")
    assert state["step"] == kept
    assert all(np.isfinite(t.numpy()).all() for t in state["model"].values())
    assert all(math.isfinite(r["val_loss"]) for r in read_log(run / LOG))


def _micro(corpus, **changes):
    return Config(**{**dict(corpus=corpus, n_layer=1, n_head=2, n_embd=16, context=8,
                            batch_size=4, steps=6, warmup_steps=1, eval_every=4,
                            eval_batches=2, final_eval=False, sample_tokens=0), **changes})


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_a_nan_gradient_norm_stops_or_skips_the_update(corpus, tmp_path, monkeypatch, policy):
    calls, real = itertools.count(), train_module.clip_grad_norm_
    monkeypatch.setattr(train_module, "clip_grad_norm_",
                        lambda params, limit: math.nan if next(calls) == 2 else real(params, limit))
    trainer = Trainer(_micro(corpus, nan_policy=policy), tmp_path / "run", stream=io.StringIO())
    if policy == "stop":
        with pytest.raises(TrainingDiverged, match="at step 3: the loss is .* and the gradient "
                                                   "norm nan.*last.npz still holds step 0"):
            trainer.run()
        assert ckpt.load_checkpoint(tmp_path / "run" / "last.npz")["step"] == 0
    else:
        assert trainer.run()["step"] == 6
        assert "step 3: the loss is" in trainer.progress.stream.getvalue()
        assert "update skipped" in trainer.progress.stream.getvalue()


def test_weights_that_are_not_finite_are_never_saved(corpus, tmp_path):
    trainer = Trainer(_micro(corpus, steps=2), tmp_path / "run", stream=io.StringIO())
    trainer.run()
    before = (tmp_path / "run" / "last.npz").read_bytes()
    next(iter(trainer.model.parameters())).data[0] = np.nan
    with pytest.raises(TrainingDiverged, match="the weights hold NaN"):
        trainer.save("last.npz")
    assert (tmp_path / "run" / "last.npz").read_bytes() == before


def test_temporary_files_of_an_interrupted_save_are_removed_at_the_next_start(trained, tmp_path,
                                                                             capsys):
    run = copy_run(trained, tmp_path)
    ours = [run / "last.npz.k3j2h1g0.tmp", run / "log.jsonl.abcd_123.tmp",
            run / "cache" / "tiny.txt-0123abcd.npy.zz99yy88.tmp"]
    others = [run / "notes.tmp", run / "last.npz.keep"]
    for path in ours + others:
        path.write_bytes(b"PK\x03\x04 half an archive" * 1000)
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--steps", "4"]) == 0
    assert not any(path.exists() for path in ours)
    assert all(path.exists() for path in others)
    err = capsys.readouterr().err
    assert err.count("left by a save that was interrupted") == len(ours)


# ---------------------------------------------------------------- writes

@pytest.mark.parametrize("name", ["tokenizer.json", "config.json", "log.jsonl", "cache"])
def test_a_symbolic_link_in_the_run_directory_is_refused(corpus, tmp_path, capsys, name):
    victim = tmp_path / "victim"
    if name == "cache":
        victim.mkdir()
    else:
        victim.write_text("precious\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / name).symlink_to(victim)
    line = error_of(["train", "--corpus", corpus, "--out", str(run), *MICRO], capsys)
    assert f"{run / name} is a symbolic link (to {victim})" in line
    if name == "cache":
        assert list(victim.iterdir()) == []
    else:
        assert victim.read_text() == "precious\n"


def test_every_file_of_a_run_is_written_atomically(corpus, tmp_path, monkeypatch):
    written, real = [], rundir_module.write_atomically
    monkeypatch.setattr(rundir_module, "write_atomically",
                        lambda path, write: written.append(Path(path).name) or real(path, write))
    Trainer(_micro(corpus, steps=4, final_eval=True, sample_tokens=5), tmp_path / "run",
            stream=io.StringIO()).run()
    assert {"config.json", "tokenizer.json", "log.jsonl", "samples.txt"} <= set(written)


def test_a_crash_while_appending_to_the_log_keeps_the_old_log(tmp_path, monkeypatch):
    with RunDir(tmp_path / "run") as run:
        run.append_line(LOG, json.dumps({"step": 0, "val_loss": 1.0}))
        before = (run.path / LOG).read_bytes()
        real = rundir_module.write_atomically

        def torn(path, write):
            def half(f):
                f.write(b'{"step": 4, "val')
                raise OSError("disk full")
            real(path, half)

        monkeypatch.setattr(rundir_module, "write_atomically", torn)
        with pytest.raises(OSError, match="disk full"):
            run.append_line(LOG, json.dumps({"step": 4, "val_loss": 0.5}))
        assert (run.path / LOG).read_bytes() == before
        assert sorted(p.name for p in run.path.iterdir()) == [LOG, "run.lock"]


def test_out_naming_a_file_is_a_clear_error(corpus, tmp_path, capsys):
    path = tmp_path / "a_file"
    path.write_text("not a directory")
    line = error_of(["train", "--corpus", corpus, "--out", str(path), *MICRO], capsys)
    assert f"--out {path}: exists and is not a directory" in line
