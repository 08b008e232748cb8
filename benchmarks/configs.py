"""Preset shapes and optimizer settings shared by the PyTorch and minigrad reference models.
Pure Python (no torch, no numpy), so both workers and the command line can read them.

    CONFIGS          preset name -> plain dict (model shape + batch shape)
    PRESETS          the public presets, in the order `--preset all` runs them
    GPT_OPTIM        AdamW(lr, betas, weight_decay) of every GPT preset
    LSTM_OPTIM       Adam(lr) of every LSTM preset
    resolve(name, overrides) -> dict      CONFIGS[name] + overrides + {"name": name}
    parse_overrides(items, base) -> dict  "--set KEY=VALUE" strings, typed like base's values
    OP_SIZES         op name -> default size (the tiny GPT's shapes); the op workers' list
    OP_SWEEPS        op name -> sizes swept by `python -m benchmarks ops`
    parse_op_spec("matmul:64,64,64:fwdbwd") -> (name, size, mode, no_grad)
    op_work(name, size) -> int            the x axis of the op plots (see its docstring)

`kind` picks the model; `batch_size` (and the GPT's block_size / the LSTM's seq_len) give
the batch of one training step. `micro` and `micro-lstm` are not presets: they are the
smallest shapes that exercise every layer, for smoke tests.
"""

__all__ = ["CONFIGS", "PRESETS", "GPT_OPTIM", "LSTM_OPTIM", "OP_SIZES", "OP_SWEEPS",
           "OP_MODES", "parse_value", "parse_overrides", "resolve", "parse_op_spec",
           "format_op_spec", "op_work"]

CONFIGS = {
    # Tiny GPT, nanoGPT style (no biases, tied head), char vocabulary.
    "tiny": dict(kind="gpt", vocab_size=65, n_layer=4, n_head=4, n_embd=128, block_size=64,
                 batch_size=32, dropout=0.0, bias=False, tie_weights=True),
    # A GPT at HW4's transformer size with standard heads of 64: biases, untied head (the
    # gpt-384 preset's shape; named hw4-transformer in results before 2026-12-01, the same
    # model: HW4's own, with 384-wide values per head, is the hw4-transformer preset now).
    "gpt-384": dict(kind="gpt", vocab_size=65, n_layer=6, n_head=6, n_embd=384,
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

PRESETS = ["tiny", "gpt-384", "nanogpt-char", "lstm-word", "quijote-lstm"]

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


# ---------------------------------------------------------------------------------- ops
# Sizes of the single-op benchmarks (see benchmarks/torch_worker.py for what each means).
OP_SIZES = {
    "matmul": (2048, 128, 512),         # M,K,N
    "bmm": (128, 64, 32, 64),           # B,M,K,N
    "softmax": (8192, 64),              # R,C
    "log_softmax_ce": (2048, 65),       # N,V
    "layer_norm": (2048, 128),          # N,C
    "gelu": (2048, 512),                # N,C
    "embedding": (65, 128, 2048),       # V,C,N
    "attention": (32, 4, 64, 32),       # B,H,T,D (composed: matmul, mask, softmax, matmul)
    "sdpa": (32, 4, 64, 32),            # B,H,T,D (each library's fused causal attention)
    "lstm_cell": (20, 256, 512),        # B,E,H
    "lstm": (35, 20, 256, 512),         # T,B,E,H (a one-layer LSTM over a sequence)
    "add_small": (32,),                 # N
}

# The sweep: the tiny GPT's shapes, the hw4 transformer's (B*T = 8192 rows, C = 384,
# T = 256, 6 heads of 64) and the LSTM LMs', smallest first.
OP_SWEEPS = {
    "matmul": [(256, 256, 256), (2048, 128, 512), (512, 512, 512), (1024, 1024, 1024),
               (8192, 384, 1536)],
    "bmm": [(128, 64, 32, 64), (192, 128, 64, 128), (192, 256, 64, 256)],
    "softmax": [(8192, 64), (8192, 256), (49152, 256)],
    "log_softmax_ce": [(2048, 65), (8192, 65), (700, 10000)],
    "layer_norm": [(2048, 128), (8192, 384), (16384, 384)],
    "gelu": [(2048, 512), (8192, 1536)],
    "embedding": [(65, 128, 2048), (10000, 256, 700), (65, 384, 8192)],
    "attention": [(32, 4, 64, 32), (32, 6, 128, 64), (32, 6, 256, 64)],
    "sdpa": [(32, 4, 64, 32), (32, 6, 128, 64), (32, 6, 256, 64)],
    "lstm_cell": [(32, 64, 128), (20, 256, 512), (64, 512, 1024)],
    "lstm": [(10, 32, 64, 128), (35, 20, 256, 512)],
    "add_small": [(32,), (1024,), (65536,)],
}

# fwd: forward with the graph recorded (inputs require grad); fwd-nograd: forward with
# nothing recorded; fwdbwd: forward + backward from a fixed upstream gradient.
OP_MODES = ("fwd", "fwd-nograd", "fwdbwd")


def parse_op_spec(text):
    """'NAME:A,B,..:MODE' (MODE optional, default fwd) -> (name, size, mode, no_grad), where
    mode is 'fwd' or 'fwdbwd' and no_grad is True for 'fwd-nograd'."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in OP_SIZES:
        raise ValueError(f"op spec {text!r}: expected NAME:SIZES[:MODE] with NAME one of "
                         f"{', '.join(OP_SIZES)}")
    name = parts[0]
    try:
        size = tuple(int(s) for s in parts[1].split(",") if s) or OP_SIZES[name]
    except ValueError:
        raise ValueError(f"op spec {text!r}: sizes must be comma-separated integers") from None
    if len(size) != len(OP_SIZES[name]):
        raise ValueError(f"op spec {text!r}: {name} takes {len(OP_SIZES[name])} sizes, "
                         f"got {len(size)}")
    mode = parts[2] if len(parts) == 3 else "fwd"
    if mode not in OP_MODES:
        raise ValueError(f"op spec {text!r}: mode must be one of {', '.join(OP_MODES)}")
    return name, size, ("fwd" if mode == "fwd-nograd" else mode), mode == "fwd-nograd"


def format_op_spec(name, size, mode, no_grad=False):
    """Inverse of parse_op_spec."""
    label = "fwd-nograd" if no_grad else mode
    return f"{name}:{','.join(str(s) for s in size)}:{label}"


def op_work(name, size):
    """How much one call of op `name` at `size` does, as one number: multiply-adds for the
    matmul-like ops (matmul M*K*N, bmm B*M*K*N, attention and sdpa 2*B*H*T*T*D, lstm_cell
    B*(E+H)*4H, lstm T times that), elements for the rest (the output's for embedding,
    N*C)."""
    if name == "matmul":
        m, k, n = size
        return m * k * n
    if name == "bmm":
        b, m, k, n = size
        return b * m * k * n
    if name in ("attention", "sdpa"):
        b, h, t, d = size
        return 2 * b * h * t * t * d
    if name == "lstm_cell":
        b, e, h = size
        return b * (e + h) * 4 * h
    if name == "lstm":
        t, b, e, h = size
        return t * b * (e + h) * 4 * h
    if name == "embedding":
        _, c, n = size
        return n * c
    work = 1
    for s in size:
        work *= s
    return work
