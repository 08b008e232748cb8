"""Smoke tests of `python -m benchmarks` and its minigrad side (benchmarks/minigrad_worker.py,
benchmarks/mg_ref.py, benchmarks/configs.py). Micro shapes only: these check that the
commands run and report what they promise, never how fast anything is. Tests that need
PyTorch are marked `torch` and skip without it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import configs, flops, mg_ref
from benchmarks.harness import REPO, BenchmarkError, run_subprocess_json, worker_argv

TRAIN_KEYS = ("config", "backend", "minigrad_ms", "torch_ms", "ratio", "gflops",
              "peak_fraction", "minigrad_tokens_per_s", "torch_tokens_per_s",
              "minigrad_peak_mem_mb", "torch_peak_mem_mb")
WORKER_KEYS = ("config", "backend", "ms_median", "ms_samples", "tokens_per_s", "gflops",
               "peak_mem_mb", "threads")
FAST = ["--rounds", "1", "--quiet", "--device", "cpu"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def bench(*args, timeout=120):
    """Run `python -m benchmarks ARGS` and return (stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# ---------------------------------------------------------------------------------- configs
def test_configs_are_torch_refs():
    src = (REPO / "benchmarks" / "torch_ref.py").read_text()
    assert "from benchmarks.configs import CONFIGS" in src
    assert set(configs.PRESETS) <= set(configs.CONFIGS)
    assert "micro" not in configs.PRESETS


def test_parse_op_spec_round_trip():
    assert configs.parse_op_spec("add_small:32:fwd-nograd") == ("add_small", (32,), "fwd", True)
    assert configs.parse_op_spec("matmul:4,5,6:fwdbwd") == ("matmul", (4, 5, 6), "fwdbwd", False)
    assert configs.parse_op_spec("gelu::fwd")[1] == configs.OP_SIZES["gelu"]
    for bad in ("nope:1:fwd", "matmul:1,2:fwd", "matmul:1,2,3:sideways", "matmul"):
        with pytest.raises(ValueError):
            configs.parse_op_spec(bad)
    spec = configs.format_op_spec("bmm", (2, 3, 4, 5), "fwd", no_grad=True)
    assert configs.parse_op_spec(spec) == ("bmm", (2, 3, 4, 5), "fwd", True)
    for name, sizes in configs.OP_SWEEPS.items():
        assert all(len(s) == len(configs.OP_SIZES[name]) for s in sizes)


def test_parse_overrides_types():
    base = configs.CONFIGS["tiny"]
    got = configs.parse_overrides(["n_layer=2", "bias=true", "dropout=0.1", "gelu=tanh"], base)
    assert got == {"n_layer": 2, "bias": True, "dropout": 0.1, "gelu": "tanh"}
    with pytest.raises(ValueError):
        configs.parse_overrides(["n_layer"], base)


# ---------------------------------------------------------------------------------- mg_ref
@pytest.mark.parametrize("name, overrides", [
    ("micro", {}), ("micro", {"bias": False, "tie_weights": True}),
    ("tiny", {}), ("micro-lstm", {}), ("micro-lstm", {"num_layers": 2}),
])
def test_mg_ref_param_count(name, overrides):
    model, opt, cfg = mg_ref.build(name, impl="ref", **overrides)
    assert model.num_parameters() == mg_ref.expected_param_count(cfg)
    if name == "tiny":
        assert model.num_parameters() == 804_096
        assert model.lm_head.weight is model.wte.weight
    assert cfg["model_impl"] == "mg_ref"


def test_mg_ref_gpt_init():
    model, _, cfg = mg_ref.build("tiny", impl="ref", n_layer=8, n_embd=64)
    resid = model.blocks[0].ff.net[2].weight.numpy()
    assert resid.std() == pytest.approx(0.02 / 4, rel=0.1)
    assert model.blocks[0].attn.in_proj.weight.numpy().std() == pytest.approx(0.02, rel=0.1)
    assert model.wpe.weight.numpy().std() == pytest.approx(0.02, rel=0.1)
    assert model.wte.weight.dtype == np.float32


def test_mg_ref_train_step_lowers_loss():
    model, opt, cfg = mg_ref.build("micro", impl="ref")
    idx, targets = mg_ref.make_batch(cfg)
    assert idx.shape == targets.shape == (cfg["batch_size"], cfg["block_size"])
    losses = [mg_ref.train_step(model, opt, idx, targets) for _ in range(20)]
    assert losses[-1] < losses[0]
    assert losses[0] == pytest.approx(np.log(cfg["vocab_size"]), abs=0.3)


@pytest.mark.parametrize("name", ["micro", "micro-lstm"])
def test_auto_impl_trains(name):
    """'auto' takes the models package's LM only when it computes the reference's function;
    either way a step runs and the choice is recorded."""
    model, opt, cfg = mg_ref.build(name, impl="auto")
    assert cfg["model_impl"] in ("models", "mg_ref")
    assert cfg["model_impl"] == "models" or cfg["model_impl_note"]
    idx, targets = mg_ref.make_batch(cfg)
    losses = [mg_ref.train_step(model, opt, idx, targets) for _ in range(5)]
    assert losses[-1] < losses[0]


def test_same_network_guard():
    cfg = configs.resolve("micro")
    ref = mg_ref.GPT(cfg)
    assert mg_ref._same_network(mg_ref.GPT(cfg), ref, cfg) is None
    other = mg_ref.GPT(dict(cfg, gelu="tanh"))
    assert "logits differ" in mg_ref._same_network(other, ref, cfg)
    wider = mg_ref.GPT(dict(cfg, n_embd=32))
    assert "shapes differ" in mg_ref._same_network(wider, ref, cfg)


def _copy_torch_to_mg(tmodel, mmodel, rename):
    """Copy every torch parameter into the minigrad model under rename(name)."""
    state = {}
    for name, p in tmodel.state_dict().items():
        if "mask" in name:
            continue
        state[rename(name)] = p.detach().double().numpy()
    mmodel.double()
    missing, unexpected = mmodel.load_state_dict(state, strict=False)
    assert not unexpected and not missing, (missing, unexpected)


def _gpt_name(name):
    for a, b in ((".ln_1.", ".ln1."), (".ln_2.", ".ln2."), (".attn.c_attn.", ".attn.in_proj."),
                 (".attn.c_proj.", ".attn.out_proj."), (".mlp.c_fc.", ".ff.net.0."),
                 (".mlp.c_proj.", ".ff.net.2.")):
        name = name.replace(a, b)
    return name


def _lstm_name(name):
    """nn.LSTM's parameters have PyTorch's names (lstm.weight_ih_l0, ...)."""
    return name


@pytest.mark.torch
@pytest.mark.parametrize("name, overrides", [
    ("micro", {}), ("micro", {"bias": False, "tie_weights": True}), ("micro-lstm", {}),
    ("micro-lstm", {"num_layers": 2}),
])
def test_mg_ref_matches_torch_ref(torch, name, overrides):
    """Same architecture: with torch's weights copied in, the loss and every gradient agree."""
    from benchmarks import torch_ref
    tmodel, _, cfg = torch_ref.build(name, **overrides)
    tmodel.double()
    mmodel, _, _ = mg_ref.build(name, impl="ref", **overrides)
    _copy_torch_to_mg(tmodel, mmodel, _gpt_name if cfg["kind"] == "gpt" else _lstm_name)
    idx, targets = torch_ref.make_batch(cfg, torch.Generator().manual_seed(0))
    _, tloss = tmodel(idx, targets)
    tloss.backward()
    import minigrad as mg
    _, mloss = mmodel(mg.tensor(idx.numpy()), mg.tensor(targets.numpy()))
    mloss.backward()
    assert mloss.item() == pytest.approx(tloss.item(), rel=1e-9)
    rename = _gpt_name if cfg["kind"] == "gpt" else _lstm_name
    mparams = dict(mmodel.named_parameters())
    for tname, p in tmodel.named_parameters():
        np.testing.assert_allclose(mparams[rename(tname)].grad.numpy(), p.grad.numpy(),
                                   rtol=1e-7, atol=1e-10, err_msg=tname)


# ---------------------------------------------------------------------------------- workers
def test_minigrad_worker_train_step_micro():
    args = ["train-step", "--config", "micro,micro-lstm", "--steps", "2", "--warmup", "1",
            "--threads", "1"]
    rows = run_subprocess_json(worker_argv("benchmarks.minigrad_worker", *args), timeout=120)
    assert [r["config"] for r in rows] == ["micro", "micro-lstm"]
    for row in rows:
        for key in WORKER_KEYS:
            assert key in row
        assert row["backend"] == "minigrad" and row["xp"] == "numpy"
        assert len(row["ms_samples"]) == 2 and row["ms_median"] > 0
        assert row["params"] == mg_ref.expected_param_count(configs.resolve(row["config"]))
        assert row["model_impl"] in ("models", "mg_ref")
    assert rows[0]["flops_per_step"] == flops.train_step_flops(configs.CONFIGS["micro"])


def test_minigrad_worker_ops_and_errors():
    specs = [f"{name}:{','.join('2' for _ in size)}:{mode}"
             for name, size in configs.OP_SIZES.items() for mode in ("fwd", "fwdbwd")]
    specs = [s.replace("embedding:2,2,2", "embedding:5,2,3") for s in specs]
    argv = ["op-batch", "--repeats", "2", "--warmup", "1", "--number", "1"]
    for spec in specs + ["add_small:32:fwd-nograd"]:
        argv += ["--spec", spec]
    rows = run_subprocess_json(worker_argv("benchmarks.minigrad_worker", *argv), timeout=120)
    assert len(rows) == len(specs) + 1
    assert {r["op"] for r in rows} == set(configs.OP_SIZES)
    assert rows[-1]["grad"] is False and all(r["ms_median"] > 0 for r in rows)
    with pytest.raises(BenchmarkError):
        run_subprocess_json(worker_argv("benchmarks.minigrad_worker", "train-step",
                                        "--config", "nope"), timeout=60)


# ---------------------------------------------------------------------------------- CLI
def test_train_step_json_without_torch(tmp_path):
    out, _ = bench("train-step", "--preset", "tiny", "--set", "n_layer=1", "--set", "n_embd=16",
                   "--set", "block_size=8", "--set", "batch_size=2", "--steps", "2", "--json",
                   "--no-torch", "--peak-sizes", "64", "--out", tmp_path, *FAST)
    rows = json_lines(out)
    assert len(rows) == 1
    row = rows[0]
    for key in TRAIN_KEYS:
        assert key in row
    assert row["config"] == "tiny" and row["backend"] == "numpy"
    assert row["torch_ms"] is None and row["ratio"] is None and "torch" in row["torch_note"]
    assert row["minigrad_ms"] > 0 and row["gflops"] > 0 and row["peak_fraction"] > 0
    assert row["overrides"] == {"n_layer": 1, "n_embd": 16, "block_size": 8, "batch_size": 2}
    assert row["tokens_per_step"] == 16
    assert (tmp_path / "train_step.jsonl").exists() and (tmp_path / "train_step.md").exists()


def test_cli_without_torch_end_to_end(tmp_path):
    """With torch unimportable (a stub module first on the path of every worker), the
    peer column says so and minigrad is still measured."""
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "torch.py").write_text("raise ImportError('no torch here')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub), str(REPO)]))
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "train-step", "--preset", "micro",
                           "--steps", "2", "--peak-sizes", "64", "--out", str(tmp_path / "out"),
                           *FAST], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| micro | numpy |" in proc.stdout and "torch not installed" in proc.stdout
    (row,) = [json.loads(line) for line in
              (tmp_path / "out" / "train_step.jsonl").read_text().splitlines()]
    assert row["minigrad_ms"] > 0 and row["torch_ms"] is None
    assert row["torch_note"] == "torch not installed"


