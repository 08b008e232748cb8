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
# # Lesson 5: LayerNorm's backward by hand
#
# [Course index](README.md) · previous: [lesson 4](04_cross_entropy.ipynb) · next:
# [lesson 6](06_attention.ipynb)
#
# LayerNorm normalises each row of activations to mean 0 and variance 1, then scales and
# shifts it by learned `w` and `b`. Every transformer block has two. Its backward is the
# standard test of backprop by hand: each input reaches the output three ways, directly,
# through the row's mean and through the row's variance, and each path contributes a term.

# %%
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad.learn import check, inputs

mg.manual_seed(0)

# %% [markdown]
# ## 1. The forward pass, one intermediate at a time
#
# For a batch `x (N, D)`, over each row:
#
# ```python
# mean = x.mean(1, keepdims=True)           # (N, 1)
# xc = x - mean                             # (N, D), centred
# var = (xc ** 2).mean(1, keepdims=True)    # (N, 1), the biased variance
# rstd = (var + eps) ** -0.5                # (N, 1)
# xhat = xc * rstd                          # (N, D), normalised
# y = xhat * w + b                          # (N, D); w, b (D,) broadcast over the rows
# ```

# %%
c = inputs("layer_norm")
print("row means of xhat:", np.round(c.xhat.mean(1), 12))
print("row variances of xhat:", np.round(c.xhat.var(1), 4))

# %% [markdown]
# ### Your turn
#
# From `dy` back to `dx`. The broadcasts decide the sums: `w` and `b` were broadcast over
# the rows (sum over axis 0), `rstd`, `var` and `mean` over each row's D elements (sum
# over axis 1, keepdims=True). `xc` is used twice, in `xhat` and in `var`: add both paths.

# %%
def layer_norm_backward(c):
    d = c.x.shape[1]
    dw = (c.dy * c.xhat).sum(0)
    db = c.dy.sum(0)
    dxhat = None  # your code
    drstd = None
    dvar = None
    dxc = None
    dmean = None
    dx = None
    return dict(dw=dw, db=db, dxhat=dxhat, drstd=drstd, dvar=dvar, dxc=dxc, dmean=dmean, dx=dx)


check("layer_norm", layer_norm_backward)

# %% [markdown]
# ## 2. The same backward in one line
#
# Substitute each line into the next and simplify (with $\hat{x}$ having row mean 0 and
# row variance ~1): with $g_h = dy \cdot w$,
#
# $$dx = \mathrm{rstd}\,\big(g_h - \mathrm{mean}(g_h) - \hat{x}\,\mathrm{mean}(g_h\,\hat{x})\big)$$
#
# The first mean is the path through `mean`, the second the path through `var`. This is the
# formula minigrad's fused op uses: see the docstring of
# [`layer_norm.py`](../../minigrad/ops/layer_norm.py) and
# [`LayerNorm.backward`](../../minigrad/ops/layer_norm.py#L36) (stop 6 of
# [the reading tour](../reading.md)).

# %%
gh = c.dy * c.w
one_line = c.rstd * (gh - gh.mean(1, keepdims=True) - c.xhat * (gh * c.xhat).mean(1, keepdims=True))

x = mg.tensor(c.x, requires_grad=True)
w, b = mg.tensor(c.w, requires_grad=True), mg.tensor(c.b, requires_grad=True)
F.layer_norm(x, (c.x.shape[1],), w, b, eps=c.eps).backward(mg.tensor(c.dy))
print("one line equals the engine's dx:", np.allclose(one_line, x.grad.numpy()))
print("dw, db too:", np.allclose((c.dy * c.xhat).sum(0), w.grad.numpy()),
      np.allclose(c.dy.sum(0), b.grad.numpy()))

# %% [markdown]
# Two things the one-line form makes visible: `dx` sums to zero along each row (shifting a
# whole row does nothing to the normalised output), and it is orthogonal to `xhat` (scaling
# a row does nothing either), but for the small error that `eps` in the variance leaves.

# %%
print("row sums of dx:", np.round(one_line.sum(1), 12))
print("rows of dx . xhat:", np.round((one_line * c.xhat).sum(1), 12))

# %% [markdown]
# ## 3. Gradient check
#
# The fused op against finite differences, first and second order (the engine-op backward
# is itself differentiable):

# %%
xs = mg.randn(3, 5, dtype=mg.float64, requires_grad=True)
ws = mg.randn(5, dtype=mg.float64, requires_grad=True)
bs = mg.randn(5, dtype=mg.float64, requires_grad=True)
mg.gradgradcheck(lambda xs, ws, bs: F.layer_norm(xs, (5,), ws, bs), (xs, ws, bs))
