"""The attention steps of HW4 1.3, before the full transformer: token and position
embeddings, one layer of causal self-attention, a linear head.

Initialisation is PyTorch's default, as in the notebook these steps come from: embedding
tables N(0, 1), Linear layers U(-1/sqrt(in), 1/sqrt(in)). (nanoGPT's N(0, 0.02) suits the
deep transformer, but leaves these shallow models with near-zero logits that take
hundreds of steps to grow.)

Shapes: B batch, T time, C = n_embd, V vocabulary.
"""
from minigrad import functional as F
from minigrad import nn

from models.base import LanguageModel

ATTENTIONS = ("standard", "hw4")


class Head(nn.Module):
    """One head of self-attention: x (B, T, C) -> (B, T, head_size).

        q, k, v = x W_q^T, x W_k^T, x W_v^T                           (B, T, head_size)
        out = softmax(q k^T / sqrt(head_size) + causal mask) v
    ``causal=False`` drops the mask: every position sees the whole window (seed 004's toy
    model, which predicts from the last position only). With a KVCache, x holds only the
    new positions and k, v are appended to the cache. ``keep_weights`` (set by
    ``nn.record_attention``) keeps each call's weights (B, 1, T, S) in ``self.weights``."""

    num_heads = 1

    def __init__(self, n_embd, head_size, dropout=0.0, bias=False, causal=True):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=bias)
        self.query = nn.Linear(n_embd, head_size, bias=bias)
        self.value = nn.Linear(n_embd, head_size, bias=bias)
        self.dropout, self.causal = dropout, causal
        self.keep_weights, self.weights = False, None

    def forward(self, x, cache=None):
        # One head in the (B, heads, T, D) layout that the attention function and KVCache use.
        q, k, v = (layer(x).unsqueeze(1) for layer in (self.query, self.key, self.value))
        if cache is not None:
            k, v = cache.append(k, v)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal,
            return_weights=self.keep_weights)
        if self.keep_weights:
            out, weights = out
            self.weights = weights.detach()
        return out.squeeze(1)                                        # (B, T, head_size)


class HW4MultiHeadAttention(nn.Module):
    """HW4's multi-head attention (seed 003, 1.3.3): x (B, T, C) -> (B, T, C).

    Each of the H heads has a key and a query of width D = C / H but a value as wide as the
    input, C -> C (HW4's Head); the H outputs, each C wide, are concatenated and projected
    back by Linear(H * C, C) with a bias:

        q_h, k_h = x Wq_h^T, x Wk_h^T      (B, T, D)      no biases
        v_h = x Wv_h^T                     (B, T, C)
        out = concat_h(softmax(q_h k_h^T / sqrt(D) + causal mask) v_h) Wo^T + bo

    The H heads' key, query and value maps are held side by side in one Linear each
    (the same numbers of parameters, and the same U(-1/sqrt(C), 1/sqrt(C)) initialisation,
    as HW4's H separate Linear layers). ``out_proj`` is named like nn.MultiHeadAttention's,
    so TransformerLM treats it as the projection into the residual stream. ``keep_weights``
    (set by ``nn.record_attention``) keeps each call's weights (B, H, T, S) in
    ``self.weights``."""

    def __init__(self, n_embd, n_head, dropout=0.0, causal=True):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"HW4MultiHeadAttention: n_embd {n_embd} is not divisible by "
                             f"n_head {n_head}")
        self.n_embd, self.n_head, self.head_size = n_embd, n_head, n_embd // n_head
        self.dropout, self.causal = dropout, causal
        self.key = nn.Linear(n_embd, n_head * self.head_size, bias=False)
        self.query = nn.Linear(n_embd, n_head * self.head_size, bias=False)
        self.value = nn.Linear(n_embd, n_head * n_embd, bias=False)
        self.out_proj = nn.Linear(n_head * n_embd, n_embd)
        self.keep_weights, self.weights = False, None

    def forward(self, x, cache=None):
        b, t, _ = x.shape
        q, k = (self._heads(layer(x), self.head_size) for layer in (self.query, self.key))
        v = self._heads(self.value(x), self.n_embd)
        if cache is not None:
            k, v = cache.append(k, v)
        out = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal,
            return_weights=self.keep_weights)
        if self.keep_weights:
            out, weights = out
            self.weights = weights.detach()
        return self.out_proj(out.transpose(1, 2).reshape(b, t, self.n_head * self.n_embd))

    def _heads(self, z, width):
        """(B, T, H * width) -> (B, H, T, width)."""
        b, t, _ = z.shape
        return z.reshape(b, t, self.n_head, width).transpose(1, 2)


