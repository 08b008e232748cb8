"""No lost runs, no silent garbage, no traceback for bad input, no trust in crafted files.

Each case a careful user or a hostile file found (issue 15) is a test here: two processes
and the run lock, SIGTERM with a real process, a NaN stop, stale temporary files, symbolic
links in a run directory, crafted .npz headers, BPE patterns that backtrack, type-tampered
config.json, checkpoint and tokenizer fields, a checkpoint with another tokenizer, a torn
log, memory and corpus limits, and every CLI number; then hypothesis fuzzes the fields of
config.json, checkpoints, the raw manifest and tokenizer.json.
"""
import hashlib
import io
import itertools
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import tokenizers
from models import checkpoint as ckpt
from models import rundir as rundir_module
from models import train as train_module
from models.cli import main
from models.config import Config
from models.generate import TextStream, generate
from models.progress import Progress
from models.resources import (
    MAX_CORPUS_BYTES, check_corpus_file, check_training_memory, parameter_count)
from models.rundir import LOG, RunDir, read_log
from models.stopping import StopOnSignal, TrainingDiverged
from models.train import Trainer
from models.validation import InputError
from tokenizers import bpe as bpe_module

REPO = Path(__file__).resolve().parents[1]
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me.\n" * 15
MICRO = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--context", "8",
         "--batch-size", "4", "--eval-batches", "2", "--sample-tokens", "0", "--no-final-eval"]


def error_of(argv, capsys, status=2):
    """The one line `minigrad: error: ...` that `main(argv)` prints last (after a training
    run's progress, if any), with its exit status."""
    capsys.readouterr()
    assert main(argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("minigrad: ")]
    assert errors == lines[-1:] and errors[0].startswith("minigrad: error: "), err
    assert "Traceback" not in err and "pickle" not in err
    return errors[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(TEXT)
    return str(path)


def _train(corpus, run, *extra):
    assert main(["train", "--corpus", corpus, "--out", str(run), "--steps", "3",
                 "--eval-every", "3", *MICRO, *extra]) == 0
    return run


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("runs") / "char")


@pytest.fixture(scope="module")
def trained_lstm(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("runs") / "lstm", "--model", "lstm",
                  "--hidden-size", "8")


@pytest.fixture(scope="module")
def trained_bpe(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("runs") / "bpe", "--tokenizer", "bpe",
                  "--vocab-size", "260")


def copy_run(run, directory):
    target = Path(directory) / "run"
    shutil.copytree(run, target)
    (target / "run.lock").unlink(missing_ok=True)
    return target


def edit_checkpoints(run, change, names=("best.npz", "last.npz")):
    """Apply change(state) to the run's checkpoints and save them back."""
    for name in names:
        state = mg.load(run / name)
        change(state)
        mg.save(state, run / name)


def replace_tokenizer(run, text):
    """A new tokenizer.json, with the checkpoints' recorded digest made to match (a forger
    who controls both files)."""
    (run / "tokenizer.json").write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    edit_checkpoints(run, lambda state: state.update(tokenizer_sha256=digest))


def python(code, *args):
    """A Python process in the repository, running `code`."""
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not Path(path).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path} never appeared: {proc.communicate()}")
        time.sleep(0.05)


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


# ---------------------------------------------------------------- crafted files

def _rewrite_entry_header(path, entry, shape):
    """The archive with `entry`'s .npy header claiming `shape` (same header length)."""
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    data = members[f"{entry}.npy"]
    end = data.index(b"\n") + 1
    header = data[:end].decode("latin1")
    start = header.index("'shape': (") + len("'shape': ")
    new = header[:start] + repr(shape) + header[header.index(")", start) + 1:]
    new = new[:-1].rstrip(" ") + " " * (len(header) - len(new[:-1].rstrip(" ")) - 1) + "\n"
    assert len(new) == len(header)
    members[f"{entry}.npy"] = new.encode("latin1") + data[end:]
    with zipfile.ZipFile(path, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)


def test_an_npz_header_claiming_a_huge_array_is_refused_before_allocating(trained, tmp_path,
                                                                         capsys):
    run = copy_run(trained, tmp_path)
    _rewrite_entry_header(run / "best.npz", "a0", (10 ** 12,))
    line = error_of(["generate", "--checkpoint", str(run)], capsys)
    assert "entry a0 claims shape (1000000000000,) of float32 (3.6 TiB) but holds" in line
    with pytest.raises(ValueError, match="claims shape"):
        mg.serialization.describe(run / "best.npz")


