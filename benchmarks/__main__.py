"""minigrad against PyTorch, side by side: `python -m benchmarks SUBCOMMAND [options]`.

    train-step   full training steps (forward, backward, optimizer step, zero_grad) of the
                 presets (`--preset tiny|gpt-384|nanogpt-char|lstm-word|quijote-lstm|
                 all`, comma-separated), minigrad vs PyTorch, with ms/step, tokens/s, GFLOP/s,
                 the fraction of the matmul peak measured in the same run, peak memory and
                 the ratio minigrad/PyTorch
    ops          forward and forward+backward of single ops over a sweep of sizes; Markdown
                 table, JSON lines and PNG plots of time vs size
    overhead     time per op on tiny tensors (add of 32 elements: no grad, recorded, + backward)
    scaling      step time vs context length (64 -> 1024) and width (128 -> 768), with the
                 exponent of each growth fitted
    tokenizers   our BPE against SentencePiece / HuggingFace (benchmarks.tokenizers_bench)
    serve        `minigrad serve` under load: N streaming clients for M seconds, requests/s,
                 time to first token, tokens/s, errors (benchmarks.serve)

Every subcommand prints a Markdown table, or with `--json` one JSON object per line (per
configuration, op or point), and writes both under `--out` (default runs/bench). minigrad and
PyTorch always run in separate subprocesses (their BLAS thread pools slow each other down
inside one process), alternated within the run (minigrad, torch, minigrad, torch, ... for
`--rounds` rounds); each side's figure is the median of all its timed samples. Both sides use
`--threads` threads (default: every core). Without PyTorch the peer columns say "torch not
installed" and the minigrad numbers are still measured. When minigrad's CUDA backend is
available (CuPy and a GPU) every comparison is also run on the GPU (minigrad cupy vs torch
cuda) unless `--device cpu`.

Examples:
    python -m benchmarks train-step --preset tiny --steps 10
    python -m benchmarks train-step --preset all --json
    python -m benchmarks train-step --preset tiny --set n_layer=1 --set n_embd=16 --steps 2
    python -m benchmarks ops --op matmul --op gelu=8192,1536 --modes fwd,fwdbwd
    python -m benchmarks overhead
    python -m benchmarks scaling --contexts 64,128,256 --widths 128,256
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks import flops
from benchmarks.configs import (CONFIGS, OP_SIZES, OP_SWEEPS, PRESETS, format_op_spec,
                                op_work, parse_overrides, resolve)
from benchmarks.harness import (BenchmarkError, cpu_model, markdown_table, measure_matmul_peak,
                                run_subprocess_json, worker_argv, write_jsonl)

MG_WORKER = "benchmarks.minigrad_worker"
TORCH_WORKER = "benchmarks.torch_worker"
TORCH_MISSING = "torch not installed"
DEFAULT_OUT = Path("runs") / "bench"


# ---------------------------------------------------------------------------------- helpers
def log(args, message):
    """Progress on stderr (stdout carries the table or the JSON lines)."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    return a / b if a is not None and b else None


class Env:
    """What this run can compare: devices, the peer, the matmul peaks, the machine."""

    def __init__(self, args):
        self.args = args
        self.threads = args.threads or os.cpu_count() or 1
        self.mg_info = run_subprocess_json(
            worker_argv(MG_WORKER, "info", "--threads", self.threads),
            timeout=120)[-1]
        self.torch_info, self.torch_note = None, None
        if args.no_torch:
            self.torch_note = "torch skipped (--no-torch)"
        else:
            try:
                self.torch_info = run_subprocess_json(
                    worker_argv(TORCH_WORKER, "info", "--threads", self.threads),
                    timeout=300)[-1]
            except BenchmarkError as exc:
                self.torch_note = (TORCH_MISSING if exc.returncode == 3
                                   else f"torch worker failed: {str(exc).splitlines()[0]}")
        self.devices = ["cpu"]
        if args.device in ("auto", "cuda") and self.mg_info.get("cuda"):
            self.devices.append("cuda")
        if args.device == "cuda":
            if not self.mg_info.get("cuda"):
                raise SystemExit("--device cuda: minigrad's CUDA backend is not available "
                                 "(needs CuPy and an NVIDIA GPU)")
            self.devices = ["cuda"]
        self.machine = (f"{cpu_model()}, {os.cpu_count()} cores, {self.threads} "
                        f"thread{'' if self.threads == 1 else 's'} per side; "
                        f"NumPy {self.mg_info.get('numpy_version')} "
                        f"({self.mg_info.get('blas') or 'BLAS unknown'})")
        if self.torch_info:
            self.machine += f"; PyTorch {self.torch_info['torch_version']}"
        if "cuda" in self.devices:
            self.machine += (f"; GPU {self.mg_info.get('cuda_device')} "
                             f"(CuPy {self.mg_info.get('cupy_version')})")
        self.peaks = {}

    # The peer of each device, or why there is none.
    def peer(self, device):
        if self.torch_info is None:
            return False, self.torch_note
        if device == "cuda" and not self.torch_info.get("cuda"):
            return False, "torch has no CUDA here"
        return True, None

    def peak(self, device):
        """Measured float32 matmul GFLOP/s of the array module of `device` (numpy / cupy),
        in a subprocess of its own, once per run."""
        if device not in self.peaks:
            xp = "numpy" if device == "cpu" else "cupy"
            sizes = tuple(int(s) for s in self.args.peak_sizes.split(",") if s)
            saved = dict(os.environ)
            os.environ.update(self.env())          # the same BLAS threads as the workers
            try:
                self.peaks[device] = measure_matmul_peak(xp, sizes=sizes, repeats=5,
                                                         timeout=600)["gflops"]
            except BenchmarkError as exc:
                log(self.args, f"matmul peak ({xp}) failed: {exc}")
                self.peaks[device] = None
            finally:
                os.environ.clear()
                os.environ.update(saved)
        return self.peaks[device]

    def env(self):
        """Environment of the worker subprocesses: BLAS threads pinned for NumPy too."""
        env = dict(os.environ)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(self.threads)
        return env