def test_torch_missing_is_reported(tmp_path, monkeypatch, capsys):
    """The torch worker exits 3 without torch: the row says so, minigrad is still timed."""
    import benchmarks.__main__ as cli
    from benchmarks import runner
    real = runner.run_subprocess_json

    def fake(argv, **kw):
        if "benchmarks.torch_worker" in argv:
            raise BenchmarkError("torch not installed (exit status 3)", argv=argv,
                                 returncode=3,
                                 rows=[{"error": "torch not installed: pip install torch"}])
        return real(argv, **kw)

    monkeypatch.setattr(runner, "run_subprocess_json", fake)
    assert cli.main(["overhead", "--repeats", "3", "--op-warmup", "1", "--out", str(tmp_path),
                     *FAST]) == 0
    text = capsys.readouterr().out
    assert "torch not installed" in text
    assert "| add 32 + backward | numpy |" in text


@pytest.mark.torch
def test_train_step_micro_with_torch(tmp_path, torch):
    out, _ = bench("train-step", "--preset", "micro", "--steps", "2", "--json",
                   "--peak-sizes", "64", "--out", tmp_path, *FAST)
    (row,) = json_lines(out)
    for key in TRAIN_KEYS:
        assert row[key] is not None, key
    assert row["ratio"] == pytest.approx(row["minigrad_ms"] / row["torch_ms"])
    assert row["peer"] == "torch"
    # PyTorch at its best: both attentions timed, the faster one is the peer
    best = min(row["torch_ms"], row["torch_sdpa_ms"])
    assert row["torch_best_ms"] == best
    assert row["torch_best"] == ("sdpa" if row["torch_sdpa_ms"] < row["torch_ms"] else "manual")
    assert row["ratio_best"] == pytest.approx(row["minigrad_ms"] / best)


