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
# # Lesson 6: attention's backward by hand, and the row-sum identity
#
# [Course index](README.md) · previous: [lesson 5](05_layer_norm.ipynb) · next:
# [lesson 7](07_lstm_bptt.ipynb)
#
# Causal self-attention, for one head: each position mixes the values of the positions up
# to it, weighted by a softmax of query-key scores. Its backward has a matrix-product part
# (mechanical, once you match shapes) and a softmax part (lesson 4 again, row by row). Then
# one identity turns the softmax part's (T, T) reduction into a (T, d) one, which is what
# fused attention kernels use.

# %%
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad.learn import check, inputs

mg.manual_seed(0)

# %% [markdown]
# ## 1. The forward pass
#
# ```python
# S = scale * Q @ K.T                       # (T, T) scores, scale = d ** -0.5
# S[future] = -inf                          # position i sees only j <= i
# P = softmax(S, axis=1)                    # (T, T), rows sum to 1, zero above the diagonal
# O = P @ V                                 # (T, d)
# ```
#
# The gradient `G = dL/dO` arrives with O's shape.

# %%
c = inputs("attention")
print(np.round(c.P, 2))

# %% [markdown]
# ### Your turn
#
# * `O = P @ V` is a matrix product: `dV` and `dP` follow by matching shapes (lesson 2).
# * `P = softmax(S)` row by row: for one row, $dS_j = P_j (dP_j - \sum_k dP_k P_k)$.
#   Masked entries have $P = 0$, so their gradient comes out 0 by itself.
# * `S = scale * Q @ K.T`: a product again, with K transposed.

# %%
def attention_backward(c):
    dV = None  # your code
    dP = None
    dS = None
    dQ = None
    dK = None
    return dict(dV=dV, dP=dP, dS=dS, dQ=dQ, dK=dK)


check("attention", attention_backward)

# %% [markdown]
# A missing transpose with square-looking shapes does not crash, it computes nonsense.
# Here `dK` with `dS` instead of `dS.T`; `check` shows where, and by how much:

# %%
def missing_transpose(c):
    dV, dP = c.P.T @ c.G, c.G @ c.V.T
    dS = c.P * (dP - (dP * c.P).sum(1, keepdims=True))
    return dict(dV=dV, dP=dP, dS=dS, dQ=c.scale * dS @ c.K, dK=c.scale * dS @ c.Q)


check("attention", missing_transpose)

# %% [markdown]
# ## 2. The row-sum identity
#
# The softmax step needs $\mathrm{rowsum}(dP \odot P)$: a pass over a (T, T) array. But
# $dP = G V^\top$, so
# $\sum_j P_{ij}\, dP_{ij} = \sum_j P_{ij}\, (G_i \cdot V_j) = G_i \cdot \sum_j P_{ij} V_j = G_i \cdot O_i$.
# The same number comes from the (T, d) arrays `G` and `O`, which the backward has anyway;
# FlashAttention uses this to never keep the (T, T) matrix around.

# %%
rowsum_tt = (c.G @ c.V.T * c.P).sum(1)
rowsum_td = (c.G * c.O).sum(1)
print(np.allclose(rowsum_tt, rowsum_td), rowsum_td.round(4))

# %% [markdown]
# minigrad's fused attention writes the backward with that identity in
# [`_attention_grads`](../../minigrad/ops/attention.py#L88), and the CPU kernel in
# [`_backward_block`](../../minigrad/backend_cpu/attention.py#L78) (stop 7 of
# [the reading tour](../reading.md)). The engine's gradients against the version with the
# planted mistake: they agree on `dV` and `dQ`, and not on `dK`.

# %%
Q, K, V = (mg.tensor(a, requires_grad=True) for a in (c.Q, c.K, c.V))
O = F.scaled_dot_product_attention(Q, K, V, is_causal=True)
O.backward(mg.tensor(c.G))
planted = missing_transpose(c)
print("O:", np.allclose(O.numpy(), c.O))
for name, engine in (("dV", V.grad), ("dQ", Q.grad), ("dK", K.grad)):
    print(name, np.allclose(engine.numpy(), planted[name]))

# %% [markdown]
# ## 3. Gradient check
#
# Fused causal attention against finite differences, batched over two heads, first and
# second order:

# %%
q, k, v = (mg.randn(2, 5, 3, dtype=mg.float64, requires_grad=True) for _ in range(3))
mg.gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                 (q, k, v))
