"""minigrad.utils.data: datasets, samplers, the DataLoader and default_collate, checked
against their definitions (and against torch.utils.data where it is installed), and
importable as ``torch.utils.data`` when minigrad is bound as ``torch``."""
import collections
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.utils.data import (
    BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
    SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, default_collate,
    default_convert, random_split)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return mg.tensor([i, i * i]), i


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def order(loader):
    """The sample indices a loader of ``Squares`` yields, batch by batch."""
    return [b[1].tolist() for b in loader]


# ---------------------------------------------------------------- batching

@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans())
def test_batches_cover_the_dataset_in_order(n, batch_size, drop_last):
    loader = DataLoader(Squares(n), batch_size=batch_size, drop_last=drop_last)
    batches = order(loader)
    full, rest = divmod(n, batch_size)
    sizes = [batch_size] * full + ([rest] if rest and not drop_last else [])
    assert [len(b) for b in batches] == sizes
    assert len(loader) == len(sizes)
    assert sum(batches, []) == list(range(sum(sizes)))
    for x, i in loader:
        assert x.shape == (len(i), 2) and x.dtype == mg.int64
        np.testing.assert_array_equal(x.numpy()[:, 1], i.numpy() ** 2)


@given(n=st.integers(2, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       seed=st.integers(0, 2 ** 31))
def test_shuffle_is_a_new_permutation_each_pass_and_reproducible(n, batch_size, drop_last,
                                                                 seed):
    loader = DataLoader(Squares(n), batch_size=batch_size, shuffle=True, drop_last=drop_last)
    mg.manual_seed(seed)
    first, second = sum(order(loader), []), sum(order(loader), [])
    kept = n - n % batch_size if drop_last else n
    for epoch in (first, second):
        assert len(epoch) == kept and len(set(epoch)) == kept and set(epoch) <= set(range(n))
    mg.manual_seed(seed)
    assert sum(order(loader), []) == first, "manual_seed fixes the order"
    assert sum(order(loader), []) == second


def test_shuffle_orders_differ_between_passes_and_follow_a_numpy_generator():
    loader = DataLoader(Squares(50), batch_size=50, shuffle=True)
    assert order(loader) != order(loader)
    with_generator = [order(DataLoader(Squares(50), batch_size=7, shuffle=True,
                                       generator=np.random.default_rng(3))) for _ in range(2)]
    assert with_generator[0] == with_generator[1]
    mg.manual_seed(0)
    before = mg.randn(3).numpy()
    mg.manual_seed(0)
    order(DataLoader(Squares(10), shuffle=True, generator=np.random.default_rng(3)))
    np.testing.assert_array_equal(mg.randn(3).numpy(), before)   # it drew from its own


def test_samplers():
    data = Squares(10)
    assert list(SequentialSampler(data)) == list(range(10))
    assert sorted(RandomSampler(data)) == list(range(10))
    drawn = list(RandomSampler(data, num_samples=25))
    assert len(drawn) == 25 and sorted(drawn[:10]) == list(range(10))
    assert all(0 <= i < 10 for i in RandomSampler(data, replacement=True, num_samples=30))
    assert sorted(SubsetRandomSampler([2, 5, 7])) == [2, 5, 7]
    assert list(BatchSampler(range(7), 3, drop_last=False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(BatchSampler(range(7), 3, drop_last=True)) == 2
    loader = DataLoader(data, batch_sampler=BatchSampler(range(9, -1, -1), 4, False))
    assert order(loader) == [[9, 8, 7, 6], [5, 4, 3, 2], [1, 0]]
    assert order(DataLoader(data, batch_size=3, sampler=[4, 1, 1, 0])) == [[4, 1, 1], [0]]
    with pytest.raises(ValueError, match="positive integer"):
        BatchSampler(range(3), 0, False)


def test_no_batching_and_iterable_datasets():
    samples = list(DataLoader(Squares(3), batch_size=None))
    assert [s[1] for s in samples] == [0, 1, 2] and samples[2][0].tolist() == [2, 4]
    stream = DataLoader(Stream(7), batch_size=3)
    assert [b.tolist() for b in stream] == [[0, 1, 2], [3, 4, 5], [6]] and len(stream) == 3
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    custom = DataLoader(Squares(4), batch_size=2, collate_fn=lambda batch: len(batch))
    assert list(custom) == [2, 2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(shuffle=True, sampler=[0, 1]), "mutually exclusive with shuffle"),
    (dict(batch_size=2, batch_sampler=[[0]]), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "disables auto-batching"),
])
def test_conflicting_options_raise_as_in_pytorch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(Squares(4), **kwargs)


def test_iterable_datasets_refuse_shuffle():
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)


