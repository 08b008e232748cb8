"""minigrad reference models for the benchmarks: the networks of `benchmarks.torch_ref`, built
from `minigrad.nn` layers with the same architecture, initialisation and hyper-parameters.

    GPT(cfg)              decoder-only transformer, nanoGPT layout (pre-LN blocks)
    LSTMLM(cfg)           embedding -> LSTM -> linear head
    build(name, seed=1337, impl="auto", device="cpu", **overrides) -> (model, optimizer, cfg)
    make_batch(cfg, seed=1337, device="cpu") -> (idx, targets)
    train_step(model, optimizer, idx, targets, shards=1, amp=None, scaler=None) -> loss (float)
    configure_optimizer(model, cfg) -> AdamW (GPT) / Adam (LSTM)

GPT: token embedding + learned positional embedding, dropout, n_layer
`minigrad.nn.TransformerBlock`s (pre-LN; attention q k^T / sqrt(d), causal mask, softmax,
dropout, @ v; feed-forward Linear(C, 4C) - GELU (erf) - Linear(4C, C) - Dropout), final
LayerNorm(eps 1e-5) and a linear head, tied to the token embedding when `tie_weights`.
Init (nanoGPT, as torch_ref): Linear and Embedding weights N(0, 0.02), biases 0, LayerNorm
1 / 0, the two residual projections of each block N(0, 0.02 / sqrt(2 * n_layer)).

LSTM LM: Embedding(V, E) N(0, 0.02), `minigrad.nn.LSTM(E, H, num_layers, batch_first=True)`
(PyTorch's U(-1/sqrt(H), 1/sqrt(H))), Linear(H, V) N(0, 0.02) with zero bias, loss at every
position, zero initial state. minigrad's LSTM is a Python loop of cells, so it is compared
with both torch's nn.LSTM and torch's own loop of nn.LSTMCell.

Optimizers (as torch_ref): GPT AdamW(lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on the 2-D
parameters only); LSTM Adam(lr 1e-3), from `minigrad.optim`. `train_step` takes the cross-entropy of
`model(idx)` (the logits, or a tuple starting with them), as torch_ref's models do inside.

`impl`: 'ref' builds the classes of this module; 'models' uses `models.TransformerLM` /
`models.LSTMLM` (the project's own language models); 'auto' (default) takes 'models' when
they exist, accept the config's fields as keyword arguments and, given this reference's
weights, compute the same logits (so the comparison with torch_ref stays like for like),
else 'ref'; the models package's LM then starts from this module's initialisation. The
choice is reported (`model_impl`, `model_impl_note`, `optimizer_impl`) in every row.
"""

import math

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad import functional as F
from minigrad.nn import init

from benchmarks import flops
from benchmarks.configs import GPT_OPTIM, LSTM_OPTIM, resolve

__all__ = ["GPT", "LSTMLM", "build", "build_model", "configure_optimizer",
           "make_batch", "train_step"]


# ---------------------------------------------------------------------------------- GPT
def _normal_linear(linear, std=0.02):
    init.normal_(linear.weight, 0.0, std)
    if linear.bias is not None:
        init.zeros_(linear.bias)


class GPT(nn.Module):
    """x = drop(wte(idx) + wpe[:T]); blocks; logits = lm_head(ln_f(x))."""

    def __init__(self, cfg):
        super().__init__()
        c, bias, p = cfg["n_embd"], cfg.get("bias", True), cfg.get("dropout", 0.0)
        self.block_size = cfg["block_size"]
        self.wte = nn.Embedding(cfg["vocab_size"], c)
        self.wpe = nn.LearnedPositionalEmbedding(cfg["block_size"], c)
        self.drop = nn.Dropout(p)
        self.blocks = nn.ModuleList(
            nn.TransformerBlock(c, cfg["n_head"],
                                ff=nn.FeedForward(c, hidden=4 * c, dropout=p,
                                                  activation=_gelu_name(cfg), bias=bias),
                                dropout=p, norm="pre", causal=True, bias=bias)
            for _ in range(cfg["n_layer"]))
        self.ln_f = nn.LayerNorm(c, eps=1e-5, bias=bias)
        self.lm_head = nn.Linear(c, cfg["vocab_size"], bias=bias)
        # nanoGPT's init, in torch_ref's order of draws (not the same numbers: another RNG)
        init.normal_(self.wte.weight, 0.0, 0.02)
        init.normal_(self.wpe.weight, 0.0, 0.02)
        resid_std = 0.02 / math.sqrt(2 * cfg["n_layer"])
        for block in self.blocks:
            _normal_linear(block.attn.in_proj)
            _normal_linear(block.attn.out_proj, resid_std)
            _normal_linear(block.ff.net[0])
            _normal_linear(block.ff.net[2], resid_std)
        _normal_linear(self.lm_head)
        if cfg.get("tie_weights", False):
            self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets=None):
        t = idx.shape[-1]
        if t > self.block_size:
            raise ValueError(f"sequence length {t} > block_size {self.block_size}")
        x = self.drop(self.wpe(self.wte(idx)))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits, targets)


