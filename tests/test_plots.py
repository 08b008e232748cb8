"""Attention maps of every attention model, and seed 001's positional-encoding figures."""
import importlib.util
import math

import numpy as np
import pytest

import minigrad as mg

from models import BigramLM, MultiHeadAttentionLM, SingleHeadAttentionLM, TransformerLM
from models.cli import main
from models.plot import attention_weights, plot_attention
from models.positional_figure import sinusoidal_table
from tokenizers import CharTokenizer

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
IDS = [1, 4, 2, 7, 3]


@pytest.mark.parametrize("make, names, heads", [
    (lambda c: SingleHeadAttentionLM(9, 8, n_embd=8, causal=c), ["sa_head"], 1),
    (lambda c: MultiHeadAttentionLM(9, 8, n_embd=8, n_head=4, causal=c), ["sa_heads"], 4),
    (lambda c: MultiHeadAttentionLM(9, 8, n_embd=8, n_head=4, attention="hw4", causal=c),
     ["sa_heads"], 4),
    (lambda c: TransformerLM(9, 8, n_layer=2, n_head=2, n_embd=8, causal=c),
     ["blocks.0.attn", "blocks.1.attn"], 2),
], ids=["single-head", "multi-head", "hw4-multi-head", "transformer"])
def test_attention_weights_of_every_attention_model(make, names, heads):
    for causal in (True, False):
        mg.manual_seed(0)
        maps = attention_weights(make(causal).eval(), IDS)
        assert [name for name, _ in maps] == names
        for _, w in maps:
            assert w.shape == (heads, len(IDS), len(IDS))
            np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
            later = w[:, np.triu(np.ones((len(IDS), len(IDS)), bool), 1)]  # key after query
            assert (later.max() == 0.0) == causal


def test_a_model_without_attention_says_so():
    with pytest.raises(ValueError, match="BigramLM has no attention layers"):
        attention_weights(BigramLM(9), IDS)


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs matplotlib")
def test_plot_attention_of_layers_with_different_head_counts(tmp_path):
    maps = [("a", np.full((1, 3, 3), 1 / 3)), ("b", np.full((2, 3, 3), 1 / 3))]
    assert plot_attention(maps, ["x", "y", "z"], tmp_path / "a.png") == str(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


def test_sinusoidal_table_is_the_formula():
    table = sinusoidal_table(100, 128)
    assert table.shape == (100, 128)
    for p, i in [(0, 0), (10, 3), (50, 20), (99, 63)]:
        angle = p / 10000 ** (2 * i / 128)
        assert table[p, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
        assert table[p, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs matplotlib")
def test_plot_positional_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "pe.png"
    assert main(["plot", "--positional", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.stat().st_size > 0
    assert main(["plot", "--positional", "--out", str(out), "--max-len", "40"]) == 2
    assert "positions [50] are not in the table" in capsys.readouterr().err
    assert main(["plot", "--positional", "--d-model", "7"]) == 2
    assert "--d-model must be even" in capsys.readouterr().err
    assert main(["plot"]) == 2
    assert "--checkpoint RUN is required" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="needs matplotlib")
def test_plot_attention_of_a_single_head_run(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("ROMEO: but soft, what light\n" * 20)
    run = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--out", str(run), "--model", "single-head",
                 "--n-embd", "8", "--context", "8", "--batch-size", "2", "--steps", "2",
                 "--eval-every", "2", "--eval-batches", "1", "--sample-tokens", "0"]) == 0
    assert main(["plot", "--checkpoint", str(run), "--attention", "ROMEO"]) == 0
    assert (run / "attention.png").stat().st_size > 0 and (run / "loss.png").is_file()


@pytest.mark.parametrize("heads", [1, 2])
def test_the_service_serves_the_attention_of_hw4_heads(heads):
    from models.serve.engine import Service
    tok = CharTokenizer.train("ROMEO: hi")
    mg.manual_seed(0)
    model = (SingleHeadAttentionLM(tok.vocab_size, 8, n_embd=8) if heads == 1 else
             MultiHeadAttentionLM(tok.vocab_size, 8, n_embd=8, n_head=2, attention="hw4"))
    service = Service(model.eval(), tok, None, "hw4", "cpu", None)
    answer = service.attention(tok.encode("ROMEO"))
    assert (answer["layers"], answer["heads"]) == (1, heads)
    assert np.allclose(np.sum(answer["weights"][0][-1], -1), 1.0, atol=1e-3)
