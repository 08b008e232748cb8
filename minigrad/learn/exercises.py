"""The exercises of the lessons: for each, the forward values the learner starts from, the
names of what the learner computes (in the order a backward pass meets them) and a hint for
each. Values are float64 NumPy arrays drawn from a fixed seed, so every run checks the same
numbers. The forward code here is the same the lessons show.
"""
import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np


@dataclass(frozen=True)
class Exercise:
    name: str
    lesson: int
    make: object  # rng -> dict of forward values (inputs, intermediates, incoming gradient)
    names: tuple  # what the learner returns, in the order a backward pass meets them
    hints: dict  # name -> hint


EXERCISES = {}


def exercise(lesson, names, hints):
    def add(make):
        name = make.__name__
        missing = set(names) - set(hints)
        if missing:
            raise ValueError(f"exercise {name!r}: no hint for {sorted(missing)}")
        EXERCISES[name] = Exercise(name, lesson, make, tuple(names), hints)
        return make
    return add


def inputs(name):
    """The forward values of exercise ``name`` as attributes (``c.x``, ``c.dy``)."""
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; there are: {', '.join(EXERCISES)}")
    return SimpleNamespace(**EXERCISES[name].make(np.random.default_rng(17)))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax_rows(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---------------------------------------------------------------- lesson 1


@exercise(1, ["dn", "dw1", "dx1", "dw2", "dx2", "db"], {
    "dn": "o = tanh(n), so do/dn = 1 - o**2; multiply by the gradient that arrives, do",
    "dw1": "n = x1*w1 + x2*w2 + b: dn/dw1 = x1, times dn",
    "dx1": "dn/dx1 = w1, times dn",
    "dw2": "dn/dw2 = x2, times dn",
    "dx2": "dn/dx2 = w2, times dn",
    "db": "b is added: the gradient passes through unchanged (dn/db = 1)",
})
def neuron(rng):
    x1, w1, x2, w2, b = (float(v) for v in rng.uniform(-1.5, 1.5, 5))
    n = x1 * w1 + x2 * w2 + b
    return dict(x1=x1, w1=w1, x2=x2, w2=w2, b=b, n=n, o=math.tanh(n), do=1.0)


# ---------------------------------------------------------------- lesson 2


@exercise(2, ["dx", "dW", "db"], {
    "dx": "y = x @ W + b: dx = dy @ W.T, an (N, M) @ (M, D) product with x's shape (N, D)",
    "dW": "dW = x.T @ dy: (D, N) @ (N, M), W's shape (D, M); each row of the batch adds its part",
    "db": "b was broadcast over the N rows of the batch: its gradient sums dy over axis 0",
})
def linear(rng):
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    return dict(x=x, W=W, b=b, y=x @ W + b, dy=rng.standard_normal((5, 3)))


# ---------------------------------------------------------------- lesson 3


@exercise(3, ["dx"], {
    "dx": "softplus(x) = log(1 + exp(x)) has derivative exp(x) / (1 + exp(x)) = sigmoid(x); "
          "times dy",
})
def softplus(rng):
    x = rng.standard_normal((3, 4)) * 2
    return dict(x=x, y=np.log1p(np.exp(x)), dy=rng.standard_normal((3, 4)))


# ---------------------------------------------------------------- lesson 4


@exercise(4, ["dlogprobs", "dprobs", "dinv", "dsums", "dcounts", "dshifted", "dmaxes", "dlogits"], {
    "dlogprobs": "loss = -mean of logprobs[i, y[i]]: -1/N at each row's target, 0 elsewhere",
    "dprobs": "logprobs = log(probs): d log(p)/dp = 1/p, so dlogprobs / probs",
    "dinv": "probs = counts * inv, inv (N, 1) broadcast over the row: sum dprobs * counts "
            "over axis 1, keepdims=True",
    "dsums": "inv = 1 / sums: d(1/s)/ds = -1/s**2, times dinv",
    "dcounts": "counts reach the loss twice, through probs (dprobs * inv) and through sums "
               "(dsums, broadcast over the row): add both",
    "dshifted": "counts = exp(shifted): the derivative of exp is exp itself, so dcounts * counts",
    "dmaxes": "shifted = logits - maxes, maxes broadcast over the row: minus the row sum of "
              "dshifted (it comes out ~0: the shift does not change the loss)",
    "dlogits": "logits reach shifted directly (dshifted) and through the max (dmaxes goes to "
               "each row's argmax only); the sum is (probs - onehot(y)) / N",
})
def cross_entropy(rng):
    n, v = 8, 5
    logits = rng.standard_normal((n, v)) * 2
    y = rng.integers(0, v, n)
    maxes = logits.max(1, keepdims=True)
    shifted = logits - maxes
    counts = np.exp(shifted)
    sums = counts.sum(1, keepdims=True)
    inv = 1.0 / sums
    probs = counts * inv
    logprobs = np.log(probs)
    loss = -logprobs[np.arange(n), y].mean()
    return dict(logits=logits, y=y, maxes=maxes, shifted=shifted, counts=counts, sums=sums,
                inv=inv, probs=probs, logprobs=logprobs, loss=loss)


# ---------------------------------------------------------------- lesson 5


@exercise(5, ["dw", "db", "dxhat", "drstd", "dvar", "dxc", "dmean", "dx"], {
    "dw": "y = xhat * w + b, w broadcast over the N rows: sum dy * xhat over axis 0",
    "db": "b broadcast over the N rows: sum dy over axis 0",
    "dxhat": "y = xhat * w: dy * w",
    "drstd": "xhat = xc * rstd, rstd (N, 1) broadcast over the row: sum dxhat * xc over axis 1, "
             "keepdims=True",
    "dvar": "rstd = (var + eps) ** -0.5: the derivative is -0.5 * (var + eps) ** -1.5, times drstd",
    "dxc": "xc reaches the loss through xhat (dxhat * rstd) and through var = mean(xc**2) "
           "(2 * xc / D * dvar): add both",
    "dmean": "xc = x - mean, mean broadcast over the row: minus the row sum of dxc",
    "dx": "x reaches xc directly (dxc) and through the mean (dmean / D to every element of the "
          "row)",
})
def layer_norm(rng):
    n, d, eps = 4, 6, 1e-5
    x = rng.standard_normal((n, d)) * 3 + 1
    w, b = 1 + 0.5 * rng.standard_normal(d), rng.standard_normal(d)
    mean = x.mean(1, keepdims=True)
    xc = x - mean
    var = (xc ** 2).mean(1, keepdims=True)
    rstd = (var + eps) ** -0.5
    xhat = xc * rstd
    return dict(x=x, w=w, b=b, eps=eps, mean=mean, xc=xc, var=var, rstd=rstd, xhat=xhat,
                y=xhat * w + b, dy=rng.standard_normal((n, d)))


# ---------------------------------------------------------------- lesson 6


@exercise(6, ["dV", "dP", "dS", "dQ", "dK"], {
    "dV": "O = P @ V: dV = P.T @ G, shape (T, d)",
    "dP": "O = P @ V: dP = G @ V.T, shape (T, T)",
    "dS": "P = softmax(S) row by row: dS = P * (dP - rowsum(dP * P)), the row sum with "
          "keepdims=True; masked entries have P = 0, so their gradient is 0",
    "dQ": "S = scale * Q @ K.T: dQ = scale * dS @ K",
    "dK": "S = scale * Q @ K.T: dK = scale * dS.T @ Q (K enters transposed, so dS does too)",
})
def attention(rng):
    t, d = 6, 4
    Q, K, V = (rng.standard_normal((t, d)) for _ in range(3))
    scale = d ** -0.5
    S = scale * Q @ K.T
    S[np.triu(np.ones((t, t), dtype=bool), 1)] = -np.inf  # a position sees only the past
    P = _softmax_rows(S)
    return dict(Q=Q, K=K, V=V, scale=scale, S=S, P=P, O=P @ V, G=rng.standard_normal((t, d)))


# ---------------------------------------------------------------- lesson 7


@exercise(7, ["do", "dc", "di", "df", "dg", "dc_prev", "dz", "dW", "db", "dx", "dh_prev"], {
    "do": "h = o * tanh(c): dh * tanh(c)",
    "dc": "c reaches the loss through h (dh * o * (1 - tanh(c)**2)) and through the next step "
          "(dc_next): add both",
    "di": "c = f * c_prev + i * g: dc * g",
    "df": "c = f * c_prev + i * g: dc * c_prev",
    "dg": "c = f * c_prev + i * g: dc * i",
    "dc_prev": "c = f * c_prev + ...: dc * f (the cell path: no squashing, only the forget gate)",
    "dz": "the gates are sigmoid(z) (i, f, o: times s * (1 - s)) and tanh(z) (g: times 1 - g**2); "
          "put the four (N, H) pieces side by side in the order i, f, g, o",
    "dW": "z = xh @ W + b with xh = [x, h_prev]: dW = xh.T @ dz",
    "db": "b broadcast over the batch: sum dz over axis 0",
    "dx": "xh @ W: dxh = dz @ W.T; x is its first D columns",
    "dh_prev": "dxh = dz @ W.T; h_prev is its last H columns",
})
def lstm_cell(rng):
    n, d, h = 3, 4, 5
    x, h_prev, c_prev = (rng.standard_normal((n, k)) for k in (d, h, h))
    W, b = rng.standard_normal((d + h, 4 * h)) * 0.5, rng.standard_normal(4 * h) * 0.1
    xh = np.concatenate([x, h_prev], 1)
    z = xh @ W + b
    i, f, o = _sigmoid(z[:, :h]), _sigmoid(z[:, h:2 * h]), _sigmoid(z[:, 3 * h:])
    g = np.tanh(z[:, 2 * h:3 * h])
    c = f * c_prev + i * g
    return dict(x=x, h_prev=h_prev, c_prev=c_prev, W=W, b=b, xh=xh, z=z, i=i, f=f, g=g, o=o,
                c=c, h=o * np.tanh(c), dh=rng.standard_normal((n, h)),
                dc_next=rng.standard_normal((n, h)))


# ---------------------------------------------------------------- lesson 8


@exercise(8, ["Xv", "curvature", "Hv"], {
    "Xv": "the direction v, seen by every row: X @ v",
    "curvature": "the second derivative of softplus is sigmoid'(z) = s * (1 - s), s = sigmoid(X @ w)",
    "Hv": "H = X.T @ diag(curvature) @ X, so Hv = X.T @ (curvature * Xv), without forming H",
})
def hvp(rng):
    X, w, v = rng.standard_normal((6, 3)), rng.standard_normal(3), rng.standard_normal(3)
    z = X @ w
    return dict(X=X, w=w, v=v, z=z, f=np.log1p(np.exp(z)).sum(), grad=X.T @ _sigmoid(z))


# ---------------------------------------------------------------- lesson 9


@exercise(9, ["k", "q", "v", "scores", "wei", "out"], {
    "k": "keys: x @ Wk, shape (B, T, head_size)",
    "q": "queries: x @ Wq",
    "v": "values: x @ Wv",
    "scores": "q @ k transposed in its last two axes (k.swapaxes(-2, -1)), times head_size ** -0.5",
    "wei": "set the scores above the diagonal (the future) to -inf, then softmax each row",
    "out": "wei @ v: each position's weighted mean of the values it may see",
})
def head(rng):
    b, t, c, hs = 2, 5, 8, 4
    x = rng.standard_normal((b, t, c))
    Wk, Wq, Wv = (rng.standard_normal((c, hs)) / math.sqrt(c) for _ in range(3))
    return dict(x=x, Wk=Wk, Wq=Wq, Wv=Wv, head_size=hs)


# ---------------------------------------------------------------- lesson 10


@exercise(10, ["dcdf", "dx"], {
    "dcdf": "y = x * cdf: dy * x",
    "dx": "x reaches y directly (dy * cdf) and through cdf = Phi(x), whose derivative is the "
          "normal density pdf: add dcdf * pdf",
})
def gelu(rng):
    x = rng.standard_normal((4, 5)) * 2
    cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    pdf = np.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi)
    return dict(x=x, cdf=cdf, pdf=pdf, y=x * cdf, dy=rng.standard_normal((4, 5)))
