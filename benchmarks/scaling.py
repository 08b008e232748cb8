"""`python -m benchmarks scaling`: step time against context length and width, with the
exponent of each growth fitted."""
import math
from pathlib import Path

from benchmarks.configs import CONFIGS, parse_overrides
from benchmarks.runner import Env, emit_rows, load_pyplot, log, torch_cell
from benchmarks.train_step import compare_step


def fit_exponent(xs, ys):
    """Least-squares slope of log(y) against log(x): y ~ x^slope. None with < 2 points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x and y]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx else None


def _growth(rows, axis, side):
    sel = [r for r in rows if r["axis"] == axis and r.get(f"{side}_ms")]
    xs, ys = [r["value"] for r in sel], [r[f"{side}_ms"] for r in sel]
    whole = fit_exponent(xs, ys)
    tail = fit_exponent(xs[-2:], ys[-2:])
    return whole, tail, (xs, ys)


def scaling_statements(rows):
    """One sentence per (axis, side) saying how the step time grows."""
    lines = []
    for axis, what in (("context", "context length T"), ("width", "width C")):
        for side in ("minigrad", "torch"):
            whole, tail, (xs, ys) = _growth(rows, axis, side)
            if whole is None:
                continue
            lines.append(
                f"{side}: step time grows as {what}^{whole:.2f} over {xs[0]}..{xs[-1]} "
                f"({ys[0]:.0f} -> {ys[-1]:.0f} ms; last step {xs[-2]}->{xs[-1]}: "
                f"exponent {tail:.2f})")
    return lines


def plot_scaling(args, rows):
    plt = load_pyplot(args)
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis, label in ((axes[0], "context", "context length T"),
                            (axes[1], "width", "width C (n_embd)")):
        for device in dict.fromkeys(r["device"] for r in rows):
            for side, style in (("minigrad", "-o"), ("torch", "--s")):
                sel = [r for r in rows if r["axis"] == axis and r["device"] == device
                       and r.get(f"{side}_ms")]
                if sel:
                    name = side + ("" if device == "cpu" else " cuda")
                    ax.plot([r["value"] for r in sel], [r[f"{side}_ms"] for r in sel],
                            style, label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("ms per training step")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    threads = rows[0]["threads"] if rows else args.threads
    fig.suptitle(f"GPT training step: {args.preset} with batch {args.batch_size}, "
                 f"{threads} thread{'' if threads == 1 else 's'} per side")
    fig.tight_layout()
    path = Path(args.out) / "scaling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cmd_scaling(args):
    if CONFIGS.get(args.preset, {}).get("kind") != "gpt":
        raise SystemExit(f"scaling needs a GPT preset, got {args.preset!r}")
    contexts = [int(v) for v in args.contexts.split(",") if v]
    widths = [int(v) for v in args.widths.split(",") if v]
    base = parse_overrides(args.set, CONFIGS[args.preset])
    base["batch_size"] = args.batch_size
    env = Env(args)
    rows = []
    for device in env.devices:
        points = [("context", t, {"block_size": t}) for t in contexts] + \
                 [("width", c, {"n_embd": c}) for c in widths]
        for axis, value, change in points:
            overrides = {**base, **change}
            row = compare_step(args, env, args.preset, overrides, device)
            rows.append({"axis": axis, "value": value, **row})
    Path(args.out).mkdir(parents=True, exist_ok=True)
    statements = scaling_statements(rows)
    columns = [("axis", "axis"), ("value", "value"), ("backend", "backend"),
               ("minigrad ms", "minigrad_ms"), ("torch ms", lambda r: torch_cell(r, "torch_ms")),
               ("ratio", "ratio"), ("minigrad GFLOP/s", "gflops"),
               ("torch GFLOP/s", "torch_gflops")]
    emit_rows(args, rows, columns, "scaling",
          [f"machine: {env.machine}",
           f"{args.preset} with batch {args.batch_size}; context sweep at its width, width "
           f"sweep at its context; {args.steps} steps after {args.warmup} warm-up, "
           f"{args.rounds} rounds alternated"])
    text = "\n".join(statements)
    with open(Path(args.out) / "scaling.md", "a", encoding="utf-8") as f:
        f.write("\n" + text + "\n")
    if not args.json:
        print(text)
    else:
        log(args, text)
    path = plot_scaling(args, rows)
    if path:
        log(args, f"wrote {path}")
    return rows
