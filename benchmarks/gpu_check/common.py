"""What the parent and the phase subprocesses of the GPU check share: paths, budgets, per-size
settings, the log, running a child with a time limit, and reading its JSON lines."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STANDIN_PATH = REPO / "tests" / "cupy_standin_path"
FALLBACK_PATH = Path(__file__).resolve().parent / "fallbacks"
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


def end_children():
    """Ends every phase subprocess still running (on Ctrl-C or SIGTERM)."""
    for proc in list(_CHILDREN):
        _end_group(proc)


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


def emit(obj):
    print(json.dumps(obj), flush=True)

