"""Training progress: the tqdm bar on a terminal and in a log, messages, the live loss plot."""
import io

import pytest

from models import live_plot
from models.progress import Progress
from models.validation import InputError


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _run(progress, total=40):
    progress.start(0, total, 1234, "runs/x")
    for step in range(1, total + 1):
        progress.update(step, 2.0 - step / total, 1e-3, 256, 0.01)
        if step % 20 == 0:
            progress.evaluation({"step": step, "train_loss": 1.5, "val_loss": 1.6}, True)
    progress.close()


def test_a_log_gets_a_line_every_five_percent_and_messages_of_their_own():
    log = io.StringIO()
    _run(Progress(log))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0] == "training 1,234 parameters for 40 steps into runs/x"
    bars = [line for line in lines if line.startswith("train: ")]
    assert 20 <= len(bars) <= 24  # every 2 steps of 40, plus the first and the closing line
    assert "40/40" in bars[-1] and "loss 1.0000, lr 1.0e-03, 25,600 tok/s" in bars[-1]
    assert "step 20: train loss 1.5000, val loss 1.6000  (best)" in lines


def test_a_terminal_gets_one_bar_redrawn_in_place():
    term = Terminal()
    _run(Progress(term))
    out = term.getvalue()
    assert out.startswith("training 1,234 parameters")
    assert "\r" in out and "40/40" in out and "step 40: train loss" in out


def test_seconds_per_step_is_the_median():
    progress = Progress(io.StringIO())
    assert progress.seconds_per_step() is None
    _run(progress, total=3)
    assert progress.seconds_per_step() == 0.01


def test_the_live_plot_redraws_one_picture(monkeypatch):
    shown = []

    def show(png, handle):
        shown.append((png, handle))
        return "handle"
    monkeypatch.setattr(live_plot, "MIN_SECONDS", 0.0)
    plot = live_plot.LivePlot(show)
    progress = Progress(io.StringIO())
    progress.live_plot = plot
    _run(progress, total=5)
    assert len(shown) == 5 + 1  # each step, and the close (5 steps: no evaluation)
    assert all(png.startswith(b"\x89PNG") for png, _ in shown)
    assert shown[0][1] is None and {h for _, h in shown[1:]} == {"handle"}
    assert plot.steps == [1, 2, 3, 4, 5] and plot.losses[-1] == pytest.approx(1.0)


def test_the_live_plot_outside_a_notebook_says_where_to_look():
    with pytest.raises(InputError, match="live_plot draws in a Jupyter notebook.*loss.png"):
        Progress(io.StringIO(), live_plot=True)
