"""What the seed presets need: the optimiser choices, initialisation schemes, the
Cervantes objective (last position of shuffled stride-1 windows, in epochs), the seed's
word split, the train/val/test split and the bundled Don Quijote."""
import gzip
import io

import numpy as np
import pytest

from minigrad import optim

from models.config import Config, build_model
from models.corpus import corpus_files, find_corpus, read_text
from models.data import prepare, split_by_position
from models.optim_config import build_optimizer, build_scheduler
from models.train import Trainer, read_log
from models.windows import LastTokenWindows
from tokenizers import WordTokenizer

MICRO = dict(model="transformer", n_layer=1, n_head=2, n_embd=16, context=8)


@pytest.mark.parametrize("name, cls, options", [
    ("adamw", optim.AdamW, dict(betas=(0.8, 0.9), eps=1e-6)),
    ("adam", optim.Adam, dict(betas=(0.9, 0.999), eps=1e-9)),
    ("sgd", optim.SGD, dict(momentum=0.9, dampening=0.1)),
    ("rmsprop", optim.RMSprop, dict(alpha=0.9, eps=1e-7, momentum=0.5)),
])
def test_every_optimiser_gets_its_arguments(name, cls, options):
    config = Config(**MICRO, optimizer=name, lr=0.02, weight_decay=0.01, **options)
    optimizer = build_optimizer(config, build_model(config, 11))
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    for key, value in {"lr": 0.02, "weight_decay": 0.01, **options}.items():
        assert group[key] == (tuple(value) if isinstance(value, tuple) else value), key


def test_weight_decay_on_matrices_or_on_everything():
    config = Config(**MICRO, bias=True, weight_decay=0.1)
    model = build_model(config, 11)
    decays = [g["weight_decay"] for g in build_optimizer(config, model).param_groups]
    assert decays == [0.1, 0.0]
    groups = build_optimizer(config.replace(decay_all=True), model).param_groups
    assert len(groups) == 1 and len(groups[0]["params"]) == len(list(model.parameters()))


def test_warmup_then_cosine_per_step():
    config = Config(**MICRO, lr=1.0, min_lr=0.0, warmup_steps=4, steps=12)
    scheduler = build_scheduler(config, build_optimizer(config, build_model(config, 11)))
    rates = []
    for _ in range(12):
        rates.append(scheduler.get_last_lr()[0])
        scheduler.step()
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert rates[8] == pytest.approx(0.5) and rates[-1] < 0.05


@pytest.mark.parametrize("scheme", ["normal", "xavier", "torch"])
def test_init_schemes(scheme):
    model = build_model(Config(**{**MICRO, "n_embd": 64}, bias=True, init=scheme), 11)
    w = model.blocks[0].ff.net[0].weight.numpy()  # Linear(64, 256)
    expected = {"normal": 0.02, "xavier": np.sqrt(2 / (64 + 256)),
                "torch": 1 / np.sqrt(64) / np.sqrt(3)}[scheme]
    assert abs(w.std() - expected) < 0.1 * expected
    assert np.any(model.blocks[0].ff.net[0].bias.numpy()) == (scheme == "torch")
    with pytest.raises(ValueError, match="init must be one of"):
        build_model(Config(**MICRO).replace(init="he"), 11)


def test_last_token_windows_visit_every_window_once_per_epoch():
    ids = np.arange(50, dtype=np.uint16)
    windows = LastTokenWindows(ids, batch_size=8, context=3, seed=0)
    assert len(windows) == 6  # 47 windows: 5 batches of 8 and one of 7
    starts = []
    for i in range(6):
        x, y = windows.batch(i)
        assert x.shape[1] == 3 and np.array_equal(y, x[:, -1] + 1)
        starts += list(x[:, 0])
    assert sorted(starts) == list(range(47))
    assert not np.array_equal(windows.batch(6)[0], windows.batch(0)[0])  # a new order
    again = LastTokenWindows(ids, batch_size=8, context=3, seed=0)
    assert np.array_equal(again.batch(7)[0], windows.batch(7)[0])  # by index alone


def test_objective_last_counts_epochs_and_logs_the_epoch_loss(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("en un lugar de la mancha , de cuyo nombre no quiero acordarme .\n" * 8)
    config = Config(model="rnn", n_embd=8, hidden_size=8, n_layer=1, context=4, batch_size=16,
                    corpus=str(corpus), tokenizer="word", word_split="spaces",
                    objective="last", epochs=2, eval_every=50, eval_batches=1,
                    final_eval=False, sample_tokens=0)
    trainer = Trainer(config, tmp_path / "run", stream=io.StringIO())
    summary = trainer.run()
    per_epoch = len(trainer.windows)
    assert summary["step"] == 2 * per_epoch
    epochs = [r for r in read_log(tmp_path / "run" / "log.jsonl") if "epoch" in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert [r["steps_per_epoch"] for r in epochs] == [per_epoch, per_epoch]
    assert epochs[1]["epoch_train_loss"] < epochs[0]["epoch_train_loss"]
    with pytest.raises(ValueError, match="epochs counts passes"):
        config.replace(objective="all").validate()


def test_the_seed_word_split():
    text = "En un lugar de la Mancha, de cuyo nombre; ¿quién lo sabe?\nNadie."
    tok = WordTokenizer.train(text, lower=True, split="spaces")
    assert tok.tokens[4:8] == ["de", "en", "un", "lugar"]
    assert "¿quién" in tok.tokens and "\n" not in tok.tokens and ";" in tok.tokens
    assert WordTokenizer.from_dict(tok.to_dict()).split == "spaces"
    assert WordTokenizer.from_dict({"lower": False, "words": ["a"]}).split == "regex"


def test_train_val_test_split():
    splits = split_by_position(np.arange(1000), 0.1, "c", 0.1)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [800, 100, 100]
    assert splits["val"][0] == 800 and splits["test"][-1] == 999
    with pytest.raises(ValueError, match="too few tokens"):
        split_by_position(np.arange(5), 0.1, "c", 0.1)


def test_bundled_quijote_and_gzip_corpora(tmp_path):
    text = read_text(find_corpus("quijote"))
    assert len(text) == 2_110_705
    assert "En un lugar de la Mancha" in text
    assert corpus_files("quijote")["all"].name == "quijote.txt.gz"
    path = tmp_path / "small.txt.gz"
    path.write_bytes(gzip.compress("abcabc\n".encode() * 20))
    splits = prepare(path, build_char(), tmp_path / "cache", 0.2, test_fraction=0.2)
    assert sum(len(v) for v in splits.values()) == 140
    (tmp_path / "bad.txt.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a readable gzip file"):
        read_text(tmp_path / "bad.txt.gz")


def build_char():
    from tokenizers import CharTokenizer
    return CharTokenizer.train("abc\n")