# ---------------------------------------------------------------- collate

Point = collections.namedtuple("Point", "x y")


def test_default_collate_types_and_nesting():
    batch = default_collate([
        {"a": np.float32(1.5), "b": (np.arange(3), 2.0), "c": "one", "d": Point(1, True)},
        {"a": np.float32(2.5), "b": (np.arange(3) + 1, 3.0), "c": "two", "d": Point(2, False)},
    ])
    assert batch["a"].dtype == mg.float32 and batch["a"].tolist() == [1.5, 2.5]
    arrays, floats = batch["b"]                         # a tuple of fields gives a list
    assert isinstance(batch["b"], list)
    assert arrays.dtype == mg.int64 and arrays.shape == (2, 3)
    assert floats.dtype == mg.float64                   # Python floats: float64, as PyTorch
    assert batch["c"] == ["one", "two"]
    assert isinstance(batch["d"], Point) and batch["d"].x.dtype == mg.int64
    assert batch["d"].y.dtype == mg.bool_
    assert default_collate([[1, 2], [3, 4]])[1].tolist() == [2, 4]
    assert default_collate([np.zeros((2,), np.float64)] * 3).dtype == mg.float64
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([mg.zeros(2), mg.zeros(3)])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])


def test_collating_tensors_that_require_grad_keeps_the_graph():
    w = mg.ones(2, requires_grad=True)
    batch = default_collate([w * 2.0, w * 3.0])
    batch.sum().backward()
    assert w.grad.tolist() == [5.0, 5.0]


def test_default_convert():
    converted = default_convert({"a": np.arange(3), "b": (np.float32(1.0), "s"), "c": 4})
    assert isinstance(converted["a"], mg.Tensor) and converted["b"][1] == "s"
    assert converted["b"][0].dtype == mg.float32 and converted["c"] == 4


@pytest.mark.torch
def test_default_collate_gives_torchs_dtypes_and_shapes():
    torch = pytest.importorskip("torch")
    samples = [
        [(np.arange(3, dtype=np.int32), 1.0, 2, True, np.float32(0.5), np.ones((2, 2)))] * 4,
        [{"x": [1, 2], "y": (3.5, np.int64(7))}] * 3,
    ]
    for batch in samples:
        ours = _leaves(default_collate(batch))
        theirs = _leaves(torch.utils.data.default_collate(batch))
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).split(".")[1]
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for key in tree for leaf in _leaves(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree]


# ---------------------------------------------------------------- datasets

def test_tensor_dataset_and_loader():
    x, y = mg.randn(10, 3), mg.arange(10)
    data = TensorDataset(x, y)
    assert len(data) == 10
    np.testing.assert_array_equal(data[4][0].numpy(), x.numpy()[4])
    xb, yb = next(iter(DataLoader(data, batch_size=4)))
    assert xb.shape == (4, 3) and yb.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(mg.zeros(3), mg.zeros(4))


def test_subset_concat_and_random_split():
    data = Squares(10)
    assert Subset(data, [3, 1])[1][1] == 1 and len(Subset(data, [3, 1])) == 2
    both = data + Squares(5)
    assert isinstance(both, ConcatDataset) and len(both) == 15 and both[12][1] == 2
    assert both[-1][1] == 4
    mg.manual_seed(5)
    parts = random_split(data, [3, 7])
    indices = [[p[i][1] for i in range(len(p))] for p in parts]
    assert [len(i) for i in indices] == [3, 7] and sorted(sum(indices, [])) == list(range(10))
    mg.manual_seed(5)
    assert [[p[i][1] for i in range(len(p))] for p in random_split(data, [3, 7])] == indices
    assert [len(p) for p in random_split(Squares(11), [0.5, 0.3, 0.2])] == [6, 3, 2]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(data, [3, 3])


# ---------------------------------------------------------------- minigrad bound as torch

def test_torch_utils_data_resolves_when_minigrad_is_bound_as_torch():
    code = textwrap.dedent("""
        import sys
        import minigrad
        sys.modules["torch"] = minigrad
        from torch.utils.data import DataLoader, Dataset, TensorDataset
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        assert DataLoader is minigrad.utils.data.DataLoader
        assert Dataset is minigrad.utils.data.Dataset and nn.Module is minigrad.nn.Module
        assert F.cross_entropy is minigrad.functional.cross_entropy
        loader = DataLoader(TensorDataset(torch.arange(6)), batch_size=4)
        print([b[0].tolist() for b in loader], type(nn.CrossEntropyLoss()).__name__)
    """)
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[[0, 1, 2, 3], [4, 5]] CrossEntropyLoss"
