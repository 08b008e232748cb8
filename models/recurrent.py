"""Recurrent language models: an embedding, a stack of RNN or LSTM layers, a linear head.

Trained with truncated backpropagation through time: the trainer feeds contiguous chunks
(models.data.SequentialBatcher) and passes the final state of one chunk, detached, as the
initial state of the next.

    logits, state = model(ids, state=None)     ids (B, T) -> logits (B, T, V)
    state: h (num_layers, B, H) for RNNLM, (h, c) for LSTMLM; None means zeros.
"""
from minigrad import nn

from models.base import LanguageModel


class _RecurrentLM(LanguageModel):
    recurrent = True
    layer = None

    def __init__(self, vocab_size, emb_dim=64, hidden_size=128, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.drop = nn.Dropout(dropout)
        self.rnn = self.layer(emb_dim, hidden_size, num_layers=num_layers, batch_first=True,
                              dropout=dropout)
        self.lm_head = nn.Linear(hidden_size, vocab_size)
        # Embedding and head as the GPT's; the recurrent weights keep U(-1/sqrt(H), 1/sqrt(H)).
        nn.init.normal_(self.embedding.weight, 0.0, 0.02)
        nn.init.normal_(self.lm_head.weight, 0.0, 0.02)
        nn.init.zeros_(self.lm_head.bias)

    def forward(self, ids, state=None):
        x = self.drop(self.embedding(ids))                           # (B, T, C)
        out, state = self.rnn(x, state)                              # (B, T, H)
        return self.lm_head(self.drop(out)), state                   # (B, T, V)


class RNNLM(_RecurrentLM):
    """Elman RNN language model (tanh): state h (num_layers, B, H)."""

    layer = nn.RNN


class LSTMLM(_RecurrentLM):
    """LSTM language model (the Cervantes notebook's, PyTorch's word_language_model):
    state (h, c), each (num_layers, B, H)."""

    layer = nn.LSTM
