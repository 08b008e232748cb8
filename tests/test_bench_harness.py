"""Tests for benchmarks/: FLOP and parameter formulas, the timing/reporting harness, and the
PyTorch worker and reference models (those marked `torch`, skipped without torch)."""

import json
import subprocess
import sys

import pytest

from benchmarks import flops
from benchmarks.harness import (REPO, BenchmarkError, markdown_table, measure_matmul_peak,
                                median_time, peak_memory_mb, run_subprocess_json,
                                worker_argv, write_jsonl)

TINY = dict(vocab_size=65, n_layer=4, n_embd=128, block_size=64, batch_size=32)
MICRO_SETS = ["n_layer=1", "n_embd=32", "n_head=2", "block_size=16", "batch_size=4"]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------------------------- flops
def test_gpt_flops_tiny_by_hand():
    C, V, L, T, B = 128, 65, 4, 64, 32
    per_block = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)]   # q,k,v; attn out; fc; fc out
    matmuls = L * sum(i * o for i, o in per_block) + C * V      # + head
    assert matmuls == 794_752 == flops.gpt_matmul_params(L, C, V)
    tokens = B * T
    dense = 2 * 3 * matmuls * tokens                 # 2 FLOPs per MAC, fwd + 2 x bwd
    attention = L * 3 * 2 * 2 * T * C * tokens       # q k^T and att v, per token and layer
    expected = dense + attention
    assert expected == 10_571_218_944
    assert flops.gpt_train_flops(V, T, L, C, B) == expected
    cfg = dict(TINY, kind="gpt")
    assert flops.train_step_flops(cfg) == expected
    assert flops.tokens_per_step(cfg) == 2048


def test_gpt_param_count_by_hand():
    C, V, T, L = 128, 65, 64, 4
    # nanoGPT style: no biases (LayerNorm weights only), head tied to the token embedding.
    assert flops.gpt_param_count(V, T, L, C, bias=False, tie_weights=True) == (
        V * C + T * C + L * (12 * C * C + 2 * C) + C)
    # biases everywhere, own head
    per_block = (3 * C * C + 3 * C) + (C * C + C) + (4 * C * C + 4 * C) + (4 * C * C + C) + 4 * C
    assert flops.gpt_param_count(V, T, L, C, bias=True, tie_weights=False) == (
        V * C + T * C + L * per_block + 2 * C + C * V + V)


def test_lstm_flops_by_hand():
    V, E, H, T, B = 10_000, 256, 512, 35, 20
    n = 4 * H * (E + H) + H * V
    assert flops.lstm_matmul_params(V, E, H, 1) == n == 6_692_864
    assert flops.lstm_train_flops(V, E, H, 1, T, B) == 6 * n * T * B
    two = 4 * H * (E + H) + 4 * H * (H + H) + H * V
    assert flops.lstm_matmul_params(V, E, H, 2) == two
    cfg = dict(kind="lstm", vocab_size=V, emb_dim=E, hidden_size=H, num_layers=1, seq_len=T,
               batch_size=B)
    assert flops.train_step_flops(cfg) == 6 * n * T * B
    with pytest.raises(ValueError, match="unknown model kind"):
        flops.train_step_flops({"kind": "rnn"})


def test_op_flops():
    assert flops.op_flops("matmul", (2, 3, 4)) == 48
    assert flops.op_flops("matmul", (2, 3, 4), "fwdbwd") == 144
    assert flops.op_flops("bmm", (5, 2, 3, 4)) == 240
    assert flops.op_flops("attention", (1, 2, 8, 4)) == 2 * 2 * 2 * 8 * 4 * 8
    assert flops.op_flops("gelu", (10, 10)) is None


# ---------------------------------------------------------------------------------- harness
def test_median_time_counts_calls_and_syncs():
    calls, syncs = [], []
    med, samples = median_time(lambda: calls.append(1), repeats=5, warmup=2,
                               sync=lambda: syncs.append(1))
    assert len(calls) == 7
    assert len(samples) == 5 and all(s >= 0 for s in samples)
    assert sorted(samples)[2] == med
    assert len(syncs) == 1 + 2 * 5

    calls.clear()
    _, samples = median_time(lambda: calls.append(1), repeats=3, warmup=0, number=4)
    assert len(calls) == 12 and len(samples) == 3
    with pytest.raises(ValueError):
        median_time(lambda: None, repeats=0, warmup=0)


def test_median_time_measures_sleep():
    import time
    med, samples = median_time(lambda: time.sleep(0.002), repeats=5, warmup=1)
    assert 0.0019 <= med < 0.05
    assert min(samples) >= 0.0019


def test_markdown_table():
    rows = [{"config": "tiny", "ms": 162.4, "gflops": 65.7, "share": 0.438, "n": 12345},
            {"config": "a|b", "ms": 6820.0, "gflops": None, "share": 0.57, "n": 7}]
    table = markdown_table(rows, ["config", ("ms/step", "ms"), ("GFLOP/s", "gflops"),
                                  ("share", lambda r: r["share"]), "n"])
    assert table.splitlines() == [
        "| config | ms/step | GFLOP/s | share | n |",
        "|---|---|---|---|---|",
        "| tiny | 162 | 65.7 | 0.438 | 12,345 |",
        "| a\\|b | 6,820 | – | 0.57 | 7 |",
    ]


def test_write_jsonl(tmp_path):
    path = write_jsonl([{"a": 1}, {"b": [1.5, None]}], tmp_path / "sub" / "out.jsonl")
    write_jsonl([{"c": "x"}], path, append=True)
    assert [json.loads(l) for l in path.read_text().splitlines()] == [
        {"a": 1}, {"b": [1.5, None]}, {"c": "x"}]


