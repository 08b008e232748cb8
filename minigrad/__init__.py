"""minigrad: a tensor autograd engine written from scratch on NumPy (and CuPy).

    import minigrad as mg
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad            # tensor([2., 4., 6.])
"""
from minigrad import backend
from minigrad.autograd import (  # noqa: F401
    REGISTRY, detect_anomaly, enable_grad, grad, inference_mode, is_grad_enabled, no_grad,
    set_grad_enabled)
from minigrad.backend import (  # noqa: F401
    bool_, double, float16, float32, float64, get_default_dtype, get_rng_state, half, int32,
    int64, long, manual_seed, set_default_dtype, set_rng_state, uint8)
from minigrad.ops import (  # noqa: F401
    abs, add, bmm, cat, chunk, concat, cos, cumprod, cumsum, div, einsum, erf, exp, expand,
    flatten, flip, gather, index_select, log, log_softmax, logsumexp, matmul, maximum, mean,
    minimum, mul, neg, permute, pow, relu, repeat_interleave, reshape, roll, scatter,
    scatter_add, sigmoid, sin, softmax, split, sqrt, squeeze, stack, std, sub, sum, tanh,
    transpose, tril, triu, unsqueeze, var)
from minigrad.tensor import Tensor, tensor  # noqa: F401
from minigrad.creation import (  # noqa: F401
    arange, empty, empty_like, eye, full, full_like, linspace, multinomial, ones, ones_like,
    rand, rand_like, randint, randn, randn_like, randperm, zeros, zeros_like)
from minigrad.functions import (  # noqa: F401
    ValuesIndices, all, allclose, any, argmax, argmin, argsort, bincount, clamp, clip, device,
    equal, finfo, from_numpy, hstack, iinfo, is_floating_point, is_tensor, isclose, isfinite,
    isinf, isnan, logical_and, logical_not, logical_or, logical_xor, max, min, nonzero, numel,
    outer, rsqrt, sort, square, topk, vstack, where)
from minigrad import functional  # noqa: F401,E402

# PyTorch's dtype names (``dtype=torch.float``, ``torch.long``, ``torch.bool``).
float, int, bool = float32, int32, bool_  # noqa: A001
from minigrad.gradcheck import gradcheck, gradgradcheck  # noqa: F401,E402


class cuda:
    """``minigrad.cuda.is_available()``, ``device_count()``, ``synchronize()``,
    ``empty_cache()``, ``manual_seed(s)``/``manual_seed_all(s)`` (one generator per array
    module: they reseed all, as ``minigrad.manual_seed`` does), and ``amp`` (PyTorch's older
    ``torch.cuda.amp.autocast``/``GradScaler`` spelling)."""
    is_available = staticmethod(backend.cuda_is_available)
    device_count = staticmethod(backend.cuda_device_count)
    synchronize = staticmethod(backend.synchronize)
    empty_cache = staticmethod(backend.empty_cache)
    manual_seed = manual_seed_all = staticmethod(backend.manual_seed)


class backends:
    """The flags PyTorch model files set or ask: ``backends.mps.is_available()`` (False: no
    Apple GPU here) and the TensorFloat-32 switches, which minigrad accepts and ignores
    (NumPy and CuPy multiply float32 in float32)."""

    class mps:
        is_available = is_built = staticmethod(lambda: False)

    class cuda:
        class matmul:
            allow_tf32 = False

    class cudnn:
        allow_tf32, benchmark, deterministic = False, False, False


__version__ = "0.1.0"
from minigrad import amp, nn, optim, utils  # noqa: F401,E402
from minigrad.amp import autocast  # noqa: F401,E402

cuda.amp = amp
from minigrad.serialization import load, save  # noqa: F401,E402


def __getattr__(name):
    # Only reached for a name minigrad does not have (PEP 562): say where the covered API is.
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}; minigrad covers part "
                         "of PyTorch's API under the same names: see docs/compat.md")
