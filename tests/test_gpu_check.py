"""benchmarks/gpu_check/ without a GPU: it refuses to start, loudly and early, where CuPy or
the GPU is missing; its summary writer; the per-test timeout it relies on."""
import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks.gpu_check import common, report
from benchmarks.gpu_check.__main__ import build_parser
from benchmarks.gpu_check import check as check_module
from benchmarks.gpu_check.check import Check

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def run_check(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out",
                           str(tmp_path / "out"), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=env)


def test_without_cupy_it_stops_at_once_with_one_clear_line(tmp_path):
    blocker = tmp_path / "blocker" / "cupy"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no CuPy in this test')\n")
    env = dict(os.environ, PYTHONPATH=str(blocker.parent))  # even where CuPy is installed
    env.pop("MINIGRAD_CUPY_STANDIN", None)
    start = time.monotonic()
    proc = run_check(tmp_path, env=env)
    assert time.monotonic() - start < 60
    assert proc.returncode == common.EXIT_NOT_RUN, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("gpu-check: FAILED before starting: CuPy is not available"), last
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["gpu_check.log", "summary.json",
                                                     "summary.md"]  # nothing half-run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "not run" and "CuPy" in summary["reason"]
    assert "not run" in (out / "summary.md").read_text()


def test_without_a_gpu_it_stops_at_once(tmp_path):
    env = dict(os.environ, MINIGRAD_STANDIN_GPUS="0")
    proc = run_check(tmp_path, "--standin", env=env)
    assert proc.returncode == common.EXIT_NOT_RUN, proc.stderr
    assert "FAILED before starting: no NVIDIA GPU" in proc.stderr.strip().splitlines()[-1]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rehearsal"] and summary["status"] == "not run"


def fake_results(rehearsal=True):
    steps = [{"event": "step", "step": i, "loss": 4.2 - 0.004 * i, "s": 0.05, "lr": 1e-3}
             for i in range(1, 201)]
    train_rows = ([{"event": "start", "params": 10_000, "config": {"steps": 500}},
                   {"event": "eval", "step": 0, "train": 4.2, "val": 4.21}] + steps
                  + [{"event": "eval", "step": 200, "train": 3.4, "val": 3.45},
                     {"event": "end", "steps": 200, "stopped": "time budget", "seconds": 12.0,
                      "peak_gpu_mem_mb": 900.0}])
    compare_rows = [{"device": "cuda", "losses": [4.1752, 4.0101, 3.9], "seconds": 3.0},
                    {"device": "cpu", "losses": [4.17521, 4.0102, 3.9004], "seconds": 9.0}]
    events = [{"event": "start", "nodeid": n} for n in "abcd"]
    events += [{"event": "end", "nodeid": n, "outcome": o, "duration": d}
               for n, o, d in (("a", "passed", 1.0), ("b", "passed", 3.0),
                               ("c", "failed", 2.0), ("d", "passed", 0.1))]
    summary = {
        "rehearsal": rehearsal, "note": None, "status": "complete with problems: tests failed",
        "started": "2026-12-01T00:00:00", "command": "python3 -m benchmarks.gpu_check",
        "size": "full", "budget_s": 450, "elapsed_s": 300.0,
        "machine": {"gpu": "NVIDIA H200", "driver_version": "580.1", "cupy": "14.0.0",
                    "first_kernels_ok": True, "bfloat16": False},
        "phases": {"preflight": {"status": "ok", "seconds": 12.0, "budget_s": 60},
                   "tests": {"status": "failed", "seconds": 80.0, "budget_s": 140,
                             "note": "1 failed, 0 errors"}},
        "tests": report.summarise_tests(events, [], TESTS / "nonexistent.log"),
        "train_step": [{"config": "nanogpt-char", "amp": "off", "minigrad_ms": 120.0,
                        "torch_ms": 100.0, "ratio": 1.2, "torch_sdpa_ms": 80.0,
                        "ratio_sdpa": 1.5, "minigrad_peak_gpu_mem_mb": 4000.0,
                        "torch_peak_gpu_mem_mb": 3000.0},
                       {"note": "bfloat16 not run"}],
        "ops": [{"op": "gelu", "size": [2048, 512], "mode": "fwd", "minigrad_us": 10.0,
                 "torch_us": 8.0, "ratio": 1.25}],
        "train": report.summarise_train(train_rows),
        "compare": report.summarise_compare(compare_rows),
        "fallbacks": [],
        "peak_gpu_mem_mb": 4000.0,
    }
    return summary, train_rows, compare_rows


