"""Named configurations: the seeds' models (HW4, nanoGPT, the thesis, the Cervantes notebook)
and `tiny`, the default. Each preset lists only what differs from `Config`'s defaults, which
are `tiny`'s; command-line flags override a preset field by field.

Step counts and sizes follow the seeds. Where a seed left a setting unstated (the
optimiser of the thesis model, the HW4 attention steps' learning rate) the value here is
ours and says so in the description.
"""
from models.config import Config

# The HW4 ladder: Tiny Shakespeare by character, context 256, batch 32, AdamW at a constant
# rate (torch.optim.AdamW's default weight decay 0.01), no clipping, as the notebook trains.
_HW4 = dict(context=256, batch_size=32, schedule="constant", warmup_steps=0, weight_decay=0.01,
            grad_clip=0.0, steps=1000, eval_every=100)

PRESETS = {
    "tiny": dict(
        description="the default: GPT with 4 layers, 4 heads, 128 wide, context 64, batch 32, "
                    "no biases, tied head; AdamW 1e-3 (0.9, 0.99), weight decay 0.1 on "
                    "matrices, warmup 100 then cosine to 1e-4 at 2,000 steps, clip 1.0"),
    "hw4-bigram": dict(
        _HW4, model="bigram", lr=1e-2, eval_batches=100,
        description="HW4 1.1: bigram logits table, AdamW 1e-2, 1,000 steps"),
    "hw4-bigram-emb": dict(
        _HW4, model="bigram-emb", n_embd=32, lr=1e-2, eval_batches=100,
        description="HW4 1.2: embedding 32 + linear head, AdamW 1e-2, 1,000 steps"),
    "hw4-single-head": dict(
        _HW4, model="single-head", n_embd=384, lr=1e-3,
        description="HW4 1.3: token + position embedding 384, one attention head of 384, "
                    "linear head; AdamW 1e-3, 1,000 steps"),
    "hw4-multi-head": dict(
        _HW4, model="multi-head", n_embd=384, n_head=6, lr=6e-4,
        description="HW4 1.3.3: 6 heads of 64 with an output projection, linear head; "
                    "AdamW 6e-4, 1,000 steps"),
    "hw4-transformer": dict(
        _HW4, model="transformer", n_layer=6, n_head=6, n_embd=384, dropout=0.2, bias=True,
        tie_weights=False, activation="relu", lr=3e-4, steps=2000, eval_every=500,
        description="HW4 1.4: GPT with 6 layers, 6 heads, 384 wide, context 256, batch 32, "
                    "ReLU feed-forward, dropout 0.2, AdamW 3e-4, 2,000 steps"),
    "nanogpt-char": dict(
        model="transformer", n_layer=6, n_head=6, n_embd=384, context=256, batch_size=64,
        dropout=0.2, steps=5000, eval_every=250,
        description="nanoGPT's train_shakespeare_char: 6 layers, 6 heads, 384 wide, context "
                    "256, batch 64, dropout 0.2, AdamW 1e-3 warmup 100 then cosine to 1e-4 "
                    "at 5,000 steps"),
    "thesis-bpe": dict(
        model="transformer", tokenizer="bpe", vocab_size=8000, n_layer=3, n_head=8, n_embd=256,
        context=128, ff_hidden=1024, ff_variant="gelu3", dropout=0.3, bias=True,
        tie_weights=False, lr=3e-4, min_lr=3e-5, steps=5000, eval_every=250, patience=5,
        description="the thesis model: BPE 8,000, 3 layers, 8 heads, 256 wide, context 128, "
                    "3-layer GELU feed-forward 1024, dropout 0.3, early stopping (patience 5); "
                    "AdamW 3e-4 with warmup and cosine (our choice)"),
    "quijote-lstm": dict(
        model="lstm", tokenizer="word", min_freq=2, n_embd=64, hidden_size=128, n_layer=1,
        context=10, batch_size=32, optimizer="adam", lr=1e-3, weight_decay=0.0,
        schedule="constant", warmup_steps=0, grad_clip=0.25, steps=3000, eval_every=250,
        description="the Cervantes notebook: words seen at least twice, embedding 64, LSTM "
                    "128, truncated BPTT over 10 words, Adam 1e-3; meant for --corpus "
                    "quijote.txt"),
}

DEFAULT_PRESET = "tiny"


def get_preset(name):
    """The Config of preset `name`; a ValueError listing the presets if there is none."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return Config(**PRESETS[name])
