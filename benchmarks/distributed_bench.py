"""Data parallel on the CPU: minigrad over MPI against PyTorch's DDP over gloo.

    python -m benchmarks distributed [--preset tiny,hw4-transformer] [--ranks 1,2]
        [--steps 10] [--warmup 2] [--rounds 3] [--sizes 1e4,1e5,1e6,1e7] [--set KEY=VALUE]
        [--one-attention] [--no-torch] [--json] [--out runs/bench]

For each preset, whole training steps with the preset's batch (the step's batch, split over
the ranks as `minigrad train --nproc N` splits `--batch-size`), one thread per rank:
minigrad ranks under `mpiexec -n N` (benchmarks/distributed_worker.py), PyTorch ranks as N
processes joined over gloo (DistributedDataParallel); and, as each side's other way to use N
cores, one process with N threads (minigrad's batch split over threads, PyTorch's intra-op
threads). One rank trains the plain model. Each configuration runs in its own processes,
all alternated for `--rounds` rounds; each figure is the median of all timed steps. A GPT's
PyTorch side is timed with its manual attention and with `scaled_dot_product_attention`,
and the faster is taken in each column.

Reported per preset:

    minigrad / torch ... ms      step time of 1 rank, N ranks (the slowest rank's: steps end
                                 at a barrier) and 1 process of N threads
    efficiency                   strong scaling 1 -> N ranks, t(1) / (N * t(N)): 1.0 when N
                                 ranks take 1/N of the time
    all-reduce ms, share         minigrad's gradient all-reduce per step on N ranks, and its
                                 share of the step (it runs after backward)
    ratio N ranks vs DDP         minigrad / PyTorch, both on N ranks
    ratio best vs best           each side's fastest way to use N cores (ranks or threads,
                                 and PyTorch's faster attention), minigrad / PyTorch

and the all-reduce of float32 arrays of each size (`--sizes`, parameter counts) at the
largest N: ms on each side and minigrad's bus bandwidth, 2 (N-1)/N * bytes / time.
Results go to OUT/distributed.md and OUT/distributed.jsonl. Needs the distributed extra
(mpi4py, MPICH); PyTorch is optional.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.configs import CONFIGS, PRESETS
from benchmarks.harness import REPO, cpu_model, markdown_table, write_jsonl

WORKER = "benchmarks.distributed_worker"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _env(threads=1):
    path = os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return dict(os.environ, PYTHONPATH=path, **{name: str(threads) for name in THREAD_VARIABLES})


def _rows(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def run_minigrad(ranks, argv, timeout, threads=1):
    from models.distributed_launch import find_mpiexec
    command = [find_mpiexec(), "-n", str(ranks), sys.executable, "-m", WORKER, "minigrad",
               *argv, "--threads", str(threads)]
    done = subprocess.run(command, env=_env(threads), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"minigrad on {ranks} ranks failed: {done.stderr[-1500:]}")
    return _rows(done.stdout)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_torch(ranks, argv, timeout, threads=1):
    env = dict(_env(threads), WORLD_SIZE=str(ranks), MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(_free_port()))
    procs = [subprocess.Popen([sys.executable, "-m", WORKER, "torch", *argv, "--threads",
                               str(threads)],
                              env=dict(env, RANK=str(r)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO)
             for r in range(ranks)]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=timeout))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    failed = [(p.returncode, err) for p, (_, err) in zip(procs, outputs) if p.returncode]
    if failed:
        raise RuntimeError(f"torch on {ranks} ranks failed: {failed[0][1][-1500:]}")
    return _rows(outputs[0][0])


def _median(values):
    return statistics.median(values) if values else None


def _ratio(a, b):
    return a / b if a and b else None


def _runs(args, name, has_torch):
    """(label, side, ranks, threads, sdpa) of each configuration timed for preset `name`:
    each side on every rank count with one thread per rank, and as one process with as many
    threads as the largest rank count (PyTorch with each attention of a GPT)."""
    top = args.ranks[-1]
    runs = [(f"minigrad_{n}", "minigrad", n, 1, False) for n in args.ranks]
    if top > 1:
        runs.append(("minigrad_threads", "minigrad", 1, top, False))
    if has_torch:
        variants = [("torch", False)]
        if CONFIGS[name]["kind"] == "gpt" and not args.one_attention:
            variants.append(("torch_sdpa", True))
        for label, sdpa in variants:
            runs += [(f"{label}_{n}", "torch", n, 1, sdpa) for n in args.ranks]
            if top > 1:
                runs.append((f"{label}_threads", "torch", 1, top, sdpa))
    return runs


def train_rows(args, has_torch):
    rows = []
    for name in args.presets:
        runs = _runs(args, name, has_torch)
        samples = {label: [] for label, *_ in runs}
        allreduce, params = [], None
        base = ["train", "--config", name, "--steps", str(args.steps), "--warmup",
                str(args.warmup)] + [a for kv in args.set for a in ("--set", kv)]
        for r in range(args.rounds):
            for label, side, ranks, threads, sdpa in runs:
                _log(args, f"[distributed {name}] round {r + 1}/{args.rounds}: {label} "
                           f"({ranks} rank(s), {threads} thread(s))")
                if side == "minigrad":
                    row = run_minigrad(ranks, base, args.timeout, threads)[-1]
                    if row["allreduce_ms"] is not None and ranks == args.ranks[-1]:
                        allreduce.append(row["allreduce_ms"])
                    params = row["params"]
                else:
                    argv = base + (["--sdpa"] if sdpa else [])
                    row = run_torch(ranks, argv, args.timeout, threads)[-1]
                samples[label] += row["ms_samples"]
        rows.append(_train_row(args, name, samples, allreduce, params))
    return rows


def _fastest(row, labels):
    """(label, ms) of the fastest of `labels` measured in `row`, or (None, None)."""
    times = {label: row[f"{label}_ms"] for label in labels if row.get(f"{label}_ms")}
    if not times:
        return None, None
    best = min(times, key=times.get)
    return best, times[best]


def _train_row(args, name, samples, allreduce, params):
    first, top = args.ranks[0], args.ranks[-1]
    row = {"config": name, "params": params, "batch_size": CONFIGS[name]["batch_size"],
           "ranks": args.ranks, "steps": args.steps, "rounds": args.rounds}
    row.update({f"{label}_ms": _median(values) for label, values in samples.items()})
    for n in args.ranks:  # PyTorch at its best: the faster attention at each rank count
        row[f"torch_best_{n}"], row[f"torch_best_{n}_ms"] = _fastest(
            row, [f"torch_{n}", f"torch_sdpa_{n}"])
    for side in ("minigrad", "torch_best"):
        t1, tn = row.get(f"{side}_{first}_ms"), row.get(f"{side}_{top}_ms")
        row[f"{side}_efficiency"] = t1 * first / (top * tn) if t1 and tn else None
    row["allreduce_ms"] = _median(allreduce)
    row["allreduce_share"] = _ratio(row["allreduce_ms"], row[f"minigrad_{top}_ms"])
    row["ratio_ranks"] = _ratio(row[f"minigrad_{top}_ms"], row[f"torch_best_{top}_ms"])
    # Each side at its best on `top` cores: ranks or threads, and for PyTorch either attention.
    row["minigrad_best"], row["minigrad_best_ms"] = _fastest(
        row, [f"minigrad_{top}", "minigrad_threads"])
    row["torch_best"], row["torch_best_ms"] = _fastest(
        row, [f"torch_{top}", f"torch_sdpa_{top}", "torch_threads", "torch_sdpa_threads"])
    row["ratio_best"] = _ratio(row["minigrad_best_ms"], row["torch_best_ms"])
    return row


def allreduce_rows(args, has_torch):
    n = args.ranks[-1]
    argv = ["allreduce", "--sizes", ",".join(map(str, args.sizes)), "--steps",
            str(args.steps), "--warmup", str(args.warmup)]
    mine = {r["values"]: r["ms_median"] for r in run_minigrad(n, argv, args.timeout)}
    theirs = ({r["values"]: r["ms_median"] for r in run_torch(n, argv, args.timeout)}
              if has_torch else {})
    rows = []
    for values in args.sizes:
        ms = mine[values]
        rows.append({"values": values, "ranks": n, "minigrad_ms": ms,
                     "torch_ms": theirs.get(values),
                     "minigrad_gb_s": 2 * (n - 1) / n * values * 4 / (ms * 1e-3) / 1e9})
    return rows


def _train_columns(args):
    first, top = args.ranks[0], args.ranks[-1]
    return [("config", "config"), ("params", "params"),
            (f"minigrad {first} rank ms", f"minigrad_{first}_ms"),
            (f"minigrad {top} ranks ms", f"minigrad_{top}_ms"),
            (f"minigrad {top} threads ms", "minigrad_threads_ms"),
            (f"torch {first} rank ms", f"torch_best_{first}_ms"),
            (f"torch DDP {top} ranks ms", f"torch_best_{top}_ms"),
            (f"torch {top} threads ms", lambda r: _fastest(
                r, ["torch_threads", "torch_sdpa_threads"])[1]),
            ("minigrad efficiency", "minigrad_efficiency"),
            ("torch efficiency", "torch_best_efficiency"),
            (f"all-reduce ms ({top} ranks)", "allreduce_ms"), ("all-reduce share",
                                                                "allreduce_share"),
            (f"ratio {top} ranks vs DDP", "ratio_ranks"),
            ("ratio best vs best", "ratio_best"), ("minigrad best", "minigrad_best"),
            ("torch best", "torch_best")]


def _log(args, message):
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m benchmarks distributed",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="tiny,hw4-transformer",
                   help=f"comma-separated, of {', '.join(PRESETS)}")
    p.add_argument("--ranks", default="1,2", help="rank counts, ascending (default 1,2)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per process")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds per side")
    p.add_argument("--sizes", default="1e4,1e5,1e6,1e7",
                   help="all-reduce sizes in float32 values")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset field, both sides (repeatable)")
    p.add_argument("--one-attention", action="store_true",
                   help="PyTorch GPT with its manual attention only")
    p.add_argument("--no-torch", action="store_true", help="minigrad only")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    p.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--out", default=str(Path("runs") / "bench"))
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.presets = [p for p in args.preset.split(",") if p]
    unknown = [p for p in args.presets if p not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown preset(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(PRESETS)}")
    args.ranks = sorted(int(n) for n in args.ranks.split(","))
    args.sizes = [int(float(v)) for v in args.sizes.split(",")]
    try:
        import importlib.util
        has_torch = not args.no_torch and importlib.util.find_spec("torch") is not None
        train, sweep = train_rows(args, has_torch), allreduce_rows(args, has_torch)
    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
        raise SystemExit(f"python -m benchmarks distributed: {e}") from None
    notes = [f"machine: {cpu_model()}, {os.cpu_count()} logical cores; one thread per rank; "
             f"{args.steps} steps after {args.warmup} warm-up, {args.rounds} rounds "
             f"alternated; medians",
             "efficiency: t(1) / (N t(N)) with the preset's batch split over N ranks; torch: "
             "the faster attention (manual or sdpa) in each column; best: the fastest of "
             "each side's ranks and threads (and attentions) on N cores"]
    text = "\n".join(notes + ["", markdown_table(train, _train_columns(args)), "",
                              f"all-reduce of float32 arrays, {args.ranks[-1]} ranks:", "",
                              markdown_table(sweep, [("values", "values"),
                                                     ("minigrad ms", "minigrad_ms"),
                                                     ("torch gloo ms", "torch_ms"),
                                                     ("minigrad GB/s", "minigrad_gb_s")]), ""])
    out = Path(args.out)
    write_jsonl(train + sweep, out / "distributed.jsonl")
    out.mkdir(parents=True, exist_ok=True)
    (out / "distributed.md").write_text(text, encoding="utf-8")
    if args.json:
        for row in train + sweep:
            print(json.dumps(row), flush=True)
    else:
        print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
