"""The CPU kernels: NumPy code for the formulas a training step spends its time in.

Every kernel here has a namesake in ``minigrad.backend_cuda`` and in
``minigrad.backend_plain`` (its plain-array formula and contract). An op or optimizer gets
the set for its input's device from ``minigrad.backend.kernels(array)`` and never asks
which one it got. Where NumPy has no faster way, the kernel is the plain formula itself.
"""
import numpy as np

from minigrad.backend_cpu.activations import (  # noqa: F401
    erf, gelu_backward, gelu_forward, gelu_tanh_backward, gelu_tanh_forward)
from minigrad.backend_cpu.adam import adam_update  # noqa: F401
from minigrad.backend_cpu.attention import attention_backward, attention_forward  # noqa: F401
from minigrad.backend_cpu.rows import (  # noqa: F401
    cross_entropy_backward, cross_entropy_forward, layer_norm_backward, layer_norm_forward,
    softmax, softmax_backward)
from minigrad.backend_cpu.sampling import add_rows, keep_mask, scatter_add  # noqa: F401



def autocast_dtype(name):
    """float16 for autocast('float16'); NumPy has no bfloat16."""
    if name != "float16":
        raise TypeError(f"autocast: {name} needs tensors on 'cuda' (NumPy has no {name}); "
                        "use autocast('float16') on the CPU")
    return np.dtype(np.float16)


def matmul_low(a, b, dtype):
    """a @ b as float16 hardware computes it: float16 operands, products summed in float32,
    the result rounded to float16, returned in a's dtype. NumPy multiplies float16 without
    BLAS, tens of times slower, so the rounded operands are multiplied in float32. An
    overflow to inf is the signal the loss scaler watches, not an error."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = a.astype(dtype).astype(a.dtype) @ b.astype(dtype).astype(b.dtype)
        return out.astype(dtype).astype(a.dtype)
