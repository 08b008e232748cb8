"""Named configurations: `tiny`, the default; the seeds' experiments, each under its
seed's name and reproduced field by field (models/seed_presets.py: `hw4-*`, `thesis`,
`thesis-v1`, `quijote-*`, `copy`); and our own GPT recipes in the nanoGPT style, under
names of their own. Each preset lists only what differs from `Config`'s defaults, which
are `tiny`'s; command-line flags override a preset field by field.
"""
from models.config import Config
from models.seed_presets import CERVANTES, COPY, HW4, THESIS

OURS = {
    "tiny": dict(
        description="the default: GPT with 4 layers, 4 heads, 128 wide, context 64, batch 32, "
                    "no biases, tied head; AdamW 1e-3 (0.9, 0.99), weight decay 0.1 on "
                    "matrices, warmup 100 then cosine to 1e-4 at 2,000 steps, clip 1.0"),
    "gpt-384": dict(
        model="transformer", n_layer=6, n_head=6, n_embd=384, context=256, batch_size=32,
        dropout=0.2, bias=True, tie_weights=False, activation="relu", lr=3e-4,
        schedule="constant", warmup_steps=0, weight_decay=0.01, grad_clip=0.0, steps=2000,
        eval_every=500,
        description="ours, not HW4's model: a GPT at HW4's size (6 layers, 6 standard heads "
                    "of 64, 384 wide, context 256, batch 32, ReLU feed-forward, biases, "
                    "untied head) with nanoGPT's recipe: dropout 0.2, AdamW 3e-4 (0.9, "
                    "0.99), weight decay 0.01 on matrices, 2,000 steps; 10,795,841 "
                    "parameters (called hw4-transformer before the HW4 presets were made "
                    "faithful)"),
    "nanogpt-char": dict(
        model="transformer", n_layer=6, n_head=6, n_embd=384, context=256, batch_size=64,
        dropout=0.2, steps=5000, eval_every=250,
        description="nanoGPT's train_shakespeare_char: 6 layers, 6 heads, 384 wide, context "
                    "256, batch 64, dropout 0.2, AdamW 1e-3 warmup 100 then cosine to 1e-4 "
                    "at 5,000 steps"),
}

PRESETS = {**OURS, **HW4, **THESIS, **CERVANTES, **COPY}

DEFAULT_PRESET = "tiny"


def get_preset(name):
    """The Config of preset `name`; a ValueError listing the presets if there is none."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return Config(**PRESETS[name])
