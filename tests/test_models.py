"""The language models: shapes, gradients (float64 finite differences), that each one learns,
and that evaluation covers every target of a split once."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

from models.config import MODELS, Config, build_model
from models.evaluate import estimate_loss, evaluate_split, logits_of
from models.train import Trainer

V = 11  # vocabulary of the micro models

# Micro configurations: one layer, width 16, context 8.
MICRO = dict(n_layer=1, n_head=2, n_embd=16, hidden_size=16, context=8)
VARIANTS = [(kind, {}) for kind in MODELS] + [
    ("transformer", dict(positions="rope", norm="post")),
    ("transformer", dict(positions="sinusoidal", bias=True, tie_weights=False, ff_variant="gelu3",
                         activation="relu")),
    ("multi-head", dict(feedforward=True, bias=True)),
    ("mlp", dict(mlp_window=3, n_layer=2, activation="relu")),
    ("lstm", dict(n_layer=2)),
    ("multi-head", dict(attention="hw4", init="torch")),
    ("transformer", dict(attention="hw4", bias=True, tie_weights=False, init="normal")),
    ("transformer", dict(init="xavier", norm="post")),
    ("single-head", dict(causal=False)),
    ("multi-head", dict(attention="hw4", causal=False)),
    ("transformer", dict(causal=False)),
]
IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in extra.items())}" if extra else kind
       for kind, extra in VARIANTS]


def micro(kind, **extra):
    return build_model(Config(model=kind, **{**MICRO, **extra}), V)


def batch(b=2, t=8, seed=0):
    rng = np.random.default_rng(seed)
    return mg.tensor(rng.integers(0, V, (b, t))), mg.tensor(rng.integers(0, V, (b, t)))


@pytest.mark.parametrize("kind, extra", VARIANTS, ids=IDS)
def test_forward_shapes(kind, extra):
    model = micro(kind, **extra)
    x, _ = batch(3, 8)
    out = model(x)
    if model.recurrent:
        logits, state = out
        h = state[0] if kind == "lstm" else state
        assert h.shape == (extra.get("n_layer", 1), 3, MICRO["hidden_size"])
    else:
        logits = out
    assert logits.shape == (3, 8, V) and model.vocab_size == V
    assert logits.dtype == mg.float32
    # Shorter inputs work too (generation feeds one token at a time).
    assert logits_of(model, x[:, :1]).shape == (3, 1, V)


@pytest.mark.parametrize("kind, extra", VARIANTS, ids=IDS)
def test_gradcheck_loss_wrt_parameters(kind, extra):
    """float64: d loss / d parameter by finite differences equals backward, for the first
    and the last parameter of each model (full Jacobian when small, else a projection)."""
    mg.set_default_dtype(mg.float64)
    model = micro(kind, **extra)
    x, y = batch(2, 6)

    def loss(*params):
        return F.cross_entropy(logits_of(model, x), y)

    params = list(model.parameters())
    for p in {id(p): p for p in (params[0], params[-1])}.values():
        assert p.dtype == mg.float64
        assert mg.gradcheck(loss, p, fast=p.numel() > 200)


def test_attention_is_causal():
    """Changing a later token never changes the logits of earlier positions."""
    for kind in ("single-head", "multi-head", "transformer", "mlp", "lstm"):
        model = micro(kind)
        x, _ = batch(1, 8)
        changed = x.numpy().copy()
        changed[0, 5] = (changed[0, 5] + 1) % V
        a = logits_of(model, x).numpy()
        b = logits_of(model, mg.tensor(changed)).numpy()
        np.testing.assert_array_equal(a[:, :5], b[:, :5], err_msg=kind)
        assert not np.allclose(a[:, 5], b[:, 5]), kind


def test_mlp_window():
    """The MLP's prediction at t depends on exactly tokens t-N+1..t."""
    model = micro("mlp", mlp_window=3)
    x, _ = batch(1, 8)
    changed = x.numpy().copy()
    changed[0, 1] = (changed[0, 1] + 1) % V
    a = logits_of(model, x).numpy()
    b = logits_of(model, mg.tensor(changed)).numpy()
    np.testing.assert_array_equal(a[:, 4:], b[:, 4:])   # token 1 is out of the window from t=4
    assert not np.allclose(a[:, 3], b[:, 3])


def test_transformer_init_and_tying():
    model = micro("transformer", n_layer=2, n_embd=32, context=16)
    assert model.lm_head.weight is model.wte.weight
    resid = model.blocks[0].attn.out_proj.weight.numpy()
    qkv = model.blocks[0].attn.in_proj.weight.numpy()
    assert abs(resid.std() - 0.02 / math.sqrt(4)) < 0.003
    assert abs(qkv.std() - 0.02) < 0.002
    with pytest.raises(ValueError, match="exceeds the context of 16"):
        model(batch(1, 17)[0])


