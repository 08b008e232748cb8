"""Parameter-free layers with PyTorch's names: the activations that are not in
``layers.py`` (Softmax, LogSoftmax, Sigmoid, SiLU), Identity and Flatten. Any shape."""
import warnings

from minigrad import functional as F
from minigrad.nn.module import Module
from minigrad.ops import flatten


def _implicit_dim(ndim):
    """PyTorch's choice when Softmax is given no dim (deprecated there too)."""
    warnings.warn("Implicit dimension choice for softmax has been deprecated. Change the "
                  "call to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, _implicit_dim(x.ndim) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """x - logsumexp(x) along ``dim``."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, _implicit_dim(x.ndim) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, x):
        return F.sigmoid(x)


class SiLU(Module):
    """x * sigmoid(x), elementwise (``inplace`` is accepted; the result is a new tensor)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x)


class Identity(Module):
    """Returns its input; any arguments to the constructor are ignored (as PyTorch's)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Dimensions ``start_dim`` .. ``end_dim`` merged into one: (N, C, H, W) -> (N, C*H*W)
    with the defaults."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
