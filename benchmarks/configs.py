"""Preset shapes and optimizer settings shared by the PyTorch and minigrad reference models.
Pure Python (no torch, no numpy), so both workers and the command line can read them.

    CONFIGS          preset name -> plain dict (model shape + batch shape)
    PRESETS          the public presets, in the order `--preset all` runs them
    GPT_OPTIM        AdamW(lr, betas, weight_decay) of every GPT preset
    LSTM_OPTIM       Adam(lr) of every LSTM preset
    resolve(name, overrides) -> dict      CONFIGS[name] + overrides + {"name": name}
    parse_overrides(items, base) -> dict  "--set KEY=VALUE" strings, typed like base's values

`kind` picks the model; `batch_size` (and the GPT's block_size / the LSTM's seq_len) give
the batch of one training step. `micro` and `micro-lstm` are not presets: they are the
smallest shapes that exercise every layer, for smoke tests.
"""

__all__ = ["CONFIGS", "PRESETS", "GPT_OPTIM", "LSTM_OPTIM", "parse_value", "parse_overrides",
           "resolve"]

CONFIGS = {
    # Tiny GPT, nanoGPT style (no biases, tied head), char vocabulary.
    "tiny": dict(kind="gpt", vocab_size=65, n_layer=4, n_head=4, n_embd=128, block_size=64,
                 batch_size=32, dropout=0.0, bias=False, tie_weights=True),
    # The HW4 transformer size: biases, untied head.
    "hw4-transformer": dict(kind="gpt", vocab_size=65, n_layer=6, n_head=6, n_embd=384,
                            block_size=256, batch_size=32, dropout=0.0, bias=True,
                            tie_weights=False),
    # nanoGPT's config/train_shakespeare_char.py: same shape, batch 64, dropout 0.2, no biases.
    "nanogpt-char": dict(kind="gpt", vocab_size=65, n_layer=6, n_head=6, n_embd=384,
                         block_size=256, batch_size=64, dropout=0.2, bias=False,
                         tie_weights=True),
    # PyTorch examples/word_language_model size (one layer).
    "lstm-word": dict(kind="lstm", vocab_size=10000, emb_dim=256, hidden_size=512,
                      num_layers=1, seq_len=35, batch_size=20, dropout=0.0),
    # The Cervantes (Quijote) notebook size.
    "quijote-lstm": dict(kind="lstm", vocab_size=915, emb_dim=64, hidden_size=128,
                         num_layers=1, seq_len=10, batch_size=32, dropout=0.0),
    # Smoke-test shapes (not part of `all`).
    "micro": dict(kind="gpt", vocab_size=65, n_layer=1, n_head=2, n_embd=16, block_size=8,
                  batch_size=2, dropout=0.0, bias=True, tie_weights=False),
    "micro-lstm": dict(kind="lstm", vocab_size=50, emb_dim=8, hidden_size=16, num_layers=1,
                       seq_len=4, batch_size=2, dropout=0.0),
}

PRESETS = ["tiny", "hw4-transformer", "nanogpt-char", "lstm-word", "quijote-lstm"]

GPT_OPTIM = dict(lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
LSTM_OPTIM = dict(lr=1e-3)


def parse_value(text, like):
    """Turn '--set' text into the type of the preset's current value `like`."""
    if isinstance(like, bool) or text.lower() in ("true", "false"):
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true/false, got {text!r}")
        return text.lower() in ("true", "1")
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_overrides(items, base):
    """{key: typed value} from "KEY=VALUE" strings; raises ValueError on a malformed item."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = parse_value(value, base.get(key))
    return overrides


def resolve(name, overrides=None):
    """The config dict of preset `name` with `overrides` applied, plus its name."""
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; choose from {', '.join(CONFIGS)}")
    cfg = dict(CONFIGS[name], name=name)
    cfg.update(overrides or {})
    return cfg
