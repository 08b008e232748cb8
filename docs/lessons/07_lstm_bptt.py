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
# # Lesson 7: the LSTM and backpropagation through time
#
# [Course index](README.md) · previous: [lesson 6](06_attention.ipynb) · next:
# [lesson 8](08_higher_order.ipynb)
#
# A recurrent network applies the same cell at every step, passing a state along. Unrolled
# over T steps it is just a deep graph, and backward through it is called backpropagation
# through time (BPTT). This lesson writes one LSTM step backwards, measures how gradients
# shrink as they travel back through the steps, and shows the truncation that training uses.

# %%
import numpy as np

import minigrad as mg
from minigrad.learn import check, inputs

mg.manual_seed(0)

# %% [markdown]
# ## 1. One LSTM step
#
# With `xh = [x, h_prev]` (the input and the previous hidden state side by side):
#
# ```python
# z = xh @ W + b                              # (N, 4H): four gate pre-activations
# i, f, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2H]), sigmoid(z[:, 3H:])
# g = tanh(z[:, 2H:3H])                       # the candidate
# c = f * c_prev + i * g                      # the cell: forget some, write some
# h = o * tanh(c)                             # the output
# ```
#
# The cell `c` is the LSTM's point: from `c_prev` to `c` there is no squashing and no
# weight matrix, only the forget gate's multiplication.
#
# ### Your turn
#
# Given `dh` (from this step's output) and `dc_next` (from the next step, through its
# `c_prev`), compute this step's gradients. `c` gets both: `dh` through `h = o * tanh(c)`,
# and `dc_next`. Put the four gate gradients (before their nonlinearities) side by side
# in `dz` in the order i, f, g, o.

# %%
c = inputs("lstm_cell")


def lstm_cell_backward(c):
    tc = np.tanh(c.c)
    do = c.dh * tc
    dc = None  # your code
    di = None
    df = None
    dg = None
    dc_prev = None
    dz = None
    dW = None
    db = None
    dx = None
    dh_prev = None
    return dict(do=do, dc=dc, di=di, df=df, dg=dg, dc_prev=dc_prev, dz=dz, dW=dW, db=db, dx=dx,
                dh_prev=dh_prev)


check("lstm_cell", lstm_cell_backward)

# %% [markdown]
# minigrad runs a whole sequence as one op: [`LSTMSequence`](../../minigrad/ops/recurrent.py#L21)
# loops over time in its forward keeping the gates, and
# [`LSTMSequence._through_time`](../../minigrad/ops/recurrent.py#L77) is the loop of your
# step, backwards, with the recurrent weight's gradient summed over all steps as one matrix
# product (stop 8 of [the reading tour](../reading.md)).
#
# ## 2. Vanishing gradients, measured
#
# Run a sequence of 60 steps, take a loss on the last output only, and look at the size of
# its gradient with respect to the input at each earlier step. Every step back multiplies
# by that step's Jacobian; when those are smaller than 1, the gradient shrinks
# geometrically and the first steps learn nothing from the last.

# %%
T, D, H = 60, 8, 32


def gradient_norms_back_in_time(net):
    x = mg.randn(T, 1, D, requires_grad=True)  # (time, batch, features)
    out, _ = net(x)
    out[-1].sum().backward()  # a loss that depends on the last step only
    norms = np.linalg.norm(x.grad.numpy().reshape(T, -1), axis=1)
    return norms[::-1]  # norms[k]: k steps back from the end


lstm_open = mg.nn.LSTM(D, H)
with mg.no_grad():
    lstm_open.bias_ih_l0[H:2 * H] = 3.0  # forget-gate bias: sigmoid(3) = 0.95, keep the cell

rows = {"RNN (tanh)": gradient_norms_back_in_time(mg.nn.RNN(D, H)),
        "LSTM": gradient_norms_back_in_time(mg.nn.LSTM(D, H)),
        "LSTM, forget bias 3": gradient_norms_back_in_time(lstm_open)}
back = (0, 5, 10, 20, 40, 59)
print(f"{'steps back':21s}" + "".join(f"{k:>9d}" for k in back))
for name, norms in rows.items():
    print(f"{name:21s}" + "".join(f"{norms[k]:9.1e}" for k in back))

# %% [markdown]
# The plain RNN loses about an order of magnitude every five steps. The LSTM at its default
# initialisation is not much better: its forget gates start near sigmoid(0) = 0.5, so the
# cell path halves the gradient at each step. With the forget gates opened (a bias of 3),
# the cell carries the gradient back 60 steps almost undiminished: that is what the
# cell path is for.
#
# ## 3. Truncated BPTT
#
# Backpropagating through a whole book is impossible: the graph would hold every step.
# Training cuts the sequence into chunks, carries the state forward from chunk to chunk
# (so the model still sees the long context), and *detaches* it: the next chunk's graph
# starts at the carried values, and its gradient stops there. minigrad's trainer does this
# for RNNs and LSTMs (`models/train.py`, with `detach_state` from `models/base.py`).

# %%
net = mg.nn.LSTM(D, H)
first = mg.randn(10, 1, D, requires_grad=True)
second = mg.randn(10, 1, D, requires_grad=True)

_, state = net(first)
out, _ = net(second, tuple(s.detach() for s in state))  # carry the state, cut the graph
grads = mg.grad(out[-1].sum(), [first, second], allow_unused=True)
print("gradient reaches the first chunk:", grads[0] is not None)
print("gradient reaches the second chunk:", grads[1] is not None)

# %% [markdown]
# Without the `detach()` the gradient would flow back into the first chunk, and every chunk
# would keep the whole history's graph alive.
#
# ## 4. Gradient check
#
# The LSTM over a short sequence, in float64, with respect to its input, initial state and
# every weight:

# %%
small = mg.nn.LSTM(3, 4).double()
xs = mg.randn(5, 2, 3, dtype=mg.float64, requires_grad=True)
h0 = mg.randn(1, 2, 4, dtype=mg.float64, requires_grad=True)
c0 = mg.randn(1, 2, 4, dtype=mg.float64, requires_grad=True)
weights = tuple(small.parameters())


def lstm_output(xs, h0, c0, *weights):
    return small(xs, (h0, c0))[0]


mg.gradcheck(lstm_output, (xs, h0, c0) + weights)
