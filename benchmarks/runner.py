"""What every benchmark subcommand shares: the run's environment (devices, the PyTorch peer,
matmul peaks, the machine), running a worker subprocess, and writing the table and JSON lines."""
import json
import os
import statistics
import sys
from pathlib import Path

from benchmarks.harness import (BenchmarkError, cpu_model, markdown_table, measure_matmul_peak,
                                run_subprocess_json, worker_argv, write_jsonl)

MG_WORKER = "benchmarks.minigrad_worker"
TORCH_WORKER = "benchmarks.torch_worker"
TORCH_MISSING = "torch not installed"
DEFAULT_OUT = Path("runs") / "bench"


def log(args, message):
    """Progress on stderr (stdout carries the table or the JSON lines)."""
    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr, flush=True)


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio_of(a, b):
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
        if self.torch_device(device) == "cuda" and not self.torch_info.get("cuda"):
            return False, "torch has no CUDA here"
        return True, None

    def torch_device(self, device):
        """The device of PyTorch's side: `device`, or the CPU under --torch-on-cpu."""
        return "cpu" if getattr(self.args, "torch_on_cpu", False) else device

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


def run_worker(env, argv, timeout):
    """Rows of one worker run, or (None, error text)."""
    try:
        return run_subprocess_json(argv, timeout=timeout, env=env.env()), None
    except BenchmarkError as exc:
        return None, str(exc).splitlines()[0]


def emit_rows(args, rows, columns, name, notes=()):
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


def torch_cell(row, key):
    if row.get(key) is not None:
        return row[key]
    return row.get("torch_note") or (row.get("errors") or {}).get("torch") or "–"


def load_pyplot(args):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(args, "matplotlib is not installed: no plots (pip install matplotlib)")
        return None
    return plt
