"""The GPU check: everything a lent GPU should tell us, in one command of at most 8 minutes.

    make gpu-check                           # = python3 -m benchmarks.gpu_check
    python3 -m benchmarks.gpu_check [--out DIR] [--budget SECONDS] [--quick] [--standin]

Needs only what the GPU machine's image has (Python 3.12, CuPy, NumPy, PyTorch, pytest,
hypothesis) and runs from the repository root without an install. It stops at once, with one
line on stderr and exit status 2, where CuPy or a GPU is missing; otherwise it runs these
phases, each in subprocesses with a time budget of its own (a phase that runs out is killed
and recorded as such, and the later phases still run):

    preflight   GPU name, driver, CUDA and CuPy versions; a first kernel of each kind
    tests       python3 -m pytest -m cuda, each test limited (tests/per_test_timeout.py);
                a run killed by a hung kernel restarts after the test that hung
    train-step  nanogpt-char and gpt-384 training steps, minigrad on CuPy against
                PyTorch eager with and without its fused attention, in float32, then under
                float16 autocast (and bfloat16 where minigrad has it)
    train       nanogpt-char trained on the GPU for up to 500 steps (or its time): the loss
                curve, validation loss before and after, ms per step, peak GPU memory
    compare     the first steps of nanogpt-char (dropout off) on the GPU and on the CPU from
                the same weights and batches: the losses should agree closely
    ops         the op sweep of `python -m benchmarks ops` on the GPU against PyTorch

Everything lands in one folder, $OUT when set, else runs/gpu-check (at most 8 files):
summary.md and summary.json (pass/fail counts, ratios, losses, peak memory, versions, each
phase's time), pytest.log, bench.md and bench.jsonl (the benchmark tables and rows),
train.jsonl (per-step losses of both runs), loss.svg and gpu_check.log (the progress and
each phase's own output). The exit status is 0 when every phase ran and every test
passed, 1 otherwise, 2 when nothing could run.

``--standin`` rehearses the whole check on a machine without a GPU, with the NumPy stand-in
for CuPy (tests/cupy_standin.py) and PyTorch on the CPU; every output then says REHEARSAL.
``--quick`` makes every phase small (the fast tests only, small models, few steps), for a
rehearsal of a few minutes on two cores.
"""
import argparse
import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STANDIN_PATH = REPO / "tests" / "cupy_standin_path"
FALLBACK_PATH = Path(__file__).resolve().parent / "gpu_check_fallbacks"
DEFAULT_OUT = Path("runs") / "gpu-check"
OUTPUT_FILES = ("summary.md", "summary.json", "pytest.log", "bench.md", "bench.jsonl",
                "train.jsonl", "loss.svg", "gpu_check.log")
MAX_LOG_BYTES = 8 << 20        # files come back from the GPU machine up to 16 MiB each
REHEARSAL = "REHEARSAL: CuPy stand-in (NumPy on the CPU), not a GPU"
EXIT_OK, EXIT_FAILED, EXIT_NOT_RUN = 0, 1, 2

# Seconds per phase (the whole stays under 8 minutes with the default --budget of 450);
# time a phase leaves unused goes to the next ones, never another phase's own share.
BUDGETS = {"full": {"preflight": 60, "tests": 140, "train-step": 105, "train": 65,
                    "compare": 35, "ops": 35},
           "quick": {"preflight": 60, "tests": 150, "train-step": 90, "train": 50,
                     "compare": 40, "ops": 40}}
PHASES = ("preflight", "tests", "train-step", "train", "compare", "ops")
MIN_PHASE_S = 10               # a later phase with less than this left is skipped
SUMMARY_RESERVE_S = 10         # kept for writing the summary

# What each phase does at each size.
SETTINGS = {
    "full": dict(test_marker="cuda", test_timeout=90, train_steps=500, compare_steps=3,
                 bench_steps=10, bench_warmup=3, presets=("nanogpt-char", "gpt-384"),
                 bench_set=(), train_set={}, op_quick=False, op_repeats=5),
    "quick": dict(test_marker="cuda and not slow", test_timeout=120, train_steps=40,
                  compare_steps=3, bench_steps=2, bench_warmup=1,
                  presets=("nanogpt-char", "gpt-384"),
                  bench_set=("n_layer=2", "n_head=2", "n_embd=64", "block_size=64",
                             "batch_size=8"),
                  train_set=dict(n_layer=2, n_head=2, n_embd=64, context=64, batch_size=8),
                  op_quick=True, op_repeats=3),
}


# ---------------------------------------------------------------------------------- helpers
def now():
    return time.monotonic()


