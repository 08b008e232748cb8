"""What the reliability tests share: a small corpus and run options, the one error line a
CLI call prints, copies and edits of a trained run, a Python process in the repository."""
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import minigrad as mg
from models.cli import main

REPO = Path(__file__).resolve().parents[2]
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
