"""Scans along one dimension: running sums and running products."""
from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import mul
from minigrad.ops.base import normalize_axis
from minigrad.ops.index import getitem
from minigrad.ops.shape import concat


@register("cumsum", "y_i = sum_{j<=i} x_j along dim; dx_j = sum_{i>=j} g_i (a cumsum from the end)")
class CumSum(Function):
    saved_inputs = ()
    saves_output = False

    def forward(self, x):
        xp = backend.get_array_module(x)
        if self.reverse:
            return xp.flip(xp.cumsum(xp.flip(x, self.dim), axis=self.dim), self.dim)
        return xp.cumsum(x, axis=self.dim)

    def backward(self, grad, out):
        return (CumSum.apply(grad, dim=self.dim, reverse=not self.reverse),)


def cumsum(input, dim):
    """Running sums along ``dim``."""
    return CumSum.apply(input, dim=normalize_axis(dim, input.ndim, "cumsum")[0], reverse=False)


@register("cumprod", "composite: y_i = y_{i-1} * x_i along dim, one product per position "
          "(exact where x has zeros)", kind="composite")
def cumprod(input, dim):
    """Running products along ``dim``."""
    dim = normalize_axis(dim, input.ndim, "cumprod")[0]
    if input.shape[dim] == 0:
        return input
    steps = [getitem(input, (slice(None),) * dim + (slice(0, 1),))]
    for i in range(1, input.shape[dim]):
        steps.append(mul(steps[-1], getitem(input, (slice(None),) * dim + (slice(i, i + 1),))))
    return concat(steps, dim) if len(steps) > 1 else steps[0]
