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
# # Lesson 3: write your own op, and prove it
#
# [Course index](README.md) · previous: [lesson 2](02_broadcasting.ipynb) · next:
# [lesson 4](04_cross_entropy.ipynb)
#
# Every op in minigrad has the same shape: a `Function` subclass with a `forward` on raw
# arrays, a `backward` written with engine ops, its derivative registered beside it, and a
# public function beneath. Here you write one, softplus $(x) = \log(1 + e^x)$, check it to
# first and second order, and see what a wrong backward looks like in the report.

# %%
import numpy as np

import minigrad as mg
from minigrad import backend
from minigrad.autograd import REGISTRY, Function, register
from minigrad.gradcheck import GradcheckError
from minigrad.learn import check, inputs

mg.manual_seed(0)

# %% [markdown]
# ## 1. The op
#
# * `forward(self, x)` gets the raw array (NumPy, or CuPy on a GPU: `get_array_module` gives
#   the right module, so one line serves both). `logaddexp(0, x)` is $\log(e^0 + e^x)$
#   computed without overflowing for large x.
# * `backward(self, grad, out)` gets the gradient arriving at the output and the output
#   tensor, whose `_inputs` are the op's inputs; it returns one gradient per input. The
#   derivative is $\sigma(x)$, so the gradient is `grad * sigmoid(x)`, written with engine
#   ops (`*`, `.sigmoid()`): the gradient is itself a graph, which is what makes gradients
#   of gradients work.
# * `register` puts the op and its derivative in `REGISTRY`, from which `docs/ops.md` and the
#   test that every op has a gradient check are generated. Registering a name twice is an
#   error, so this cell first removes the registration of an earlier run of itself.

# %%
REGISTRY.pop("lesson_softplus", None)


@register("lesson_softplus", "d softplus(x)/dx = sigmoid(x)")
class Softplus(Function):
    saved_inputs = (0,)  # backward reads the input, not the output
    saves_output = False

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.logaddexp(0, x)

    def backward(self, grad, out):
        (x,) = out._inputs
        return (grad * x.sigmoid(),)


def softplus(x):
    return Softplus.apply(x)


x = mg.tensor([-30.0, -1.0, 0.0, 1.0, 30.0], dtype=mg.float64, requires_grad=True)
y = softplus(x)
y.sum().backward()
print(y)
print(x.grad)

# %% [markdown]
# The same structure, in the engine: [`Tanh`](../../minigrad/ops/elementwise.py#L109), eight
# lines; the backward walk that calls it is
# [`run_backward`](../../minigrad/autograd.py#L289) (reading tour stops 3 and 4:
# [../reading.md](../reading.md)).
#
# ### Your turn
#
# The same derivative by hand, in NumPy: given `x` and the incoming gradient `dy`, return
# `dx`.

# %%
c = inputs("softplus")


def softplus_backward(c):
    dx = None  # your code
    return dict(dx=dx)


check("softplus", softplus_backward)

# %% [markdown]
# ## 2. Proving it: `gradcheck` and `gradgradcheck`
#
# `gradcheck` compares every entry of the Jacobian from backward with central differences
# in float64. `create_graph=True` checks the engine-op `backward` (the path that second
# order uses) rather than an op's array fast path, where it has one. `gradgradcheck` then
# differentiates the gradient once more, through the ops the backward used.

# %%
xs = mg.randn(3, 4, dtype=mg.float64, requires_grad=True)
print(mg.gradcheck(softplus, (xs,), create_graph=True))
print(mg.gradgradcheck(softplus, (xs,)))

# %% [markdown]
# ## 3. What a wrong backward looks like
#
# A classic slip: using the output's derivative formula of a neighbouring function, here
# tanh's instead of the sigmoid. `gradcheck` names the output and the input, how many
# entries disagree, and the worst ones with both values.

# %%
class WrongSoftplus(Softplus):
    def backward(self, grad, out):
        (x,) = out._inputs
        return (grad * x.tanh(),)  # wrong: the derivative of softplus is sigmoid(x)


try:
    mg.gradcheck(lambda x: WrongSoftplus.apply(x), (xs,))
except GradcheckError as error:
    print(error)

# %% [markdown]
# In the project, an op also gets a case in `tests/op_cases.py`; the harness then runs four
# checks on it (each backward path, the paths against each other, second order), and
# `tests/test_planted_bugs.py` proves the harness catches wrong rules planted in every op.
#
# ## 4. Gradient check
#
# Softplus composed with the engine's own ops, first and second order:

# %%
w = mg.randn(4, 3, dtype=mg.float64, requires_grad=True)
mg.gradgradcheck(lambda xs, w: softplus(xs @ w).sum(1), (xs, w))
