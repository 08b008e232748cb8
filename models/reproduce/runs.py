"""Training a preset for a reproduction, and reading back what its run logged.

A run goes to OUT/PRESET. A run that already reached its steps is read, not trained again;
one that stopped short is resumed (with more --steps it goes on), so a long reproduction
can be run in parts and the report written from whatever is finished.
"""
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import tokenizers
from models import checkpoint as ckpt
from models.config import Config, build_model
from models.corpus import find_corpus, read_text
from models.presets import get_preset
from models.rundir import read_log

QUICK_CHARS = 20_000  # --quick trains on the start of the corpus only


@dataclass
class RunResult:
    name: str
    config: Config
    evals: list = field(default_factory=list)   # {"step", "train_loss", "val_loss", ...}
    epochs: list = field(default_factory=list)  # {"step", "epoch", "epoch_train_loss"}
    full: dict = None                           # the final evaluation over the whole val split
    seconds: float = 0.0                        # training wall time, estimates included
    parameters: int = None
    vocab: int = None
    test: dict = None                           # the thesis's test-split evaluation

    @property
    def steps(self):
        return self.evals[-1]["step"] if self.evals else 0

    def val_at(self, step):
        """Our estimated val loss at `step` (HW4's last point, 999, is our 1000)."""
        for r in self.evals:
            if r["step"] == step or (step == 999 and r["step"] == 1000):
                return r["val_loss"]
        return None


def quick_corpus(name, out):
    """The first QUICK_CHARS characters of a bundled corpus, as a file in `out`."""
    path = Path(out) / f"quick-{name}.txt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(read_text(find_corpus(name))[:QUICK_CHARS], encoding="utf-8")
    return str(path)


def train_preset(name, out, changes=None, say=print):
    """Train preset `name` with `changes` into out/name unless it is done; its RunResult."""
    from models.train import Trainer  # the trainer pulls in the whole stack: import late
    config = get_preset(name).replace(**(changes or {})).validate()
    run_dir = Path(out) / name
    result = read_run(name, run_dir)
    if result is not None and result.full is not None and result.steps >= config.steps:
        say(f"reproduce: {name}: using the finished run in {run_dir} ({result.steps} steps)")
        return result
    resume = (run_dir / ckpt.LAST).is_file()
    say(f"reproduce: {name}: {'resuming' if resume else 'training'} into {run_dir}")
    Trainer(config, run_dir, resume=resume, stream=sys.stderr).run()
    return read_run(name, run_dir)


def read_run(name, run_dir):
    """The RunResult of the run in `run_dir`, or None if there is none."""
    run_dir = Path(run_dir)
    if not (run_dir / ckpt.LOG).is_file() or not (run_dir / ckpt.CONFIG).is_file():
        return None
    result = RunResult(name, Config.load(run_dir / ckpt.CONFIG))
    if (run_dir / ckpt.TOKENIZER).is_file():
        result.vocab = tokenizers.load(run_dir / ckpt.TOKENIZER).vocab_size
        result.parameters = build_model(result.config, result.vocab).num_parameters()
    for record in read_log(run_dir / ckpt.LOG, lambda message: None):
        if "val_loss" in record:
            result.evals.append(record)
            result.seconds = record.get("time", result.seconds)
        elif "epoch_train_loss" in record:
            result.epochs.append(record)
        elif "full_val_loss" in record:
            result.full = record
    return result


def machine():
    """One line naming the machine: CPU model, logical CPUs, load, Python and NumPy."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{model}, {os.cpu_count()} logical CPUs (load average {load} at the start), "
            f"Python {platform.python_version()}, NumPy {np.__version__}")
