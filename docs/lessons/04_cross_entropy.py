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
# # Lesson 4: softmax and cross-entropy by hand
#
# [Course index](README.md) · previous: [lesson 3](03_your_own_op.ipynb) · next:
# [lesson 5](05_layer_norm.ipynb)
#
# A language model ends in logits, one score per vocabulary entry; softmax turns them into
# probabilities and cross-entropy scores the probability of the right token. This lesson
# writes the backward of that pair line by line (as an exercise), collapses it to one line,
# $(p - y) / N$, and shows why minigrad computes it as one fused op.

# %%
import time

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad.learn import check, inputs

mg.manual_seed(0)

# %% [markdown]
# ## 1. The log-sum-exp trick
#
# $\mathrm{softmax}(z)_i = e^{z_i} / \sum_j e^{z_j}$. Computed as written, $e^{z}$
# overflows for logits past about 88 in float32 (709 in float64) and the result is
# `nan`. Softmax does not change when a constant is subtracted from every logit, so
# subtracting the row's maximum makes the largest exponent $e^0 = 1$: no overflow, and
# $\log \sum_j e^{z_j} = m + \log \sum_j e^{z_j - m}$ stays exact.

# %%
z = np.array([[90.0, 91.0, 89.0]], dtype=np.float32)
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.exp(z) / np.exp(z).sum(1, keepdims=True)
shifted = np.exp(z - z.max(1, keepdims=True))
print("naive:  ", naive)
print("shifted:", shifted / shifted.sum(1, keepdims=True))

# %% [markdown]
# ## 2. Cross-entropy, one line at a time
#
# The forward pass the exercise uses, written so that every intermediate has a name (this
# is the code; `inputs("cross_entropy")` holds its values):
#
# ```python
# maxes = logits.max(1, keepdims=True)     # (N, 1)
# shifted = logits - maxes                 # (N, V)
# counts = np.exp(shifted)                 # (N, V)
# sums = counts.sum(1, keepdims=True)      # (N, 1)
# inv = 1.0 / sums                         # (N, 1)
# probs = counts * inv                     # (N, V)
# logprobs = np.log(probs)                 # (N, V)
# loss = -logprobs[np.arange(N), y].mean()
# ```
#
# ### Your turn
#
# Backpropagate through it, from `dlogprobs` to `dlogits`, one intermediate per line. Two
# places need care: `counts` is used twice (through `probs` and through `sums`), so its
# gradient is the sum of both paths; and the (N, 1) intermediates were broadcast over the
# row, so their gradients sum over axis 1. The first line is done.

# %%
c = inputs("cross_entropy")
print({k: getattr(v, "shape", ()) for k, v in vars(c).items()})


def cross_entropy_backward(c):
    n = c.logits.shape[0]
    dlogprobs = np.zeros_like(c.logprobs)
    dlogprobs[np.arange(n), c.y] = -1.0 / n
    dprobs = None  # your code
    dinv = None
    dsums = None
    dcounts = None
    dshifted = None
    dmaxes = None
    dlogits = None
    return dict(dlogprobs=dlogprobs, dprobs=dprobs, dinv=dinv, dsums=dsums, dcounts=dcounts,
                dshifted=dshifted, dmaxes=dmaxes, dlogits=dlogits)


check("cross_entropy", cross_entropy_backward)

# %% [markdown]
# ## 3. The whole backward in one line: (p - y) / N
#
# Work the algebra through and almost everything cancels: with $p = \mathrm{softmax}(z)$
# and $y$ the one-hot target, $\partial L / \partial z_{ij} = (p_{ij} - y_{ij}) / N$.
# The gradient pushes the right token's probability up and every other one down, in
# proportion to how much the model believed it. `dmaxes` came out (nearly) zero: the shift
# never changed the loss, so no gradient flows through it.

# %%
n = c.logits.shape[0]
one_line = c.probs.copy()
one_line[np.arange(n), c.y] -= 1
one_line /= n

logits = mg.tensor(c.logits, requires_grad=True)
F.cross_entropy(logits, mg.tensor(c.y)).backward()
print("(p - y)/N equals the engine's gradient:", np.allclose(one_line, logits.grad.numpy()))

# %% [markdown]
# ## 4. Why the fused op exists
#
# Composed from primitives, the loss records a chain of ops and keeps their (N, V) outputs alive
# until backward; for a language model V is the vocabulary and N every position of the
# batch, so these are the largest arrays of the step. minigrad's
# [`CrossEntropy`](../../minigrad/ops/softmax.py#L77) is one op: its forward makes one pass
# over the logits and keeps at most one (N, V) array for backward (the CPU kernel keeps
# the probabilities), and its backward computes $(p - y)/N$ directly (the fused ops'
# pattern is stop 5 of [the reading tour](../reading.md)). Timed on a batch of
# language-model size:

# %%
def composed_cross_entropy(logits, y):
    maxes = logits.max(1, keepdim=True).values
    shifted = logits - maxes
    counts = shifted.exp()
    logprobs = shifted - counts.sum(1, keepdim=True).log()
    return -logprobs[mg.arange(len(y)), y].mean()


big = mg.randn(2048, 512, requires_grad=True)
target = mg.randint(0, 512, (2048,))
for name, loss_fn in (("composed", composed_cross_entropy), ("fused", F.cross_entropy)):
    times = []
    for _ in range(5):
        began = time.perf_counter()
        loss_fn(big, target).backward()
        times.append(time.perf_counter() - began)
    print(f"{name:9s} forward + backward: {1000 * min(times):.1f} ms")

# %% [markdown]
# ## 5. Gradient check
#
# The fused op, first and second order, on float64 logits:

# %%
small = mg.randn(6, 5, dtype=mg.float64, requires_grad=True)
labels = mg.randint(0, 5, (6,))
mg.gradgradcheck(lambda s: F.cross_entropy(s, labels), (small,))
