"""minigrad: a tensor autograd engine written from scratch on NumPy (and CuPy).

    import minigrad as mg
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad            # tensor([2., 4., 6.])
"""
from minigrad import backend
from minigrad.autograd import (  # noqa: F401
    REGISTRY, detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad, set_grad_enabled)
from minigrad.backend import (  # noqa: F401
    bool_, double, float16, float32, float64, get_default_dtype, get_rng_state, half, int32,
    int64, long, manual_seed, set_default_dtype, set_rng_state, uint8)
from minigrad.ops import (  # noqa: F401
    abs, cat, chunk, clamp, concat, cos, erf, exp, expand, flatten, log, logsumexp, matmul,
    log_softmax, maximum, mean, minimum, permute, relu, reshape, sigmoid, sin, softmax, split,
    sqrt, squeeze, stack, sum, tanh, transpose, tril, triu, unsqueeze, var, where)
from minigrad.tensor import Tensor, tensor  # noqa: F401
from minigrad.creation import (  # noqa: F401
    arange, empty, eye, full, full_like, linspace, multinomial, ones, ones_like, rand,
    rand_like, randint, randn, randn_like, randperm, zeros, zeros_like)
from minigrad import functional  # noqa: F401,E402
from minigrad.gradcheck import gradcheck, gradgradcheck  # noqa: F401,E402


class cuda:
    """``minigrad.cuda.is_available()`` / ``minigrad.cuda.synchronize()``."""
    is_available = staticmethod(backend.cuda_is_available)
    synchronize = staticmethod(backend.synchronize)


__version__ = "0.1.0"
from minigrad import amp, nn, optim, utils  # noqa: F401,E402
from minigrad.serialization import load, save  # noqa: F401,E402
