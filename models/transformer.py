"""TransformerLM: a GPT-style decoder-only transformer (HW4 1.4, nanoGPT, the thesis model).

    ids (B, T)
      -> token embedding (B, T, C) [+ learned or sinusoidal positions] -> dropout
      -> n_layer x TransformerBlock: causal multi-head self-attention (standard heads, or
         HW4's with values n_embd wide: models/attention.py) and a feed-forward
         network, each with a residual connection; LayerNorm before each (pre-LN, GPT-2)
         or after each residual sum (post-LN, the original transformer); RoPE rotates the
         queries and keys inside attention instead of adding positions to the input
      -> final LayerNorm -> linear head (optionally tied to the token embedding)
      -> logits (B, T, V)

Initialisation as nanoGPT: Linear and Embedding weights N(0, 0.02^2), biases 0; the two
projections that write into the residual stream in each block (attention output, last
feed-forward Linear) N(0, (0.02 / sqrt(2 n_layer))^2), so the residual sum keeps its scale
however deep the model.
"""
import math

from minigrad import nn

from models.attention import attention_layer
from models.base import LanguageModel, init_gpt_

POSITIONS = ("learned", "sinusoidal", "rope")


class TransformerLM(LanguageModel):
    def __init__(self, vocab_size, block_size, n_layer=4, n_head=4, n_embd=128, ff_hidden=None,
                 ff_variant="hw4", activation="gelu", dropout=0.0, bias=False, tie_weights=True,
                 positions="learned", norm="pre", attention="standard", causal=True):
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"TransformerLM: positions must be one of {', '.join(POSITIONS)}, "
                             f"got {positions!r}")
        self.vocab_size, self.block_size, self.context_size = vocab_size, block_size, block_size
        self.causal = causal  # False: every position sees the whole window (no cache then)
        self.wte = nn.Embedding(vocab_size, n_embd)
        if positions == "learned":
            self.wpe = nn.LearnedPositionalEmbedding(block_size, n_embd)
        elif positions == "sinusoidal":
            self.wpe = nn.SinusoidalPositionalEncoding(n_embd, block_size)
        else:
            self.wpe = None  # RoPE rotates queries and keys inside each attention layer
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerBlock(
                n_embd, n_head, dropout=dropout, norm=norm, causal=causal, bias=bias,
                rope=positions == "rope",
                ff=nn.FeedForward(n_embd, hidden=ff_hidden, activation=activation,
                                  dropout=dropout, variant=ff_variant, bias=bias))
            for _ in range(n_layer))
        if attention != "standard":  # HW4's heads (models/attention.py) in place of nn's
            if positions == "rope":
                raise ValueError("TransformerLM: rope needs the standard attention")
            for block in self.blocks:
                block.attn = attention_layer(attention, n_embd, n_head, dropout, causal=causal)
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=bias)
        if tie_weights:
            self.lm_head.weight = self.wte.weight
        init_gpt_(self)
        for block in self.blocks:  # the two projections into the residual stream
            for layer in (block.attn.out_proj, block.ff.net[-2]):
                nn.init.normal_(layer.weight, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def forward(self, ids, cache=None):
        """ids (B, T) -> logits (B, T, V). With a cache (``new_cache()``), ids are the
        positions after the cached ones. (The attention maps of every layer:
        ``nn.record_attention``.)"""
        offset = len(cache[0]) if cache else 0
        self.check_length(ids.shape[1], offset)
        x = self.wte(ids)                                            # (B, T, C)
        if self.wpe is not None:
            x = self.wpe(x, offset)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, cache=cache[i] if cache else None)
        return self.lm_head(self.ln_f(x))                            # (B, T, V)

    def new_cache(self):
        return [nn.KVCache() for _ in self.blocks] if self.causal else None
