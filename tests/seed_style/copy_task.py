"""A two-layer causal Transformer on the copy task, with the samplers of the "Advanced
Topics" notebook (seed 001): sinusoidal positions, a clipped training loop, and greedy,
temperature, top-k and top-p decoding. Written for PyTorch; the tests import it with
``torch`` bound to PyTorch and to minigrad, and give it to the seed's own cells as the
``transformers`` module they import ``TwoLayerTransformer`` from."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal_positions(length, d_model):
    """(length, d_model): sin on even features, cos on odd, wavelengths 2π .. 10000·2π."""
    table = torch.zeros(length, d_model)
    pos = torch.arange(0, length).unsqueeze(1).float()                       # (L, 1)
    rate = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    table[:, 0::2] = torch.sin(pos * rate)
    table[:, 1::2] = torch.cos(pos * rate)
    return table


class Layer(nn.Module):
    """Post-norm: attention, then a ReLU feed-forward, each with dropout and a residual."""

    def __init__(self, d_model, num_heads, d_ff, dropout):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, future):
        a, _ = self.attn(x, x, x, attn_mask=future, need_weights=False)
        x = self.norm1(x + self.drop(a))
        return self.norm2(x + self.drop(self.ff(x)))


class TwoLayerTransformer(nn.Module):
    def __init__(self, vocab_size, d_model=64, num_heads=4, d_ff=128, max_seq_len=32,
                 dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.register_buffer("positions", sinusoidal_positions(max_seq_len, d_model))
        self.layers = nn.ModuleList(Layer(d_model, num_heads, d_ff, dropout) for _ in range(2))
        self.out = nn.Linear(d_model, vocab_size)

    def forward(self, idx):                                       # idx: (B, T)
        T = idx.size(1)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=idx.device), diagonal=1)
        x = self.embed(idx) * math.sqrt(self.embed.embedding_dim) + self.positions[:T]
        for layer in self.layers:
            x = layer(x, future)
        return self.out(x)                                        # (B, T, V)


def copy_data(n, length, vocab_size):
    return torch.stack([torch.randint(1, vocab_size, (length,)) for _ in range(n)])


def train(model, data, epochs, batch_size, lr=1e-3):
    """Teacher-forced next-token loss, Adam, gradients clipped to norm 1; the mean loss of
    each epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    means = []
    for _ in range(epochs):
        losses = []
        for i in range(0, len(data), batch_size):
            seq = data[i:i + batch_size]
            logits = model(seq)
            loss = loss_fn(logits[:, :-1].reshape(-1, logits.size(-1)), seq[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            losses.append(loss.item())
        means.append(sum(losses) / len(losses))
    return means


def top_k_probs(logits, k):
    """The softmax over the k largest logits, zero elsewhere (same shape as logits)."""
    values, indices = torch.topk(logits, k, dim=-1)
    return torch.zeros_like(logits).scatter(-1, indices, F.softmax(values, dim=-1))


def top_p_probs(logits, p):
    """The nucleus: the most likely tokens whose probabilities first sum past p, renormed."""
    probs = F.softmax(logits, dim=-1)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs    # mass ahead of each token
    kept = sorted_probs.masked_fill(before > p, 0.0)           # the first always stays
    kept = kept / kept.sum(dim=-1, keepdim=True)
    return torch.zeros_like(probs).scatter(-1, order, kept)


@torch.no_grad()
def decode(model, start, new_tokens, how="greedy", temperature=1.0, k=5, p=0.9):
    """Extend the 1-D ``start`` by ``new_tokens`` tokens, chosen by ``how``: "greedy",
    "temperature", "top_k" or "top_p"."""
    model.eval()
    tokens = start.clone()
    for _ in range(new_tokens):
        logits = model(tokens.unsqueeze(0))[0, -1] / temperature   # (V,)
        if how == "greedy":
            nxt = torch.argmax(logits, dim=-1, keepdim=True)
        else:
            probs = {"temperature": lambda: F.softmax(logits, dim=-1),
                     "top_k": lambda: top_k_probs(logits, k),
                     "top_p": lambda: top_p_probs(logits, p)}[how]()
            nxt = torch.multinomial(probs, num_samples=1)
        tokens = torch.cat([tokens, nxt])
    return tokens