def _run(env, argv, timeout):
    """Rows of one worker run, or (None, error text)."""
    try:
        return run_subprocess_json(argv, timeout=timeout, env=env.env()), None
    except BenchmarkError as exc:
        return None, str(exc).splitlines()[0]


def _emit(args, rows, columns, name, notes=()):
    """Print rows (JSON lines or a Markdown table) and write both under --out. Worker
    failures are listed under the table."""
    out = Path(args.out)
    write_jsonl(rows, out / f"{name}.jsonl")
    table = markdown_table(rows, columns)
    failures = sorted({f"{side} failed: {err}" for row in rows
                       for side, err in (row.get("errors") or {}).items()})
    text = "\n".join(list(notes) + ["", table, ""] + failures)
    if failures:
        text += "\n"
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
    else:
        print(text, flush=True)


# ---------------------------------------------------------------------------------- train-step
def _step_argv(args, env, side, device, name, overrides, cell_loop=False, sdpa=None):
    module = MG_WORKER if side == "minigrad" else TORCH_WORKER
    argv = worker_argv(module, "train-step", "--config", name, "--steps", args.steps,
                       "--warmup", args.warmup, "--seed", args.seed, "--device", device,
                       "--threads", env.threads)
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    if getattr(args, "amp", "off") != "off":
        argv += ["--amp", args.amp]
    if side == "minigrad":
        argv += ["--impl", args.impl]
    else:
        if (args.sdpa if sdpa is None else sdpa) and CONFIGS[name]["kind"] == "gpt":
            argv.append("--sdpa")
        if cell_loop:
            argv.append("--cell-loop")
    return argv


