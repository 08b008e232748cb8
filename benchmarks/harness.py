"""Timing and reporting helpers shared by the benchmarks. Pure Python at import time: no torch,
no numpy (each backend is timed in a process of its own; NumPy's and PyTorch's thread pools
slow each other down when they share one).

    median_time(fn, repeats, warmup, sync=None, number=1) -> (median_s, samples_s)
    run_subprocess_json(argv, timeout=600.0, cwd=REPO, env=None) -> list[dict]
    worker_argv(module, *args) -> [sys.executable, "-m", module, *args]
    peak_memory_mb(children=False) -> float
    measure_matmul_peak(xp_name="numpy", sizes=(1024, 2048), repeats=5, timeout=300.0) -> dict
    markdown_table(rows, columns) -> str
    write_jsonl(rows, path, append=False) -> Path

The matmul ceiling also runs from the command line, printing one JSON line:

    python -m benchmarks.harness matmul-peak [--xp numpy|cupy|torch] [--sizes 1024,2048]
                                             [--repeats 5]
"""

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

__all__ = [
    "BenchmarkError",
    "REPO",
    "median_time",
    "run_subprocess_json",
    "worker_argv",
    "peak_memory_mb",
    "measure_matmul_peak",
    "markdown_table",
    "write_jsonl",
]


class BenchmarkError(RuntimeError):
    """A benchmark subprocess failed. Carries what it left behind for the caller to show.

    Attributes: argv, returncode (None on timeout), rows (JSON objects parsed so far),
    stderr (its tail).
    """

    def __init__(self, message, argv=None, returncode=None, rows=(), stderr=""):
        super().__init__(message)
        self.argv = list(argv or [])
        self.returncode = returncode
        self.rows = list(rows)
        self.stderr = stderr