def test_npz_entries_that_are_compressed_objects_or_too_large_are_refused(tmp_path):
    path = tmp_path / "c.npz"
    mg.save({"w": mg.zeros(1000)}, path)
    with pytest.raises(ValueError, match="more than the limit of 1.0 KiB"):
        mg.load(path, max_bytes=1024)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(tmp_path / "deflated.npz", "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            z.writestr(name, content)
    with pytest.raises(ValueError, match="entry .* is compressed"):
        mg.load(tmp_path / "deflated.npz")
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([None, 1], dtype=object), allow_pickle=True)
    members["a0.npy"] = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "objects.npz", "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    with pytest.raises(ValueError, match="dtype object, not a number") as raised:
        mg.load(tmp_path / "objects.npz")
    assert "pickle" not in str(raised.value)


def test_a_text_file_as_checkpoint_names_it_and_never_mentions_pickle(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("step,loss\n1,2.5\n")
    line = error_of(["generate", "--checkpoint", str(path)], capsys)
    assert f"{path} is not a minigrad checkpoint" in line and "not a zip archive" in line
    npy = tmp_path / "one.npy"
    np.save(npy, np.arange(3))
    assert "single .npy array" in error_of(["generate", "--checkpoint", str(npy)], capsys)


def test_a_catastrophic_bpe_pattern_is_refused_without_hanging(trained_bpe, tmp_path, capsys):
    run = copy_run(trained_bpe, tmp_path)
    data = json.loads((run / "tokenizer.json").read_text())
    replace_tokenizer(run, json.dumps({**data, "pattern": "(a|aa)+$"}))
    began = time.monotonic()
    line = error_of(["generate", "--checkpoint", str(run), "--prompt", "a" * 40 + "!"], capsys)
    assert time.monotonic() - began < 10
    assert "tokenizer.json: pattern '(a|aa)+$' takes over" in line
    assert "catastrophic backtracking" in line


def test_a_pattern_that_passes_the_probes_still_runs_under_a_timeout(trained_bpe, tmp_path,
                                                                    capsys, monkeypatch):
    run = copy_run(trained_bpe, tmp_path)
    data = json.loads((run / "tokenizer.json").read_text())
    replace_tokenizer(run, json.dumps({**data, "pattern": "(b|bb)+$"}))
    monkeypatch.setattr(bpe_module, "PATTERN_TIME_LIMIT", (0.2, 0.0))
    line = error_of(["generate", "--checkpoint", str(run), "--prompt", "b" * 60 + "!"], capsys)
    assert "the split pattern '(b|bb)+$' took over 0.2 s on 61 characters" in line


def test_bpe_merges_that_double_a_token_again_and_again_are_refused_quickly(tmp_path):
    merges = [[97, 97]] + [[256 + k, 256 + k] for k in range(60)]  # 2**61 bytes at the end
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"type": "bpe", "version": 1, "pattern": "gpt4",
                                "special_tokens": [], "merges": merges}))
    began = time.monotonic()
    with pytest.raises(ValueError, match="make tokens of more than 64 MiB in all"):
        tokenizers.load(path)
    assert time.monotonic() - began < 5