def compare_step(args, env, name, overrides, device):
    """One configuration: minigrad and torch (and torch's cell loop for an LSTM) alternated
    for --rounds rounds. Returns the summary row."""
    cfg = resolve(name, overrides)
    has_peer, peer_note = env.peer(device)
    sides = ["minigrad"] + (["torch"] if has_peer else [])
    if has_peer and cfg["kind"] == "lstm" and not args.no_cell_loop:
        sides.append("torch-loop")
    # --sdpa-both: torch's manual attention ("torch") and its fused one ("torch-sdpa")
    sdpa_both = getattr(args, "sdpa_both", False) and cfg["kind"] == "gpt" and has_peer
    if sdpa_both:
        sides.append("torch-sdpa")
    samples = {s: [] for s in sides}
    rounds = {s: [] for s in sides}
    last = {}
    errors = {}
    for r in range(args.rounds):
        for side in sides:
            if side in errors:
                continue
            argv = _step_argv(args, env, "minigrad" if side == "minigrad" else "torch",
                              device, name, overrides, cell_loop=side == "torch-loop",
                              sdpa=(side == "torch-sdpa") if sdpa_both else None)
            log(args, f"[train-step {name} {device}] round {r + 1}/{args.rounds}: {side}")
            rows, err = _run(env, argv, args.timeout)
            if rows is None:
                errors[side] = err
                log(args, f"  {side} failed: {err}")
                continue
            row = rows[-1]
            samples[side] += row["ms_samples"]
            rounds[side].append(row["ms_median"])
            last[side] = row
    mg_ms = _median(samples.get("minigrad", []))
    torch_ms = _median(samples.get("torch", []))
    loop_ms = _median(samples.get("torch-loop", []))
    step_flops = flops.train_step_flops(cfg)
    tokens = flops.tokens_per_step(cfg)
    peak = env.peak(device)
    gflops = step_flops / mg_ms / 1e6 if mg_ms else None
    torch_gflops = step_flops / torch_ms / 1e6 if torch_ms else None
    mg_row, torch_row = last.get("minigrad", {}), last.get("torch", {})
    row = {
        "config": name,
        "backend": "numpy" if device == "cpu" else "cupy",
        "device": device,
        "peer": ("torch" if device == "cpu" else "torch-cuda") if has_peer else None,
        "minigrad_ms": mg_ms,
        "torch_ms": torch_ms,
        "ratio": _ratio(mg_ms, torch_ms),
        "gflops": gflops,
        "torch_gflops": torch_gflops,
        "peak_gflops": peak,
        "peak_fraction": _ratio(gflops, peak),
        "torch_peak_fraction": _ratio(torch_gflops, peak),
        "minigrad_tokens_per_s": tokens / mg_ms * 1e3 if mg_ms else None,
        "torch_tokens_per_s": tokens / torch_ms * 1e3 if torch_ms else None,
        "minigrad_peak_mem_mb": mg_row.get("peak_mem_mb"),
        "torch_peak_mem_mb": torch_row.get("peak_mem_mb"),
        "minigrad_ms_rounds": rounds.get("minigrad", []),
        "torch_ms_rounds": rounds.get("torch", []),
        "steps": args.steps,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "threads": env.threads,
        "tokens_per_step": tokens,
        "flops_per_step": step_flops,
        "params": mg_row.get("params"),
        "overrides": overrides,
        "model_impl": mg_row.get("model_impl"),
        "model_impl_note": mg_row.get("model_impl_note"),
        "optimizer_impl": mg_row.get("optimizer_impl"),
        "machine": env.machine,
    }
    if device == "cuda":
        row["minigrad_peak_gpu_mem_mb"] = mg_row.get("peak_gpu_mem_mb")
        row["torch_peak_gpu_mem_mb"] = torch_row.get("peak_gpu_mem_mb")
    if "torch-loop" in sides:
        row["torch_cell_loop_ms"] = loop_ms
        row["ratio_cell_loop"] = _ratio(mg_ms, loop_ms)
    if sdpa_both:
        sdpa_ms = _median(samples.get("torch-sdpa", []))
        row["torch_sdpa_ms"] = sdpa_ms
        row["ratio_sdpa"] = _ratio(mg_ms, sdpa_ms)
        row["torch_sdpa_ms_rounds"] = rounds.get("torch-sdpa", [])
        if device == "cuda":
            row["torch_sdpa_peak_gpu_mem_mb"] = last.get("torch-sdpa", {}).get("peak_gpu_mem_mb")
    elif args.sdpa and cfg["kind"] == "gpt" and has_peer:
        row["torch_sdpa"] = True
    row["amp"] = getattr(args, "amp", "off")
    row["minigrad_loss_first"] = mg_row.get("loss_first")
    row["torch_loss_first"] = torch_row.get("loss_first")
    if peer_note:
        row["torch_note"] = peer_note
    if errors:
        row["errors"] = errors
    return row


def _torch_cell(row, key):
    if row.get(key) is not None:
        return row[key]
    return row.get("torch_note") or (row.get("errors") or {}).get("torch") or "–"


TRAIN_COLUMNS = [
    ("config", "config"), ("backend", "backend"),
    ("minigrad ms", "minigrad_ms"), ("torch ms", lambda r: _torch_cell(r, "torch_ms")),
    ("ratio", "ratio"),
    ("torch loop ms", "torch_cell_loop_ms"), ("ratio vs loop", "ratio_cell_loop"),
    ("torch sdpa ms", "torch_sdpa_ms"), ("ratio vs sdpa", "ratio_sdpa"),
    ("minigrad tok/s", "minigrad_tokens_per_s"), ("torch tok/s", "torch_tokens_per_s"),
    ("minigrad GFLOP/s", "gflops"), ("torch GFLOP/s", "torch_gflops"),
    ("minigrad peak frac", "peak_fraction"), ("torch peak frac", "torch_peak_fraction"),
    ("minigrad MB", "minigrad_peak_mem_mb"), ("torch MB", "torch_peak_mem_mb"),
]


