"""Training progress: a tqdm bar, and optionally a loss curve redrawn live in a notebook.

On a terminal, one bar redrawn in place; in Jupyter, tqdm's notebook bar (tqdm.auto: a
widget where ipywidgets is installed, else the same text bar):
    train:  21%|████       | 420/2000 [00:48<03:02, 8.68step/s, loss 1.9731, lr 9.6e-04, 11,850 tok/s]
Elsewhere (a pipe, a log file, CI) the bar is printed as a line of its own every 5% of the
run. Evaluations and messages get lines of their own above the bar.
"""
import statistics
import sys
import warnings

from tqdm import TqdmWarning
from tqdm.std import tqdm as text_bar


def _in_notebook():
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


def _notebook_aware_bar():
    """tqdm.auto's class: the notebook bar inside Jupyter, the text bar elsewhere."""
    with warnings.catch_warnings():
        # Without ipywidgets tqdm.auto warns and uses the text bar, which Jupyter shows fine.
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm.auto import tqdm
    return tqdm


class _Lines:
    """A file for a stream that is not a terminal: tqdm redraws its line with carriage
    returns, which a log file would keep as one endless line; here each redraw is a line."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        for part in text.replace("\r", "\n").split("\n"):
            if part.strip():
                self.stream.write(part.rstrip() + "\n")

    def flush(self):
        self.stream.flush()


class Progress:
    def __init__(self, stream, live_plot=False):
        self.stream = stream
        # A notebook redraws a line on carriage returns, as a terminal does.
        self.notebook = stream is sys.stderr and _in_notebook()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.file = stream if self.tty or self.notebook else _Lines(stream)
        self.live_plot = None
        if live_plot:
            from models.live_plot import LivePlot  # matplotlib and IPython only when asked
            self.live_plot = LivePlot()
        self.step_times = []
        self.bar = None

    def start(self, step, total, num_parameters, run_dir):
        where = f"from step {step} " if step else ""
        self.message(f"training {num_parameters:,} parameters {where}for {total:,} steps "
                     f"into {run_dir}")
        options = dict(total=total, initial=step, desc="train", unit="step", dynamic_ncols=True)
        if self.notebook:
            self.bar = _notebook_aware_bar()(file=self.file, mininterval=0.1, **options)
        elif self.tty:
            self.bar = text_bar(file=self.file, mininterval=0.1, **options)
        else:  # a line every 5% of the run
            self.bar = text_bar(file=self.file, mininterval=0, miniters=max(1, total // 20),
                                ncols=100, ascii=True, **options)
        if self.live_plot is not None:
            self.live_plot.start(total)

    def update(self, step, loss, lr, tokens, seconds):
        """After each step: its mean loss, learning rate, tokens seen and duration."""
        self.step_times.append(seconds)
        self.bar.set_postfix_str(f"loss {loss:.4f}, lr {lr:.1e}, "
                                 f"{tokens / max(seconds, 1e-9):,.0f} tok/s", refresh=False)
        self.bar.update(step - self.bar.n)
        if self.live_plot is not None:
            self.live_plot.add_step(step, loss)

    def evaluation(self, record, improved):
        best = "  (best)" if improved else ""
        self.message(f"step {record['step']}: train loss {record['train_loss']:.4f}, "
                     f"val loss {record['val_loss']:.4f}{best}")
        if self.live_plot is not None:
            self.live_plot.add_evaluation(record)

    def message(self, text):
        if self.bar is None:
            self.file.write(text + "\n")
            self.file.flush()
        else:
            self.bar.write(text, file=self.file)

    def close(self):
        """Close the bar (and draw the loss curve a last time)."""
        if self.bar is not None:
            self.bar.close()
        if self.live_plot is not None:
            self.live_plot.draw()

    def seconds_per_step(self):
        """Median duration of a training step so far (None before the first)."""
        return statistics.median(self.step_times) if self.step_times else None
