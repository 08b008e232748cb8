"""The transformer's feed-forward network and block (attention + feed-forward, each with
a residual connection and a LayerNorm)."""
from minigrad.nn.attention import MultiHeadAttention
from minigrad.nn.layers import GELU, Dropout, LayerNorm, Linear, ReLU, Tanh
from minigrad.nn.container import Sequential
from minigrad.nn.module import Module

ACTIVATIONS = {"relu": ReLU, "gelu": GELU, "gelu_tanh": lambda: GELU("tanh"), "tanh": Tanh}
VARIANTS = {"hw4": "relu", "gelu3": "gelu"}


class FeedForward(Module):
    """The position-wise network of a transformer block: x (*, dim) -> (*, dim).

    ``variant='hw4'`` (two layers, as HW4 and nanoGPT):
        Linear(dim, hidden) -> activation -> Linear(hidden, dim) -> Dropout
    ``variant='gelu3'`` (three layers, as the thesis model):
        Linear(dim, hidden) -> activation -> Linear(hidden, hidden) -> activation
        -> Linear(hidden, dim) -> Dropout
    ``hidden`` defaults to 4 * dim. ``activation`` ('relu', 'gelu', 'gelu_tanh', 'tanh')
    defaults to the variant's: ReLU for 'hw4' (nanoGPT uses 'gelu'), GELU for 'gelu3'.
    The layers are ``self.net`` (a Sequential), so the parameter names are those of the
    HW4 model (``net.0.weight``, ``net.2.weight``, ...)."""

    def __init__(self, dim, hidden=None, activation=None, dropout=0.0, variant="hw4", bias=True):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"FeedForward: variant must be one of {sorted(VARIANTS)}, "
                             f"got {variant!r}")
        activation = activation or VARIANTS[variant]
        if activation not in ACTIVATIONS:
            raise ValueError(f"FeedForward: activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        hidden = hidden or 4 * dim
        act = ACTIVATIONS[activation]
        middle = [Linear(hidden, hidden, bias), act()] if variant == "gelu3" else []
        self.net = Sequential(Linear(dim, hidden, bias), act(), *middle,
                              Linear(hidden, dim, bias), Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class TransformerBlock(Module):
    """One transformer block: x (B, T, dim) -> (B, T, dim).

    ``norm='pre'`` (GPT-2, HW4; the default):
        x = x + Dropout(attn(ln1(x)));  x = x + ff(ln2(x))
    ``norm='post'`` (the original transformer):
        x = ln1(x + Dropout(attn(x)));  x = ln2(x + ff(x))
    ``ff``: the feed-forward hidden width (default 4 * dim, giving the HW4
    ``FeedForward``), or a feed-forward Module to use as is (e.g.
    ``FeedForward(dim, 1024, variant='gelu3')``). ``forward(x, cache)`` passes the
    key/value cache to the attention (see ``MultiHeadAttention``)."""

    def __init__(self, dim, heads, ff=None, dropout=0.0, norm="pre", causal=True, bias=True,
                 rope=False):
        super().__init__()
        if norm not in ("pre", "post"):
            raise ValueError(f"TransformerBlock: norm must be 'pre' or 'post', got {norm!r}")
        self.norm = norm
        self.ln1 = LayerNorm(dim, bias=bias)
        self.attn = MultiHeadAttention(dim, heads, dropout, causal, bias, rope)
        self.drop = Dropout(dropout)
        self.ln2 = LayerNorm(dim, bias=bias)
        if not isinstance(ff, Module):
            ff = FeedForward(dim, ff, dropout=dropout, bias=bias)
        self.ff = ff

    def forward(self, x, cache=None):
        if self.norm == "pre":
            x = x + self.drop(self.attn(self.ln1(x), cache=cache))
            return x + self.ff(self.ln2(x))
        x = self.ln1(x + self.drop(self.attn(x, cache=cache)))
        return self.ln2(x + self.ff(x))

    def extra_repr(self):
        return f"norm={self.norm!r}"