# ---------------------------------------------------------------------------------- timing
def median_time(fn, repeats, warmup, sync=None, number=1):
    """Time `fn()`: `warmup` untimed calls, then `repeats` samples.

    Each sample times `number` consecutive calls and is divided by `number` (use number > 1
    for calls of a few microseconds, where the clock's own cost would show). `sync`, when
    given, is called before the clock starts and before it stops (e.g. a GPU synchronise), so
    that asynchronous work is charged to the sample that launched it.

    Returns (median seconds per call, list of per-call seconds of every sample).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0 or number < 1:
        raise ValueError(f"need warmup >= 0 and number >= 1, got {warmup}, {number}")
    for _ in range(warmup):
        fn()
    if sync is not None:
        sync()
    samples = []
    clock = time.perf_counter
    for _ in range(repeats):
        if sync is not None:
            sync()
        start = clock()
        for _ in range(number):
            fn()
        if sync is not None:
            sync()
        samples.append((clock() - start) / number)
    return statistics.median(samples), samples


# ---------------------------------------------------------------------------------- subprocesses
def worker_argv(module, *args):
    """The command line that runs `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *[str(a) for a in args]]


def _tail(text, n=2000):
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]


def run_subprocess_json(argv, timeout=600.0, cwd=None, env=None):
    """Run `argv` (e.g. `worker_argv("benchmarks.torch_worker", "train-step", ...)`) and return
    the JSON objects it printed, one per stdout line, in order.

    Lines that do not start with '{' (progress, warnings) are skipped. cwd defaults to the
    repository root, so that `-m benchmarks.xxx` resolves. Raises BenchmarkError, with the
    command, exit status and the end of stderr in its message, when the command cannot start,
    runs past `timeout` seconds, exits non-zero (a JSON `{"error": ...}` line it printed leads
    the message), prints a line that starts with '{' but is not a JSON object, or prints no
    JSON object at all.
    """
    argv = [str(a) for a in argv]
    shown = " ".join(argv)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              cwd=str(cwd or REPO), env=env)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) \
            else (exc.stderr or "")
        raise BenchmarkError(f"timed out after {timeout:g} s: {shown}\nstderr: {_tail(stderr)}",
                             argv=argv, returncode=None, stderr=_tail(stderr)) from None
    except OSError as exc:
        raise BenchmarkError(f"could not start {shown}: {exc}", argv=argv) from None

    rows, bad = [], []
    for number, line in enumerate(proc.stdout.splitlines(), 1):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            bad.append(f"line {number}: {exc.msg}: {line[:200]!r}")
            continue
        if not isinstance(obj, dict):
            bad.append(f"line {number}: not a JSON object: {line[:200]!r}")
            continue
        rows.append(obj)

    stderr = _tail(proc.stderr)
    if proc.returncode != 0:
        errors = [r["error"] for r in rows if "error" in r]
        lead = f"{errors[0]} " if errors else ""
        raise BenchmarkError(f"{lead}(exit status {proc.returncode}): {shown}\n"
                             f"stderr: {stderr or '(empty)'}",
                             argv=argv, returncode=proc.returncode, rows=rows, stderr=stderr)
    if bad:
        raise BenchmarkError(f"invalid JSON from {shown}:\n" + "\n".join(bad),
                             argv=argv, returncode=proc.returncode, rows=rows, stderr=stderr)
    if not rows:
        raise BenchmarkError(f"no JSON object on stdout of {shown}\n"
                             f"stdout: {_tail(proc.stdout, 500) or '(empty)'}\n"
                             f"stderr: {stderr or '(empty)'}",
                             argv=argv, returncode=proc.returncode, stderr=stderr)
    return rows


# ---------------------------------------------------------------------------------- memory
def peak_memory_mb(children=False):
    """Peak resident set size of this process (or of its waited-for children) in MiB,
    from getrusage's ru_maxrss (KiB on Linux, bytes on macOS)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    maxrss = resource.getrusage(who).ru_maxrss
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return maxrss / scale


# ---------------------------------------------------------------------------------- matmul ceiling
def _matmul_peak_here(xp_name, sizes, repeats):
    """Best-of-`repeats` float32 square matmul GFLOP/s per size, in this process."""
    import importlib
    if xp_name not in ("numpy", "cupy", "torch"):
        raise ValueError(f"unknown array module {xp_name!r} (expected numpy, cupy or torch)")
    xp = importlib.import_module(xp_name)
    version = xp.__version__
    sync = xp.cuda.Stream.null.synchronize if xp_name == "cupy" else None

    def make(n):
        if xp_name == "torch":
            g = xp.Generator().manual_seed(0)
            return xp.randn(n, n, generator=g), xp.randn(n, n, generator=g)
        rng = xp.random.default_rng(0)
        return (rng.standard_normal((n, n), dtype=xp.float32),
                rng.standard_normal((n, n), dtype=xp.float32))

    def matmul(a, b, out):
        xp.matmul(a, b, out=out)

    def empty(n):
        return xp.empty((n, n), dtype=xp.float32)

    by_size = {}
    for n in sizes:
        a, b = make(n)
        out = empty(n)
        _, samples = median_time(lambda: matmul(a, b, out), repeats=repeats, warmup=1,
                                 sync=sync)
        best = min(samples)
        by_size[str(n)] = 2 * n ** 3 / best / 1e9
    return {"xp": xp_name, "version": version, "sizes": list(sizes), "repeats": repeats,
            "gflops_by_size": by_size, "gflops": max(by_size.values())}


def measure_matmul_peak(xp_name="numpy", sizes=(1024, 2048), repeats=5, timeout=300.0):
    """The machine's measured matmul peak: float32 GFLOP/s of `xp_name` ('numpy', 'cupy' or
    'torch') on square matmuls of each size, best of `repeats`, measured in a subprocess of
    its own (no thread pool of another library next to it).

    Returns {"xp", "version", "sizes", "repeats", "gflops_by_size": {"1024": ...},
    "gflops": best over sizes}.
    """
    argv = worker_argv("benchmarks.harness", "matmul-peak", "--xp", xp_name,
                       "--sizes", ",".join(str(n) for n in sizes), "--repeats", repeats)
    rows = run_subprocess_json(argv, timeout=timeout)
    return rows[-1]


# ---------------------------------------------------------------------------------- output
def _format_cell(value):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "nan"
        size = abs(value)
        if size >= 100:
            return f"{value:,.0f}"
        if size >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows, columns):
    """A GitHub markdown table of `rows` (dicts).

    `columns` lists either keys (the key is also the header) or (header, key) pairs, where
    key may be a callable row -> value. Missing values print as '–'; ints with thousands
    separators; floats with 3 significant digits below 10, one decimal below 100, none above.
    """
    specs = []
    for col in columns:
        if isinstance(col, str):
            specs.append((col, col))
        else:
            header, key = col
            specs.append((str(header), key))
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h, _ in specs) + " |",
             "|" + "|".join("---" for _ in specs) + "|"]
    for row in rows:
        cells = [_format_cell(key(row) if callable(key) else row.get(key)) for _, key in specs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_jsonl(rows, path, append=False):
    """Write `rows` (dicts) to `path`, one JSON object per line; creates parent folders.
    Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=False) + "\n")
    return path


# ---------------------------------------------------------------------------------- CLI
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness",
                                     description="Benchmark helpers run as subprocesses.")
    sub = parser.add_subparsers(dest="command", required=True)
    peak = sub.add_parser("matmul-peak", help="float32 square matmul GFLOP/s, one JSON line")
    peak.add_argument("--xp", default="numpy", choices=["numpy", "cupy", "torch"])
    peak.add_argument("--sizes", default="1024,2048", help="comma-separated square sizes")
    peak.add_argument("--repeats", type=int, default=5, help="best of this many calls")
    args = parser.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",") if s]
    try:
        result = _matmul_peak_here(args.xp, sizes, args.repeats)
    except ImportError as exc:
        print(json.dumps({"error": f"{args.xp} not installed: {exc}"}), flush=True)
        return 3
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def cpu_model():
    """The processor's name, as the benchmark tables quote the machine."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
