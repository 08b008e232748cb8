"""Ops that keep every value: a cast to another dtype, a move to another device, a copy.
Their backward hands the gradient back the same way (cast back, moved back). Also the
comparisons, whose bool results carry no gradient."""
from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.base import broadcast_pair, const


@register("astype", "identity; the gradient is cast back to the input's dtype")
class AsType(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, grad, out):
        return (astype(grad, out._inputs[0].dtype),)


def astype(x, dtype):
    """x in another dtype. A cast to an integer dtype cuts the graph (as in PyTorch)."""
    if x.dtype == dtype:
        return x
    if x.requires_grad and not backend.is_floating(dtype):
        return x.detach().astype(dtype)
    return AsType.apply(x, dtype=dtype)


@register("to_device", "identity; the gradient moves back to the input's device")
class ToDevice(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        return backend.to_device(x, self.device)

    def backward(self, grad, out):
        return (to_device(grad, out._inputs[0].device),)


def to_device(x, device):
    """x on ``device`` ('cpu', 'cuda', 'cuda:N'); no op when it is already there."""
    device = backend.parse_device(device)
    if x.device == device:
        return x
    return ToDevice.apply(x, device=device)


@register("clone", "identity: d x/dx = 1")
class Clone(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        return x.copy()

    def backward(self, grad, out):
        return (grad,)


def clone(x):
    """A copy of x that records the copy (so the gradient flows back to x)."""
    return Clone.apply(x)


_COMPARISONS = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
                "logical_and", "logical_or", "logical_xor"}


def compare(a, b, how):
    """Elementwise comparison (``==``, ``<``, ...): a bool tensor, never differentiable."""
    if how not in _COMPARISONS:
        raise ValueError(f"compare: unknown comparison {how!r}")
    a, b = broadcast_pair(a, b, how)
    return const(getattr(a.xp, how)(a.data, b.data))


def logical_not(x):
    return const(x.xp.logical_not(x.data))
