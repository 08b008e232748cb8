"""Models without attention or recurrence: the two bigram models of HW4 and the fixed-window
MLP of Bengio et al. (2003), as in the Cervantes notebook.

Shapes: B batch, T time, V vocabulary, C embedding width, N the MLP's context window.
"""
from minigrad import cat, full, int64, nn

from models.base import LanguageModel

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class BigramLM(LanguageModel):
    """HW4 1.1: each token reads the logits of the next token from a (V, V) table.

        logits[b, t] = table[ids[b, t]]                    ids (B, T) -> logits (B, T, V)
    """

    context_size = 1

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, ids):
        return self.token_embedding_table(ids)                       # (B, T, V)


class BigramEmbeddingLM(LanguageModel):
    """HW4 1.2: an embedding of width C, then a linear readout to the vocabulary.

        logits = Linear(C, V)(Embedding(V, C)(ids))        ids (B, T) -> logits (B, T, V)
    """

    context_size = 1

    def __init__(self, vocab_size, n_embd=32):
        super().__init__()
        self.vocab_size = vocab_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, ids):
        return self.lm_head(self.token_embedding_table(ids))        # (B, T, V)


class MLPLM(LanguageModel):
    """A multilayer perceptron over a fixed window of the N latest tokens (Bengio et al. 2003).

    Per position, like every model here: position t sees tokens t-N+1..t; positions before
    the start of the input read a learned "before the start" embedding (row V of the table),
    so ids (B, T) -> logits (B, T, V) for any T, and a batch of T positions trains T
    examples at once. For the classic (B, N) -> (B, V) form take logits[:, -1].

        e = Embedding(V + 1, C)(pad(ids))                  (B, T + N - 1, C)
        x_t = concat(e[t], e[t+1], ..., e[t+N-1])          (B, T, N * C)
        h = n_layer x [Linear -> activation -> Dropout]    (B, T, hidden)
        logits = Linear(hidden, V)(h)                      (B, T, V)
    """

    def __init__(self, vocab_size, context, n_embd=64, hidden_size=128, n_layer=1,
                 activation="tanh", dropout=0.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLPLM: activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.vocab_size, self.context_size = vocab_size, context
        self.embedding = nn.Embedding(vocab_size + 1, n_embd)
        layers, width = [], context * n_embd
        for _ in range(n_layer):
            layers += [nn.Linear(width, hidden_size), ACTIVATIONS[activation](),
                       nn.Dropout(dropout)]
            width = hidden_size
        self.hidden = nn.Sequential(*layers)
        self.lm_head = nn.Linear(width, vocab_size)

    def forward(self, ids):
        B, T = ids.shape
        N = self.context_size
        start = full((B, N - 1), self.vocab_size, dtype=int64, device=ids.device)
        e = self.embedding(cat([start, ids], dim=1))                 # (B, T + N - 1, C)
        x = cat([e[:, k:k + T] for k in range(N)], dim=-1)           # (B, T, N * C)
        return self.lm_head(self.hidden(x))                          # (B, T, V)