def iso_time():
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Log:
    """Progress lines to stderr and to gpu_check.log."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def __call__(self, message):
        line = f"[gpu-check {time.strftime('%H:%M:%S')}] {message}"
        print(line, file=sys.stderr, flush=True)
        self.file.write(line + "\n")
        self.file.flush()

    def block(self, title, text, limit=200_000):
        text = text or ""
        if len(text) > limit:
            text = text[:limit // 2] + "\n[... cut ...]\n" + text[-limit // 2:]
        self.file.write(f"----- {title}\n{text}\n----- end of {title}\n")
        self.file.flush()


def child_env(standin, fallbacks):
    """The environment of every subprocess: the repository (and the rehearsal's stand-in,
    and the fallbacks for missing packages) on PYTHONPATH, unbuffered output."""
    env = dict(os.environ)
    paths = [str(REPO)]
    if standin:
        paths.insert(0, str(STANDIN_PATH))
        env["MINIGRAD_CUPY_STANDIN"] = "1"
    if fallbacks:
        paths.append(str(FALLBACK_PATH))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_limited(argv, timeout, env, stdout, stderr=subprocess.STDOUT):
    """Run argv in its own session for at most ``timeout`` seconds; on time out the whole
    process group (workers included) is ended. Returns (exit status or None, seconds)."""
    start = now()
    proc = subprocess.Popen(argv, cwd=str(REPO), env=env, stdout=stdout, stderr=stderr,
                            start_new_session=True)
    _CHILDREN.append(proc)
    try:
        proc.wait(timeout=max(timeout, 1))
        return proc.returncode, now() - start
    except subprocess.TimeoutExpired:
        _end_group(proc)
        return None, now() - start
    finally:
        _CHILDREN.remove(proc)


_CHILDREN = []


def _end_group(proc):
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def read_jsonl(path):
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line cut by a kill
    except FileNotFoundError:
        pass
    return rows


def cap_file(path, limit=MAX_LOG_BYTES):
    """Keep a file under ``limit`` bytes: its head and tail, the middle cut out."""
    path = Path(path)
    if not path.exists() or path.stat().st_size <= limit:
        return
    data = path.read_bytes()
    half = limit // 2
    path.write_bytes(data[:half] + b"\n\n[... cut to keep the file under "
                     + str(limit).encode() + b" bytes ...]\n\n" + data[-half:])


def _num(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


# ---------------------------------------------------------------------------------- phases
def phase_preflight(opts):
    """One JSON object: what the machine has, or the reason nothing can run ("fatal")."""
    import platform
    info = {"python": platform.python_version(), "fatal": None, "errors": {}}
    try:
        import numpy as np
        info["numpy"] = np.__version__
    except ImportError as exc:
        info["fatal"] = f"NumPy is not installed ({exc})"
        return info
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CuPy built for another CUDA
        info["fatal"] = (f"CuPy is not available ({type(exc).__name__}: {exc}); the GPU check "
                         f"needs CuPy for this machine's CUDA (cupy-cuda12x or cupy-cuda13x)")
        return info
    info["cupy"] = cupy.__version__
    info["standin"] = bool(getattr(cupy, "STANDIN", False))
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        count, info["errors"]["device_count"] = 0, f"{type(exc).__name__}: {exc}"
    info["gpu_count"] = count
    if count < 1:
        info["fatal"] = ("no NVIDIA GPU: CuPy finds none ("
                         + info["errors"].get("device_count", "device count 0")
                         + "); check nvidia-smi and the driver")
        return info
    try:
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props.get("name", b"")
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        info["gpu_memory_mb"] = round(props.get("totalGlobalMem", 0) / 2**20)
        info["compute_capability"] = f"{props.get('major')}.{props.get('minor')}"
        info["cuda_driver_version"] = _cuda_version(cupy.cuda.runtime.driverGetVersion())
        info["cuda_runtime_version"] = _cuda_version(cupy.cuda.runtime.runtimeGetVersion())
    except Exception as exc:
        info["errors"]["properties"] = f"{type(exc).__name__}: {exc}"
    info.update(_nvidia_smi())
    # minigrad on the GPU: a tensor, a raw kernel, an element-wise kernel, a reduction kernel
    start = now()
    try:
        import minigrad as mg
        from minigrad import backend_cuda
        from minigrad import functional as F
        info["minigrad_cuda"] = bool(mg.cuda.is_available())
        x = np.random.default_rng(0).standard_normal((4, 65)).astype(np.float32)
        t = np.array([1, 0, 64, 3])
        got = F.cross_entropy(mg.tensor(x, device="cuda"), mg.tensor(t, device="cuda")).item()
        want = F.cross_entropy(mg.tensor(x), mg.tensor(t)).item()
        ln = F.layer_norm(mg.tensor(x, device="cuda", requires_grad=True), (65,))
        ln.sum().backward()
        g = F.gelu(mg.tensor(x, device="cuda")).numpy()
        info["first_kernels_ok"] = bool(abs(got - want) < 1e-4 and np.isfinite(g).all())
        info["first_kernels_detail"] = f"cross-entropy {got:.6f} on the GPU, {want:.6f} on the CPU"
        info["bfloat16"] = backend_cuda.bfloat16() is not None
    except Exception as exc:
        info["first_kernels_ok"] = False
        info["errors"]["first_kernels"] = f"{type(exc).__name__}: {exc}"
    info["first_kernels_s"] = round(now() - start, 2)
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_cuda"] = bool(torch.cuda.is_available())
        info["torch_cuda_version"] = torch.version.cuda
        if info["torch_cuda"]:
            info["torch_gpu"] = torch.cuda.get_device_name(0)
    except Exception as exc:
        info["torch"] = None
        info["errors"]["torch"] = f"{type(exc).__name__}: {exc}"
    for name in ("regex", "scipy", "matplotlib", "ml_dtypes"):
        info[f"has_{name}"] = importlib.util.find_spec(name) is not None
    return info


def _cuda_version(number):
    number = int(number or 0)
    return f"{number // 1000}.{number % 1000 // 10}" if number else "0 (stand-in)"


def _nvidia_smi():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"nvidia_smi": f"not run ({type(exc).__name__})"}
    if out.returncode != 0:
        return {"nvidia_smi": f"exit status {out.returncode}: {out.stderr.strip()[:200]}"}
    first = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    parts = [p.strip() for p in first.split(",")]
    info = {"nvidia_smi": first}
    if len(parts) >= 2:
        info["driver_version"] = parts[1]
    return info


def _bench_cli(opts, extra):
    """The benchmark command line's machinery in this process, set for the GPU (and, in a
    rehearsal, with PyTorch's side on the CPU, since PyTorch has no GPU there)."""
    from benchmarks import __main__ as cli
    argv = extra + ["--device", "cuda", "--out", str(Path(opts.scratch) / "bench"),
                    "--quiet", "--threads", str(min(os.cpu_count() or 1, 8))]
    args = cli.build_parser().parse_args(argv)
    env = cli.Env(args)
    if opts.standin:
        original_step_argv, original_worker_argv = cli._step_argv, cli.worker_argv

        def step_argv(args, env, side, device, *rest, **kwargs):
            argv = original_step_argv(args, env, side, device, *rest, **kwargs)
            if side == "torch":
                argv[argv.index("--device") + 1] = "cpu"
            return argv

        def worker_argv(module, *args):
            argv = original_worker_argv(module, *args)
            if module == cli.TORCH_WORKER and "--device" in argv:
                argv[argv.index("--device") + 1] = "cpu"
            return argv

        cli._step_argv, cli.worker_argv = step_argv, worker_argv
        env.peer = lambda device: (env.torch_info is not None, env.torch_note)
    return cli, args, env


