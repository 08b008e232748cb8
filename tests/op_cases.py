"""One gradient-check case per registered op: how to call it and on what inputs.

``tests/test_ops.py`` proves that every name in ``minigrad.REGISTRY`` has a case here, runs
gradcheck and gradgradcheck on each, and compares with PyTorch where it is installed.
Inputs are float64 and small; they stay away from kinks (relu at 0, ties in max)."""
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import ops

RNG = np.random.default_rng(1234)


def t(*shape, low=None, positive=False, requires_grad=True, spread=False):
    """A float64 leaf. ``positive``: values in [0.5, 2] (log, sqrt, pow); ``spread``:
    distinct values away from 0 (relu, abs, max)."""
    if positive:
        data = RNG.uniform(0.5, 2.0, shape)
    elif spread:
        n = int(np.prod(shape))
        data = (RNG.permutation(n) - n / 2 + 0.5).reshape(shape) * 0.3 + 0.05
    else:
        data = RNG.standard_normal(shape)
    return mg.tensor(data, dtype=mg.float64, requires_grad=requires_grad)


IDS = mg.tensor([[0, 2, 1], [3, 2, 2]])
GATHER = np.array([[0, 2, 2], [1, 0, 1]])  # along dim 1 of a (2, 4); repeats add up
SCATTER = np.array([[3, 0, 2], [1, 2, 0]])  # no position twice: one write would win
TARGET = mg.tensor([1, 0, 4, 2])
COND = np.array([[True, False, True], [False, False, True]])

