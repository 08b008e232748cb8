"""A loss curve redrawn in place in a Jupyter notebook while a model trains.

    Trainer(config, "runs/tiny", live_plot=True).run()     # or train(..., live_plot=True)

Each step's training loss (a thin line) and each evaluation's train and val losses (points),
redrawn at most every half second and once more at the end. Needs matplotlib (the plot
extra) and IPython; outside a notebook, read loss.png or use `minigrad plot` instead.
"""
import io
import time

from models.validation import InputError

MIN_SECONDS = 0.5  # between redraws: drawing costs tens of milliseconds


def _notebook_display():
    """IPython's display, where this runs in a Jupyter kernel."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if shell is None or "IPKernelApp" not in shell.config:
        raise InputError("live_plot draws in a Jupyter notebook; from a terminal, read the "
                         "run's loss.png or run `minigrad plot --checkpoint RUN_DIR`")

    def show(png, handle):
        image = Image(data=png, format="png")
        if handle is None:
            return display(image, display_id=True)
        handle.update(image)
        return handle
    return show


class LivePlot:
    def __init__(self, show=None):
        """``show(png_bytes, handle) -> handle`` puts the picture on screen, replacing the
        one of ``handle`` (None the first time); the default is the notebook's display."""
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise InputError("live_plot needs matplotlib: pip install -e '.[plot]'") from None
        self.show = show or _notebook_display()
        self.figure = Figure(figsize=(6, 3.2), dpi=90)
        self.steps, self.losses, self.evaluations = [], [], []
        self.total, self.handle, self.last_draw = None, None, 0.0

    def start(self, total):
        self.total = total

    def add_step(self, step, loss):
        self.steps.append(step)
        self.losses.append(loss)
        if time.perf_counter() - self.last_draw >= MIN_SECONDS:
            self.draw()

    def add_evaluation(self, record):
        self.evaluations.append(record)
        self.draw()

    def draw(self):
        fig = self.figure
        fig.clear()
        ax = fig.add_subplot()
        ax.plot(self.steps, self.losses, lw=0.8, alpha=0.6, label="train (each step)")
        for key, marker in (("train_loss", "o"), ("val_loss", "s")):
            ax.plot([r["step"] for r in self.evaluations], [r[key] for r in self.evaluations],
                    marker=marker, ms=4, label=key.replace("_", " "))
        if self.total:
            ax.set_xlim(0, self.total)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png")
        self.handle = self.show(png.getvalue(), self.handle)
        self.last_draw = time.perf_counter()