def phase_train_step(opts):
    """Rows of compare_step, one JSON line each as it finishes."""
    s = SETTINGS[opts.size]
    deadline = now() + opts.budget
    cli, args, env = _bench_cli(opts, ["train-step", "--rounds", "1", "--steps",
                                       str(s["bench_steps"]), "--warmup", str(s["bench_warmup"]),
                                       "--sdpa-both", "--peak-sizes", "1024,2048"]
                                + [a for kv in s["bench_set"] for a in ("--set", kv)])
    precisions = ["off", "float16"] + (["bfloat16"] if opts.bfloat16 else [])
    for amp in precisions:
        for name in s["presets"]:
            left = deadline - now()
            if left < 15:
                emit({"skipped": f"{name} {amp}: the phase's time is spent"})
                continue
            args.amp, args.timeout = amp, max(10.0, min(120.0, left - 5))
            overrides = cli.parse_overrides(args.set, cli.CONFIGS[name])
            row = cli.compare_step(args, env, name, overrides, "cuda")
            row["peak_gflops_device"] = env.peaks.get("cuda")
            emit(row)
    if not opts.bfloat16:
        emit({"note": "bfloat16 not run: minigrad cannot compute in it here "
                      "(backend_cuda.bfloat16() is None: no ml_dtypes, or a CuPy without it)"})


def phase_ops(opts):
    s = SETTINGS[opts.size]
    cli, args, env = _bench_cli(opts, ["ops", "--rounds", "1", "--repeats",
                                       str(s["op_repeats"]), "--modes", "fwd,fwdbwd"]
                                + (["--quick"] if s["op_quick"] else []))
    args.timeout = max(10.0, opts.budget - 10)
    specs = cli._op_specs(args)
    for row in cli.compare_ops(args, env, specs, "cuda", "ops"):
        emit(row)


def _trainer(device, steps, run_dir, overrides):
    import io

    from models.presets import get_preset
    from models.train import Trainer
    config = get_preset("nanogpt-char").replace(
        device=device, steps=steps, eval_every=max(steps, 1), eval_batches=10,
        final_eval=False, sample_tokens=0, threads=min(os.cpu_count() or 1, 8), **overrides)
    trainer = Trainer(config, run_dir, stream=io.StringIO())
    trainer.setup()
    return trainer


def _estimate(trainer):
    import numpy as np

    from models.evaluate import estimate_loss
    c = trainer.config
    splits = {name: trainer.splits[name] for name in ("train", "val")}
    losses = estimate_loss(trainer.model, splits, c.context, c.batch_size, c.eval_batches,
                           np.random.default_rng(c.seed + 1))
    return {k: float(v) for k, v in losses.items()}


def _gpu_pool_mb():
    try:
        import cupy
        return cupy.get_default_memory_pool().total_bytes() / 2**20
    except Exception:
        return None


def phase_train(opts):
    """nanogpt-char on the GPU: one JSON line per step, then the end."""
    s = SETTINGS[opts.size]
    deadline = now() + opts.budget
    start = now()
    trainer = _trainer("cuda", s["train_steps"], Path(opts.scratch) / "train",
                       s["train_set"])
    c = trainer.config
    emit({"event": "start", "device": "cuda", "params": trainer.model.num_parameters(),
          "config": {k: getattr(c, k) for k in ("n_layer", "n_head", "n_embd", "context",
                                                   "batch_size", "dropout", "lr", "steps")},
          "setup_s": round(now() - start, 2)})
    e0 = now()
    before = _estimate(trainer)
    eval_s = now() - e0
    emit({"event": "eval", "step": 0, "s": round(eval_s, 2), **before})
    peak = _gpu_pool_mb() or 0.0
    stopped = None
    for step in range(1, c.steps + 1):
        # keep time for the final evaluation: as long as the first took, and a margin
        if now() > deadline - 1.5 * eval_s - 5:
            stopped = "time budget"
            break
        began = now()
        loss = trainer.train_step()
        trainer.step = step
        emit({"event": "step", "step": step, "loss": loss, "s": round(now() - began, 4),
              "lr": trainer.scheduler.get_last_lr()[0]})
        if step % 25 == 0:
            peak = max(peak, _gpu_pool_mb() or 0.0)
    e0 = now()
    after = _estimate(trainer)
    emit({"event": "eval", "step": trainer.step, **after})
    emit({"event": "end", "steps": trainer.step, "stopped": stopped,
          "seconds": round(now() - start, 2), "eval_s": round(now() - e0, 2),
          "peak_gpu_mem_mb": max(peak, _gpu_pool_mb() or 0.0)})


def phase_compare(opts):
    """The first steps of nanogpt-char (dropout off) on each device, from the same weights."""
    s = SETTINGS[opts.size]
    overrides = dict(s["train_set"], dropout=0.0)
    for device in ("cuda", "cpu"):
        start = now()
        trainer = _trainer(device, s["compare_steps"], Path(opts.scratch) / f"compare-{device}",
                           overrides)
        losses = []
        for step in range(1, s["compare_steps"] + 1):
            losses.append(trainer.train_step())
            trainer.step = step
        emit({"device": device, "losses": losses, "seconds": round(now() - start, 2)})


