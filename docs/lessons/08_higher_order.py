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
# # Lesson 8: higher order: Hessian-vector products
#
# [Course index](README.md) · previous: [lesson 7](07_lstm_bptt.ipynb) · next:
# [lesson 9](09_bigram_to_gpt.ipynb)
#
# Every backward rule in minigrad is written with engine ops, so a gradient computed with
# `create_graph=True` is itself a graph, and can be differentiated again. The most useful
# second-order quantity is the Hessian-vector product $Hv$: the curvature of the loss along
# a direction, at the cost of two backward passes, without ever forming the Hessian.

# %%
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad.learn import check, inputs

mg.manual_seed(0)

# %% [markdown]
# ## 1. A gradient of a gradient
#
# `mg.grad(y, x, create_graph=True)` returns dy/dx as a tensor with its own graph. For
# $y = x^3$: the first derivative $3x^2$, then $6x$.

# %%
x = mg.tensor([1.0, 2.0, -1.5], dtype=mg.float64, requires_grad=True)
(dy,) = mg.grad((x ** 3).sum(), [x], create_graph=True)
(d2y,) = mg.grad(dy.sum(), [x])
print(dy, d2y)

# %% [markdown]
# How it works: with `create_graph=True` the backward walk runs each op's engine-op
# `backward` under recording ([`_input_grads`](../../minigrad/autograd.py#L333) is the one
# place that chooses), so the gradient's own computation lands in the graph (stop 3 of
# [the reading tour](../reading.md)).
#
# ## 2. Hessian-vector products
#
# For $f(w)$ with gradient $g(w)$: $Hv = \nabla_w\,(g(w) \cdot v)$. So: one backward with
# `create_graph=True` to get $g$ as a graph, a dot product with $v$, one more backward.
#
# Take $f(w) = \sum_i \mathrm{softplus}(x_i \cdot w)$, a logistic-regression-like loss.

# %%
c = inputs("hvp")
X, v = mg.tensor(c.X), mg.tensor(c.v)
w = mg.tensor(c.w, requires_grad=True)


def f(w):
    return ((X @ w).exp() + 1).log().sum()


(g,) = mg.grad(f(w), [w], create_graph=True)
(hv,) = mg.grad((g * v).sum(), [w])
print("g  =", g.numpy().round(4), " (the exercise's c.grad:", c.grad.round(4), ")")
print("Hv =", hv.numpy().round(4))

# %% [markdown]
# ### Your turn
#
# By hand: $g = X^\top \sigma(Xw)$, so $H = X^\top \mathrm{diag}(\sigma'(Xw))\,X$ with
# $\sigma' = \sigma(1 - \sigma)$. Compute $Hv$ without forming $H$: first `Xv`, then the
# per-row curvature, then `Hv`.

# %%
def hvp_by_hand(c):
    Xv = None  # your code
    curvature = None
    Hv = None
    return dict(Xv=Xv, curvature=curvature, Hv=Hv)


check("hvp", hvp_by_hand)

# %% [markdown]
# Two more ways to the same numbers: central differences of the gradient along v,
# $(g(w + hv) - g(w - hv)) / 2h$, and the full Hessian, one HVP per column.

# %%
def gradient_at(point):
    point = mg.tensor(point, requires_grad=True)
    return mg.grad(f(point), [point])[0].numpy()


h = 1e-5
numeric = (gradient_at(c.w + h * c.v) - gradient_at(c.w - h * c.v)) / (2 * h)
# The graph of g stays usable after a backward through it: one HVP per unit vector.
H = np.stack([mg.grad((g * mg.tensor(e)).sum(), [w])[0].numpy() for e in np.eye(3)], 1)
print("finite differences:", np.allclose(numeric, hv.numpy(), atol=1e-8))
print("full Hessian times v:", np.allclose(H @ c.v, hv.numpy()))
print("symmetric:", np.allclose(H, H.T))

# %% [markdown]
# ## 3. What HVPs are for: the sharpest direction of a network's loss
#
# Power iteration with HVPs finds the largest eigenvalue of the Hessian (the loss's
# sharpest curvature, which bounds the stable learning rate of gradient descent at
# $2/\lambda_{max}$) using only products, never the matrix: here for a small MLP with
# 4 * 16 + 16 + 16 * 3 + 3 = 131 parameters.

# %%
net = mg.nn.Sequential(mg.nn.Linear(4, 16), mg.nn.Tanh(), mg.nn.Linear(16, 3)).double()
params = list(net.parameters())
data = mg.randn(32, 4, dtype=mg.float64)
labels = mg.randint(0, 3, (32,))
loss = F.cross_entropy(net(data), labels)
grads = mg.grad(loss, params, create_graph=True)

vec = [mg.randn(*p.shape, dtype=mg.float64) for p in params]
for step in range(30):
    norm = np.sqrt(sum(float((u * u).sum()) for u in vec))
    vec = [u / norm for u in vec]
    dot = sum((gp * u).sum() for gp, u in zip(grads, vec))
    hvec = mg.grad(dot, params)
    eigenvalue = sum(float((hu * u).sum()) for hu, u in zip(hvec, vec))
    vec = [hu.detach() for hu in hvec]
print(f"largest Hessian eigenvalue ~ {eigenvalue:.4f}: along it, gradient descent diverges above "
      f"lr = {2 / eigenvalue:.2f}")

# %% [markdown]
# ## 4. Gradient check
#
# `gradgradcheck` checks the second derivatives of the MLP's loss against finite
# differences of its gradient, for the input batch and the first layer's weight:

# %%
xs = mg.randn(5, 4, dtype=mg.float64, requires_grad=True)
weight = net[0].weight
mg.gradgradcheck(lambda xs, weight: F.cross_entropy(net(xs), labels[:5]), (xs, weight))