def cmd_train_step(args):
    names = PRESETS if args.preset == "all" else [p for p in args.preset.split(",") if p]
    for name in names:
        if name not in CONFIGS:
            raise SystemExit(f"unknown preset {name!r}; choose from "
                             f"{', '.join(PRESETS)}, all")
    env = Env(args)
    rows = []
    for device in env.devices:
        for name in names:
            try:
                overrides = parse_overrides(args.set, CONFIGS[name])
            except ValueError as exc:
                raise SystemExit(str(exc)) from None
            rows.append(compare_step(args, env, name, overrides, device))
    notes = [f"machine: {env.machine}",
             "matmul peak (GFLOP/s, measured in this run): "
             + ", ".join(f"{d} {env.peaks.get(d) or 0:.0f}" for d in env.devices),
             f"steps {args.steps} after {args.warmup} warm-up, {args.rounds} rounds "
             "alternated; medians of all timed steps"]
    if args.amp != "off":
        notes.append(f"autocast {args.amp} on both sides"
                     + (" (with a loss scaler)" if args.amp == "float16" else ""))
    _emit(args, rows, TRAIN_COLUMNS, "train_step", notes)
    return rows


# ---------------------------------------------------------------------------------- op sweeps
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
            argv = worker_argv(module, "op-batch", "--repeats", args.repeats,
                               "--warmup", args.op_warmup, "--device", device,
                               "--threads", env.threads)
            for spec in specs:
                argv += ["--spec", spec]
            log(args, f"[{label} {device}] round {r + 1}/{args.rounds}: {side} "
                      f"({len(specs)} ops)")
            rows, err = _run(env, argv, args.timeout)
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
        mg_ms = _median(by_side["minigrad"][spec])
        torch_ms = _median(by_side["torch"][spec]) if has_peer else None
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
            "ratio": _ratio(mg_ms, torch_ms),
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


def _op_specs(args):
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
    ("torch µs", lambda r: _torch_cell(r, "torch_us")), ("ratio", "ratio"),
    ("minigrad GFLOP/s", "minigrad_gflops"), ("torch GFLOP/s", "torch_gflops"),
]


def _pyplot(args):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(args, "matplotlib is not installed: no plots (pip install matplotlib)")
        return None
    return plt


