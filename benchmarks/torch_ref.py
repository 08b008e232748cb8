"""PyTorch reference models for the benchmarks, mirroring minigrad's presets.

    GPT(GPTConfig)        decoder-only transformer, nanoGPT layout
    LSTMLM(LSTMConfig)    embedding -> LSTM -> linear head
    CONFIGS               preset name -> plain dict (from benchmarks.configs)
    build(name, **overrides) -> (model, optimizer, cfg)
    make_batch(cfg, generator=None) -> (idx, targets)      random token ids
    train_step(model, optimizer, idx, targets, amp=None, scaler=None) -> loss   one step
    configure_optimizer(model, cfg) -> AdamW (GPT) / Adam (LSTM)

GPT: token + learned positional embedding; n_layer pre-LN blocks
    x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
with LayerNorm(eps=1e-5), multi-head causal self-attention written out (q k^T / sqrt(d),
masked_fill(-inf), softmax, dropout, @ v; `sdpa=True` calls the fused
F.scaled_dot_product_attention instead), feed-forward Linear(C, 4C) - GELU - Linear(4C, C);
final LayerNorm and a linear head (optionally tied to the token embedding). Init (nanoGPT):
Linear and Embedding weights N(0, 0.02), biases 0, LayerNorm weight 1 / bias 0, and the two
residual projections of each block (attention output, second feed-forward Linear)
N(0, 0.02 / sqrt(2 * n_layer)). Parameter count: `flops.gpt_param_count`.

LSTM LM: Embedding(V, E), nn.LSTM(E, H, num_layers, batch_first=True), Linear(H, V), loss
at every position, zero initial state. `cell_loop=True` builds the same network as a Python
loop of nn.LSTMCell over layers and time steps (identical parameter shapes, so the weights can
be copied across). Init: embedding and head as for the GPT (N(0, 0.02), zero bias); the LSTM
keeps PyTorch's U(-1/sqrt(H), 1/sqrt(H)). Parameter count: `flops.lstm_param_count`.

Optimizers: GPT AdamW(lr 1e-3, betas (0.9, 0.99), weight_decay 0.1) with decay on the 2-D
parameters only (matmul weights and embeddings; not biases or LayerNorm), as nanoGPT's
`configure_optimizers`; LSTM Adam(lr 1e-3).
"""

import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.configs import CONFIGS, GPT_OPTIM, LSTM_OPTIM

__all__ = [
    "CONFIGS",
    "GPTConfig",
    "GPT",
    "LSTMConfig",
    "LSTMLM",
    "build",
    "build_model",
    "configure_optimizer",
    "make_batch",
    "train_step",
]

# Preset shapes and optimizer settings live in the torch-free benchmarks.configs, shared
# with the minigrad reference models (benchmarks.mg_ref).


# ---------------------------------------------------------------------------------- GPT
@dataclass
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = False
    sdpa: bool = False
    gelu: str = "none"          # nn.GELU(approximate=...): "none" (erf) or "tanh"


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg.n_embd % cfg.n_head:
            raise ValueError(f"n_embd {cfg.n_embd} is not a multiple of n_head {cfg.n_head}")
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.sdpa = cfg.sdpa
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, cfg.block_size, cfg.block_size),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)          # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        if self.sdpa:
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            att = att.masked_fill(~self.mask[:, :, :T, :T], float("-inf"))
            att = self.attn_dropout(F.softmax(att, dim=-1))
            y = att @ v                                               # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.gelu = nn.GELU(approximate=cfg.gelu)
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, eps=1e-5, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, eps=1e-5, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=1e-5, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=cfg.bias)
        if cfg.tie_weights:
            self.lm_head.weight = self.wte.weight
        self.apply(_init_weights)
        resid_std = 0.02 / math.sqrt(2 * cfg.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=resid_std)
            nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=resid_std)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence length {T} > block_size {self.config.block_size}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


def _init_weights(module):
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)


# ---------------------------------------------------------------------------------- LSTM
@dataclass
class LSTMConfig:
    vocab_size: int = 915
    emb_dim: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0        # between LSTM layers, as nn.LSTM(dropout=...)
    cell_loop: bool = False


class LSTMLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.emb_dim)
        if cfg.cell_loop:
            self.cells = nn.ModuleList(
                nn.LSTMCell(cfg.emb_dim if i == 0 else cfg.hidden_size, cfg.hidden_size)
                for i in range(cfg.num_layers))
            self.layer_dropout = nn.Dropout(cfg.dropout)
        else:
            self.lstm = nn.LSTM(cfg.emb_dim, cfg.hidden_size, cfg.num_layers,
                                batch_first=True,
                                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        _init_weights(self.embedding)
        _init_weights(self.head)

    def forward(self, idx, targets=None):
        x = self.embedding(idx)                                       # (B, T, E)
        if self.config.cell_loop:
            B, T, _ = x.shape
            for i, cell in enumerate(self.cells):
                if i:
                    x = self.layer_dropout(x)
                h = x.new_zeros(B, cell.hidden_size)
                c = x.new_zeros(B, cell.hidden_size)
                outs = []
                for t in range(T):
                    h, c = cell(x[:, t], (h, c))
                    outs.append(h)
                x = torch.stack(outs, dim=1)                          # (B, T, H)
        else:
            x, _ = self.lstm(x)
        logits = self.head(x)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    def lstm_state_dict(self):
        """The recurrent weights under nn.LSTM's names (weight_ih_l0, ...), whichever form
        this model has: to copy weights between the nn.LSTM and the cell-loop models."""
        if not self.config.cell_loop:
            return {k: v.detach().clone() for k, v in self.lstm.state_dict().items()}
        return {f"{name}_l{i}": p.detach().clone() for i, cell in enumerate(self.cells)
                for name, p in cell.state_dict().items()}

    def load_lstm_state_dict(self, state):
        """Inverse of lstm_state_dict."""
        if not self.config.cell_loop:
            self.lstm.load_state_dict(state)
            return
        for i, cell in enumerate(self.cells):
            cell.load_state_dict({name: state[f"{name}_l{i}"]
                                  for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})


# ---------------------------------------------------------------------------------- builders
def _model_config(cfg):
    kind = cfg["kind"]
    if kind == "gpt":
        cls = GPTConfig
    elif kind == "lstm":
        cls = LSTMConfig
    else:
        raise ValueError(f"unknown model kind {kind!r} (expected 'gpt' or 'lstm')")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in cfg.items() if k in names})


def build_model(cfg):
    """The model of a config dict (a CONFIGS entry, possibly with overrides)."""
    mcfg = _model_config(cfg)
    return GPT(mcfg) if isinstance(mcfg, GPTConfig) else LSTMLM(mcfg)


def configure_optimizer(model, cfg):
    """AdamW(lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on 2-D parameters) for the GPT,
    Adam(lr 1e-3) for the LSTM. `cfg` may override lr, betas, weight_decay."""
    if cfg["kind"] == "gpt":
        opts = {k: cfg.get(k, v) for k, v in GPT_OPTIM.items()}
        params = [p for p in model.parameters() if p.requires_grad]   # tied weight once
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": opts["weight_decay"]},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=opts["lr"], betas=tuple(opts["betas"]))
    return torch.optim.Adam(model.parameters(), lr=cfg.get("lr", LSTM_OPTIM["lr"]))


def build(name, seed=1337, **overrides):
    """(model, optimizer, cfg) for preset `name` with `overrides` applied to its dict
    (e.g. sdpa=True, cell_loop=True, batch_size=8). The model is put in training mode."""
    if name not in CONFIGS:
        raise KeyError(f"unknown config {name!r}; choose from {', '.join(CONFIGS)}")
    cfg = dict(CONFIGS[name], name=name)
    cfg.update(overrides)
    torch.manual_seed(seed)
    model = build_model(cfg)
    model.train()
    return model, configure_optimizer(model, cfg), cfg


def make_batch(cfg, generator=None):
    """Random (idx, targets) of shape (batch_size, T), T = block_size or seq_len."""
    t = cfg["block_size"] if cfg["kind"] == "gpt" else cfg["seq_len"]
    shape = (cfg["batch_size"], t)
    idx = torch.randint(cfg["vocab_size"], shape, generator=generator)
    targets = torch.randint(cfg["vocab_size"], shape, generator=generator)
    return idx, targets


def train_step(model, optimizer, idx, targets, amp=None, scaler=None):
    """One training step: zero grads, forward, cross-entropy, backward, optimizer step.
    ``amp`` ('float16' or 'bfloat16') runs the forward under ``torch.autocast``; a
    ``scaler`` (``torch.amp.GradScaler``) scales the loss and steps through it."""
    optimizer.zero_grad(set_to_none=True)
    if amp:
        with torch.autocast(device_type=idx.device.type, dtype=getattr(torch, amp)):
            _, loss = model(idx, targets)
    else:
        _, loss = model(idx, targets)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss
