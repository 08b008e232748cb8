"""`minigrad reproduce`: the quick HW4 run (the CI smoke run, under a minute), the report
it writes, and the pieces the other experiments use."""
import importlib.util
import json

import numpy as np

from models.cli import main
from models.reproduce import copy, seeds
from models.reproduce.runs import read_run


def test_reproduce_hw4_quick_writes_the_report(tmp_path, capsys):
    out, report = tmp_path / "runs", tmp_path / "docs" / "REPRODUCTION.md"
    assert main(["reproduce", "hw4", "--quick", "--out", str(out), "--report", str(report)]) == 0
    text = report.read_text()
    assert "Machine: " in text and "## HW4 (seed 003)" in text
    for name in seeds.HW4:
        assert f"| {name} |" in text
        run = read_run(name, out / name)
        assert run.full is not None and [e["step"] for e in run.evals] == [0, 2]
    assert "| hw4-multi-head | " in text and "2.0736 (step 0)" not in text
    assert "4.1596 (step 0)" in text  # a 2-step run meets HW4 at its step 0 only
    # A second call reads the finished runs instead of training again.
    before = (out / "hw4-bigram" / "last.npz").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["reproduce", "hw4", "--quick", "--out", str(out), "--report", str(report)]) == 0
    assert capsys.readouterr().out.count("using the finished run") == len(seeds.HW4)
    assert (out / "hw4-bigram" / "last.npz").stat().st_mtime_ns == before


def test_thesis_bits_per_char_from_its_numbers():
    # 4.5039 nats per token, 35,327 tokens over about 111,539 characters.
    assert abs(seeds.thesis_bits_per_char(4.5039) - 2.058) < 0.001


def test_copy_sequences_repeat_after_the_separator():
    rows = copy.copy_sequences(np.random.default_rng(0), 5)
    n = copy.LENGTH
    assert rows.shape == (5, 2 * n + 1)
    assert np.array_equal(rows[:, :n], rows[:, n + 1:]) and not rows[:, n].any()
    assert rows[:, :n].min() >= 1 and rows.max() < copy.VOCAB
    x, y = copy._inputs_targets(rows, n)
    scored = y.numpy() != copy.IGNORE
    assert scored.sum(axis=1).tolist() == [n] * 5  # only the repeated half counts


def test_copy_quick_runs_and_is_cached(tmp_path):
    args = ["reproduce", "copy", "--quick", "--out", str(tmp_path)]
    assert main(args) == 0
    saved = json.loads((tmp_path / "copy.json").read_text())
    assert saved["quick"] and saved["real"]["steps"] == 6
    assert "## Seed 001's copy task" in (tmp_path / "REPRODUCTION.md").read_text()
    assert len(saved["real"]["attention"]["weights"]) == 2  # layers, each (heads, T, T)
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "reproduction" / "copy-attention.png").is_file()
    assert main(args + ["--report-only"]) == 0
