"""Seed 004's tiny attention model ("What is a token" notebook), layer for layer, and its
experiment: six short sentences, next word from a left-padded window of five.

    ids (B, 5), left-padded with PAD = the number of words
      -> token embedding (V, 32) + learned position embedding (5, 32)
      -> h = h + MHA(LN1(h))      2 heads, biases, no mask: every position sees the window
      -> h = h + FF(LN2(h))       Linear(32, 128) -> ReLU -> Linear(128, 32)
      -> Linear(32, V)            logits (B, 5, V); no final LayerNorm, no dropout
with V = words + 1 (the pad). Initialised as PyTorch initialises those layers: embeddings
N(0, 1), Linear U(+-1/sqrt(fan_in)), the attention's input projection Xavier-uniform, its
biases 0. With the seed's 14 words that is 13,839 parameters.

Training (`train_toy`): the logits of the last position of every window of every sentence
(models.sentence_windows: 28 windows), cross-entropy, the whole set as one batch, AdamW
lr 1e-3 with PyTorch's defaults (betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on every
parameter), 300 epochs, seed 42. Generation (`generate_toy`): the latest five words,
left-padded, one word sampled from the last position's softmax at a time; it stops at PAD.
The model's attention maps: `minigrad.nn.record_attention` (the seed prints them).
"""
import numpy as np

import minigrad as mg
from minigrad import functional as F
from minigrad import nn, optim

from models.base import LanguageModel
from models.sentence_windows import left_pad, sentence_windows

CORPUS = ["the cat sat on the mat", "the dog sat on the rug", "the cat chased the mouse",
          "the dog chased the ball", "the cat slept on the mat",
          "the dog barked at the mailman"]
BLOCK_SIZE, D_MODEL, N_HEADS = 5, 32, 2
EPOCHS, LR, SEED = 300, 1e-3, 42


class ToyAttentionLM(LanguageModel):
    """Seed 004's MiniTransformer: ids (B, T <= block_size) -> logits (B, T, vocab_size)."""

    def __init__(self, vocab_size, d_model=D_MODEL, n_heads=N_HEADS, block_size=BLOCK_SIZE):
        super().__init__()
        self.vocab_size, self.block_size, self.context_size = vocab_size, block_size, block_size
        self.token_embed = nn.Embedding(vocab_size, d_model)
        self.pos_embed = nn.LearnedPositionalEmbedding(block_size, d_model)
        nn.init.normal_(self.pos_embed.weight)  # an nn.Embedding in the seed: N(0, 1)
        self.attn = nn.MultiHeadAttention(d_model, n_heads, causal=False, bias=True)
        nn.init.xavier_uniform_(self.attn.in_proj.weight)  # as torch.nn.MultiheadAttention
        nn.init.zeros_(self.attn.in_proj.bias)
        nn.init.zeros_(self.attn.out_proj.bias)
        self.ff = nn.FeedForward(d_model, 4 * d_model, activation="relu")
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size)

    def forward(self, ids):
        self.check_length(ids.shape[1])
        h = self.pos_embed(self.token_embed(ids))                    # (B, T, C)
        h = h + self.attn(self.ln1(h))
        h = h + self.ff(self.ln2(h))
        return self.lm_head(h)                                       # (B, T, V)


def vocabulary(corpus=CORPUS):
    """The seed's words: sorted, split on spaces; the pad id comes after them."""
    return sorted(set(" ".join(corpus).split()))


def train_toy(corpus=CORPUS, epochs=EPOCHS, seed=SEED):
    """(model, words, losses per epoch): the seed's experiment (module docstring)."""
    words = vocabulary(corpus)
    stoi = {w: i for i, w in enumerate(words)}
    x, y = sentence_windows([[stoi[w] for w in s.split()] for s in corpus], BLOCK_SIZE,
                            len(words))
    mg.manual_seed(seed)
    model = ToyAttentionLM(len(words) + 1)
    opt = optim.AdamW(model.parameters(), lr=LR)
    x, y = mg.tensor(x), mg.tensor(y)
    losses = []
    for _ in range(epochs):
        loss = F.cross_entropy(model(x)[:, -1, :], y)  # the last position only
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.eval(), words, losses


@mg.no_grad()
def generate_toy(model, words, prompt, max_new_tokens=15, seed=0):
    """The prompt's words and up to max_new_tokens more, sampled one at a time from the
    left-padded window of the latest five; unknown prompt words are dropped, as the seed
    drops them; PAD ends the text."""
    stoi, pad = {w: i for i, w in enumerate(words)}, len(words)
    rng = np.random.default_rng(seed)
    out = prompt.split()
    for _ in range(max_new_tokens):
        ids = left_pad([stoi[w] for w in out if w in stoi], model.block_size, pad)
        probs = F.softmax(model(mg.tensor([ids]))[0, -1], dim=-1).numpy().astype(np.float64)
        token = int(rng.choice(len(probs), p=probs / probs.sum()))
        if token == pad:
            break
        out.append(words[token])
    return " ".join(out)