@pytest.mark.parametrize("field, value, message", [
    ("n_layer", "4", "config.json: field 'n_layer' must be an integer >= 1, got '4'"),
    ("betas", 5, "config.json: field 'betas' must be two numbers, each a finite number in "
                 "[0, 1), got 5"),
    ("lr", "nan", "config.json: field 'lr' must be a finite number >= 0, got 'nan'"),
    ("head_size", 0, "config.json: field 'head_size' must be an integer >= 1 (or null), got 0"),
    ("model", ["gpt"], "config.json: field 'model' must be one of bigram"),
    (None, [1, 2], "config.json: expected a JSON object of settings, got list"),
])
def test_a_type_tampered_config_json_names_the_file_and_field(trained, tmp_path, capsys, field,
                                                              value, message):
    run = copy_run(trained, tmp_path)
    values = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(value if field is None
                                                else {**values, field: value}))
    assert message in error_of(["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(step="ten"), "field 'step' must be an integer >= 0, got 'ten'"),
    (lambda s: s["config"].update(n_layer="4"), "config: field 'n_layer' must be an integer"),
    (lambda s: s["config"].update(betas=5), "config: field 'betas' must be two numbers"),
    (lambda s: s.update(config=[1]), "config: expected a JSON object of settings, got list"),
    (lambda s: s.update(best_val=math.nan), "field 'best_val' must be a number, got nan"),
    (lambda s: s["model"].update({"wte.weight": mg.zeros(3, 16)}),
     "model.wte.weight has shape (3, 16) (float32); expected"),
    (lambda s: s["model"].pop("ln_f.weight"), "model: missing ln_f.weight"),
    (lambda s: s.update(tokenizer_sha256=7), "field 'tokenizer_sha256' must be a string"),
])
def test_a_type_tampered_checkpoint_names_the_file_and_field(trained, tmp_path, capsys, change,
                                                            message):
    run = copy_run(trained, tmp_path)
    edit_checkpoints(run, change)
    assert message in error_of(["generate", "--checkpoint", str(run)], capsys)
    assert message in error_of(["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["optimizer"]["param_groups"][0].update(betas=5),
     "optimizer.param_groups[0].betas should be a list of 2, got 5"),
    (lambda s: s["optimizer"]["param_groups"][0].update(lr=-1.0),
     "optimizer.param_groups.0.lr must be a finite number >= 0, got -1.0"),
    (lambda s: s["scheduler"].update(optimizer=None), "scheduler: unexpected optimizer"),
    (lambda s: s["rng"]["batches"].update(bit_generator="MT19937"),
     "cannot restore the training state"),
    (lambda s: s["optimizer"]["state"][0].update(exp_avg=np.zeros(2, np.float32)),
     "optimizer.state.0.exp_avg has shape (2,)"),
    (lambda s: s["optimizer"]["state"].update({99: {}}), "optimizer state index must be"),
])
def test_a_tampered_training_state_is_refused_on_resume(trained, tmp_path, capsys, change,
                                                        message):
    run = copy_run(trained, tmp_path)
    edit_checkpoints(run, change, names=["last.npz"])
    assert message in error_of(["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


def test_a_recurrent_state_of_the_wrong_shape_is_refused(trained_lstm, tmp_path, capsys):
    run = copy_run(trained_lstm, tmp_path)
    edit_checkpoints(run, lambda s: s["data"].update(hidden=[np.zeros((1, 2, 3))] * 2),
                     names=["last.npz"])
    assert "data.hidden[0] has shape (1, 2, 3)" in error_of(
        ["train", "--out", str(run), "--resume", "--steps", "4"], capsys)


def test_a_checkpoint_with_another_tokenizer_is_refused(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    data = json.loads((run / "tokenizer.json").read_text())
    data["chars"] = data["chars"][::-1]  # the same size, another mapping
    (run / "tokenizer.json").write_text(tokenizers.loads(json.dumps(data)).to_json())
    for argv in (["generate", "--checkpoint", str(run)],
                 ["train", "--out", str(run), "--resume", "--steps", "4"],
                 ["evaluate", "--checkpoint", str(run)]):
        line = error_of(argv, capsys)
        assert f"{run / 'tokenizer.json'} is not the tokenizer" in line
        assert "trained with" in line


# ---------------------------------------------------------------- state files

def test_a_cut_off_last_log_line_is_skipped_with_a_message(trained, tmp_path, capsys):
    run = copy_run(trained, tmp_path)
    with open(run / LOG, "a") as f:
        f.write('{"step": 3, "train_lo')
    capsys.readouterr()
    status = main(["plot", "--checkpoint", str(run)])
    assert status in (0, 1)  # 1: matplotlib missing
    assert "ignored a cut-off last line" in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--steps", "4"]) == 0
    assert "ignored a cut-off last line" in capsys.readouterr().err
    assert [r["step"] for r in read_log(run / LOG)] == [0, 3, 4]  # rewritten whole


def test_a_bad_log_line_elsewhere_names_the_file_and_line(tmp_path):
    path = tmp_path / LOG
    path.write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(InputError, match=f"{path}: line 2 is not a JSON record"):
        read_log(path)
    path.write_text('{"step": "ten"}\n')
    with pytest.raises(InputError, match="line 1 is not a log record with an integer step"):
        read_log(path)


# ---------------------------------------------------------------- resources

@pytest.mark.parametrize("flags, words", [
    (["--context", "100000"], "--batch-size 32 x --context 100000"),
    (["--n-embd", "65536"], "206,163,279,872 parameters"),
])
def test_a_configuration_too_large_for_the_memory_is_refused_up_front(corpus, tmp_path, capsys,
                                                                      flags, words):
    run = tmp_path / "run"
    began = time.monotonic()
    line = error_of(["train", "--corpus", corpus, "--out", str(run), *flags], capsys)
    assert time.monotonic() - began < 5 and not run.exists()  # nothing built or written
    assert "this configuration needs about" in line and words in line
    assert "available; lower --batch-size, --context or the model's size" in line


def test_the_memory_estimate_counts_parameters_exactly_and_names_both_numbers():
    config = Config()
    from models.config import build_model
    assert parameter_count(config, 65) == build_model(config, 65).num_parameters()
    with pytest.raises(InputError, match=r"needs about .* more than the 1.0 MiB available"):
        check_training_memory(config, 65, available=2 ** 20)
    check_training_memory(config, 65, available=10 ** 10)


def test_a_corpus_too_large_to_encode_is_refused_before_reading(tmp_path, capsys):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(2 * MAX_CORPUS_BYTES)  # sparse: no disk used
    line = error_of(["train", "--corpus", str(big), "--out", str(tmp_path / "run"), *MICRO],
                    capsys)
    assert f"{big}: 2.0 GiB, more than the corpus limit of 1.0 GiB per file" in line
    small = tmp_path / "small.txt"
    small.write_text("x" * 1000)
    with pytest.raises(InputError, match="takes about 15.6 KiB of memory, more than the"):
        check_corpus_file(small, available=1000)


def test_generated_text_is_streamed_and_bounded(trained, capsys):
    model, tokenizer, _, _ = ckpt.load_trained(trained)
    pieces, prompt = [], tokenizer.encode("ROMEO:")
    stream = TextStream(tokenizer, prompt, pieces.append, interval=0.0)
    out = generate(model, [prompt], 30, seed=1, on_step=stream.step)[0]
    assert stream.finish() == tokenizer.decode(prompt + out) == "".join(pieces)
    assert len(pieces) > 10  # shown as it came, not at the end
    with pytest.raises(InputError, match="max_new_tokens must be an integer in 0..100000"):
        generate(model, [prompt], 100_000_000)


# ---------------------------------------------------------------- CLI numbers

@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "nan"], "--lr: must be a finite number >= 0, got 'nan'"),
    (["train", "--head-size", "0"], "--head-size: must be an integer >= 1, got '0'"),
    (["train", "--ff-hidden", "0"], "--ff-hidden: must be an integer >= 1, got '0'"),
    (["train", "--mlp-window", "0"], "--mlp-window: must be an integer >= 1, got '0'"),
    (["train", "--seed", "-1"], "--seed: must be an integer >= 0, got '-1'"),
    (["train", "--steps", str(10 ** 400)], "--steps: must be an integer >= 1, got '1000"),
    (["train", "--dropout", "1"], "--dropout: must be a finite number in [0, 1), got '1'"),
    (["train", "--val-fraction", "0"], "--val-fraction: must be a finite number in (0, 1)"),
    (["train", "--betas", "0.9", "inf"], "--betas: must be a finite number in [0, 1)"),
    (["train", "--steps", "1e3"], "--steps: must be an integer >= 1, got '1e3'"),
    (["generate", "--checkpoint", "x", "--temperature", "nan"],
     "--temperature: must be a finite number >= 0, got 'nan'"),
    (["generate", "--checkpoint", "x", "--presence-penalty", "nan"],
     "--presence-penalty: must be a finite number, got 'nan'"),
    (["generate", "--checkpoint", "x", "--frequency-penalty=-inf"],
     "--frequency-penalty: must be a finite number, got '-inf'"),
    (["generate", "--checkpoint", "x", "--max-new-tokens", "100000000"],
     "--max-new-tokens: must be an integer in 0..100000, got '100000000'"),
    (["generate", "--checkpoint", "x", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["generate", "--checkpoint", "x", "--num-samples", "0"],
     "--num-samples: must be an integer in 1..1000"),
    (["generate", "--checkpoint", "x", "--repetition-penalty", "0"],
     "--repetition-penalty: must be a finite number > 0"),
    (["evaluate", "--checkpoint", "x", "--estimate-batches", "-3"],
     "--estimate-batches: must be an integer >= 0, got '-3'"),
    (["evaluate", "--checkpoint", "x", "--batch-size", "0"],
     "--batch-size: must be an integer >= 1, got '0'"),
])
def test_every_cli_number_is_checked_with_its_flag_named(argv, message, capsys):
    assert message in error_of(argv, capsys)