def emit(obj):
    print(json.dumps(obj), flush=True)


def run_phase(argv):
    """``_phase NAME`` in a subprocess: JSON lines on stdout as results come."""
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks.gpu_check _phase")
    parser.add_argument("name", choices=["preflight", "train-step", "ops", "train", "compare"])
    parser.add_argument("--scratch", required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--size", choices=list(SETTINGS), default="full")
    parser.add_argument("--standin", action="store_true")
    parser.add_argument("--bfloat16", action="store_true")
    opts = parser.parse_args(argv)
    if opts.name == "preflight":
        emit(phase_preflight(opts))
        return 0
    {"train-step": phase_train_step, "ops": phase_ops, "train": phase_train,
     "compare": phase_compare}[opts.name](opts)
    return 0


# ---------------------------------------------------------------------------------- the parent
class Check:
    def __init__(self, args):
        self.args = args
        self.size = "quick" if args.quick else "full"
        # a --budget below the shares' sum shrinks every share alike
        shares = BUDGETS[self.size]
        factor = min(1.0, (args.budget - SUMMARY_RESERVE_S) / sum(shares.values()))
        self.budgets = {name: share * factor for name, share in shares.items()}
        self.out = Path(args.out or os.environ.get("OUT") or DEFAULT_OUT)
        self.out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:  # a fresh set: never half of an older run's
            (self.out / name).unlink(missing_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.log = Log(self.out / "gpu_check.log")
        self.start = now()
        self.deadline = self.start + args.budget
        self.fallbacks = importlib.util.find_spec("regex") is None
        self.env = child_env(args.standin, self.fallbacks)
        self.summary = {
            "rehearsal": bool(args.standin),
            "note": REHEARSAL if args.standin else None,
            "status": "running",
            "started": iso_time(),
            "command": " ".join(["python3", "-m", "benchmarks.gpu_check"] + sys.argv[1:]),
            "size": self.size,
            "budget_s": args.budget,
            "machine": {},
            "phases": {},
            "tests": None,
            "train_step": [],
            "ops": [],
            "train": None,
            "compare": None,
            "fallbacks": (["regex: the package is missing; the standard library's re stands in "
                           "for it (the character tokenizer needs nothing more)"]
                          if self.fallbacks else []),
        }
        self.train_rows, self.compare_rows = [], []

    # ---- running phases
    def phase_budget(self, name, enabled):
        """This phase's nominal share plus what earlier phases left, never more than the
        total left minus the shares of the phases still to come."""
        later = enabled[enabled.index(name) + 1:]
        left = self.deadline - now() - SUMMARY_RESERVE_S
        done = self.summary["phases"]
        unused = max(sum(self.budgets[p] - done[p].get("seconds", 0) for p in done), 0)
        return min(self.budgets[name] + unused, left - sum(self.budgets[p] for p in later))

    def child(self, name, budget, extra=()):
        argv = [sys.executable, "-m", "benchmarks.gpu_check", "_phase", name, "--scratch",
                str(self.scratch), "--budget", f"{budget:.0f}", "--size", self.size]
        if self.args.standin:
            argv.append("--standin")
        argv += list(extra)
        out_path = self.scratch / f"{name}.jsonl"
        err_path = self.scratch / f"{name}.stderr"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            code, seconds = run_limited(argv, budget, self.env, out, err)
        self.log.block(f"{name} stderr", err_path.read_text(errors="replace"))
        return code, seconds, read_jsonl(out_path)

    def record(self, name, status, seconds, budget, note=None):
        entry = {"status": status, "seconds": round(seconds, 1), "budget_s": round(budget)}
        if note:
            entry["note"] = note
        self.summary["phases"][name] = entry
        self.log(f"{name}: {status} in {seconds:.0f} s (budget {budget:.0f} s)"
                 + (f": {note}" if note else ""))
        self.write_summary()

    def run(self):
        args = self.args
        if args.standin:
            self.log(REHEARSAL)
        self.log(f"writing to {self.out}; budget {args.budget:.0f} s; size {self.size}")
        if self.fallbacks:
            self.log("the regex package is missing: the standard library's re stands in for it")
        # ---- preflight: stop here, loudly, without CuPy or a GPU
        budget = max(self.budgets["preflight"], 30.0)
        code, seconds, rows = self.child("preflight", budget)
        info = rows[-1] if rows else {}
        self.summary["machine"] = info
        fatal = info.get("fatal")
        if not rows:
            fatal = ("the preflight check did not answer (" + (
                f"exit status {code}" if code is not None else f"over {budget} s: a GPU that "
                f"does not respond?") + "); see gpu_check.log")
        if fatal:
            self.summary.update(status="not run", reason=fatal)
            self.record("preflight", "failed", seconds, budget, fatal)
            self.finish()
            print(f"gpu-check: FAILED before starting: {fatal}", file=sys.stderr, flush=True)
            return EXIT_NOT_RUN
        if args.standin and not info.get("standin"):
            raise SystemExit("gpu-check: --standin, but the preflight found a real CuPy")
        if not args.standin and info.get("standin"):
            fatal = "the CuPy found is the NumPy stand-in (tests/cupy_standin_path on PYTHONPATH?)"
            self.summary.update(status="not run", reason=fatal)
            self.record("preflight", "failed", seconds, budget, fatal)
            self.finish()
            print(f"gpu-check: FAILED before starting: {fatal}", file=sys.stderr, flush=True)
            return EXIT_NOT_RUN
        note = None if info.get("first_kernels_ok") else (
            "the first kernels failed: " + str(info.get("errors", {}).get("first_kernels")
                                               or info.get("first_kernels_detail")))
        self.record("preflight", "ok" if note is None else "failed", seconds, budget, note)
        self.log(f"GPU {info.get('gpu')}, driver {info.get('driver_version')}, CUDA "
                 f"{info.get('cuda_driver_version')}, CuPy {info.get('cupy')}, torch "
                 f"{info.get('torch')} (cuda: {info.get('torch_cuda')})")

        enabled = [p for p in PHASES[1:] if not args.only or p in args.only]
        for name in enabled:
            budget = self.phase_budget(name, enabled)
            if budget < MIN_PHASE_S:
                self.record(name, "skipped", 0, max(budget, 0),
                            "the total budget is spent")
                continue
            self.log(f"{name}: starting, {budget:.0f} s")
            if name == "tests":
                self.run_tests(budget)
            else:
                self.run_child_phase(name, budget, info)
        return self.finish()

    def run_child_phase(self, name, budget, info):
        extra = ["--bfloat16"] if name == "train-step" and info.get("bfloat16") else []
        code, seconds, rows = self.child(name, budget, extra)
        status = "ok" if code == 0 else ("timed out" if code is None else "failed")
        note = None
        if code is None:
            note = f"killed at its budget; {len(rows)} result lines kept"
        elif code != 0:
            err = (self.scratch / f"{name}.stderr").read_text(errors="replace").strip()
            note = f"exit status {code}: " + (err.splitlines()[-1][:300] if err else "no stderr")
        if name == "train-step":
            self.summary["train_step"] = rows
            failures = [f"{r['config']} {r.get('amp')}: {side} {err}"
                        for r in rows for side, err in (r.get("errors") or {}).items()]
            if failures and status == "ok":
                status, note = "failed", "; ".join(failures)[:500]
        elif name == "ops":
            self.summary["ops"] = rows
        elif name == "train":
            self.train_rows = rows
            self.summary["train"] = summarise_train(rows)
        elif name == "compare":
            self.compare_rows = rows
            self.summary["compare"] = summarise_compare(rows)
        self.record(name, status, seconds, budget, note)

    def run_tests(self, budget):
        """pytest -m cuda with a per-test limit; after a hard stop (a hung kernel), again
        without the tests already run and the one that hung, while time is left."""
        s = SETTINGS[self.size]
        progress = self.scratch / "progress.jsonl"
        log_path = self.out / "pytest.log"
        start = now()
        hung, attempts, code = [], 0, None
        while True:
            attempts += 1
            done = {r["nodeid"] for r in read_jsonl(progress) if r.get("event") == "end"}
            argv = [sys.executable, "-m", "pytest", "-m", s["test_marker"], "-q", "-rfEs",
                    "-p", "no:cacheprovider", "--per-test-timeout", str(s["test_timeout"]),
                    "--progress-file", str(progress), "--durations=15"]
            for nodeid in sorted(done | set(hung)):
                argv += ["--deselect", nodeid]
            left = budget - (now() - start)
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"===== attempt {attempts}: {' '.join(argv[1:6])} ... "
                          f"({len(done | set(hung))} deselected), {left:.0f} s left\n")
                log.flush()
                code, _ = run_limited(argv, left, self.env, log)
            if code is None:
                break  # out of time
            # a test started and never ended: the process was stopped in it (faulthandler's
            # hard timeout exits with status 1, like failed tests, so look, not guess)
            events = read_jsonl(progress)
            ended = {r["nodeid"] for r in events if r.get("event") == "end"}
            open_tests = [r["nodeid"] for r in events
                          if r.get("event") == "start" and r["nodeid"] not in ended
                          and r["nodeid"] not in hung]
            if not open_tests:
                break  # the run finished (status 0, 1 or 5) or could not start (2-4)
            hung.append(open_tests[-1])
            self.log(f"tests: the run stopped (exit status {code}) in {open_tests[-1]}")
            if budget - (now() - start) < 20 or attempts >= 4:
                break
            self.log("tests: restarting after it")
        cap_file(log_path)
        tests = summarise_tests(read_jsonl(progress), hung, log_path)
        tests["attempts"] = attempts
        self.summary["tests"] = tests
        seconds = now() - start
        if code is None:
            events = read_jsonl(progress)
            ended = {r["nodeid"] for r in events if r.get("event") == "end"}
            running = [r["nodeid"] for r in events
                       if r.get("event") == "start" and r["nodeid"] not in ended]
            tests["killed_in"] = running[-1] if running else None
            where = f" in {running[-1]}" if running else ""
            status, note = "timed out", (f"killed at its budget{where}; {tests['ran']} tests "
                                         f"had run")
        elif tests["failed"] or tests["error"] or hung:
            status, note = "failed", (f"{tests['failed']} failed, {tests['error']} errors"
                                      + (f", hung: {', '.join(hung)}" if hung else ""))
        elif code not in (0, 5):
            status, note = "failed", f"pytest exit status {code}"
        else:
            status, note = "ok", None
        self.record("tests", status, seconds, budget, note)

    # ---- the summary
    def write_summary(self):
        self.summary["elapsed_s"] = round(now() - self.start, 1)
        peaks = [self.summary["machine"].get("first_kernels_peak_mb")]
        for row in self.summary["train_step"]:
            peaks += [row.get("minigrad_peak_gpu_mem_mb"), row.get("torch_peak_gpu_mem_mb"),
                      row.get("torch_sdpa_peak_gpu_mem_mb")]
        if self.summary["train"]:
            peaks.append(self.summary["train"].get("peak_gpu_mem_mb"))
        peaks = [p for p in peaks if isinstance(p, (int, float))]
        self.summary["peak_gpu_mem_mb"] = max(peaks) if peaks else None
        write_summary(self.out, self.summary, self.train_rows, self.compare_rows)

    def finish(self):
        phases = self.summary["phases"]
        if self.summary["status"] == "running":
            bad = [p for p, v in phases.items() if v["status"] != "ok"]
            self.summary["status"] = "complete" if not bad else "complete with problems: " + \
                ", ".join(f"{p} {phases[p]['status']}" for p in bad)
        self.summary["finished"] = iso_time()
        self.write_summary()
        self.log(f"done in {now() - self.start:.0f} s: {self.summary['status']}; "
                 f"results in {self.out}")
        # the headline on stdout too, for a caller that sees only the output
        head = (self.out / "summary.md").read_text(encoding="utf-8").split("\n## Failing")[0]
        print(head, flush=True)
        self.log.file.close()
        cap_file(self.out / "gpu_check.log")
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.summary["status"] == "not run":
            return EXIT_NOT_RUN
        return EXIT_OK if self.summary["status"] == "complete" else EXIT_FAILED


def summarise_tests(events, hung, log_path):
    outcomes = {}
    durations = {}
    for r in events:
        if r.get("event") == "end":
            outcomes[r["nodeid"]] = r.get("outcome")
            durations[r["nodeid"]] = r.get("duration")
    counts = {k: sum(1 for v in outcomes.values() if v == k)
              for k in ("passed", "failed", "error", "skipped")}
    slowest = sorted(((d or 0, n) for n, d in durations.items()), reverse=True)[:5]
    last_line = ""
    try:
        for line in Path(log_path).read_text(errors="replace").splitlines():
            if (" passed" in line or " failed" in line or " error" in line) and " in " in line:
                last_line = line.strip("= ").strip()
    except FileNotFoundError:
        pass
    return {**counts, "hung": list(hung), "ran": len(outcomes),
            "failed_ids": sorted(n for n, v in outcomes.items() if v in ("failed", "error")),
            "slowest": [{"nodeid": n, "s": d} for d, n in slowest],
            "pytest_last_line": last_line}


def summarise_train(rows):
    steps = [r for r in rows if r.get("event") == "step"]
    evals = [r for r in rows if r.get("event") == "eval"]
    end = next((r for r in rows if r.get("event") == "end"), {})
    begin = next((r for r in rows if r.get("event") == "start"), {})
    times = [r["s"] for r in steps[5:]] or [r["s"] for r in steps]
    return {
        "steps": len(steps),
        "planned_steps": begin.get("config", {}).get("steps"),
        "params": begin.get("params"),
        "config": begin.get("config"),
        "ms_per_step": statistics.median(times) * 1e3 if times else None,
        "loss_first": steps[0]["loss"] if steps else None,
        "loss_last_10": statistics.fmean(r["loss"] for r in steps[-10:]) if steps else None,
        "val_before": evals[0].get("val") if evals else None,
        "val_after": evals[-1].get("val") if len(evals) > 1 else None,
        "train_after": evals[-1].get("train") if len(evals) > 1 else None,
        "stopped": end.get("stopped"),
        "seconds": end.get("seconds"),
        "peak_gpu_mem_mb": end.get("peak_gpu_mem_mb"),
        "finished": bool(end),
    }


def summarise_compare(rows):
    by_device = {r["device"]: r for r in rows if "device" in r}
    gpu, cpu = by_device.get("cuda"), by_device.get("cpu")
    out = {"cuda_losses": gpu and gpu["losses"], "cpu_losses": cpu and cpu["losses"],
           "seconds": {d: r.get("seconds") for d, r in by_device.items()}}
    if gpu and cpu:
        diffs = [abs(a - b) for a, b in zip(gpu["losses"], cpu["losses"])]
        out["abs_diff"] = diffs
        out["first_abs_diff"] = diffs[0] if diffs else None
        # float32 on both, other summation orders: the first loss to ~1e-5, later ones drift
        out["agree"] = bool(diffs) and diffs[0] < 1e-3 and max(diffs) < 2e-2
    return out


# ---------------------------------------------------------------------------------- files
def write_summary(out, s, train_rows=(), compare_rows=()):
    """summary.json, summary.md, bench.md, bench.jsonl, train.jsonl and loss.svg from the
    results dict ``s`` (see Check.summary); each file written whole, so that a reader never
    sees half of one."""
    out = Path(out)
    _write(out / "summary.json", json.dumps(s, indent=2, default=str) + "\n")
    _write(out / "summary.md", summary_markdown(s))
    if s["status"] == "not run":
        return  # nothing ran: no empty result files
    bench_rows = [dict(r, rehearsal=s["rehearsal"]) for r in s["train_step"] + s["ops"]]
    _write(out / "bench.jsonl", "".join(json.dumps(r, default=str) + "\n" for r in bench_rows))
    _write(out / "bench.md", bench_markdown(s))
    lines = [json.dumps({"run": "train", "rehearsal": s["rehearsal"], **r}) for r in train_rows]
    lines += [json.dumps({"run": "compare", "rehearsal": s["rehearsal"], **r})
              for r in compare_rows]
    _write(out / "train.jsonl", "".join(line + "\n" for line in lines))
    steps = [r for r in train_rows if r.get("event") == "step"]
    _write(out / "loss.svg", loss_svg(steps, s))


def _write(path, text):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def summary_markdown(s):
    m = s.get("machine") or {}
    t = s.get("tests") or {}
    lines = []
    if s.get("rehearsal"):
        lines += [f"> **{REHEARSAL}.** Times and memory below are the CPU's; nothing here was "
                  "measured on a GPU.", ""]
    lines += [f"# GPU check: {s['status']}", "",
              f"- started {s['started']}, {s.get('elapsed_s', 0):.0f} s in all "
              f"(budget {s['budget_s']:.0f} s, size {s['size']}): `{s['command']}`"]
    if s.get("reason"):
        lines.append(f"- **not run: {s['reason']}**")
    if m.get("gpu") or m.get("cupy"):
        lines.append(f"- GPU: {m.get('gpu', '–')} ({m.get('gpu_memory_mb', '–')} MiB, compute "
                     f"capability {m.get('compute_capability', '–')}); driver "
                     f"{m.get('driver_version', '–')} (nvidia-smi: "
                     f"{m.get('nvidia_smi', '–')}); CUDA driver "
                     f"{m.get('cuda_driver_version', '–')}, runtime "
                     f"{m.get('cuda_runtime_version', '–')}")
        lines.append(f"- CuPy {m.get('cupy', '–')}, NumPy {m.get('numpy', '–')}, Python "
                     f"{m.get('python', '–')}, PyTorch {m.get('torch', '–')} (CUDA "
                     f"{m.get('torch_cuda_version', '–')}, GPU: {m.get('torch_cuda', '–')}); "
                     f"bfloat16 in minigrad: {m.get('bfloat16', '–')}")
        lines.append(f"- first kernels: {'ok' if m.get('first_kernels_ok') else 'FAILED'} "
                     f"({m.get('first_kernels_detail') or m.get('errors', {}).get('first_kernels')}"
                     f"; {m.get('first_kernels_s', '–')} s with compilation)")
    for note in s.get("fallbacks") or []:
        lines.append(f"- fallback: {note}")
    if t:
        lines.append(f"- **cuda tests: {t.get('passed', 0)} passed, {t.get('failed', 0)} "
                     f"failed, {t.get('error', 0)} errors, {t.get('skipped', 0)} skipped** "
                     f"({t.get('ran', 0)} ran; pytest: {t.get('pytest_last_line') or '–'})"
                     + (f"; hung: {', '.join(t['hung'])}" if t.get("hung") else ""))
    for row in s.get("train_step") or []:
        if "config" not in row:
            continue
        lines.append(f"- train step {row['config']} ({_amp(row)}): minigrad "
                     f"{_num(row.get('minigrad_ms'))} ms, torch eager "
                     f"{_num(row.get('torch_ms'))} ms (ratio {_num(row.get('ratio'))}), torch "
                     f"sdpa {_num(row.get('torch_sdpa_ms'))} ms (ratio "
                     f"{_num(row.get('ratio_sdpa'))}); peak GPU MB minigrad "
                     f"{_num(row.get('minigrad_peak_gpu_mem_mb'))} / torch "
                     f"{_num(row.get('torch_peak_gpu_mem_mb'))}"
                     + (f" ({row['torch_note']})" if row.get("torch_note") else "")
                     + (f"; errors: {row['errors']}" if row.get("errors") else ""))
    tr = s.get("train")
    if tr:
        lines.append(f"- training nanogpt-char on the GPU: {tr['steps']} of "
                     f"{tr.get('planned_steps')} steps in {_num(tr.get('seconds'))} s "
                     f"({_num(tr.get('ms_per_step'))} ms/step), loss "
                     f"{_num(tr.get('loss_first'), 4)} -> {_num(tr.get('loss_last_10'), 4)} "
                     f"(mean of the last 10), val "
                     f"{_num(tr.get('val_before'), 4)} -> {_num(tr.get('val_after'), 4)}; peak "
                     f"GPU pool {_num(tr.get('peak_gpu_mem_mb'))} MB"
                     + (f"; stopped: {tr['stopped']}" if tr.get("stopped") else ""))
    cmp_ = s.get("compare")
    if cmp_:
        lines.append(f"- GPU vs CPU, first losses (dropout off): cuda "
                     f"{_list(cmp_.get('cuda_losses'))}, cpu {_list(cmp_.get('cpu_losses'))}; "
                     f"|diff| {_list(cmp_.get('abs_diff'), 2)}: "
                     + ("agree" if cmp_.get("agree") else "DO NOT AGREE"
                        if cmp_.get("abs_diff") else "incomplete"))
    if s.get("peak_gpu_mem_mb") is not None:
        lines.append(f"- peak GPU memory seen: {_num(s['peak_gpu_mem_mb'])} MB")
    lines += ["", "## Phases", "", "| phase | status | seconds | budget | note |",
              "|---|---|---|---|---|"]
    for name, p in s.get("phases", {}).items():
        note = str(p.get("note") or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {name} | {p['status']} | {p['seconds']} | {p['budget_s']} | {note} |")
    if t.get("failed_ids") or t.get("hung"):
        lines += ["", "## Failing tests (details in pytest.log)", ""]
        failed = t.get("failed_ids", [])
        lines += [f"- `{n}`" for n in failed[:60]]
        if len(failed) > 60:
            lines.append(f"- ... and {len(failed) - 60} more (all in summary.json)")
        lines += [f"- `{n}` (hung: the run was stopped in it)" for n in t.get("hung", [])]
    if t.get("slowest"):
        lines += ["", "Slowest tests: " + ", ".join(f"`{r['nodeid'].split('::')[-1]}` "
                                                     f"{_num(r['s'])} s" for r in t["slowest"])]
    lines += ["", "Files: summary.md, summary.json, pytest.log, bench.md, bench.jsonl, "
              "train.jsonl, loss.svg, gpu_check.log.", ""]
    return "\n".join(lines)


def _amp(row):
    return {"off": "float32", None: "float32"}.get(row.get("amp"), f"autocast {row.get('amp')}")


def _list(values, digits=5):
    if not values:
        return "–"
    return "[" + ", ".join(f"{v:.{digits}g}" if isinstance(v, float) else str(v)
                           for v in values) + "]"


def bench_markdown(s):
    from benchmarks.harness import markdown_table
    lines = []
    if s.get("rehearsal"):
        lines += [f"> **{REHEARSAL}.** PyTorch ran on the CPU; no figure here is a GPU's.", ""]
    rows = [r for r in s.get("train_step") or [] if "config" in r]
    lines += ["# Training step on the GPU: minigrad (CuPy) vs PyTorch eager", ""]
    if rows:
        lines.append(rows[0].get("machine", ""))
        lines += ["", markdown_table(rows, [
            ("config", "config"), ("precision", _amp), ("minigrad ms", "minigrad_ms"),
            ("torch ms", "torch_ms"), ("ratio", "ratio"), ("torch sdpa ms", "torch_sdpa_ms"),
            ("ratio vs sdpa", "ratio_sdpa"), ("minigrad GPU MB", "minigrad_peak_gpu_mem_mb"),
            ("torch GPU MB", "torch_peak_gpu_mem_mb"), ("minigrad GFLOP/s", "gflops"),
            ("matmul peak GFLOP/s", "peak_gflops"), ("minigrad loss", "minigrad_loss_first"),
            ("torch loss", "torch_loss_first")])]
        errors = [f"- {r['config']} {_amp(r)}: {side}: {err}" for r in rows
                  for side, err in (r.get("errors") or {}).items()]
        lines += [""] + errors
    else:
        lines.append("(no rows)")
    notes = [r for r in s.get("train_step") or [] if "config" not in r]
    lines += [f"- {next(iter(r.values()))}" for r in notes]
    ops = [r for r in s.get("ops") or [] if "op" in r]
    lines += ["", "# Ops on the GPU", ""]
    if ops:
        lines.append(markdown_table(ops, [
            ("op", "op"), ("size", lambda r: "x".join(map(str, r["size"]))), ("mode", "mode"),
            ("minigrad µs", "minigrad_us"), ("torch µs", "torch_us"), ("ratio", "ratio"),
            ("minigrad GFLOP/s", "minigrad_gflops"), ("torch GFLOP/s", "torch_gflops")]))
    else:
        lines.append("(no rows)")
    return "\n".join(lines) + "\n"


def loss_svg(steps, s, width=720, height=400):
    """The training loss against step as a small SVG (no matplotlib on the GPU machine):
    each step's loss, and its running mean over 20 steps."""
    title = "nanogpt-char on the GPU: training loss"
    if s.get("rehearsal"):
        title = "REHEARSAL (CuPy stand-in on the CPU): " + title
    pad_l, pad_r, pad_t, pad_b = 60, 20, 40, 45
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" '
            f'fill="white"/>\n<text x="{width / 2}" y="22" text-anchor="middle" '
            f'font-size="14">{_xml(title)}</text>\n')
    xs = [r["step"] for r in steps if isinstance(r.get("loss"), (int, float))
          and math.isfinite(r["loss"])]
    ys = [r["loss"] for r in steps if isinstance(r.get("loss"), (int, float))
          and math.isfinite(r["loss"])]
    if len(xs) < 2:
        return head + (f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no '
                       f'training steps recorded</text>\n</svg>\n')
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def px(x):
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def py(y):
        return height - pad_b - (y - y0) / (y1 - y0) * (height - pad_t - pad_b)

    body = []
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        body.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{py(y):.1f}" '
                    f'y2="{py(y):.1f}" stroke="#ddd"/><text x="{pad_l - 6}" y="{py(y) + 4:.1f}" '
                    f'text-anchor="end">{y:.2f}</text>')
        x = x0 + (x1 - x0) * i / 4
        body.append(f'<text x="{px(x):.1f}" y="{height - pad_b + 16}" '
                    f'text-anchor="middle">{x:.0f}</text>')
    body.append(f'<text x="{width / 2}" y="{height - 8}" text-anchor="middle">step</text>')
    body.append(f'<text x="14" y="{height / 2}" transform="rotate(-90 14 {height / 2})" '
                f'text-anchor="middle">loss</text>')
    raw = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
    body.append(f'<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="{raw}"/>')
    mean, window = [], []
    for y in ys:
        window = (window + [y])[-20:]
        mean.append(sum(window) / len(window))
    smooth = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, mean))
    body.append(f'<polyline fill="none" stroke="#08519c" stroke-width="2" points="{smooth}"/>')
    body.append(f'<text x="{width - pad_r}" y="{pad_t}" text-anchor="end" fill="#08519c">'
                f'running mean of 20 steps; last {mean[-1]:.3f}</text>')
    return head + "\n".join(body) + "\n</svg>\n"


