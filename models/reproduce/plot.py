"""The reproduction's figures: our curves with the seed's reported points on them."""
from pathlib import Path

import numpy as np

from models.plot import plot_attention


def plot_curves(panels, path, title):
    """One panel per model: `panels` holds (name, (steps, train, val), (seed steps, seed
    values)[, the seed's matplotlib format: points "kx" by default, "k--" a line]). Returns
    the path written, or None without matplotlib or panels."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, (steps, train, val), (seed_steps, seed_values), *style) in zip(axes.flat,
                                                                                   panels):
        ax.plot(steps, train, "-", color="tab:blue", label="ours, train")
        ax.plot(steps, val, "-", color="tab:orange", label="ours, val")
        if seed_steps:
            ax.plot(seed_steps, seed_values, style[0] if style else "kx", markersize=7,
                    label="seed")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_copy(real, path):
    """The real copy task: held-out accuracy and training loss against steps."""
    curve = real["curve"]
    panels = [("copy: loss (repeated half) / held-out accuracy",
               ([c["step"] for c in curve], [c["loss"] for c in curve],
                [c["accuracy"] for c in curve]), ([], []))]
    return plot_curves(panels, path, "the real copy task (orange: accuracy)")


def plot_copy_attention(real, path):
    """The attention maps of the real copy task's model on one held-out sequence."""
    if "attention" not in real:
        return None
    try:
        attention = real["attention"]
        weights = [(name, np.array(w)) for name, w in zip(attention["layers"],
                                                          attention["weights"])]
        labels = [str(i) for i in attention["ids"]]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return plot_attention(weights, labels, path)
    except RuntimeError:  # no matplotlib
        return None
