"""`python -m benchmarks serve` runs its clients against a real server and reports what it
promises (a short run on a tiny model: this checks the command, not the speed)."""
import json
import subprocess
import sys

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

from benchmarks.harness import REPO  # noqa: E402
from serve_helpers import CHAR_FLAGS, CHAR_TEXT, train_run  # noqa: E402

KEYS = ("requests", "requests_per_s", "ttft_p50_ms", "ttft_p99_ms", "tokens_per_s", "errors",
        "clients", "seconds", "machine")


def test_serve_benchmark_reports_its_figures(tmp_path):
    run = train_run(tmp_path, CHAR_TEXT, CHAR_FLAGS)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "serve", "--clients", "2", "--seconds", "1.5",
         "--max-tokens", "8", "--checkpoint", str(run), "--json", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(key in result for key in KEYS)
    assert result["errors"] == 0 and result["requests"] >= 2
    assert result["tokens_per_s"] > 0 and result["ttft_p50_ms"] <= result["ttft_p99_ms"]
    assert "| requests |" in (tmp_path / "serve.md").read_text()