def _gelu_name(cfg):
    gelu = cfg.get("gelu", "none")
    if gelu not in ("none", "tanh"):
        raise ValueError(f"gelu must be 'none' or 'tanh', got {gelu!r}")
    return "gelu" if gelu == "none" else "gelu_tanh"


# ---------------------------------------------------------------------------------- LSTM
class LSTMLM(nn.Module):
    """logits = head(LSTM(embedding(idx)))."""

    def __init__(self, cfg):
        super().__init__()
        layers = cfg.get("num_layers", 1)
        self.embedding = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.lstm = nn.LSTM(cfg["emb_dim"], cfg["hidden_size"], num_layers=layers,
                            batch_first=True,
                            dropout=cfg.get("dropout", 0.0) if layers > 1 else 0.0)
        self.head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"])
        init.normal_(self.embedding.weight, 0.0, 0.02)
        _normal_linear(self.head)

    def forward(self, idx, targets=None):
        x, _ = self.lstm(self.embedding(idx))
        logits = self.head(x)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits, targets)


# ---------------------------------------------------------------------------------- optimizers
def configure_optimizer(model, cfg):
    """As torch_ref.configure_optimizer: AdamW with decay on 2-D parameters (GPT), Adam
    (LSTM). Returns (optimizer, where its class comes from)."""
    from minigrad.optim import Adam, AdamW
    adamw, adam, origin = AdamW, Adam, "minigrad.optim"
    params = [p for p in model.parameters() if p.requires_grad]      # tied weight once
    if cfg["kind"] == "gpt":
        opts = {k: cfg.get(k, v) for k, v in GPT_OPTIM.items()}
        groups = [{"params": [p for p in params if p.ndim >= 2],
                   "weight_decay": opts["weight_decay"]},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        return adamw(groups, lr=opts["lr"], betas=tuple(opts["betas"])), origin
    return adam(params, lr=cfg.get("lr", LSTM_OPTIM["lr"])), origin


# ---------------------------------------------------------------------------------- builders
def expected_param_count(cfg):
    if cfg["kind"] == "gpt":
        return flops.gpt_param_count(cfg["vocab_size"], cfg["block_size"], cfg["n_layer"],
                                     cfg["n_embd"], cfg.get("bias", True),
                                     cfg.get("tie_weights", False))
    return flops.lstm_param_count(cfg["vocab_size"], cfg["emb_dim"], cfg["hidden_size"],
                                  cfg.get("num_layers", 1))


def _build_models_impl(cfg):
    """(the project's own LM for `cfg` or None, why not). The project's `models.TransformerLM`
    / `models.LSTMLM` is used only when it builds from the config's fields and computes the
    same function as this module's reference: same parameter shapes in the same order and,
    with the reference's weights copied in, the same logits. It then also starts from the
    reference's (nanoGPT) initialisation."""
    try:
        import models
    except ImportError as exc:
        return None, f"no models package ({exc})"
    cls = getattr(models, "TransformerLM" if cfg["kind"] == "gpt" else "LSTMLM", None)
    if cls is None:
        return None, f"models has no {'TransformerLM' if cfg['kind'] == 'gpt' else 'LSTMLM'}"
    if cfg["kind"] == "gpt":
        kwargs = dict(vocab_size=cfg["vocab_size"], block_size=cfg["block_size"],
                      n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"],
                      dropout=cfg.get("dropout", 0.0), bias=cfg.get("bias", True),
                      tie_weights=cfg.get("tie_weights", False))
    else:
        kwargs = dict(vocab_size=cfg["vocab_size"], emb_dim=cfg["emb_dim"],
                      hidden_size=cfg["hidden_size"], num_layers=cfg.get("num_layers", 1),
                      dropout=cfg.get("dropout", 0.0))
    try:
        model = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        return None, f"{cls.__name__}({', '.join(kwargs)}) failed: {exc}"
    ref = GPT(cfg) if cfg["kind"] == "gpt" else LSTMLM(cfg)
    why = _same_network(model, ref, cfg)
    return (model, None) if why is None else (None, f"{cls.__name__}: {why}")


def _same_network(model, ref, cfg):
    """None when `model` computes what `ref` does (after taking ref's weights), else why not."""
    mine, theirs = list(model.parameters()), list(ref.parameters())
    if [p.shape for p in mine] != [p.shape for p in theirs]:
        return "parameter shapes differ from the reference"
    # Compare with weights large enough for every non-linearity to matter (at the init's
    # scale GELU's erf and tanh forms agree to 1e-5), then give `model` the reference's init.
    originals = [q.data for q in theirs]
    rng = np.random.default_rng(0)
    for p, q in zip(mine, theirs):
        scale = 1 / math.sqrt(p.shape[-1]) if p.ndim >= 2 else 0.5
        q.data = rng.normal(0.0 if p.ndim >= 2 else 0.5, scale, p.shape).astype(p.dtype)
        p.data[...] = q.data
    try:
        return _same_logits(model, ref, cfg)
    finally:
        for p, original in zip(mine, originals):
            p.data[...] = original


def _same_logits(model, ref, cfg):
    small = dict(cfg, batch_size=2)
    if cfg["kind"] == "gpt":
        small["block_size"] = min(cfg["block_size"], 8)
    else:
        small["seq_len"] = min(cfg["seq_len"], 4)
    idx, _ = make_batch(small, seed=0)
    model.eval()
    ref.eval()
    try:
        with mg.no_grad():
            out, want = model(idx), ref(idx)[0]
    except Exception as exc:        # a forward with another signature
        return f"forward(idx) failed: {exc}"
    finally:
        model.train()
    out = out[0] if isinstance(out, tuple) else out
    if getattr(out, "shape", None) != want.shape or not np.allclose(
            out.numpy(), want.numpy(), rtol=1e-4, atol=1e-4):
        return "its logits differ from the reference's with the same weights"
    return None


def build_model(cfg, impl="auto"):
    """(model, impl used, note) for a config dict; note says why 'auto' fell back."""
    if impl not in ("auto", "models", "ref"):
        raise ValueError(f"impl must be 'auto', 'models' or 'ref', got {impl!r}")
    if cfg["kind"] not in ("gpt", "lstm"):
        raise ValueError(f"unknown model kind {cfg['kind']!r} (expected 'gpt' or 'lstm')")
    note = None
    if impl in ("auto", "models"):
        model, note = _build_models_impl(cfg)
        if model is not None:
            return model, "models", None
        if impl == "models":
            raise RuntimeError(f"cannot use the models package's LM: {note}")
    return (GPT(cfg) if cfg["kind"] == "gpt" else LSTMLM(cfg)), "mg_ref", note


def build(name, seed=1337, impl="auto", device="cpu", **overrides):
    """(model, optimizer, cfg) for preset `name` with `overrides`; cfg gains `model_impl`
    and `optimizer_impl`. The model is in training mode, on `device`."""
    cfg = resolve(name, overrides)
    mg.manual_seed(seed)
    model, used, note = build_model(cfg, impl)
    model.train()
    if device != "cpu":
        model.to(device)
    optimizer, origin = configure_optimizer(model, cfg)
    cfg.update(model_impl=used, optimizer_impl=origin)
    if note:
        cfg["model_impl_note"] = note
    return model, optimizer, cfg


def make_batch(cfg, seed=1337, device="cpu"):
    """Random (idx, targets) int64 tensors of shape (batch_size, T), T = block_size or
    seq_len."""
    t = cfg["block_size"] if cfg["kind"] == "gpt" else cfg["seq_len"]
    rng = np.random.default_rng(seed)
    shape = (cfg["batch_size"], t)
    idx = rng.integers(cfg["vocab_size"], size=shape, dtype=np.int64)
    targets = rng.integers(cfg["vocab_size"], size=shape, dtype=np.int64)
    return mg.tensor(idx, device=device), mg.tensor(targets, device=device)


def train_step(model, optimizer, idx, targets, shards=1, amp=None, scaler=None):
    """One training step: zero grads, forward, cross-entropy, backward, optimizer step.
    `model(idx)` may return the logits or a tuple starting with them (this module's models,
    and the models package's). With ``shards`` > 1 a non-recurrent model's batch is split
    over that many threads, as ``minigrad train`` does on the CPU. ``amp`` ('float16' or
    'bfloat16') runs the forward under ``minigrad.amp.autocast``, and a ``scaler``
    (``minigrad.amp.GradScaler``) scales the loss and steps through it, as a float16 run
    does. Returns the loss (float, unscaled)."""
    import contextlib

    from minigrad.parallel import split_backward

    def loss_of(x, y):
        # autocast is per thread: entered here, in each shard's own thread
        with mg.amp.autocast(amp) if amp else contextlib.nullcontext():
            out = model(x)
            loss = F.cross_entropy(out[0] if isinstance(out, tuple) else out, y)
        return scaler.scale(loss) if scaler is not None else loss

    scale = scaler.get_scale() if scaler is not None else 1.0
    optimizer.zero_grad(set_to_none=True)
    if shards > 1 and not getattr(model, "recurrent", False) and idx.shape[0] % shards == 0:
        loss = split_backward(loss_of, list(model.parameters()), (idx, targets), shards)
    else:
        loss = loss_of(idx, targets)
        loss.backward()
        loss = loss.item()
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss / scale
