"""`python -m benchmarks ops` and `overhead`: single ops over a sweep of sizes, and the time per
op on tiny tensors, minigrad against PyTorch."""
import math
from pathlib import Path

from benchmarks import flops
from benchmarks.configs import OP_SIZES, OP_SWEEPS, format_op_spec, op_work
from benchmarks.harness import worker_argv
from benchmarks.runner import (
    MG_WORKER, TORCH_WORKER, Env, emit_rows, log, median_of, ratio_of, run_worker, load_pyplot, torch_cell)


def compare_ops(args, env, specs, device, label):
    """Time op specs ('NAME:SIZES:MODE') on both sides, one process per side per round,
    alternated; returns one row per spec."""
    has_peer, peer_note = env.peer(device)
    sides = ["minigrad"] + (["torch"] if has_peer else [])
    by_side = {s: {spec: [] for spec in specs} for s in sides}
    last = {s: {} for s in sides}
    errors = {}
    for r in range(args.rounds):
        for side in sides:
            if side in errors:
                continue
            module = MG_WORKER if side == "minigrad" else TORCH_WORKER
            side_device = device if side == "minigrad" else env.torch_device(device)
            argv = worker_argv(module, "op-batch", "--repeats", args.repeats,
                               "--warmup", args.op_warmup, "--device", side_device,
                               "--threads", env.threads)
            for spec in specs:
                argv += ["--spec", spec]
            log(args, f"[{label} {device}] round {r + 1}/{args.rounds}: {side} "
                      f"({len(specs)} ops)")
            rows, err = run_worker(env, argv, args.timeout)
            if rows is None:
                errors[side] = err
                log(args, f"  {side} failed: {err}")
                continue
            for spec, row in zip(specs, rows):
                by_side[side][spec] += row["ms_samples"]
                last[side][spec] = row
    out = []
    for spec in specs:
        name, size, mode = spec.split(":")
        mg_ms = median_of(by_side["minigrad"][spec])
        torch_ms = median_of(by_side["torch"][spec]) if has_peer else None
        op_flops = flops.op_flops(name, [int(s) for s in size.split(",")],
                                  "fwd" if mode == "fwd-nograd" else mode)
        dims = [int(s) for s in size.split(",")]
        row = {
            "op": name,
            "size": dims,
            "work": op_work(name, dims),
            "mode": mode,
            "backend": "numpy" if device == "cpu" else "cupy",
            "device": device,
            "minigrad_us": mg_ms * 1e3 if mg_ms is not None else None,
            "torch_us": torch_ms * 1e3 if torch_ms is not None else None,
            "minigrad_ms": mg_ms,
            "torch_ms": torch_ms,
            "ratio": ratio_of(mg_ms, torch_ms),
            "minigrad_gflops": op_flops / mg_ms / 1e6 if op_flops and mg_ms else None,
            "torch_gflops": op_flops / torch_ms / 1e6 if op_flops and torch_ms else None,
            "rounds": args.rounds,
            "threads": env.threads,
        }
        if peer_note:
            row["torch_note"] = peer_note
        if errors:
            row["errors"] = errors
        out.append(row)
    return out


def op_specs(args):
    """The specs of `ops`: --op NAME or NAME=A,B,.. (repeatable), else the whole sweep."""
    chosen = args.op or list(OP_SWEEPS)
    modes = [m for m in args.modes.split(",") if m]
    specs = []
    for item in chosen:
        name, sep, size = item.partition("=")
        if name not in OP_SIZES:
            raise SystemExit(f"unknown op {name!r}; choose from {', '.join(OP_SIZES)}")
        if sep:
            try:
                sizes = [tuple(int(s) for s in size.split(","))]
            except ValueError:
                raise SystemExit(f"--op {item!r}: sizes must be integers") from None
            if len(sizes[0]) != len(OP_SIZES[name]):
                raise SystemExit(f"--op {item!r}: {name} takes {len(OP_SIZES[name])} sizes")
        else:
            sizes = OP_SWEEPS[name][:1] if args.quick else OP_SWEEPS[name]
        for s in sizes:
            for mode in modes:
                if mode not in ("fwd", "fwd-nograd", "fwdbwd"):
                    raise SystemExit(f"unknown mode {mode!r}: fwd, fwd-nograd or fwdbwd")
                specs.append(format_op_spec(name, s, "fwd" if mode == "fwd-nograd" else mode,
                                            mode == "fwd-nograd"))
    return specs


def _size_label(size):
    return "x".join(str(s) for s in size)


