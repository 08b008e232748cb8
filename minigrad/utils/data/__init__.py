"""``minigrad.utils.data``: datasets, samplers and the DataLoader, with the names, arguments
and batches of ``torch.utils.data``:

    from minigrad.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    for xb, yb in loader:
        ...

Shuffling draws from minigrad's seeded generator (``minigrad.manual_seed`` makes the
order reproducible) unless a ``numpy.random.Generator`` is given as ``generator``.

The classes live in the modules below and are only imported here (absolutely), so that a
second import of this package under another name (``torch.utils.data`` when minigrad is
bound as ``torch``) gives the very same classes.
"""
from minigrad.utils.data.collate import default_collate, default_convert  # noqa: F401
from minigrad.utils.data.dataloader import DataLoader  # noqa: F401
from minigrad.utils.data.dataset import (  # noqa: F401
    ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split)
from minigrad.utils.data.sampler import (  # noqa: F401
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler)

__all__ = ["DataLoader", "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset",
           "Subset", "random_split", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "BatchSampler", "default_collate", "default_convert"]
