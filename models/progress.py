"""A progress line for training, on stderr, with no dependencies.

On a terminal one line is redrawn in place (at most ten times a second):
    step 420/2000 [####................]  loss 1.9731  lr 9.6e-04  11,850 tok/s  0.173 s/step
Elsewhere (a pipe, a log file, CI) the same line is printed every 5% of the run.
Evaluations and messages get lines of their own.
"""
import statistics
import time


class Progress:
    def __init__(self, stream):
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.step_times = []
        self.rate = None  # smoothed seconds per step
        self.tokens_per_second = 0.0
        self.last_draw = 0.0
        self.total = 1
        self.drawn = False

    def start(self, step, total, num_parameters, run_dir):
        self.total = total
        where = f"from step {step} " if step else ""
        self.message(f"training {num_parameters:,} parameters {where}for {total:,} steps "
                     f"into {run_dir}")

    def update(self, step, loss, lr, tokens, seconds):
        """After each step: its mean loss, learning rate, tokens seen and duration."""
        self.step_times.append(seconds)
        self.rate = seconds if self.rate is None else 0.9 * self.rate + 0.1 * seconds
        self.tokens_per_second = tokens / max(seconds, 1e-9)
        now = time.perf_counter()
        every = max(1, self.total // 20)
        if self.tty and (now - self.last_draw > 0.1 or step == self.total):
            self._write("\r" + self.line(step, loss, lr) + "\033[K")
            self.drawn, self.last_draw = True, now
        elif not self.tty and (step % every == 0 or step == self.total):
            self._write(self.line(step, loss, lr) + "\n")

    def line(self, step, loss, lr):
        width = 20
        filled = int(width * step / max(self.total, 1))
        eta = _duration(self.rate * (self.total - step)) if self.rate else "?"
        digits = len(str(self.total))
        return (f"step {step:>{digits}}/{self.total} [{'#' * filled}{'.' * (width - filled)}]  "
                f"loss {loss:.4f}  lr {lr:.1e}  {self.tokens_per_second:,.0f} tok/s  "
                f"{self.rate:.3f} s/step  eta {eta}")

    def evaluation(self, record, improved):
        best = "  (best)" if improved else ""
        self.message(f"step {record['step']}: train loss {record['train_loss']:.4f}, "
                     f"val loss {record['val_loss']:.4f}{best}")

    def message(self, text):
        if self.drawn:
            self._write("\n")
            self.drawn = False
        self._write(text + "\n")

    def seconds_per_step(self):
        """Median duration of a training step so far (None before the first)."""
        return statistics.median(self.step_times) if self.step_times else None

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


def _duration(seconds):
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
