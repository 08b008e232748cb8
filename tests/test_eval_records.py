"""Every step's loss in the log and loss.png; accuracy, perplexity and bits per character
in every evaluation record; next-token accuracy in evaluate_split and `minigrad evaluate`."""
import importlib.util
import io
import math

import numpy as np
import pytest

import minigrad as mg

from models import BigramLM
from models import checkpoint as ckpt
from models.config import Config
from models.evaluate import estimate, estimate_loss, evaluate_split
from models.step_losses import per_step
from models.train import Trainer, read_log

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 12


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def micro(corpus, **changes):
    base = dict(corpus=corpus, n_layer=1, n_head=2, n_embd=16, context=8, batch_size=4,
                steps=10, warmup_steps=3, eval_every=4, eval_batches=2, final_eval=False,
                sample_tokens=0)
    return Config(**{**base, **changes})


def train(config, run_dir, resume=False, stop_at=None):
    trainer = Trainer(config, run_dir, resume=resume, stream=io.StringIO())
    if stop_at is not None:
        trainer.on_step = lambda step: trainer.request_stop() if step == stop_at else None
    return trainer, trainer.run()


def test_every_step_is_logged_once_with_the_evaluations(corpus, tmp_path):
    trainer, _ = train(micro(corpus, final_eval=True), tmp_path / "run")
    records = read_log(tmp_path / "run" / ckpt.LOG)
    evaluations = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evaluations] == [0, 4, 8, 10]
    steps, losses = per_step(records)
    assert steps == list(range(1, 11)) and all(math.isfinite(x) for x in losses)
    assert [r.get("first_step") for r in evaluations] == [None, 1, 5, 9]
    for r in evaluations:
        for split in ("train", "val"):
            loss = r[f"{split}_loss"]
            assert r[f"{split}_perplexity"] == pytest.approx(math.exp(loss))
            # by character: one token a character, so bits per character is loss / ln 2
            assert r[f"{split}_bits_per_char"] == pytest.approx(loss / math.log(2))
            assert 0.0 <= r[f"{split}_accuracy"] <= 1.0
    assert 0.0 <= records[-1]["accuracy"] <= 1.0 and "full_val_loss" in records[-1]
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "run" / ckpt.PLOT).stat().st_size > 0


def test_a_stopped_and_resumed_run_logs_each_step_once_with_the_same_losses(corpus, tmp_path):
    train(micro(corpus), tmp_path / "straight")
    _, summary = train(micro(corpus), tmp_path / "resumed", stop_at=6)
    assert summary["stopped"] == "interrupted"
    partial = read_log(tmp_path / "resumed" / ckpt.LOG)[-1]
    assert partial["step"] == 6 and partial["first_step"] == 5 and "val_loss" not in partial
    train(micro(corpus), tmp_path / "resumed", resume=True)
    straight = read_log(tmp_path / "straight" / ckpt.LOG)
    resumed = read_log(tmp_path / "resumed" / ckpt.LOG)
    assert [r["step"] for r in resumed] == [r["step"] for r in straight] == [0, 4, 8, 10]
    assert per_step(resumed) == per_step(straight)  # exact resume: the very same losses


def test_bits_per_char_of_a_bpe_run_count_characters_per_token(corpus, tmp_path):
    trainer, _ = train(micro(corpus, tokenizer="bpe", vocab_size=300, steps=2, eval_every=2),
                       tmp_path / "run")
    ratio = len(TEXT) / len(trainer.tokenizer.encode(TEXT))
    record = read_log(tmp_path / "run" / ckpt.LOG)[-1]
    assert trainer.chars_per_token["train"] > 1.5  # merges make tokens of several characters
    assert trainer.chars_per_token["train"] == pytest.approx(ratio, rel=0.1)
    assert record["val_bits_per_char"] == pytest.approx(
        record["val_loss"] / math.log(2) / trainer.chars_per_token["val"])


def test_accuracy_counts_the_argmax_hits():
    # A bigram model predicts from the last token alone, so its hits can be counted by hand.
    mg.manual_seed(0)
    model = BigramLM(7).eval()
    table = model.token_embedding_table.weight.numpy()
    ids = np.random.default_rng(0).integers(0, 7, 200).astype(np.int64)
    hits = int((table[ids[:-1]].argmax(-1) == ids[1:]).sum())
    assert 5 < hits < 195  # a test that can tell right from wrong
    result = evaluate_split(model, ids, 16, batch_size=3)
    assert result["accuracy"] == pytest.approx(hits / (len(ids) - 1))
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    est = estimate(model, {"val": ids}, 16, 4, 3, rng())
    assert est["val"]["loss"] == estimate_loss(model, {"val": ids}, 16, 4, 3, rng())["val"]
    assert est["val"]["accuracy"] == pytest.approx(hits / (len(ids) - 1), abs=0.15)
