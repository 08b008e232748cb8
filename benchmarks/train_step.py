"""`python -m benchmarks train-step`: whole training steps of the presets, minigrad against
PyTorch at its best eager (its manual attention and its fused one, the faster as the peer)."""

from benchmarks import flops
from benchmarks.configs import CONFIGS, PRESETS, parse_overrides, resolve
from benchmarks.harness import worker_argv
from benchmarks.runner import (
    MG_WORKER, TORCH_WORKER, Env, emit_rows, log, median_of, ratio_of, run_worker, torch_cell)


def step_argv(args, env, side, device, name, overrides, cell_loop=False, sdpa=None):
    module = MG_WORKER if side == "minigrad" else TORCH_WORKER
    device = device if side == "minigrad" else env.torch_device(device)
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
    # A GPT's peer is PyTorch at its best: its manual attention ("torch") and its fused one
    # ("torch-sdpa") are both timed and the faster is the ratio's denominator
    # (--one-attention: only the one --sdpa picks).
    sdpa_both = (not getattr(args, "one_attention", False) and cfg["kind"] == "gpt"
                 and has_peer)
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
            argv = step_argv(args, env, "minigrad" if side == "minigrad" else "torch",
                              device, name, overrides, cell_loop=side == "torch-loop",
                              sdpa=(side == "torch-sdpa") if sdpa_both else None)
            log(args, f"[train-step {name} {device}] round {r + 1}/{args.rounds}: {side}")
            rows, err = run_worker(env, argv, args.timeout)
            if rows is None:
                errors[side] = err
                log(args, f"  {side} failed: {err}")
                continue
            row = rows[-1]
            samples[side] += row["ms_samples"]
            rounds[side].append(row["ms_median"])
            last[side] = row
    mg_ms = median_of(samples.get("minigrad", []))
    torch_ms = median_of(samples.get("torch", []))
    loop_ms = median_of(samples.get("torch-loop", []))
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
        "ratio": ratio_of(mg_ms, torch_ms),
        "gflops": gflops,
        "torch_gflops": torch_gflops,
        "peak_gflops": peak,
        "peak_fraction": ratio_of(gflops, peak),
        "torch_peak_fraction": ratio_of(torch_gflops, peak),
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
        row["ratio_cell_loop"] = ratio_of(mg_ms, loop_ms)
    if sdpa_both:
        sdpa_ms = median_of(samples.get("torch-sdpa", []))
        row["torch_sdpa_ms"] = sdpa_ms
        row["ratio_sdpa"] = ratio_of(mg_ms, sdpa_ms)
        if torch_ms and sdpa_ms:
            row["torch_best"] = "sdpa" if sdpa_ms < torch_ms else "manual"
            row["torch_best_ms"] = min(torch_ms, sdpa_ms)
            row["ratio_best"] = ratio_of(mg_ms, row["torch_best_ms"])
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


TRAIN_COLUMNS = [
    ("config", "config"), ("backend", "backend"),
    ("minigrad ms", "minigrad_ms"), ("torch ms", lambda r: torch_cell(r, "torch_ms")),
    ("ratio", "ratio"),
    ("torch loop ms", "torch_cell_loop_ms"), ("ratio vs loop", "ratio_cell_loop"),
    ("torch sdpa ms", "torch_sdpa_ms"), ("ratio vs sdpa", "ratio_sdpa"),
    ("ratio vs best", "ratio_best"),
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
    emit_rows(args, rows, TRAIN_COLUMNS, "train_step", notes)
    return rows