def plot_ops(args, rows):
    """One PNG per op: time vs size (configs.op_work: multiply-adds or elements), log-log,
    each side and mode; plus ops.png with every op. Returns the paths written."""
    plt = _pyplot(args)
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
    specs = _op_specs(args)
    env = Env(args)
    rows = []
    for device in env.devices:
        rows += compare_ops(args, env, specs, device, "ops")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    _emit(args, rows, OPS_COLUMNS, "ops", [f"machine: {env.machine}",
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
               ("torch µs", lambda r: _torch_cell(r, "torch_us")), ("ratio", "ratio")]
    _emit(args, rows, columns, "overhead",
          [f"machine: {env.machine}", f"{args.rounds} rounds alternated, medians; "
           "target: add 32 + backward ratio <= 0.5"])
    return rows


# ---------------------------------------------------------------------------------- scaling
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
    plt = _pyplot(args)
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
               ("minigrad ms", "minigrad_ms"), ("torch ms", lambda r: _torch_cell(r, "torch_ms")),
               ("ratio", "ratio"), ("minigrad GFLOP/s", "gflops"),
               ("torch GFLOP/s", "torch_gflops")]
    _emit(args, rows, columns, "scaling",
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


# ---------------------------------------------------------------------------------- tokenizers
def cmd_tokenizers(args, rest):
    from benchmarks import tokenizers_bench
    argv = list(rest) + (["--json"] if args.json and "--json" not in rest else [])
    return tokenizers_bench.main(argv)


# ---------------------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `python -m benchmarks SUBCOMMAND --help` for each subcommand's options.")
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true",
                        help="print one JSON object per line instead of a Markdown table")
    common.add_argument("--out", default=str(DEFAULT_OUT),
                        help="folder for the .jsonl / .md / .png results (default runs/bench)")
    common.add_argument("--threads", type=int, default=None,
                        help="threads of each side (default: every core)")
    common.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="auto: the CPU, and the GPU too when minigrad's CUDA backend "
                             "is available")
    common.add_argument("--no-torch", action="store_true", help="minigrad only")
    common.add_argument("--timeout", type=float, default=7200.0,
                        help="seconds allowed to each worker process")
    common.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def step_options(steps, warmup):
        # A parser of its own per subcommand: parents share their actions, so one parent's
        # defaults changed for `scaling` would change them for `train-step` too.
        step = argparse.ArgumentParser(add_help=False)
        step.add_argument("--steps", type=int, default=steps, help="timed steps per process")
        step.add_argument("--warmup", type=int, default=warmup, help="untimed steps first")
        step.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="override a preset field, both sides (repeatable)")
        step.add_argument("--seed", type=int, default=1337)
        step.add_argument("--impl", default="auto", choices=["auto", "models", "ref"],
                          help="minigrad model: models.TransformerLM/LSTMLM or "
                               "benchmarks.mg_ref")
        step.add_argument("--sdpa", action="store_true",
                          help="torch GPT with fused scaled_dot_product_attention")
        step.add_argument("--sdpa-both", action="store_true",
                          help="torch GPT timed twice: its manual attention and its fused "
                               "scaled_dot_product_attention (column torch sdpa ms)")
        step.add_argument("--amp", default="off", choices=["off", "float16", "bfloat16"],
                          help="both sides' forward under autocast (float16 with a loss "
                               "scaler); bfloat16 needs a GPU on minigrad's side")
        step.add_argument("--no-cell-loop", action="store_true",
                          help="LSTM: skip torch's Python loop of nn.LSTMCell")
        step.add_argument("--peak-sizes", default="1024,2048",
                          help="square sizes of the matmul-peak measurement")
        return step

    ts = sub.add_parser("train-step", parents=[common, step_options(10, 2)],
                        help="training step, minigrad vs PyTorch")
    ts.add_argument("--preset", default="tiny",
                    help=f"{', '.join(PRESETS)}, or all (comma-separated)")
    ts.add_argument("--rounds", type=int, default=3, help="alternated rounds per side")
    ts.set_defaults(func=cmd_train_step)

    ops = sub.add_parser("ops", parents=[common], help="single ops over a sweep of sizes")
    ops.add_argument("--op", action="append", default=[], metavar="NAME[=A,B,..]",
                     help=f"op (and size) to run, repeatable; default every op: "
                          f"{', '.join(OP_SIZES)}")
    ops.add_argument("--modes", default="fwd,fwdbwd", help="fwd, fwd-nograd, fwdbwd")
    ops.add_argument("--quick", action="store_true", help="the first size of each sweep only")
    ops.add_argument("--rounds", type=int, default=2, help="alternated rounds per side")
    ops.add_argument("--repeats", type=int, default=10, help="timed samples per op")
    ops.add_argument("--op-warmup", type=int, default=3, help="untimed calls per op")
    ops.set_defaults(func=cmd_ops)

    ov = sub.add_parser("overhead", parents=[common], help="per-op time on tiny tensors")
    ov.add_argument("--rounds", type=int, default=3, help="alternated rounds per side")
    ov.add_argument("--repeats", type=int, default=30, help="timed samples per case")
    ov.add_argument("--op-warmup", type=int, default=100, help="untimed calls per case")
    ov.set_defaults(func=cmd_overhead)

    sc = sub.add_parser("scaling", parents=[common, step_options(3, 1)],
                        help="step time vs context length and width")
    sc.add_argument("--preset", default="tiny", help="GPT preset to scale (default tiny)")
    sc.add_argument("--contexts", default="64,128,256,512,1024")
    sc.add_argument("--widths", default="128,256,384,512,768")
    sc.add_argument("--batch-size", type=int, default=8)
    sc.add_argument("--rounds", type=int, default=1, help="alternated rounds per side")
    sc.set_defaults(func=cmd_scaling)

    tok = sub.add_parser("tokenizers", help="tokenizer training and encoding speed "
                                            "(options: python -m benchmarks.tokenizers_bench -h)")
    tok.add_argument("--json", action="store_true", help="print JSON lines, not a table")
    tok.set_defaults(func=None)

    sv = sub.add_parser("serve", help="minigrad serve under load (options: python -m "
                                      "benchmarks serve -h)", add_help=False)
    sv.set_defaults(func=None)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "serve":
        from benchmarks import serve
        return serve.main(argv[1:])
    if argv and argv[0] == "tokenizers":
        args, rest = parser.parse_known_args(argv)
        return cmd_tokenizers(args, rest) or 0
    args = parser.parse_args(argv)
    if getattr(args, "rounds", 1) < 1:
        parser.error("--rounds must be >= 1")
    start = time.perf_counter()
    rows = args.func(args)
    log(args, f"done in {time.perf_counter() - start:.0f} s; results under {args.out}")
    # exit status 1 when a worker failed (a missing PyTorch is not a failure)
    return 1 if any(row.get("errors") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
