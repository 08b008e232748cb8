"""Character language models in the style of the HW4 notebook (seed 003): a bigram table,
one causal attention head, several heads side by side, then pre-norm blocks. Written for
PyTorch; the tests import it with ``torch`` bound to PyTorch and to minigrad."""
import torch
import torch.nn as nn
from torch.nn import functional as F


def lm_loss(logits, targets):
    """Mean next-token cross-entropy of logits (B, T, V) against targets (B, T)."""
    B, T, V = logits.shape
    return F.cross_entropy(logits.view(B * T, V), targets.view(B * T))


class Bigram(nn.Module):
    """Each token reads the logits of the next one from a (V, V) table."""

    def __init__(self, vocab_size):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.table(idx)                      # (B, T, V)
        return logits, None if targets is None else lm_loss(logits, targets)


class CausalHead(nn.Module):
    """One head: position t mixes the values of positions <= t."""

    def __init__(self, embed, head, block):
        super().__init__()
        self.head = head
        self.q = nn.Linear(embed, head, bias=False)
        self.k = nn.Linear(embed, head, bias=False)
        self.v = nn.Linear(embed, head, bias=False)
        self.register_buffer("lower", torch.tril(torch.ones(block, block)))

    def forward(self, x):                             # x: (B, T, D)
        T = x.size(1)
        scores = self.q(x) @ self.k(x).transpose(-2, -1) * self.head ** -0.5   # (B, T, T)
        scores = scores.masked_fill(self.lower[:T, :T] == 0, float("-inf"))
        return torch.softmax(scores, dim=-1) @ self.v(x)                      # (B, T, head)


class Heads(nn.Module):
    """Several heads, concatenated and projected back to the embedding size."""

    def __init__(self, embed, n_heads, block):
        super().__init__()
        self.heads = nn.ModuleList(CausalHead(embed, embed // n_heads, block)
                                   for _ in range(n_heads))
        self.proj = nn.Linear(embed, embed)

    def forward(self, x):
        return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))


class Block(nn.Module):
    def __init__(self, embed, n_heads, block):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(embed), nn.LayerNorm(embed)
        self.attn = Heads(embed, n_heads, block)
        self.mlp = nn.Sequential(nn.Linear(embed, 4 * embed), nn.ReLU(), nn.Linear(4 * embed, embed))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CharTransformer(nn.Module):
    """Token and position embeddings, ``n_layers`` blocks, a final norm and the LM head."""

    def __init__(self, vocab_size, block, embed=32, n_heads=4, n_layers=2):
        super().__init__()
        self.block = block
        self.tokens = nn.Embedding(vocab_size, embed)
        self.positions = nn.Embedding(block, embed)
        self.blocks = nn.Sequential(*[Block(embed, n_heads, block) for _ in range(n_layers)])
        self.norm = nn.LayerNorm(embed)
        self.head = nn.Linear(embed, vocab_size)
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        x = self.tokens(idx) + self.positions(torch.arange(T, device=idx.device))   # (B, T, D)
        logits = self.head(self.norm(self.blocks(x)))                               # (B, T, V)
        return logits, None if targets is None else lm_loss(logits, targets)

    @torch.no_grad()
    def generate(self, idx, new_tokens):
        for _ in range(new_tokens):
            logits, _ = self(idx[:, -self.block:])
            probs = F.softmax(logits[:, -1, :], dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


def batch(data, block, batch_size, device="cpu"):
    """Random windows of a 1-D token tensor: inputs and the inputs shifted by one."""
    starts = torch.randint(len(data) - block, (batch_size,))
    x = torch.stack([data[s:s + block] for s in starts])
    y = torch.stack([data[s + 1:s + block + 1] for s in starts])
    return x.to(device), y.to(device)


@torch.no_grad()
def mean_loss(model, data, block, batches, batch_size=4):
    losses = torch.zeros(batches)
    for i in range(batches):
        losses[i] = model(*batch(data, block, batch_size))[1].item()
    return losses.mean()
