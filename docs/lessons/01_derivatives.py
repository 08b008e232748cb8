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
# # Lesson 1: a derivative, the chain rule, and `backward()`
#
# Course index: [README.md](README.md) · next: [lesson 2](02_broadcasting.ipynb)
#
# A gradient answers one question: if I nudge this input a little, how much does the output
# move? This lesson computes that three ways: by nudging (finite differences), by hand with
# the chain rule, and with minigrad's `backward()`, and draws the graph that `backward()`
# walks, with a value and a gradient on every node.

# %%
import math

import minigrad as mg
from minigrad.learn import check, inputs
from minigrad.viz import draw

# %% [markdown]
# ## 1. A derivative by finite differences
#
# Take $f(x) = 3x^2 - 4x + 5$. Its slope at $x$ is the limit of
# $(f(x + h) - f(x)) / h$ as $h \to 0$. On a computer $h$ cannot go to zero: too large and we
# measure the curve, not the tangent; too small and rounding eats the difference. The
# *central* difference $(f(x+h) - f(x-h)) / 2h$ cancels the curvature term, so its error
# shrinks like $h^2$ instead of $h$.

# %%
def f(x):
    return 3 * x ** 2 - 4 * x + 5


x = 2.0
exact = 6 * x - 4  # by calculus: f'(x) = 6x - 4
for h in (1e-1, 1e-3, 1e-5, 1e-8, 1e-12):
    forward = (f(x + h) - f(x)) / h
    central = (f(x + h) - f(x - h)) / (2 * h)
    print(f"h={h:.0e}  forward error {abs(forward - exact):.1e}  central error {abs(central - exact):.1e}")

# %% [markdown]
# The central error falls with $h^2$ until about $h = 10^{-5}$, then rounding (about
# $10^{-16} \cdot f / h$) takes over. That is why `minigrad.gradcheck` uses central
# differences in float64 with $h = 10^{-6}$.
#
# ## 2. The chain rule on a scalar graph
#
# A neuron: $n = x_1 w_1 + x_2 w_2 + b$, $o = \tanh(n)$. Each operation knows only its own
# local derivative; the chain rule multiplies them along the path from the output back to
# each input: $\frac{\partial o}{\partial w_1} = \frac{\partial o}{\partial n}\frac{\partial n}{\partial w_1} = (1 - o^2)\, x_1$.
# Backpropagation computes these products once each, from the output backwards, so every
# input's gradient reuses the work done for the nodes above it.

# %%
c = inputs("neuron")  # the exercise's numbers: x1, w1, x2, w2, b
n = c.x1 * c.w1 + c.x2 * c.w2 + c.b
o = math.tanh(n)
print(f"n = {n:.4f}, o = {o:.4f}")

# %% [markdown]
# ### Your turn
#
# Write the backward pass: from `do` (the gradient arriving at the output, 1 here) compute
# `dn`, then the gradient of each input. The first line is done. `check` compares each of
# your values with the reference and names the first one that is wrong, with a hint. The
# reference is in `minigrad/learn/solutions/neuron.py`: look only when you choose to.

# %%
def neuron_backward(c):
    dn = (1 - c.o ** 2) * c.do
    dw1 = None  # your code: dn/dw1 = ?
    dx1 = None
    dw2 = None
    dx2 = None
    db = None
    return dict(dn=dn, dw1=dw1, dx1=dx1, dw2=dw2, dx2=dx2, db=db)


check("neuron", neuron_backward)

# %% [markdown]
# ## 3. `backward()` does the same
#
# Build the neuron from minigrad tensors. Each operation records on its output which op made
# it and from what; `o.backward()` walks those records in reverse and leaves each leaf's
# gradient in `.grad`. (Scalars need float64 here so that the numbers match the hand
# computation to the last digit.)

# %%
def scalar(v):
    return mg.tensor(v, dtype=mg.float64, requires_grad=True)


x1, w1, x2, w2, b = scalar(c.x1), scalar(c.w1), scalar(c.x2), scalar(c.w2), scalar(c.b)
o_t = (x1 * w1 + x2 * w2 + b).tanh()
o_t.backward()
print("engine:", w1.grad.item(), x1.grad.item(), b.grad.item())
print("by hand:", (1 - o ** 2) * c.x1, (1 - o ** 2) * c.w1, 1 - o ** 2)

# %% [markdown]
# ## 4. The drawn graph
#
# `draw` shows what `backward()` walked: each op with its output's shape, and, when asked,
# its value and d o / d node. With Graphviz's `dot` installed (`apt-get install graphviz`,
# `brew install graphviz`) a notebook shows it as a picture; without, as this text tree.
# `mul` nodes swap their inputs' values into the gradients (d(ab)/da = b), `add` nodes pass
# the gradient through unchanged: read it off the tree.

# %%
draw(o_t, names={x1: "x1", w1: "w1", x2: "x2", w2: "w2", b: "b"}, values=True, grads=True)

# %% [markdown]
# The op classes live in [`Mul`](../../minigrad/ops/arithmetic.py#L52) and
# [`Tanh`](../../minigrad/ops/elementwise.py#L109), each forward next to its backward;
# stop 1 of the reading tour ([../reading.md](../reading.md)) follows `x * y` through them.
#
# ## 5. Gradient check
#
# Every lesson ends by proving what it built against finite differences.
# `mg.gradcheck(fn, inputs)` compares every entry of the Jacobian that backward computes with
# central differences and returns True, or raises naming the worst entry.

# %%
mg.gradcheck(lambda x1, w1, x2, w2, b: (x1 * w1 + x2 * w2 + b).tanh(),
             (x1, w1, x2, w2, b))
