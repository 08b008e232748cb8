"""PyTorch's losses, activations and functions on minigrad against PyTorch itself
(tests/torch_compare.py says how). Skipped where torch is not installed; the finite-difference
checks of the same layers are in test_nn_gradcheck.py."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from torch_compare import compare, rand

pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning")]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- losses

TARGET = np.array([3, 0, -100, 1, 3])
CE_CASES = {
    "plain": ((5, 4), TARGET.clip(0), {}),
    "ignore-weight-smoothing": ((5, 4), TARGET, dict(weight=[0.5, 2.0, 1.0, 3.0],
                                                     label_smoothing=0.15)),
    "classes-in-dim-1": ((2, 4, 3), np.array([[1, 2, 2], [0, 3, 2]]),
                         dict(ignore_index=2, label_smoothing=0.3, weight=[1.0, 0.2, 2.0, 1.5])),
    "classes-in-dim-1-4d": ((2, 3, 2, 2), np.array([[[0, 1], [2, 2]], [[1, 1], [0, 2]]]),
                            dict(label_smoothing=0.05)),
    "one-sample": ((4,), np.array(2), dict(label_smoothing=0.1)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", sorted(CE_CASES))
def test_cross_entropy_loss_matches_torch(torch, case, reduction, dtype):
    shape, target, options = CE_CASES[case]
    weight = options.get("weight")
    ours_opts = dict(options, weight=None if weight is None else mg.tensor(weight, dtype=dtype))
    theirs_opts = dict(options, weight=None if weight is None else torch.tensor(
        weight, dtype=getattr(torch, dtype)))
    ours = nn.CrossEntropyLoss(reduction=reduction, **ours_opts)
    theirs = torch.nn.CrossEntropyLoss(reduction=reduction, **theirs_opts)
    compare(torch, ours, None, [rand(*shape), target], lambda _, x, t: ours(x, t),
            lambda _, x, t: theirs(x, t), dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)])
def test_cross_entropy_with_probabilities_matches_torch(torch, shape, reduction):
    probs = np.random.default_rng(1).random(shape)
    probs /= probs.sum(1, keepdims=True)
    w = [1.0, 0.5, 2.0, 0.7]
    compare(torch, None, None, [rand(*shape), probs],
            lambda _, x, p: F.cross_entropy(x, p, weight=mg.tensor(w, dtype=mg.float64),
                                            reduction=reduction,
                                            label_smoothing=0.2),
            lambda _, x, p: torch.nn.functional.cross_entropy(
                x, p, weight=torch.tensor(w, dtype=torch.float64), reduction=reduction,
                label_smoothing=0.2))


def test_cross_entropy_with_every_target_ignored_is_nan_as_torch(torch):
    x, t = rand(3, 4), np.full(3, -100)
    for smoothing in (0.0, 0.1):
        ours = F.cross_entropy(mg.tensor(x), mg.tensor(t), label_smoothing=smoothing)
        theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t),
                                                   label_smoothing=smoothing)
        assert math.isnan(ours.item()) and math.isnan(theirs.item())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape, target", [((5, 4), TARGET),
                                           ((2, 4, 3), np.array([[1, 2, -100], [0, 3, 2]]))])
def test_nll_loss_matches_torch(torch, shape, target, reduction):
    w = [0.5, 2.0, 1.0, 3.0]
    compare(torch, nn.NLLLoss(weight=mg.tensor(w), reduction=reduction), None,
            [rand(*shape), target], lambda m, x, t: m(x.log_softmax(1 if x.ndim > 2 else -1), t),
            lambda _, x, t: torch.nn.NLLLoss(weight=torch.tensor(w, dtype=torch.float64),
                                             reduction=reduction)(
                x.log_softmax(1 if x.ndim > 2 else -1), t))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch_and_warns_about_broadcasting_as_torch(torch, reduction):
    compare(torch, nn.MSELoss(reduction=reduction), None, [rand(3, 4), rand(3, 4, seed=1)],
            None, lambda _, a, b: torch.nn.MSELoss(reduction=reduction)(a, b))
    with pytest.warns(UserWarning, match="different to the input size"):
        compare(torch, None, None, [rand(3, 1), rand(3, seed=1)],
                lambda _, a, b: F.mse_loss(a, b, reduction=reduction),
                lambda _, a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction))


def test_deprecated_size_average_and_reduce_mean_what_they_mean_in_torch(torch):
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = nn.CrossEntropyLoss(size_average=size_average, reduce=reduce)
            theirs = torch.nn.CrossEntropyLoss(size_average=size_average, reduce=reduce)
        assert ours.reduction == theirs.reduction


# ---------------------------------------------------------------- activations, functions

@pytest.mark.parametrize("make, shape", [
    (lambda nn: nn.Softmax(dim=1), (2, 3, 4)), (lambda nn: nn.LogSoftmax(dim=0), (3, 4)),
    (lambda nn: nn.Sigmoid(), (3, 4)), (lambda nn: nn.SiLU(), (3, 4)),
    (lambda nn: nn.Identity(3, bias=True), (2, 3)), (lambda nn: nn.Flatten(), (2, 3, 4)),
    (lambda nn: nn.Flatten(0, 1), (2, 3, 4)), (lambda nn: nn.ReLU(inplace=False), (3, 4)),
    (lambda nn: nn.GELU(approximate="tanh"), (3, 4)),
])
def test_activation_layers_match_torch(torch, make, shape):
    compare(torch, make(nn), make(torch.nn), [rand(*shape)])


def test_softmax_without_dim_picks_torchs_dimension(torch):
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        with pytest.warns(UserWarning), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ours = nn.Softmax()(mg.tensor(rand(*shape)))
            theirs = torch.nn.Softmax()(torch.tensor(rand(*shape)))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("pad, mode, value, shape", [
    ((1, 2), "constant", None, (2, 3, 4)),
    ((2, 0, 1, 1, 0, 3), "constant", 0.5, (2, 3, 4)),
    ((-1, 2, 1, -2), "constant", -1.0, (2, 3, 4)),
    ((2, 1), "reflect", None, (2, 3, 4)),
    ((1, 2, 2, 1), "reflect", None, (1, 2, 3, 4)),
    ((3, 1, 0, 2), "replicate", None, (1, 2, 3, 4)),
    ((2, 3), "circular", None, (2, 3, 4)),
    ((1, 2, 3, 1), "circular", None, (1, 2, 3, 4)),
])
def test_pad_matches_torch(torch, pad, mode, value, shape):
    compare(torch, None, None, [rand(*shape)],
            lambda _, x: F.pad(x, pad, mode=mode, value=value),
            lambda _, x: torch.nn.functional.pad(x, pad, mode=mode, value=value))


@given(data=st.data())
def test_constant_pad_of_any_shape_matches_torch(data):
    torch = pytest.importorskip("torch")
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=4), label="shape")
    dims = data.draw(st.integers(1, len(shape)), label="padded dims")
    pad = []
    for size in reversed(shape[-dims:]):        # the last dimension first, as PyTorch
        left = data.draw(st.integers(-size // 2, 3))
        pad += [left, data.draw(st.integers(-(size + min(left, 0)) // 2, 3))]
    value = data.draw(st.sampled_from([0.0, -2.5]))
    x = np.random.default_rng(0).standard_normal(shape)
    compare(torch, None, None, [x], lambda _, x: F.pad(x, pad, value=value),
            lambda _, x: torch.nn.functional.pad(x, pad, value=value))


def test_one_hot_matches_torch(torch):
    for ids, classes in [(np.array([0, 3, 1, 3]), -1), (np.array([[0, 2], [1, 1]]), 5),
                         (np.array(2), 3)]:
        ours = F.one_hot(mg.tensor(ids), classes)
        theirs = torch.nn.functional.one_hot(torch.tensor(ids), classes)
        assert ours.dtype == mg.int64 and theirs.dtype == torch.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(ValueError):
        F.one_hot(mg.tensor([0, 4]), 3)
    with pytest.raises(TypeError, match="index tensor"):
        F.one_hot(mg.tensor([0.0, 1.0]))


def test_functional_names_match_torch(torch):
    x, w = rand(2, 3, 4), rand(6, 4, seed=1)
    ids = np.array([[0, 5, 2], [2, 2, 1]])
    compare(torch, None, None, [x], lambda _, x: F.silu(x),
            lambda _, x: torch.nn.functional.silu(x))
    compare(torch, None, None, [w, ids], lambda _, w, i: F.embedding(i, w, padding_idx=-4),
            lambda _, w, i: torch.nn.functional.embedding(i, w, padding_idx=-4))
    compare(torch, None, None, [x, rand(3, 4, seed=2), rand(3, 4, seed=3)],
            lambda _, x, g, b: F.layer_norm(x, (3, 4), g, b, eps=1e-3),
            lambda _, x, g, b: torch.nn.functional.layer_norm(x, (3, 4), g, b, eps=1e-3))
    compare(torch, None, None, [x], lambda _, x: F.dropout(x, 0.3, training=False),
            lambda _, x: torch.nn.functional.dropout(x, 0.3, training=False))
    compare(torch, None, None, [x], lambda _, x: F.relu(x, inplace=True) * F.gelu(x, "tanh"),
            lambda _, x: (torch.nn.functional.relu(x)
                          * torch.nn.functional.gelu(x, approximate="tanh")))