def attention_layer(kind, n_embd, n_head, dropout=0.0, bias=False, causal=True):
    """The multi-head attention of `kind` ("standard" or "hw4"); bias: standard's only."""
    if kind not in ATTENTIONS:
        raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {kind!r}")
    if kind == "hw4":
        return HW4MultiHeadAttention(n_embd, n_head, dropout, causal)
    return nn.MultiHeadAttention(n_embd, n_head, dropout=dropout, causal=causal, bias=bias)


class _AttentionLM(LanguageModel):
    """Token embedding + learned position embedding, then ``self.attend``, then the head."""

    def __init__(self, vocab_size, block_size, n_embd):
        super().__init__()
        self.vocab_size, self.block_size, self.context_size = vocab_size, block_size, block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.LearnedPositionalEmbedding(block_size, n_embd)
        nn.init.normal_(self.position_embedding_table.weight)  # N(0, 1), as nn.Embedding

    def embed(self, ids, cache):
        offset = len(cache[0]) if cache else 0
        self.check_length(ids.shape[1], offset)
        x = self.token_embedding_table(ids)                          # (B, T, C)
        return self.position_embedding_table(x, offset)              # + positions

    def new_cache(self):
        # Without the causal mask earlier positions see later ones: no cache can hold them.
        return [nn.KVCache()] if self.causal else None


class SingleHeadAttentionLM(_AttentionLM):
    """HW4 1.3: one head of self-attention of width head_size (default n_embd).

        x = tok_emb(ids) + pos_emb(t);  logits = Linear(head_size, V)(Head(x))"""

    def __init__(self, vocab_size, block_size, n_embd=384, head_size=None, dropout=0.0,
                 causal=True):
        super().__init__(vocab_size, block_size, n_embd)
        head_size = head_size or n_embd
        self.causal = causal
        self.sa_head = Head(n_embd, head_size, dropout, causal=causal)
        self.lm_head = nn.Linear(head_size, vocab_size)

    def forward(self, ids, cache=None):
        x = self.embed(ids, cache)
        x = self.sa_head(x, cache[0] if cache else None)             # (B, T, head_size)
        return self.lm_head(x)                                       # (B, T, V)


class MultiHeadAttentionLM(_AttentionLM):
    """HW4 1.3.3: n_head heads side by side, concatenated and projected back to n_embd:
    standard heads of width n_embd / n_head (nn.MultiHeadAttention), or HW4's own, whose
    values are n_embd wide (HW4MultiHeadAttention, attention="hw4"); optionally followed by
    the HW4 feed-forward network (no residual connections or LayerNorm yet: that is
    TransformerLM).

        x = tok_emb(ids) + pos_emb(t);  x = MHA(x);  [x = FeedForward(x)];  logits = Linear(x)"""

    def __init__(self, vocab_size, block_size, n_embd=384, n_head=6, dropout=0.0, bias=False,
                 feedforward=False, attention="standard", causal=True):
        super().__init__(vocab_size, block_size, n_embd)
        self.causal = causal
        self.sa_heads = attention_layer(attention, n_embd, n_head, dropout, bias, causal)
        self.ffwd = nn.FeedForward(n_embd, dropout=dropout, bias=bias) if feedforward else None
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, ids, cache=None):
        x = self.embed(ids, cache)
        x = self.sa_heads(x, cache=cache[0] if cache else None)      # (B, T, C)
        if self.ffwd is not None:
            x = self.ffwd(x)
        return self.lm_head(x)                                       # (B, T, V)