def _xml(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None,
                        help="output folder (default: $OUT when set, else runs/gpu-check)")
    parser.add_argument("--budget", type=float, default=450.0,
                        help="seconds for the whole check (default 450: under 8 minutes)")
    parser.add_argument("--quick", action="store_true",
                        help="small phases: the fast tests, small models, few steps")
    parser.add_argument("--standin", action="store_true",
                        help="rehearsal without a GPU: the NumPy stand-in for CuPy, PyTorch "
                             "on the CPU; every output says REHEARSAL")
    parser.add_argument("--only", default=None, type=lambda v: [p for p in v.split(",") if p],
                        help=f"comma-separated phases after the preflight "
                             f"({', '.join(PHASES[1:])}); default all")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_phase":
        return run_phase(argv[1:])
    args = build_parser().parse_args(argv)
    if args.only:
        unknown = sorted(set(args.only) - set(PHASES[1:]))
        if unknown:
            raise SystemExit(f"gpu-check: unknown phase(s) {', '.join(unknown)}; choose from "
                             f"{', '.join(PHASES[1:])}")
    check = Check(args)

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        return check.run()
    except KeyboardInterrupt:
        for proc in list(_CHILDREN):
            _end_group(proc)
        check.summary["status"] = "interrupted"
        check.finish()
        print("gpu-check: interrupted; partial results written", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
