"""Pictures of a run: the loss curve (every step's training loss, with the evaluations'
train and val estimates on top), attention maps, positional encodings. matplotlib is
optional: without it the loss curve says so and returns None, the others raise. Every PNG
is written atomically."""
from numbers import Real
from pathlib import Path

import minigrad as mg
from minigrad.serialization import write_atomically

from models.data import device_of, to_ids
from models.rundir import read_log
from models.step_losses import per_step
from models.transformer import TransformerLM


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_loss_curve(log_path, png_path, say=print):
    """Draw the loss of every step (as HW4 plots it) and the train and val loss of the
    evaluations in log.jsonl into a PNG; returns its path, or None (with a message) when
    matplotlib is missing or nothing was logged."""
    log = read_log(log_path, say)
    records = [r for r in log
               if isinstance(r.get("train_loss"), Real) and isinstance(r.get("val_loss"), Real)]
    if not records:
        return None
    plt = _pyplot()
    if plt is None:
        say(f"matplotlib is not installed: no {Path(png_path).name} "
            f"(pip install matplotlib, then `minigrad plot --checkpoint {Path(png_path).parent}`)")
        return None
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    step_numbers, step_losses = per_step(log)
    if step_losses:
        ax.plot(step_numbers, step_losses, "-", color="0.6", linewidth=0.6, alpha=0.8,
                label="train, each step")
    ax.plot(steps, [r["train_loss"] for r in records], "o-", label="train (evaluation)",
            zorder=3)
    ax.plot(steps, [r["val_loss"] for r in records], "o-", label="val (evaluation)", zorder=3)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats per token)")
    ax.set_title(Path(png_path).parent.name)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, png_path, plt)


def attention_weights(model, ids):
    """The attention weights of every attention layer of a model for one sequence: a list
    of (layer name, array (heads, T, T)), in the order of the model's modules. Works for
    any model whose attention layers keep their weights (``nn.record_attention``): HW4's
    single head, the multi-head models, the transformer."""
    model.check_length(len(ids))
    names = {id(m): name for name, m in model.named_modules()}
    with mg.no_grad(), mg.nn.record_attention(model) as layers:
        if not layers:
            raise ValueError(f"{type(model).__name__} has no attention layers to draw")
        model(to_ids([ids], device_of(model)))
    return [(names[id(layer)], layer.weights.numpy()[0]) for layer in layers]


def position_table(model):
    """(name, array (positions, width)) of a model's positional encoding: the learned or
    sinusoidal table added to the input, or RoPE's cos table of rotation angles."""
    if isinstance(model, TransformerLM):
        if model.wpe is None:
            table = model.blocks[0].attn.rope.cos
            return "RoPE: cos(angle) by position and channel pair", table.numpy()[:model.block_size]
        table = model.wpe.weight if hasattr(model.wpe, "weight") else model.wpe.pe
        return type(model.wpe).__name__, table.numpy()[:model.block_size]
    if hasattr(model, "position_embedding_table"):
        return "LearnedPositionalEmbedding", model.position_embedding_table.weight.numpy()
    raise ValueError(f"{type(model).__name__} has no positional encoding")


def plot_attention(weights, labels, png_path):
    """One heatmap per layer and head (rows: layers, columns: heads) of `weights`, a list of
    (layer name, array (heads, T, T)): row t is how much position t attends to each
    position (the earlier ones only, in a causal model)."""
    plt = _require_pyplot()
    layers, heads = len(weights), max(w.shape[0] for _, w in weights)
    fig, axes = plt.subplots(layers, heads, figsize=(2.2 * heads + 1, 2.2 * layers + 0.5),
                             squeeze=False)
    ticks = range(len(labels))
    shown = [repr(s)[1:-1] for s in labels]
    small = len(labels) <= 24
    for i, (name, maps) in enumerate(weights):
        for h in range(heads):
            ax = axes[i][h]
            if h >= maps.shape[0]:
                ax.axis("off")  # a layer with fewer heads than the widest
                continue
            ax.imshow(maps[h], cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"{name} head {h}" if maps.shape[0] > 1 else name, fontsize=8)
            ax.set_xticks(ticks if small else [])
            ax.set_yticks(ticks if small else [])
            if small:
                ax.set_xticklabels(shown, fontsize=6, rotation=90)
                ax.set_yticklabels(shown, fontsize=6)
    return _save(fig, png_path, plt)


def plot_positions(name, table, png_path):
    """Heatmap of a positional encoding table (positions x channels)."""
    plt = _require_pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    image = ax.imshow(table, aspect="auto", cmap="RdBu_r")
    ax.set_xlabel("channel")
    ax.set_ylabel("position")
    ax.set_title(name)
    fig.colorbar(image, ax=ax)
    return _save(fig, png_path, plt)


def _require_pyplot():
    plt = _pyplot()
    if plt is None:
        raise RuntimeError("this plot needs matplotlib: pip install matplotlib "
                           "(or pip install -e '.[plot]')")
    return plt


def _save(fig, png_path, plt):
    fig.tight_layout()
    write_atomically(png_path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
    return str(png_path)