OPS_COLUMNS = [
    ("op", "op"), ("size", lambda r: _size_label(r["size"])), ("mode", "mode"),
    ("backend", "backend"), ("minigrad µs", "minigrad_us"),
    ("torch µs", lambda r: torch_cell(r, "torch_us")), ("ratio", "ratio"),
    ("minigrad GFLOP/s", "minigrad_gflops"), ("torch GFLOP/s", "torch_gflops"),
]


def plot_ops(args, rows):
    """One PNG per op: time vs size (configs.op_work: multiply-adds or elements), log-log,
    each side and mode; plus ops.png with every op. Returns the paths written."""
    plt = load_pyplot(args)
    if plt is None:
        return []
    from matplotlib.ticker import NullFormatter
    out = Path(args.out)
    names = list(dict.fromkeys(r["op"] for r in rows))
    paths = []
    cols = min(4, len(names))
    nrows = math.ceil(len(names) / cols)
    grid, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.2 * nrows), squeeze=False)
    for i, name in enumerate(names):
        mine = [r for r in rows if r["op"] == name]
        single, ax1 = plt.subplots(figsize=(5, 3.6))
        for ax in (ax1, axes[i // cols][i % cols]):
            for device in dict.fromkeys(r["device"] for r in mine):
                for mode in dict.fromkeys(r["mode"] for r in mine):
                    sel = sorted((r for r in mine if r["mode"] == mode and r["device"] == device),
                                 key=lambda r: op_work(r["op"], r["size"]))
                    x = [op_work(r["op"], r["size"]) for r in sel]
                    suffix = f" {mode}" + ("" if device == "cpu" else " cuda")
                    line = {"fwd": "-", "fwd-nograd": ":", "fwdbwd": "--"}[mode]
                    for key, label, color, marker in (("minigrad_ms", "minigrad", "C0", "o"),
                                                      ("torch_ms", "torch", "C1", "s")):
                        if device != "cpu":
                            color = {"C0": "C2", "C1": "C3"}[color]
                        pts = [(a, r[key]) for a, r in zip(x, sel) if r[key] is not None]
                        if pts:
                            ax.plot([p[0] for p in pts], [p[1] for p in pts], line,
                                    color=color, marker=marker, label=label + suffix,
                                    markersize=4)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(name)
            ax.set_xlabel("multiply-adds" if name in ("matmul", "bmm", "attention", "lstm_cell")
                          else "elements")
            ax.set_ylabel("ms per call")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        single.tight_layout()
        path = out / f"ops_{name}.png"
        single.savefig(path, dpi=110)
        plt.close(single)
        paths.append(path)
    for j in range(len(names), nrows * cols):
        axes[j // cols][j % cols].axis("off")
    grid.tight_layout()
    path = out / "ops.png"
    grid.savefig(path, dpi=80)
    plt.close(grid)
    paths.append(path)
    return paths


def cmd_ops(args):
    specs = op_specs(args)
    env = Env(args)
    rows = []
    for device in env.devices:
        rows += compare_ops(args, env, specs, device, "ops")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    emit_rows(args, rows, OPS_COLUMNS, "ops", [f"machine: {env.machine}",
                                           f"{args.rounds} rounds alternated, medians; "
                                           "size = the op's dims (see configs.OP_SIZES)"])
    for path in plot_ops(args, rows):
        log(args, f"wrote {path}")
    return rows


# ---------------------------------------------------------------------------------- overhead
OVERHEAD_CASES = [
    ("add 32, no grad", "add_small:32:fwd-nograd"),
    ("add 32, recorded", "add_small:32:fwd"),
    ("add 32 + backward", "add_small:32:fwdbwd"),
    ("matmul 8x8x8, recorded", "matmul:8,8,8:fwd"),
    ("matmul 8x8x8 + backward", "matmul:8,8,8:fwdbwd"),
]


def cmd_overhead(args):
    env = Env(args)
    rows = []
    for device in env.devices:
        specs = [spec for _, spec in OVERHEAD_CASES]
        for (case, _), row in zip(OVERHEAD_CASES,
                                  compare_ops(args, env, specs, device, "overhead")):
            rows.append({"case": case, **row})
    columns = [("case", "case"), ("backend", "backend"), ("minigrad µs", "minigrad_us"),
               ("torch µs", lambda r: torch_cell(r, "torch_us")), ("ratio", "ratio")]
    emit_rows(args, rows, columns, "overhead",
          [f"machine: {env.machine}", f"{args.rounds} rounds alternated, medians; "
           "target: add 32 + backward ratio <= 0.5"])
    return rows