# ---------------------------------------------------------------- fuzzing

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats()
    | st.text(max_size=4) | st.sampled_from(["cpu", "bpe", "gelu", "transformer", "gpt4"])
    | st.sampled_from([10 ** 400, 2 ** 63, -1, 0, 1e308, -0.0]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=2),
    max_leaves=4)
DELETE = object()


def paths_of(tree, prefix=()):
    """Every path (a tuple of keys and indices) into a nest of dicts and lists."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from paths_of(value, prefix + (key,))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from paths_of(value, prefix + (index,))


def mutated(tree, path, value):
    """A copy of `tree` with the node at `path` replaced by `value` (or deleted; deleting
    the whole tree leaves an empty one)."""
    if not path:
        return (type(tree)() if tree is not None else None) if value is DELETE else value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        copy = dict(tree)
        if value is DELETE and not rest:
            copy.pop(head, None)
        else:
            copy[head] = mutated(tree.get(head), rest, value)
        return copy
    items = list(tree)
    if value is DELETE and not rest:
        del items[head]
    else:
        items[head] = mutated(items[head], rest, value)
    return type(tree)(items) if isinstance(tree, tuple) else items


@given(data=st.data())
def test_fuzzed_config_json_gives_a_config_or_a_clear_error(data):
    values = Config().to_dict()
    field = data.draw(st.sampled_from([*values, "unknown_field", None]))
    value = data.draw(json_values | st.just(DELETE))
    doc = mutated(values, () if field is None else (field,), value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(doc))
        try:
            config = Config.load(path)
        except InputError as e:
            assert str(path) in str(e) and "\n" not in str(e)
            return
    assert parameter_count(config, 65) >= 1  # a loaded config is usable


@given(data=st.data())
def test_fuzzed_checkpoint_fields_give_a_model_or_a_clear_error(data, trained, trained_lstm):
    run = data.draw(st.sampled_from([trained, trained_lstm]))
    state = mg.load(run / "last.npz")
    path = data.draw(st.sampled_from(sorted(set(paths_of(state)) - {()}, key=str)))
    value = data.draw(json_values | st.just(DELETE) | st.just(np.zeros(3, np.float32)))
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_run(run, tmp)
        for name in ("best.npz", "last.npz"):
            mg.save(mutated(state, path, value), copy / name)
        for attempt in (_generate, _resume_and_step):
            try:
                attempt(copy)  # what loads must work
            except InputError as e:
                assert "\n" not in str(e)


def _generate(run):
    model, tokenizer, _, _ = ckpt.load_trained(run)
    generate(model, [tokenizer.encode("ROMEO")], 3, seed=0)


def _resume_and_step(run):
    trainer = Trainer(Config.load(run / "config.json"), run, resume=True, stream=io.StringIO())
    try:
        trainer.setup()
        trainer.train_step()
    except TrainingDiverged:
        pass  # a state that trains into NaN is stopped, which is fine
    finally:
        trainer.rundir.close()


@given(data=st.data())
def test_fuzzed_manifest_nodes_load_or_give_a_clear_error(data, trained):
    with zipfile.ZipFile(trained / "last.npz") as z:
        members = {name: z.read(name) for name in z.namelist()}
    manifest = json.loads(np.load(io.BytesIO(members["__manifest__.npy"])).tobytes())
    path = data.draw(st.sampled_from(sorted(paths_of(manifest), key=str)))
    doc = mutated(manifest, path, data.draw(json_values | st.just(DELETE)))
    raw = io.BytesIO()
    np.save(raw, np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8))
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "last.npz"
        with zipfile.ZipFile(file, "w") as z:
            for name, content in {**members, "__manifest__.npy": raw.getvalue()}.items():
                z.writestr(name, content)
        for read in (mg.load, mg.serialization.describe):
            try:
                read(file)
            except ValueError as e:
                assert str(file) in str(e) and "pickle" not in str(e)


@given(data=st.data())
def test_fuzzed_tokenizer_json_gives_a_tokenizer_or_a_clear_error(data, trained, trained_bpe):
    run = data.draw(st.sampled_from([trained, trained_bpe]))
    doc = json.loads((run / "tokenizer.json").read_text())
    path = data.draw(st.sampled_from(sorted(paths_of(doc), key=str)))
    doc = mutated(doc, path, data.draw(json_values | st.just(DELETE)))
    try:
        tokenizer = tokenizers.loads(json.dumps(doc), "tokenizer.json")
    except ValueError as e:
        assert str(e).startswith("tokenizer.json") and "\n" not in str(e)
        return
    try:
        ids = tokenizer.encode("ROMEO: But soft")
    except ValueError:  # a character outside a char vocabulary
        return
    tokenizer.decode(ids)
