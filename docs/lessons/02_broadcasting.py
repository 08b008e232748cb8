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
# # Lesson 2: tensors, broadcasting, and summing gradients back
#
# [Course index](README.md) · previous: [lesson 1](01_derivatives.ipynb) · next:
# [lesson 3](03_your_own_op.ipynb)
#
# From scalars to arrays. The chain rule does not change; what changes is bookkeeping:
# every gradient has exactly the shape of the tensor it belongs to, and when NumPy's
# broadcasting silently copied a tensor to fit a bigger one, backward has to add the copies'
# gradients back together.

# %%
import numpy as np

import minigrad as mg
from minigrad.learn import check, inputs
from minigrad.ops.broadcast import sum_to_shape

mg.manual_seed(0)

# %% [markdown]
# ## 1. Broadcasting copies
#
# `x (4, 1) * y (3,)`: NumPy lines the shapes up from the right, stretches every size-1
# dimension and adds missing leading ones, so both act as (4, 3). Each element of `y` is
# used four times, once per row.

# %%
x = mg.randn(4, 1, dtype=mg.float64, requires_grad=True)
y = mg.randn(3, dtype=mg.float64, requires_grad=True)
z = x * y
print("z:", z.shape)
z.sum().backward()
print("x.grad:", x.grad.shape, " y.grad:", y.grad.shape)

# %% [markdown]
# The gradient that arrives at `z` has shape (4, 3). The derivative of `z[i, j]` with
# respect to `y[j]` is `x[i]`, and `y[j]` contributed to four outputs, so its gradient is
# the sum over the rows: $\partial L / \partial y_j = \sum_i g_{ij}\, x_i$. Summing over the
# axes broadcasting added or stretched is the backward of broadcasting. minigrad does it in
# one named helper, [`sum_to_shape`](../../minigrad/ops/broadcast.py#L19), at the end of
# every broadcasting op's backward.

# %%
g = np.ones((4, 3))  # the gradient of z.sum() with respect to z
by_hand_y = (g * x.numpy()).sum(axis=0)  # sum over the axis that was added
by_hand_x = (g * y.numpy()).sum(axis=1, keepdims=True)  # sum over the axis that was stretched
print(np.allclose(by_hand_y, y.grad.numpy()), np.allclose(by_hand_x, x.grad.numpy()))
print(sum_to_shape(mg.tensor(g * y.numpy()), (4, 1)).shape)

# %% [markdown]
# A gradient with the wrong shape is the commonest backward bug, and NumPy often lets it
# pass: a (4, 3) gradient added into a (3,) buffer broadcasts without complaint. minigrad's
# backward walk refuses it and names the op ([stop 3 of the reading tour](../reading.md)).
#
# ## 2. The linear layer
#
# `y = x @ W + b` with a batch `x (N, D)`, weights `W (D, M)`, bias `b (M,)`. Given the
# gradient `dy (N, M)`, three gradients follow, and matching shapes is most of the work:
#
# * `dx` has x's shape (N, D): `dy (N, M)` times something (M, D): `W.T`.
# * `dW` has W's shape (D, M): something (D, N) times `dy (N, M)`: `x.T`. The sum over the
#   batch happens inside the product.
# * `db` has b's shape (M,): `b` was broadcast over the N rows, so sum `dy` over axis 0.

# %%
c = inputs("linear")
print({k: v.shape for k, v in vars(c).items()})

# %% [markdown]
# ### Your turn
#
# Fill in the three gradients. Then plant a mistake on purpose (drop the `.T`, or the
# `.sum(0)`) and read what `check` says.

# %%
def linear_backward(c):
    dx = None  # your code
    dW = None
    db = None
    return dict(dx=dx, dW=dW, db=db)


check("linear", linear_backward)

# %% [markdown]
# A mistake looks like this: the bias gradient without its sum over the batch.

# %%
check("linear", lambda c: dict(dx=c.dy @ c.W.T, dW=c.x.T @ c.dy, db=c.dy))

# %% [markdown]
# ## 3. Gradient check
#
# The engine's linear layer, broadcasting bias and all, against finite differences:

# %%
xs = mg.randn(5, 4, dtype=mg.float64, requires_grad=True)
W = mg.randn(4, 3, dtype=mg.float64, requires_grad=True)
bias = mg.randn(3, dtype=mg.float64, requires_grad=True)
mg.gradcheck(lambda xs, W, bias: xs @ W + bias, (xs, W, bias))
