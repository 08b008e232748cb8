"""How a training run stops early without losing work: on a signal, or when it diverges.

Signals. While training, the first SIGINT (Ctrl-C) or SIGTERM (what `kill` and job
schedulers send) asks the trainer to stop after the current step, save last.npz and
return; a second one stops at once (KeyboardInterrupt for SIGINT, SystemExit with status
128 + 15 for SIGTERM). `minigrad train` then exits with 128 + the signal's number (130,
143), as a shell does, so a script knows the run did not finish.

Divergence. A loss or gradient norm that is NaN or infinite means the weights are about to
become garbage: the trainer raises `TrainingDiverged` before the update, and never writes
a checkpoint whose weights are not all finite, so last.npz and best.npz keep the last good
state. `minigrad train` prints the message and exits with status 1.
"""
import math
import signal
import threading

import numpy as np

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingDiverged(RuntimeError):
    """The loss, the gradients or the weights became NaN or infinite."""


def diverged(step, what, run_dir, saved_step, config):
    """The TrainingDiverged error for `what` ("the loss is nan, ...") at `step`."""
    kept = (f"{run_dir}/last.npz still holds step {saved_step}" if saved_step is not None
            else "no checkpoint was written")
    clip = f"--grad-clip (now {config.grad_clip})" if config.grad_clip else "--grad-clip 1.0"
    return TrainingDiverged(
        f"training diverged at step {step}: {what}; stopped without saving, {kept}. Lower "
        f"--lr (now {config.lr:g}), use {clip}, or rerun with --detect-anomaly to name the op "
        f"that made the first NaN")


def all_finite(tensors):
    """Whether every value of every tensor is finite (one pass, no copies kept)."""
    return all(bool(np.isfinite(t.numpy()).all()) for t in tensors)


def is_finite(*numbers):
    return all(math.isfinite(x) for x in numbers)


class StopOnSignal:
    """While active (in the main thread), the first SIGINT or SIGTERM asks the trainer to
    stop after the current step (`trainer.request_stop("interrupted")`, the signal in
    `trainer.stop_signal`); a second one stops at once."""

    def __init__(self, trainer):
        self.trainer = trainer
        self.active = threading.current_thread() is threading.main_thread()
        self.previous = {}

    def __enter__(self):
        if self.active:
            for signum in SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.trainer.stop_signal is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.trainer.stop_signal = signum
        self.trainer.request_stop("interrupted")
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self.trainer.progress.message(f"{name}: stopping after this step (again to quit now)")

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