@pytest.mark.torch
def test_ops_and_overhead_tables(tmp_path, torch):
    out, _ = bench("ops", "--op", "add_small=32", "--op", "matmul=8,8,8", "--repeats", "2",
                   "--out", tmp_path, *FAST)
    assert "| add_small | 32 | fwd | numpy |" in out
    assert "| matmul | 8x8x8 | fwdbwd | numpy |" in out
    rows = [json.loads(line) for line in (tmp_path / "ops.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["ratio"] > 0 for r in rows)


def test_fit_exponent_and_statements():
    from benchmarks.scaling import fit_exponent, scaling_statements
    assert fit_exponent([1, 2, 4, 8], [3, 12, 48, 192]) == pytest.approx(2.0)
    assert fit_exponent([1], [1]) is None
    rows = [{"axis": "context", "value": t, "minigrad_ms": t * 1.0, "torch_ms": None}
            for t in (64, 128, 256)]
    (line,) = scaling_statements(rows)
    assert line.startswith("minigrad: step time grows as context length T^1.00")


def test_tokenizers_subcommand_forwards(monkeypatch):
    import benchmarks.__main__ as cli
    from benchmarks import tokenizers_bench
    seen = []
    monkeypatch.setattr(tokenizers_bench, "main", lambda argv: seen.append(argv) or 0)
    assert cli.main(["tokenizers", "--vocab-size", "300", "--skip-peers", "--json"]) == 0
    assert seen == [["--vocab-size", "300", "--skip-peers", "--json"]]


def test_subcommand_defaults_are_separate():
    from benchmarks.__main__ import build_parser
    parser = build_parser()
    scaling = parser.parse_args(["scaling"])
    step = parser.parse_args(["train-step"])
    assert (step.steps, step.warmup, step.rounds, step.preset) == (10, 2, 3, "tiny")
    assert (scaling.steps, scaling.warmup, scaling.rounds) == (3, 1, 1)
