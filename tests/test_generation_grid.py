"""`minigrad generate-grid`: the thesis's 17 sampling settings and their distinct-n table."""
import minigrad as mg

from models import TransformerLM
from models.cli import main
from models.generation_grid import GRID, markdown_table, run_grid
from tokenizers import CharTokenizer

TEXT = "KING RICHARD:\nNow is the winter of our discontent\nMade glorious summer.\n" * 10


def test_the_grid_is_the_thesis_table():
    assert len(GRID) == 17
    assert [r["temperature"] for r in GRID[:3]] == [0.5, 1.0, 1.5]
    assert [r["top_k"] for r in GRID[3:6]] == [10, 90, 200]
    assert [r["top_p"] for r in GRID[6:9]] == [0.05, 0.30, 0.90]
    assert [r["presence_penalty"] for r in GRID[9:12]] == [0.2, 0.5, 1.0]
    assert [r["frequency_penalty"] for r in GRID[12:15]] == [0.2, 0.5, 1.0]
    assert [tuple(r.values()) for r in GRID[15:]] == [(0.9, 100, 0.95, 0.3, 0.2),
                                                       (0.7, 80, 0.9, 0.2, 0.3)]
    base = dict(temperature=1.0, top_k=None, top_p=None, presence_penalty=0.0,
                frequency_penalty=0.0)  # the first 15 rows vary one setting from this
    assert [sum(r[f] != base[f] for f in base) for r in GRID[:15]] == [1, 0] + [1] * 13


def test_rows_and_table():
    tok = CharTokenizer.train(TEXT)
    mg.manual_seed(0)
    model = TransformerLM(tok.vocab_size, 16, n_layer=1, n_head=2, n_embd=16).eval()
    rows = run_grid(model, tok, max_new_tokens=30, seed=3, grid=GRID[:3] + GRID[6:7])
    assert [r["tokens"] for r in rows] == [30] * 4
    assert all(r["text"].startswith("KING RICHARD:") for r in rows)
    # Every row draws from the same seed: a row run again is the same text, and rows
    # differ by their settings alone.
    again = run_grid(model, tok, max_new_tokens=30, seed=3, grid=GRID[2:3])[0]
    assert again["text"] == rows[2]["text"] and rows[0]["text"] != rows[2]["text"]
    for r in rows:
        assert all(0.0 < d <= 1.0 for d in r["distinct"])
    rows[0]["text"] = "a|b\nc"
    table = markdown_table(rows).splitlines()
    assert len(table) == 2 + 4 and table[2].startswith("| 1 | 0.5 | – | – | 0 | 0 | ")
    assert table[2].endswith("| 30 | a\\|b<br>c |")


def test_generate_grid_command(tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text(TEXT)
    run = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--out", str(run), "--n-layer", "1",
                 "--n-head", "2", "--n-embd", "16", "--context", "16", "--batch-size", "4",
                 "--steps", "2", "--eval-every", "2", "--eval-batches", "1",
                 "--sample-tokens", "0"]) == 0
    capsys.readouterr()
    assert main(["generate-grid", "--checkpoint", str(run), "--max-new-tokens", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 17
    report = (run / "generation_grid.md").read_text()
    assert "(step 2)" in report and report.endswith("\n".join(out) + "\n")
