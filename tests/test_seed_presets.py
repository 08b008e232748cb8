"""The presets named after a seed match it field by field: parameter counts (HW4's own,
printed in seed 003) and the hyper-parameters each seed states."""
import numpy as np
import pytest

from models.config import build_model
from models.presets import PRESETS, get_preset

# Parameter counts of HW4's models (seed 003; V = 65 characters).
HW4_PARAMETERS = {"hw4-bigram": 65 * 65, "hw4-bigram-emb": 65 * 32 + 32 * 65 + 65,
                  "hw4-single-head": 590_657, "hw4-multi-head": 2_213_057,
                  "hw4-transformer": 19_636_289}


@pytest.mark.parametrize("name", sorted(HW4_PARAMETERS))
def test_hw4_parameter_counts(name):
    assert build_model(get_preset(name), 65).num_parameters() == HW4_PARAMETERS[name]


def test_hw4_optimisers_and_cadence():
    for name in HW4_PARAMETERS:
        c = get_preset(name)
        assert (c.context, c.batch_size, c.eval_every, c.eval_batches) == (256, 32, 200, 100)
        assert (c.betas, c.eps, c.grad_clip, c.dropout, c.schedule) == \
            ((0.9, 0.999), 1e-8, 0.0, 0.0, "constant")
    lrs = {name: (get_preset(name).optimizer, get_preset(name).lr) for name in HW4_PARAMETERS}
    assert lrs == {"hw4-bigram": ("adamw", 1e-2), "hw4-bigram-emb": ("adamw", 1e-2),
                   "hw4-single-head": ("adamw", 6e-4), "hw4-multi-head": ("adamw", 6e-4),
                   "hw4-transformer": ("adam", 1e-4)}
    small = get_preset("hw4-bigram")
    assert (small.steps, small.weight_decay, small.decay_all) == (1000, 0.01, True)
    big = get_preset("hw4-transformer")
    assert (big.steps, big.weight_decay, big.init, big.attention) == (2000, 0.0, "normal", "hw4")


def test_hw4_transformer_init_is_normal_002_without_residual_scaling():
    model = build_model(get_preset("hw4-transformer").replace(n_layer=2), 65)
    proj = model.blocks[0].attn.out_proj
    assert abs(float(proj.weight.numpy().std()) - 0.02) < 0.002
    assert not np.any(proj.bias.numpy())


def test_thesis_presets():
    final, first = get_preset("thesis"), get_preset("thesis-v1")
    assert (final.vocab_size, final.n_layer, final.n_head, final.n_embd, final.context,
            final.batch_size, final.ff_hidden, final.dropout) == (8000, 3, 8, 256, 128, 64,
                                                                  1024, 0.3)
    assert (final.optimizer, final.lr, final.betas, final.eps, final.weight_decay) == \
        ("adamw", 1.5e-3, (0.9, 0.98), 1e-9, 0.01)
    assert (final.warmup_steps, final.schedule, final.min_lr, final.norm, final.init) == \
        (1000, "cosine", 0.0, "pre", "xavier")
    assert (final.val_fraction, final.test_fraction, final.patience) == (0.1, 0.1, 10)
    assert (first.vocab_size, first.n_layer, first.n_embd, first.context, first.norm,
            first.dropout, first.warmup_steps) == (10000, 6, 512, 256, "post", 0.1, 0)


def test_cervantes_presets():
    epochs = {"quijote-mlp": 5, "quijote-rnn": 100, "quijote-lstm": 170,
              "quijote-transformer": 100}
    for name, count in epochs.items():
        c = get_preset(name)
        assert (c.epochs, c.objective, c.corpus, c.lower, c.word_split, c.min_freq) == \
            (count, "last", "quijote", True, "spaces", 2)
        assert (c.optimizer, c.batch_size, c.betas, c.grad_clip) == ("adam", 32, (0.9, 0.999),
                                                                     0.0)
    assert get_preset("quijote-mlp").context == 2
    assert get_preset("quijote-transformer").lr == 3e-4
    t = get_preset("quijote-transformer")
    assert (t.norm, t.n_layer, t.n_head, t.n_embd, t.ff_hidden, t.context) == \
        ("post", 2, 4, 128, 256, 16)


def test_every_preset_validates_and_describes_itself():
    for name in PRESETS:
        assert get_preset(name).validate().description
    assert "hw4" not in get_preset("gpt-384").attention
    assert build_model(get_preset("gpt-384"), 65).num_parameters() == 10_795_841