def test_parameter_groups_decay_matrices_only():
    model = micro("transformer", bias=True)
    decay, no_decay = model.param_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decay["params"])
    assert all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_recurrent_state_carries_over():
    """Two chunks with the state carried give the logits of one pass over both."""
    for kind in ("rnn", "lstm"):
        model = micro(kind)
        x, _ = batch(2, 8)
        whole, _ = model(x)
        first, state = model(x[:, :3])
        second, _ = model(x[:, 3:], state)
        np.testing.assert_allclose(np.concatenate([first.numpy(), second.numpy()], 1),
                                   whole.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- every model learns

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 30


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_model_learns(kind, tmp_path):
    corpus = tmp_path / "text.txt"
    corpus.write_text(TEXT)
    config = Config(model=kind, corpus=str(corpus), **{**MICRO, "n_embd": 32, "hidden_size": 32},
                    batch_size=8, steps=50, lr=3e-2, warmup_steps=5, min_lr=3e-3,
                    eval_every=50, eval_batches=4, final_eval=False, sample_tokens=0)
    trainer = Trainer(config, tmp_path / "run", stream=_Quiet())
    trainer.run()
    log = [r for r in _read_log(tmp_path / "run" / "log.jsonl")]
    first, last = log[0]["train_loss"], log[-1]["train_loss"]
    assert first > 2.0                     # about ln(vocabulary) at the start
    assert last < 0.7 * first, (kind, first, last)


# ---------------------------------------------------------------- evaluation

def test_evaluate_covers_every_target_once():
    ids = np.random.default_rng(0).integers(0, V, 203).astype(np.uint16)
    for kind in ("transformer", "lstm", "mlp"):
        result = evaluate_split(micro(kind), ids, context=8, batch_size=5)
        assert result["targets"] == len(ids) - 1, kind


def test_evaluate_equals_direct_loss_for_bigram():
    """A bigram model's loss does not depend on the window: compare with one pass."""
    model = micro("bigram")
    ids = np.random.default_rng(1).integers(0, V, 100).astype(np.uint16)
    result = evaluate_split(model, ids, context=8, batch_size=3)
    direct = F.cross_entropy(model(mg.tensor(ids[None, :-1].astype(np.int64))),
                             mg.tensor(ids[None, 1:].astype(np.int64))).item()
    assert result["loss"] == pytest.approx(direct, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(direct), rel=1e-5)


def test_bits_per_char_of_a_char_model():
    from tokenizers import CharTokenizer
    tok = CharTokenizer.train("abcdefghijk")
    ids = np.array(tok.encode("abcabcabckkjjiihh" * 3), dtype=np.uint16)
    result = evaluate_split(micro("bigram"), ids, 8, 4, tokenizer=tok)
    assert result["chars"] == len(ids) - 1
    assert result["bits_per_char"] == pytest.approx(result["loss"] / math.log(2))


def test_estimate_loss_is_deterministic_given_rng():
    model = micro("transformer")
    ids = np.random.default_rng(2).integers(0, V, 300)
    splits = {"train": ids, "val": ids[:50]}
    a = estimate_loss(model, splits, 8, 4, 3, np.random.default_rng(5))
    b = estimate_loss(model, splits, 8, 4, 3, np.random.default_rng(5))
    assert a == b and set(a) == {"train", "val"}
    assert model.training  # put back in training mode


def test_distinct_n():
    from models.evaluate import distinct_n
    assert distinct_n([[1, 2, 3, 1, 2]], 1) == 3 / 5
    assert distinct_n([[1, 2, 3, 1, 2]], 2) == 3 / 4
    assert distinct_n([[1, 2], [1, 2]], 2) == 1 / 2
    assert distinct_n([[1]], 2) == 0.0


class _Quiet:
    def write(self, text):
        pass

    def flush(self):
        pass


def _read_log(path):
    from models.train import read_log
    return [r for r in read_log(path) if "val_loss" in r]


def test_count_bigram_with_add_one_gives_the_known_number_on_tiny_shakespeare(tmp_path):
    """The closed-form check of the data pipeline and the 90/10 split (PyTorch gives 2.4819)."""
    from models.corpus import default_corpus_path, read_text
    from models.data import build_tokenizer, prepare
    from models.evaluate import count_bigram_loss
    tok = build_tokenizer("char", read_text(default_corpus_path()))
    splits = prepare(default_corpus_path(), tok, tmp_path)
    loss = count_bigram_loss(splits["train"], splits["val"], tok.vocab_size)
    assert round(loss, 4) == 2.4819