# name -> (function, inputs maker[, gradcheck options]). Functions take the tensors positionally.
CASES = {
    # Binary ops: both inputs broadcast, so that a gradient not summed back is caught.
    "add": (lambda a, b: a + b, lambda: [t(2, 1), t(3)]),
    "sub": (lambda a, b: a - b, lambda: [t(2, 1), t(3)]),
    "mul": (lambda a, b: a * b, lambda: [t(2, 1), t(1, 3)]),
    "div": (lambda a, b: a / b, lambda: [t(2, 1), t(3, positive=True)]),
    "neg": (lambda a: -a, lambda: [t(2, 3)]),
    "pow_scalar": (lambda a: a ** 3 + a ** 2 + a ** -0.5, lambda: [t(2, 3, positive=True)]),
    "pow": (lambda a, b: a ** b, lambda: [t(2, 1, positive=True), t(3)]),
    "exp": (lambda a: a.exp(), lambda: [t(2, 3)]),
    "log": (lambda a: a.log(), lambda: [t(2, 3, positive=True)]),
    "sqrt": (lambda a: a.sqrt(), lambda: [t(2, 3, positive=True)]),
    "abs": (lambda a: a.abs(), lambda: [t(2, 3, spread=True)]),
    "tanh": (lambda a: a.tanh(), lambda: [t(2, 3)]),
    "sigmoid": (lambda a: a.sigmoid(), lambda: [t(2, 3)]),
    "relu": (lambda a: a.relu(), lambda: [t(2, 3, spread=True)]),
    "erf": (lambda a: mg.erf(a), lambda: [t(2, 3)]),
    "sin": (lambda a: a.sin(), lambda: [t(2, 3)]),
    "cos": (lambda a: a.cos(), lambda: [t(2, 3)]),
    "clamp": (lambda a: a.clamp(-0.5, 0.6), lambda: [t(2, 3, spread=True)]),
    # b is shifted off the grid of a's values, so that no pair ties.
    "maximum": (lambda a, b: mg.maximum(a, b + 0.01), lambda: [t(2, 1, spread=True), t(3, spread=True)]),
    "minimum": (lambda a, b: mg.minimum(a, b + 0.01), lambda: [t(2, 1, spread=True), t(3, spread=True)]),
    # One cast (a second one back would cancel a sign error in the first): float32 output,
    # so finite differences need a large step and loose tolerances.
    "astype": (lambda a: a.float() * 2.0, lambda: [t(2, 3)],
               {"eps": 1e-2, "atol": 1e-4, "rtol": 1e-4}),
    # To a second device (a GPU, or the CuPy stand-in: see op_harness.devices); once, as a
    # move back would cancel a sign error in the first (its backward moves back anyway).
    "to_device": (lambda a: ops.to_device(a, "cuda") * 2.0, lambda: [t(2, 3)]),
    "clone": (lambda a: a.clone() * a, lambda: [t(2, 3)]),
    "sum": (lambda a: a.sum((0, 2)) + a.sum(), lambda: [t(2, 3, 2)]),
    "mean": (lambda a: a.mean(1, keepdim=True), lambda: [t(2, 3)]),
    # The reduction ops (x.max(dim) picks by index instead, as PyTorch's does).
    "max": (lambda a: ops.max(a, 1) + a.max(), lambda: [t(2, 3, spread=True)]),
    "min": (lambda a: ops.min(a, 0, keepdim=True) + a.min(), lambda: [t(2, 3, spread=True)]),
    "logsumexp": (lambda a: a.logsumexp(-1), lambda: [t(2, 3)]),
    "var": (lambda a: a.var(1) + a.var(correction=0), lambda: [t(2, 3)]),
    "reshape": (lambda a: a.reshape(3, 2) * a.new_tensor([1.0, 2.0]), lambda: [t(2, 3)]),
    "permute": (lambda a: a.permute(2, 0, 1), lambda: [t(2, 3, 2)]),
    "expand": (lambda a: a.expand(2, 3, 2), lambda: [t(3, 1)]),
    "getitem": (lambda a: a[[0, 0, 1], 1:] + a[..., ::2][:1, 0, None], lambda: [t(2, 3)]),
    "index_add_into": (lambda g: ops.index_add_into(g, (4, 3), np.array([0, 2, 0])),
                       lambda: [t(3, 3)]),
    "concat": (lambda a, b: mg.cat([a, b, a], dim=1), lambda: [t(2, 3), t(2, 1)]),
    "where": (lambda a, b: mg.where(COND, a, b), lambda: [t(2, 1), t(3)]),
    # a's batch broadcast against b's, then b's (b[:1]) against c's, then the flat path.
    "matmul": (lambda a, b, c: a @ b + c @ b[:1] + c @ b[0],
               lambda: [t(1, 3, 4), t(2, 4, 2), t(2, 3, 4)]),
    "linear": (lambda x, w, b: F.linear(x, w, b) + F.linear(x, w), lambda: [t(2, 3, 4), t(5, 4), t(5)]),
    # Each of q, k, v broadcast over the batch in one call; causal with as many queries
    # as keys and with fewer (a key/value cache); non-causal with fewer keys.
    "attention": (lambda q, k, v: mg.cat([ops.attention(q, k, v, causal=True)
                                          + ops.attention(q[:1], k[:, :2], v[:, :2]),
                                          ops.attention(q[:, 1:], k, v[:1], causal=True)], dim=1),
                  lambda: [t(2, 3, 2), t(1, 3, 2), t(2, 3, 3)]),
    "softmax": (lambda a: a.softmax(-1) * a.new_tensor([1.0, 2.0, 3.0]),
                lambda: [t(2, 3)]),
    "log_softmax": (lambda a: a.log_softmax(0), lambda: [t(2, 3)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, TARGET), lambda: [t(4, 5)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 4, w, b), lambda: [t(2, 3, 4), t(4), t(4)]),
    "gelu": (lambda a: F.gelu(a), lambda: [t(2, 3)]),
    "gelu_tanh": (lambda a: F.gelu(a, approximate="tanh"), lambda: [t(2, 3)]),
    "embedding": (lambda w: F.embedding(IDS, w), lambda: [t(4, 3)]),
    "dropout": (lambda a: _seeded(lambda: F.dropout(a, 0.4)), lambda: [t(3, 4)]),
    "self_attention": (lambda qkv: ops.self_attention(qkv, 2, causal=True), lambda: [t(2, 3, 12)]),
    "gather": (lambda a: a.gather(1, GATHER) * a.new_tensor([1.0, 2.0, 3.0]),
               lambda: [t(2, 4)]),
    "scatter_add_into": (lambda g: ops.scatter_add_into(g, (2, 4), 1, GATHER), lambda: [t(2, 3)]),
    "scatter": (lambda a, s: a.scatter(1, SCATTER, s) * 2.0
                + a.scatter(0, np.array([[1, 0, 1, 0]]), value=0.5), lambda: [t(2, 4), t(2, 3)]),
    "index_select": (lambda a: a.index_select(0, mg.tensor([1, 0, 1])) ** 2, lambda: [t(2, 3)]),
    "cumsum": (lambda a: a.cumsum(1) * a.cumsum(0), lambda: [t(2, 3)]),
    "cumprod": (lambda a: a.cumprod(1), lambda: [t(2, 4)]),
    "flip": (lambda a: a.flip((0, 2)) * a, lambda: [t(2, 3, 2)]),
    "roll": (lambda a: a.roll((1, -2), (0, 1)) * a + a.roll(4), lambda: [t(2, 3)]),
    "repeat": (lambda a: a.repeat(2, 1, 3) ** 2, lambda: [t(2, 3)]),
    "repeat_interleave": (lambda a: a.repeat_interleave(2, dim=1) ** 2
                          + a.repeat_interleave(mg.tensor([2, 0, 1]), dim=1).sum(), lambda: [t(2, 3)]),
    # a matrix product, a batched one with a letter summed away, '...' and an implicit output
    "einsum": (lambda a, b: mg.cat([mg.einsum("ij,jk->ik", a, b).reshape(-1),
                                    mg.einsum("ij,jk->i", a, b),
                                    mg.einsum("...j,kj", a, b.T).reshape(-1)]),
               lambda: [t(2, 3), t(3, 2)]),
    "lstm_sequence": (lambda x, h, c, w: F.lstm_sequence(x, h, c, w),
                      lambda: [t(3, 2, 8), t(2, 2), t(2, 2), t(8, 2)]),
}