def test_summary_writer(tmp_path):
    summary, train_rows, compare_rows = fake_results()
    assert summary["tests"]["passed"] == 3 and summary["tests"]["failed_ids"] == ["c"]
    assert summary["train"]["steps"] == 200 and summary["train"]["val_after"] == 3.45
    assert summary["compare"]["agree"] and summary["compare"]["first_abs_diff"] < 1e-4
    report.write_summary(tmp_path, summary, train_rows, compare_rows)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) <= 8 and set(names) <= set(common.OUTPUT_FILES)
    md = (tmp_path / "summary.md").read_text()
    assert md.startswith("> **REHEARSAL")
    assert "cuda tests: 3 passed, 1 failed, 0 errors, 0 skipped" in md
    assert "minigrad 120 ms, torch eager 100 ms (ratio 1.2)" in md
    assert "| tests | failed | 80.0 | 140 | 1 failed, 0 errors |" in md
    assert "GPU: NVIDIA H200" in md and "agree" in md
    assert json.loads((tmp_path / "summary.json").read_text())["train"]["steps"] == 200
    lines = (tmp_path / "train.jsonl").read_text().splitlines()
    assert len(lines) == len(train_rows) + len(compare_rows)
    assert all(json.loads(line)["rehearsal"] for line in lines)
    bench = (tmp_path / "bench.md").read_text()
    assert "nanogpt-char" in bench and "gelu" in bench and "bfloat16 not run" in bench
    svg = ET.parse(tmp_path / "loss.svg").getroot()
    assert svg.tag.endswith("svg") and len(svg.findall("{*}polyline")) == 2
    summary, _, _ = fake_results(rehearsal=False)
    report.write_summary(tmp_path, summary)
    assert "REHEARSAL" not in (tmp_path / "summary.md").read_text()


def test_compare_flags_losses_that_disagree():
    rows = [{"device": "cuda", "losses": [4.2, 4.1]}, {"device": "cpu", "losses": [4.3, 4.1]}]
    assert not report.summarise_compare(rows)["agree"]
    assert report.summarise_compare(rows[:1])["cpu_losses"] is None


def test_per_test_timeout_fails_the_test_and_goes_on(tmp_path):
    (tmp_path / "test_slow.py").write_text(textwrap.dedent("""
        import signal, time

        def test_sleeps():
            time.sleep(60)

        def test_quick():
            assert True

        def test_stuck_where_no_signal_reaches():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
    """))
    progress = tmp_path / "progress.jsonl"
    env = dict(os.environ, PYTHONPATH=str(TESTS), MINIGRAD_TEST_HARD_GRACE="2")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "per_test_timeout",
                           "-p", "no:cacheprovider", "--per-test-timeout", "1",
                           "--progress-file", str(progress), str(tmp_path / "test_slow.py")],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
    assert time.monotonic() - start < 30
    events = common.read_jsonl(progress)
    ends = {r["nodeid"].split("::")[-1]: r["outcome"] for r in events if r["event"] == "end"}
    assert ends == {"test_sleeps": "failed", "test_quick": "passed"}, proc.stdout
    # the last test blocked the alarm: faulthandler ended the process, stack in the file
    assert proc.returncode == 1
    assert events[-1] == {**events[-1], "event": "start"}
    assert events[-1]["nodeid"].endswith("test_stuck_where_no_signal_reaches")
    assert "test_stuck_where_no_signal_reaches" in progress.read_text()  # the stack dump


def test_a_hung_test_is_recorded_and_the_run_goes_on_after_it(tmp_path, monkeypatch):
    """The tests phase: a pytest run that the hard timeout ended inside test b is started
    again without a and b; the summary counts every test once and names b as hung."""
    args = build_parser().parse_args(["--out", str(tmp_path / "out"), "--standin"])
    check = Check(args)
    calls = []

    def fake_run(argv, timeout, env, stdout, stderr=None):
        calls.append(argv)
        progress = Path(argv[argv.index("--progress-file") + 1])
        deselected = {argv[i + 1] for i, a in enumerate(argv) if a == "--deselect"}
        with open(progress, "a") as f:
            for nodeid in [n for n in ("a", "b", "c") if n not in deselected]:
                f.write(json.dumps({"event": "start", "nodeid": nodeid}) + "\n")
                if nodeid == "b":
                    f.write("Thread 0x0001 (most recent call first):\n")  # the stack dump
                    return 1, 1.0
                f.write(json.dumps({"event": "end", "nodeid": nodeid, "outcome": "passed",
                                    "duration": 0.1}) + "\n")
        return 0, 1.0

    monkeypatch.setattr(check_module, "run_limited", fake_run)
    check.run_tests(budget=100)
    tests = check.summary["tests"]
    assert len(calls) == 2 and tests["attempts"] == 2
    assert [calls[1][i + 1] for i, a in enumerate(calls[1]) if a == "--deselect"] == ["a", "b"]
    assert tests["hung"] == ["b"] and tests["passed"] == 2 and tests["ran"] == 2
    assert check.summary["phases"]["tests"]["status"] == "failed"
    assert "hung: b" in check.summary["phases"]["tests"]["note"]
