"""The losses as modules, with PyTorch's names and arguments: ``loss_fn(input, target)``
calls the function of ``minigrad.functional`` with the options given at construction.
``size_average`` and ``reduce`` are PyTorch's deprecated spellings of ``reduction``."""
from minigrad import functional as F
from minigrad.nn.module import Module
from minigrad.tensor import Tensor


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        self.reduction = F._reduction(size_average, reduce, reduction, type(self).__name__)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with an optional weight per class, kept as a buffer (``weight``: it moves
    with ``to()`` and is in the state dict, as in PyTorch)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        if weight is not None and not isinstance(weight, Tensor):
            weight = Tensor(weight)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits against class indices or class probabilities; see
    ``minigrad.functional.cross_entropy`` for the shapes, ``ignore_index`` and
    ``label_smoothing``.

    input (N, C) with target (N,), (N, C, d1, ...) with target (N, d1, ...), or the
    language-model layout (..., C) with target (...)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self):
        return f"{super().extra_repr()}, ignore_index={self.ignore_index}, " \
               f"label_smoothing={self.label_smoothing}"


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities at class indices; see
    ``minigrad.functional.nll_loss``."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum, or each) of the squared differences; input and target of one shape."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
