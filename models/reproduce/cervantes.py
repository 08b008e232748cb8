"""The Cervantes notebook (seed 000): MLP, RNN, LSTM and Transformer on Don Quijote by word,
the loss at the last position of shuffled stride-1 windows. The notebook reports the mean
training loss of each epoch; its first epoch is the number we set ours beside."""
from models.reproduce import seeds
from models.reproduce.runs import quick_corpus, train_preset

PRESETS = list(seeds.CERVANTES_FIRST_EPOCH)
QUICK = dict(steps=4, eval_every=2, eval_batches=2, epochs=None, sample_tokens=0)


def run(out, quick=False, only=None, changes=None, say=print):
    extra = dict(QUICK, corpus=quick_corpus("quijote", out)) if quick else {}
    extra = dict(extra, sample_tokens=0, **(changes or {}))
    if "steps" in extra and "epochs" not in extra:
        extra["epochs"] = None  # steps given: a part of an epoch, not the preset's epochs
    return [train_preset(name, out, extra, say) for name in PRESETS if not only or name in only]


def section(results, plot_path=None):
    lines = ["## The Cervantes notebook (seed 000): Don Quijote by word", "",
             "The notebook trains on an excerpt of the novel that it does not include "
             "(vocabulary 915 words seen twice); we train on the whole novel (vocabulary "
             "below, the last 10% held out), so the losses are not the same quantity: a "
             "larger vocabulary starts higher (ln V) and has more to learn. The seed's "
             "number is the mean training loss of its first epoch; ours is the mean "
             f"training loss of the steps we ran (a first epoch is {_epoch_steps(results)} "
             f"steps here; a shorter run is the mean of that part of it).", "",
             "| preset | parameters | vocabulary | steps (epochs) | seed, epoch 1 | ours, "
             "train mean | difference | ours, val (whole split) | wall time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        seed = seeds.CERVANTES_FIRST_EPOCH[r.name]
        first = r.epochs[0] if r.epochs else None
        ours = first and first["epoch_train_loss"]
        epochs = first and first["epoch"]
        diff = ours - seed if ours is not None else None
        lines.append(
            f"| {r.name} | {r.parameters:,} | {r.vocab:,} | {r.steps:,} ({_f(epochs, '.2f')}) "
            f"| {seed:.4f} | {_f(ours)} | {_f(diff, '+.4f')} | "
            f"{_f(r.full and r.full['full_val_loss'])} | {r.seconds / 60:.1f} min |")
    if plot_path:
        lines += ["", f"![Cervantes curves]({plot_path})"]
    return lines


def curves(results):
    """Our estimated train and val loss (all positions of random windows) per model, and
    the seed's first-epoch mean as a dashed level (its epoch is not ours: another text)."""
    panels = []
    for r in results:
        steps = [e["step"] for e in r.evals]
        seed = seeds.CERVANTES_FIRST_EPOCH[r.name]
        panels.append((r.name, (steps, [e["train_loss"] for e in r.evals],
                                [e["val_loss"] for e in r.evals]),
                       ([steps[0], steps[-1]], [seed, seed]), "k--"))
    return panels


def _epoch_steps(results):
    """The steps of one epoch, from the epoch records of the runs (or "–" without any)."""
    for r in results:
        first = r.epochs[0] if r.epochs else {}
        if "steps_per_epoch" in first:
            return f"{first['steps_per_epoch']:,}"
        if first.get("epoch"):  # logs before steps_per_epoch: the epoch's share, rounded
            return f"about {round(first['step'] / first['epoch'], -2):,.0f}"
    return "–"


def _f(value, spec=".4f"):
    return "–" if value is None else format(value, spec)
