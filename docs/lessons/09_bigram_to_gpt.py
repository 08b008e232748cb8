# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 9: from bigram to GPT on Tiny Shakespeare
#
# [Course index](README.md) · previous: [lesson 8](08_higher_order.ipynb) · next:
# [lesson 10](10_where_time_goes.ipynb)
#
# Everything so far, put to work: a character-level language model trained on your own
# engine. Three rungs of a ladder (as in the HW4 assignment, at a size that trains in
# seconds): a bigram table, a model with one self-attention head, and a GPT, the last
# trained by minigrad's trainer with a progress bar and a live loss plot. Every model
# here is small and trains for seconds, so the text it writes is only the beginning of
# Shakespeare; the end of the lesson says how to train for real.

# %%
import tempfile

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.learn import check, inputs
from models.corpus import default_corpus_path
from tokenizers import CharTokenizer

mg.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The data
#
# Tiny Shakespeare (1.1 million characters, bundled with minigrad) by character: each
# distinct character gets an id; the first 90% trains, the rest measures.

# %%
text = default_corpus_path().read_text(encoding="utf-8")
tok = CharTokenizer.train(text)
data = np.array(tok.encode(text), dtype=np.int64)
split = int(0.9 * len(data))
train_ids, val_ids = data[:split], data[split:]
V = tok.vocab_size
print(f"{len(text):,} characters, vocabulary {V}: {''.join(tok.decode(list(range(V))))!r}")


def get_batch(ids, batch_size, context):
    """Random windows: inputs x and the same windows shifted by one, the targets y."""
    starts = rng.integers(0, len(ids) - context - 1, batch_size)
    x = np.stack([ids[s:s + context] for s in starts])
    y = np.stack([ids[s + 1:s + context + 1] for s in starts])
    return mg.tensor(x), mg.tensor(y)


def estimate_loss(model, context, batches=5):
    with mg.no_grad():
        return {name: np.mean([float(F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1)))
                               for x, y in (get_batch(ids, 32, context) for _ in range(batches))])
                for name, ids in (("train", train_ids), ("val", val_ids))}


def train_loop(model, steps, context, lr, batch_size=32):
    opt = mg.optim.AdamW(model.parameters(), lr=lr)
    # Matrices this small are multiplied faster by one BLAS thread than by two: handing
    # work to a second thread costs more than it saves (five times more on a busy machine).
    with mg.backend.blas_threads(1):
        for step in range(steps + 1):
            if step % (steps // 4) == 0:
                losses = estimate_loss(model, context)
                print(f"step {step:4d}: train {losses['train']:.3f}, val {losses['val']:.3f}")
            if step == steps:
                break
            x, y = get_batch(train_ids, batch_size, context)
            logits = model(x)                                   # (B, T, V)
            loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()


def sample(model, length, context):
    ids = tok.encode("\n")
    with mg.no_grad():
        for _ in range(length):
            logits = model(mg.tensor([ids[-context:]]))[0, -1]   # the last position's scores
            p = F.softmax(logits.double(), -1).numpy()
            ids.append(int(rng.choice(V, p=p / p.sum())))
    return tok.decode(ids)


# %% [markdown]
# ## 2. Rung one: the bigram table
#
# The simplest model: the next character depends only on this one. A (V, V) table of
# logits, row = current character. A uniform guess scores $\ln V$; the table learns the
# character pair statistics and gets to about 2.5.

# %%
class Bigram(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, ids):          # (B, T) -> (B, T, V)
        return self.table(ids)


bigram = Bigram(V)
print(f"uniform guess: {np.log(V):.3f}")
train_loop(bigram, steps=200, context=8, lr=2e-2)
print(sample(bigram, 120, 8))

# %% [markdown]
# ## 3. Rung two: one head of self-attention
#
# Now every position may look back at all earlier ones: the head of lesson 6, with learned
# projections making the queries, keys and values from token and position embeddings.
#
# ### Your turn
#
# Write the head's forward pass in NumPy for a batch `x (B, T, C)`: keys, queries and
# values by the three matrices, scaled scores, the causal mask and a softmax, and the
# weighted values.

# %%
def head_forward(c):
    k = c.x @ c.Wk
    q = None  # your code
    v = None
    scores = None
    wei = None
    out = None
    return dict(k=k, q=q, v=v, scores=scores, wei=wei, out=out)


check("head", head_forward)

# %% [markdown]
# The same head with engine ops, as a module, and a model around it:

# %%
class Head(nn.Module):
    def __init__(self, n_embd, head_size, context):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.future = mg.tensor(np.triu(np.ones((context, context), dtype=bool), 1))

    def forward(self, x):            # (B, T, C) -> (B, T, head_size)
        T = x.shape[1]
        k, q, v = self.key(x), self.query(x), self.value(x)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5          # (B, T, T)
        wei = F.softmax(wei.masked_fill(self.future[:T, :T], float("-inf")), -1)
        return wei @ v


class SingleHeadLM(nn.Module):
    def __init__(self, vocab_size, n_embd, context):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, n_embd)
        self.positions = nn.Embedding(context, n_embd)
        self.head = Head(n_embd, n_embd, context)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, ids):
        x = self.tokens(ids) + self.positions(mg.arange(ids.shape[1]))
        return self.lm_head(self.head(x))


single = SingleHeadLM(V, n_embd=32, context=16)
train_loop(single, steps=200, context=16, lr=5e-3)

# %% [markdown]
# ## 4. Rung three: a GPT, trained by the trainer
#
# Stack the head into multi-head attention, add a feed-forward layer, residual connections
# and LayerNorm, repeat: that is the transformer, `models.TransformerLM`
# (`models/transformer.py` reads like nanoGPT's `model.py`). The trainer `models.train`
# adds what a real run needs: a learning-rate schedule, gradient clipping, evaluation,
# checkpoints. In a notebook its progress is a tqdm bar, and `live_plot=True` redraws the
# loss curve as it trains.
#
# This run is tiny on purpose (2 layers, 64 wide, 300 steps, about 10 seconds on two
# cores). For a model that writes recognisable Shakespeare, run the default `tiny`
# configuration: `Config()` with no arguments here, or `make demo` in a terminal (2,000
# steps, about 4 minutes on two cores, validation loss about 1.73); longer still with
# `minigrad train --preset nanogpt-char`. The whole HW4 ladder at full size is a preset per
# rung: `hw4-bigram`, `hw4-bigram-emb`, `hw4-single-head`, `hw4-multi-head`,
# `hw4-transformer` (`minigrad presets` lists them).

# %%
from models.config import Config
from models.train import Trainer

config = Config(model="transformer", n_layer=2, n_head=4, n_embd=64, context=64,
                batch_size=16, steps=300, warmup_steps=30, lr=3e-3, min_lr=3e-4,
                eval_every=100, eval_batches=4, final_eval=False, sample_tokens=60)
run_dir = tempfile.mkdtemp(prefix="lesson9-")  # or a folder of your own, e.g. "runs/gpt"
trainer = Trainer(config, run_dir, live_plot=True)
summary = trainer.run()
print(f"best val loss {summary['best_val']:.3f} after {summary['step']} steps "
      f"({summary['seconds_per_step'] * 1000:.0f} ms per step)")
print(summary["sample"])

# %% [markdown]
# ## 5. Gradient check
#
# The head you built, in float64, with respect to its input and its three projections:

# %%
head = Head(6, 4, context=5).double()
xs = mg.randn(2, 5, 6, dtype=mg.float64, requires_grad=True)
mg.gradcheck(lambda xs, *w: head(xs), (xs, head.key.weight, head.query.weight, head.value.weight))
