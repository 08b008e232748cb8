"""HW4 (seed 003): the five models, evaluated as HW4 did (the mean loss of 100 random
batches of val, every 200 steps) and as we do (the whole val split at the end)."""
from models.presets import get_preset
from models.reproduce import seeds
from models.reproduce.runs import quick_corpus, train_preset

PRESETS = list(seeds.HW4)
QUICK = dict(steps=2, eval_every=2, eval_batches=1, batch_size=4, context=32,
             sample_tokens=0)
LAST = 999  # HW4's last estimate of a 1,000-step run: our step 1,000


def run(out, quick=False, only=None, changes=None, say=print):
    """Train (or read) each HW4 preset; a list of RunResults."""
    extra = dict(QUICK, corpus=quick_corpus("shakespeare", out)) if quick else {}
    extra.update(changes or {})
    return [train_preset(name, out, dict(extra, sample_tokens=0), say)
            for name in PRESETS if not only or name in only]


def section(results, plot_path=None):
    """The Markdown of the HW4 section: one row per model, then each curve point."""
    lines = ["## HW4 (seed 003): Tiny Shakespeare by character", "",
             "Val loss as HW4 estimated it (the mean of random batches of 32 windows of 256; "
             "HW4 takes 100 per estimate, ours are in the table) at HW4's last reported step "
             "that our run reached, and over the whole val split at the end of a finished "
             "run. HW4's last point of a 1,000-step run is step 999, before that step's "
             "update; ours is step 1,000. A run short of its preset's steps (\"200 of 2,000\") "
             "is compared where it stands.", "",
             "| preset | parameters | steps | batches per estimate | HW4 val | ours (estimate) "
             "| difference | within | ours (whole split) | wall time |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in results:
        seed_step, seed_val = _last_seed_point(r)
        ours = r.val_at(seed_step) if seed_step is not None else None
        tolerance = seeds.HW4_TOLERANCE.get(r.name, seeds.HW4_DEFAULT_TOLERANCE)
        diff = ours - seed_val if ours is not None else None
        within = "–" if diff is None else ("yes" if abs(diff) <= tolerance else "no")
        lines.append(
            f"| {r.name} | {r.parameters:,} | {_steps(r)} | {r.config.eval_batches} | "
            f"{_fmt(seed_val)} (step {seed_step}) | {_fmt(ours)} | {_fmt(diff, '+.4f')} | "
            f"{within} (±{tolerance}) | {_fmt(r.full and r.full['full_val_loss'])} | "
            f"{r.seconds / 60:.1f} min |")
    lines += ["", "Every point (val loss, HW4 / ours):", "",
              "| preset | " + " | ".join(f"step {s}" for s in _all_steps(results)) + " |",
              "|---|" + "---:|" * len(_all_steps(results))]
    for r in results:
        cells = []
        for step in _all_steps(results):
            seed = seeds.HW4[r.name].get(step) or seeds.HW4[r.name].get(LAST if step == 1000
                                                                          else None)
            ours = r.val_at(step)
            cells.append(f"{_fmt(seed and seed[1])} / {_fmt(ours)}")
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    if plot_path:
        lines += ["", f"![HW4 curves]({plot_path})"]
    return lines


def curves(results):
    """(title, our (steps, train, val), the seed's (steps, val)) per model, for the plot."""
    out = []
    for r in results:
        ours = ([e["step"] for e in r.evals], [e["train_loss"] for e in r.evals],
                [e["val_loss"] for e in r.evals])
        seed = sorted(seeds.HW4[r.name].items())
        out.append((r.name, ours, ([s for s, _ in seed], [v for _, (_, v) in seed])))
    return out


def _last_seed_point(r):
    """HW4's last reported step that our run reached, and HW4's val loss there."""
    reached = [s for s in seeds.HW4[r.name] if s <= r.steps]
    if not reached:
        return None, None
    step = max(reached)
    return step, seeds.HW4[r.name][step][1]


def _steps(r):
    """The steps a run reached, and of how many (the preset's) when it stopped short."""
    planned = get_preset(r.name).steps
    return f"{r.steps:,}" if r.steps >= planned else f"{r.steps:,} of {planned:,}"


def _all_steps(results):
    return sorted({1000 if s == LAST else s for r in results for s in seeds.HW4[r.name]})


def _fmt(value, spec=".4f"):
    return "–" if value is None else format(value, spec)
