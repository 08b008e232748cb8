"""The `minigrad` command end to end on a tiny corpus, and its one-line errors."""
import importlib.util
import sys

import numpy as np
import pytest

import minigrad as mg

from models.cli import main

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me.\n" * 15
MICRO = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--context", "8",
         "--batch-size", "4", "--eval-every", "5", "--eval-batches", "2"]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    return str(path)


@pytest.fixture
def trained(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--corpus", corpus, "--out", str(run), "--steps", "5",
                 "--sample-tokens", "20", *MICRO]) == 0
    return run


def test_train_generate_evaluate(trained, corpus, capsys):
    names = {p.name for p in trained.iterdir()}
    assert names >= {"config.json", "tokenizer.json", "best.npz", "last.npz", "log.jsonl",
                     "samples.txt"}
    capsys.readouterr()

    args = ["generate", "--checkpoint", str(trained), "--prompt", "ROMEO:",
            "--max-new-tokens", "30", "--seed", "3", "--top-k", "5", "--top-p", "0.9",
            "--presence-penalty", "0.1", "--frequency-penalty", "0.1"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) >= len("ROMEO:")
    assert main(args) == 0
    assert capsys.readouterr().out == first                       # same seed, same text
    assert main(args + ["--no-cache"]) == 0
    assert capsys.readouterr().out == first                       # cache changes nothing
    assert main(["generate", "--checkpoint", str(trained / "last.npz"), "--greedy",
                 "--num-samples", "2", "--max-new-tokens", "5", "--stats"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\n---\n") == 1
    assert captured.err.startswith("distinct-1/2/3: ")

    for command in ("evaluate", "eval"):
        assert main([command, "--checkpoint", str(trained), "--split", "val",
                     "--estimate-batches", "2"]) == 0
        out = capsys.readouterr().out
        assert "val (step 5): loss" in out and "perplexity" in out and "bits/char" in out
        assert "estimate" in out
    targets = len(TEXT) - int(len(TEXT) * 0.9) - 1
    assert f"over {targets:,} targets" in out


def test_resume_with_more_steps(trained, capsys):
    assert main(["train", "--out", str(trained), "--resume", "--steps", "7"]) == 0
    assert "step 7" in capsys.readouterr().out


def test_presets_and_plot(trained, capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("tiny", "hw4-bigram", "hw4-bigram-emb", "hw4-single-head", "hw4-multi-head",
                 "hw4-transformer", "gpt-384", "nanogpt-char", "thesis", "thesis-v1",
                 "quijote-mlp", "quijote-rnn", "quijote-lstm", "quijote-transformer", "copy"):
        assert name in out
    assert main(["presets", "thesis"]) == 0
    assert '"vocab_size": 8000' in capsys.readouterr().out
    if importlib.util.find_spec("matplotlib") is None:
        assert main(["plot", "--checkpoint", str(trained)]) == 1
        assert "matplotlib" in capsys.readouterr().err
        return
    assert main(["plot", "--checkpoint", str(trained), "--attention", "ROMEO", "--positions"]) == 0
    for name in ("loss.png", "attention.png", "positions.png"):
        assert (trained / name).is_file()


def test_other_models_and_tokenizers(corpus, tmp_path, capsys):
    run = tmp_path / "lstm"
    assert main(["train", "--preset", "quijote-lstm", "--corpus", corpus, "--out", str(run),
                 "--steps", "3", "--batch-size", "4", "--eval-every", "3",
                 "--eval-batches", "1", "--sample-tokens", "5"]) == 0
    assert main(["generate", "--checkpoint", str(run), "--prompt", "ROMEO", "--seed", "1",
                 "--max-new-tokens", "5"]) == 0
    run = tmp_path / "bpe"
    assert main(["train", "--tokenizer", "bpe", "--vocab-size", "280", "--corpus", corpus,
                 "--out", str(run), "--steps", "2", "--final-eval", "--sample-tokens", "0",
                 *MICRO]) == 0
    assert main(["evaluate", "--checkpoint", str(run)]) == 0
    assert "bits/byte" in capsys.readouterr().out


def test_corpus_directory_with_a_test_split(tmp_path, capsys):
    splits = tmp_path / "corpus"
    splits.mkdir()
    for name, repeat in (("train.txt", 12), ("valid.txt", 3), ("test.txt", 2)):
        (splits / name).write_text(TEXT[:200] * repeat)
    run = tmp_path / "run"
    assert main(["train", "--data", str(splits), "--out", str(run), "--steps", "2",
                 "--sample-tokens", "0", "--no-final-eval", *MICRO]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--split", "test"]) == 0
    assert f"over {len(TEXT[:200]) * 2 - 1:,} targets" in capsys.readouterr().out


def test_help_documents_every_setting(capsys):
    import dataclasses

    from models.config import Config
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for f in dataclasses.fields(Config):
        if f.metadata.get("cli", True):
            assert f"--{f.name.replace('_', '-')}" in out, f.name


def test_bench_runs_the_benchmarks_module(monkeypatch):
    import subprocess
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda argv: calls.append(argv) or 0)
    assert main(["bench", "overhead", "--json"]) == 0
    assert calls == [[sys.executable, "-m", "benchmarks", "overhead", "--json"]]


def test_bench_without_benchmarks(monkeypatch, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "benchmarks" else real(name, *a))
    assert main(["bench"]) == 2
    assert "benchmarks" in capsys.readouterr().err


# ---------------------------------------------------------------- errors: one line, status 2

def error_of(argv, capsys):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minigrad: error: "), err
    return lines[0]


def test_errors(corpus, trained, tmp_path, capsys):
    out = str(tmp_path / "x")
    assert "no-such.txt" in error_of(["train", "--corpus", str(tmp_path / "no-such.txt"),
                                      "--out", out], capsys)
    assert "unknown preset 'huge'" in error_of(["train", "--preset", "huge", "--out", out], capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in error_of(["train", "--corpus", str(empty), "--out", out, *MICRO], capsys)
    short = tmp_path / "short.txt"
    short.write_text("abcdefghijklmnopqrstuvwxyz")
    assert "too few" in error_of(["train", "--corpus", str(short), "--out", out, "--context", "64"],
                                 capsys)
    assert "already holds a run" in error_of(["train", "--corpus", corpus, "--out", str(trained),
                                              *MICRO], capsys)
    assert "nothing to resume" in error_of(["train", "--out", str(tmp_path / "new"), "--resume"],
                                           capsys)
    assert "--bogus" in error_of(["train", "--bogus"], capsys)
    assert "--model: must be one of" in error_of(["train", "--model", "gpt5", "--out", out],
                                                 capsys)
    if not mg.cuda.is_available():
        assert "cuda" in error_of(["train", "--data", corpus, "--device", "cuda", "--out", out],
                                  capsys)
    assert "--steps: must be an integer >= 1, got 'many'" in error_of(
        ["train", "--steps", "many"], capsys)

    assert "no checkpoint" in error_of(["generate", "--checkpoint", str(tmp_path)], capsys)
    assert "no such checkpoint" in error_of(["generate", "--checkpoint", str(tmp_path / "nope")],
                                            capsys)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.zeros(3))
    assert "not a minigrad checkpoint" in error_of(["generate", "--checkpoint", str(foreign)],
                                                   capsys)
    assert "'@'" in error_of(["generate", "--checkpoint", str(trained), "--prompt", "R@MEO"],
                             capsys)
    assert "no test split" in error_of(["evaluate", "--checkpoint", str(trained), "--split",
                                        "test"], capsys)
    assert "--top-p: must be a finite number in (0, 1]" in error_of(
        ["generate", "--checkpoint", str(trained), "--top-p", "2"], capsys)
