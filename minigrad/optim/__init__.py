"""``minigrad.optim``: optimizers and learning-rate schedulers, with PyTorch's names,
arguments and update formulas.

    optimizer = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    loss.backward(); optimizer.step(); optimizer.zero_grad()
"""
from minigrad.optim import lr_scheduler  # noqa: F401
from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.rmsprop import RMSprop
from minigrad.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "lr_scheduler"]