def _seeded(fn):
    """The same dropout mask at every call, so finite differences see one function."""
    mg.manual_seed(7)
    return fn()


def torch_equivalents():
    """The same functions in PyTorch, for cases whose lambda does not run on torch tensors
    as written. Cases missing here run their own lambda on torch tensors."""
    import torch
    import torch.nn.functional as TF
    ids, target = torch.tensor(IDS.numpy()), torch.tensor(TARGET.numpy())
    return {
        "to_device": lambda a: a.to("cpu") * 2.0,
        "erf": torch.erf,
        "maximum": lambda a, b: torch.maximum(a, b + 0.01),
        "minimum": lambda a, b: torch.minimum(a, b + 0.01),
        "index_add_into": lambda g: torch.zeros(4, 3, dtype=g.dtype).index_add(
            0, torch.tensor([0, 2, 0]), g),
        "linear": lambda x, w, b: TF.linear(x, w, b) + TF.linear(x, w),
        "attention": _torch_attention,
        "concat": lambda a, b: torch.cat([a, b, a], dim=1),
        "where": lambda a, b: torch.where(torch.tensor(COND), a, b),
        "cross_entropy": lambda a: TF.cross_entropy(a, target),
        "layer_norm": lambda x, w, b: TF.layer_norm(x, (4,), w, b),
        "gelu": TF.gelu,
        "gelu_tanh": lambda a: TF.gelu(a, approximate="tanh"),
        "embedding": lambda w: TF.embedding(ids, w),
        "lstm_sequence": _torch_lstm_sequence,
        "max": lambda a: a.amax(1) + a.max(),
        "min": lambda a: a.amin(0, keepdim=True) + a.min(),
        "gather": lambda a: a.gather(1, torch.tensor(GATHER)) * a.new_tensor([1.0, 2.0, 3.0]),
        "scatter_add_into": lambda g: torch.zeros(2, 4, dtype=g.dtype).scatter_add(
            1, torch.tensor(GATHER), g),
        "scatter": lambda a, s: (a.scatter(1, torch.tensor(SCATTER), s) * 2.0
                                 + a.scatter(0, torch.tensor([[1, 0, 1, 0]]), 0.5)),
        "index_select": lambda a: a.index_select(0, torch.tensor([1, 0, 1])) ** 2,
        "repeat_interleave": lambda a: (a.repeat_interleave(2, dim=1) ** 2
                                        + a.repeat_interleave(torch.tensor([2, 0, 1]), dim=1).sum()),
        "einsum": lambda a, b: torch.cat([torch.einsum("ij,jk->ik", a, b).reshape(-1),
                                          torch.einsum("ij,jk->i", a, b),
                                          torch.einsum("...j,kj", a, b.T).reshape(-1)]),
        "self_attention": _torch_self_attention,
    }


def _torch_attention(q, k, v):
    import torch
    import torch.nn.functional as TF
    sdpa = TF.scaled_dot_product_attention
    causal_tail = torch.ones(2, 3, dtype=torch.bool).tril(1)  # 2 queries, the last of 3 keys
    return torch.cat([sdpa(q, k.expand(2, 3, 2), v, is_causal=True)
                      + sdpa(q[:1].expand(2, 3, 2), k[:, :2].expand(2, 2, 2), v[:, :2]),
                      sdpa(q[:, 1:], k.expand(2, 3, 2), v[:1].expand(2, 3, 3),
                           attn_mask=causal_tail)], dim=1)


def _torch_self_attention(qkv):
    import torch.nn.functional as TF
    b, t, width = qkv.shape
    q, k, v = qkv.reshape(b, t, 3, 2, width // 6).permute(2, 0, 3, 1, 4)
    out = TF.scaled_dot_product_attention(q, k, v, is_causal=True)
    return out.transpose(1, 2).reshape(b, t, width // 3)


def _torch_lstm_sequence(xproj, h, c, w):
    import torch
    steps = []
    for x in xproj:
        i, f, g, o = (x + h @ w.T).chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        steps.append(torch.cat([h, c], -1))
    return torch.stack(steps)


#: Cases that move tensors to a second device.
NEEDS_SECOND_DEVICE = {"to_device"}

#: Ops whose result depends on our own random numbers, so PyTorch cannot reproduce it.
NO_TORCH_EQUIVALENT = {"dropout"}
