"""Weight initialisers with PyTorch's names and formulas (``nn.init.normal_(w, 0, 0.02)``).

Each fills ``tensor.data`` in place with draws from the seeded generator of the tensor's
backend (``minigrad.backend.generator``), so ``minigrad.manual_seed`` makes models
reproducible, and returns the tensor.

Fans, for a weight of shape (out, in, *kernel): fan_in = in * prod(kernel),
fan_out = out * prod(kernel) (a Linear weight (out, in) has fan_in = in).
"""
import math

from minigrad import backend


def _fill(tensor, values):
    tensor.data[...] = values
    tensor._vc[0] += 1  # an in-place change: a graph that saved the tensor is stale
    return tensor


def _rng(tensor):
    return backend.generator(tensor.xp)


def normal_(tensor, mean=0.0, std=1.0):
    """Samples of N(mean, std^2)."""
    return _fill(tensor, mean + std * _rng(tensor).standard_normal(tensor.shape))


def uniform_(tensor, a=0.0, b=1.0):
    """Samples of U(a, b)."""
    return _fill(tensor, a + (b - a) * _rng(tensor).random(tensor.shape))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Samples of N(mean, std^2) kept within [a, b] (absolute bounds, as PyTorch's): drawn
    again wherever they fall outside."""
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    values = mean + std * _rng(tensor).standard_normal(tensor.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = mean + std * _rng(tensor).standard_normal(int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def constant_(tensor, value):
    return _fill(tensor, value)


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activations' variance steady through ``nonlinearity``:
    1 for linear/sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + a^2)) for
    leaky_relu with slope a (0.01 unless given)."""
    if nonlinearity in ("linear", "identity", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got "
                         f"shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def xavier_uniform_(tensor, gain=1.0):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015). PyTorch's default Linear
    weight is ``kaiming_uniform_(w, a=sqrt(5))``, which gives b = 1 / sqrt(fan_in)."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in_and_fan_out(tensor)[0 if mode == "fan_in" else 1]
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)
