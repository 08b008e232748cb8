"""`minigrad reproduce NAME`: train the seeds' experiments and write a Markdown report.

    minigrad reproduce hw4 --quick                   # a smoke run: a few steps of each
    minigrad reproduce hw4                           # HW4's five models, their full steps
    minigrad reproduce hw4 --only hw4-transformer --steps 400 --eval-batches 20
    minigrad reproduce all --report docs/REPRODUCTION.md

NAME is hw4, cervantes, copy, thesis or all. Runs go to --out/PRESET (default
runs/reproduce, or runs/reproduce-quick with --quick); a finished run is read, not trained
again, so a report can be rebuilt from runs made in parts (--report-only trains nothing).
The report holds, for each experiment, the seed's numbers, ours, the difference, the steps,
the wall time and the machine, with a figure of our curves and the seed's points.
"""
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from models.reproduce import cervantes, copy, hw4, thesis
from models.reproduce.plot import plot_copy, plot_copy_attention, plot_curves
from models.reproduce.runs import machine, read_run
from models.validation import Int, Maybe

EXPERIMENTS = {"hw4": hw4, "cervantes": cervantes, "thesis": thesis}
NAMES = ("hw4", "cervantes", "copy", "thesis", "all")


def add_parser(sub):
    """Register the `reproduce` subcommand on the CLI's subparsers."""
    p = sub.add_parser("reproduce", help="train the seeds' experiments, write a report",
                       description="Train the seeds' experiments with their presets and write "
                       "a Markdown report comparing our numbers with the seeds'.")
    p.add_argument("name", choices=NAMES, help="which seed's experiments")
    p.add_argument("--quick", action="store_true", help="a smoke run: a few steps of each, "
                   "on the start of the corpus")
    p.add_argument("--out", help="run directories (default runs/reproduce, or "
                   "runs/reproduce-quick with --quick)")
    p.add_argument("--report", help="the Markdown report (default OUT/REPRODUCTION.md)")
    p.add_argument("--only", nargs="+", metavar="PRESET", help="train only these presets")
    p.add_argument("--steps", type=Maybe(Int(1)).parse, help="train this many steps instead "
                   "of the presets' (a finished shorter run is resumed)")
    p.add_argument("--eval-batches", type=Maybe(Int(1)).parse,
                   help="random batches per loss estimate instead of the presets'")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: report the runs already in --out")
    p.add_argument("--note", help="a paragraph for the top of the report (how the runs were "
                   "made, say)")


def cmd_reproduce(args, say=print):
    out = Path(args.out or ("runs/reproduce-quick" if args.quick else "runs/reproduce"))
    report = Path(args.report or out / "REPRODUCTION.md")
    changes = {k: v for k, v in (("steps", args.steps), ("eval_batches", args.eval_batches))
               if v is not None}
    names = ["hw4", "copy", "cervantes", "thesis"] if args.name == "all" else [args.name]
    began = time.perf_counter()
    lines = _header(args, out)
    for name in names:
        figure = report.parent / "reproduction" / f"{name}.png"
        lines += [""] + _experiment(name, args, out, changes, figure, report.parent, say)
    lines += ["", f"Report written in {(time.perf_counter() - began) / 60:.1f} minutes."]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    say(f"reproduce: wrote {report}")
    return 0


def _experiment(name, args, out, changes, figure, base, say):
    """The report section of one experiment, training what it needs first."""
    if name == "copy":
        seed, real = _copy_results(args, out, say)
        path = plot_copy(real, figure)
        maps = plot_copy_attention(real, figure.with_name("copy-attention.png"))
        return copy.section(seed, real, path and _relative(path, base),
                            maps and _relative(maps, base))
    module = EXPERIMENTS[name]
    if args.report_only:
        results = [r for r in (read_run(p, out / p) for p in module.PRESETS) if r is not None]
        if name == "thesis":
            for r in results:
                r.test = thesis.evaluate_test(out / r.name)
    else:
        results = module.run(out, args.quick, args.only, changes, say)
        if args.only:  # report the other presets' finished runs too
            done = {r.name for r in results}
            results += [r for r in (read_run(p, out / p) for p in module.PRESETS
                                    if p not in done) if r is not None and r.full]
            results.sort(key=lambda r: module.PRESETS.index(r.name))
    path = plot_curves(module.curves(results), figure, f"{name}: ours (lines), the seed (black)")
    return module.section(results, path and _relative(path, base))


def _copy_results(args, out, say):
    """Both copy tasks, from out/copy.json when a run of the same kind is there."""
    path = out / "copy.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("quick") == args.quick:
            say(f"reproduce: copy: using {path}")
            return saved["seed"], saved["real"]
    if args.report_only:
        raise FileNotFoundError(f"{path}: no copy results to report (run without "
                                f"--report-only first)")
    seed, real = copy.seed_task(args.quick, say=say), copy.real_task(args.quick, say=say)
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"quick": args.quick, "seed": seed, "real": real}))
    return seed, real


def _header(args, out):
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    flags = [name for name, on in (("--quick", args.quick), ("--report-only", args.report_only))
             if on]
    flags += [f"--{name.replace('_', '-')} {value}" for name, value in
              (("steps", args.steps), ("eval_batches", args.eval_batches)) if value]
    lines = ["# Reproducing the seeds' experiments", "",
             f"Written by `minigrad reproduce {' '.join([args.name] + flags)}` on {now}, from "
             f"the runs in `{out}`.", "", f"Machine: {machine()}."]
    return lines + (["", args.note] if args.note else [])


def _relative(path, base):
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return str(path)