def test_peak_memory_mb():
    assert 1 < peak_memory_mb() < 1_000_000


def test_run_subprocess_json_parses_lines():
    code = "print('warming up'); print('{\"a\": 1}'); print('{\"b\": 2}')"
    assert run_subprocess_json([sys.executable, "-c", code], timeout=30) == [{"a": 1}, {"b": 2}]


@pytest.mark.parametrize("code, match", [
    ("import sys; print('{\"error\": \"boom\"}'); sys.exit(3)", r"boom \(exit status 3\)"),
    ("import sys; sys.stderr.write('trace here'); sys.exit(1)", "trace here"),
    ("print('{not json')", "invalid JSON"),
    ("print('[1, 2]')", "no JSON object"),
    ("import time; time.sleep(5)", "timed out"),
])
def test_run_subprocess_json_errors(code, match):
    with pytest.raises(BenchmarkError, match=match):
        run_subprocess_json([sys.executable, "-c", code], timeout=1.5)


def test_measure_matmul_peak_numpy():
    result = measure_matmul_peak("numpy", sizes=(64, 128), repeats=2, timeout=60)
    assert result["xp"] == "numpy"
    assert set(result["gflops_by_size"]) == {"64", "128"}
    assert result["gflops"] == max(result["gflops_by_size"].values()) > 0


def test_torch_worker_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from benchmarks.torch_worker import main\n"
            "sys.exit(main(['train-step', '--config', 'tiny']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 3
    assert json.loads(proc.stdout) == {"error": "torch not installed: pip install torch==2.13.0"}


# ---------------------------------------------------------------------------------- torch
@pytest.mark.torch
def test_torch_worker_train_step_micro(torch):
    args = ["train-step", "--config", "tiny", "--steps", "2", "--warmup", "1"]
    for item in MICRO_SETS:
        args += ["--set", item]
    rows = run_subprocess_json(worker_argv("benchmarks.torch_worker", *args), timeout=120)
    assert len(rows) == 1
    row = rows[0]
    for key in ("config", "backend", "ms_median", "ms_samples", "tokens_per_s", "gflops",
                "peak_mem_mb", "threads"):
        assert key in row
    assert row["config"] == "tiny" and row["backend"] == "torch" and row["threads"] == 2
    assert len(row["ms_samples"]) == 2 and row["ms_median"] > 0
    assert row["tokens_per_step"] == 4 * 16
    assert row["flops_per_step"] == flops.gpt_train_flops(65, 16, 1, 32, 4)
    assert row["tokens_per_s"] == pytest.approx(64 / (row["ms_median"] / 1e3))


@pytest.mark.torch
@pytest.mark.parametrize("overrides", [{}, {"bias": True, "tie_weights": False}])
def test_torch_gpt_param_count_tiny(torch, overrides):
    from benchmarks import torch_ref
    model, _, cfg = torch_ref.build("tiny", **overrides)
    expected = flops.gpt_param_count(cfg["vocab_size"], cfg["block_size"], cfg["n_layer"],
                                     cfg["n_embd"], cfg["bias"], cfg["tie_weights"])
    assert sum(p.numel() for p in model.parameters()) == expected
    if not overrides:
        assert expected == 804_096
    # the matmul weights behind the FLOP formula: every Linear weight (head included)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert linear == flops.gpt_matmul_params(cfg["n_layer"], cfg["n_embd"], cfg["vocab_size"])


@pytest.mark.torch
def test_torch_gpt_init_and_sdpa(torch):
    from benchmarks import torch_ref
    model, opt, cfg = torch_ref.build("tiny", n_layer=8, n_embd=64, batch_size=4)
    resid = model.blocks[0].mlp.c_proj.weight
    assert resid.std().item() == pytest.approx(0.02 / 4, rel=0.1)
    assert model.blocks[0].attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert model.lm_head.weight is model.wte.weight
    idx, targets = torch_ref.make_batch(cfg, torch.Generator().manual_seed(0))
    _, loss = model(idx, targets)
    for block in model.blocks:
        block.attn.sdpa = True
    _, loss_sdpa = model(idx, targets)
    assert loss_sdpa.item() == pytest.approx(loss.item(), abs=1e-5)
    assert isinstance(opt, torch.optim.AdamW)


@pytest.mark.torch
def test_torch_lstm_cell_loop_matches_nn_lstm(torch):
    from benchmarks import torch_ref
    kw = dict(vocab_size=50, emb_dim=8, hidden_size=12, num_layers=2, seq_len=5, batch_size=3)
    ref, opt, cfg = torch_ref.build("quijote-lstm", **kw)
    loop, _, _ = torch_ref.build("quijote-lstm", cell_loop=True, **kw)
    loop.load_state_dict({k: v for k, v in ref.state_dict().items() if "lstm" not in k},
                         strict=False)
    loop.load_lstm_state_dict(ref.lstm_state_dict())
    n = sum(p.numel() for p in ref.parameters())
    assert n == sum(p.numel() for p in loop.parameters()) == flops.lstm_param_count(50, 8, 12, 2)
    idx, targets = torch_ref.make_batch(cfg, torch.Generator().manual_seed(0))
    _, a = ref(idx, targets)
    _, b = loop(idx, targets)
    assert b.item() == pytest.approx(a.item(), abs=1e-6)
    assert isinstance(opt, torch.optim.Adam)
    loss = torch_ref.train_step(ref, opt, idx, targets)
    assert torch.isfinite(loss)
