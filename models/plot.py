"""Pictures of a run: the loss curve (train and val against step). matplotlib is optional:
without it the functions say so and return None."""
import json
from pathlib import Path


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_loss_curve(log_path, png_path, say=print):
    """Draw train and val loss of the evaluations in log.jsonl into a PNG; returns its path,
    or None (with a message) when matplotlib is missing or nothing was logged."""
    records = []
    if Path(log_path).is_file():
        with open(log_path, encoding="utf-8") as f:
            records = [r for r in map(json.loads, filter(str.strip, f)) if "val_loss" in r]
    if not records:
        return None
    plt = _pyplot()
    if plt is None:
        say(f"matplotlib is not installed: no {Path(png_path).name} "
            f"(pip install matplotlib, then `minigrad plot --checkpoint {Path(png_path).parent}`)")
        return None
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(steps, [r["train_loss"] for r in records], "o-", label="train")
    ax.plot(steps, [r["val_loss"] for r in records], "o-", label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats per token)")
    ax.set_title(Path(png_path).parent.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return str(png_path)
