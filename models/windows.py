"""The Cervantes notebook's objective (seed 000), `Config.objective = "last"`: every
stride-1 window of `context` tokens is one example, whose only target is the token after
it; an epoch visits every window once, in a fresh random order, in batches of
`batch_size` (the last batch of an epoch is smaller, as a DataLoader's without
drop_last). The loss is the cross-entropy at the last position of each window.

Ours, `objective = "all"` (models/data.get_batch), draws windows at random and scores
every position. `LastTokenWindows.batch(index)` depends on the batch's index alone (the
order of epoch e is drawn from a generator seeded with (seed, e)), so a resumed run sees
the same batches with no state to save.
"""
import math

import numpy as np

from minigrad import functional as F

from models.data import check_window_fits


class LastTokenWindows:
    """Shuffled stride-1 windows of `ids`: batch i is (x (b, context), y (b,)) int64."""

    def __init__(self, ids, batch_size, context, seed):
        check_window_fits(len(ids), context)
        self.ids, self.batch_size, self.context, self.seed = ids, batch_size, context, seed
        self.num_windows = len(ids) - context
        self._order = (None, None)  # (epoch, permutation) of the latest epoch asked for

    def __len__(self):
        """Batches per epoch."""
        return math.ceil(self.num_windows / self.batch_size)

    def order(self, epoch):
        """The window starts of `epoch`, in the order they are visited."""
        if self._order[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order = (epoch, rng.permutation(self.num_windows))
        return self._order[1]

    def batch(self, index):
        """Batch `index` counted from the start of training (epoch index // len(self))."""
        epoch, i = divmod(index, len(self))
        starts = self.order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        rows = starts[:, None] + np.arange(self.context)
        return self.ids[rows].astype(np.int64), self.ids[starts + self.context].astype(np.int64)


def objective_loss(model, x, y, objective):
    """The mean cross-entropy of `model` on a batch: at every position (objective "all",
    y (B, T)) or at the last position of each window only ("last", y (B,)); recurrent
    models start from a zero state."""
    logits = model(x)
    if model.recurrent:
        logits = logits[0]
    if objective == "last":
        logits = logits[:, -1]
    return F.cross_entropy(logits, y)
