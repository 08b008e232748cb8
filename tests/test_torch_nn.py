"""The PyTorch-shaped layers, losses and functions against PyTorch itself: the same weights
(a PyTorch state dict loaded as it is), the same inputs, then the outputs and the gradient
of every input and parameter, to 1e-9 in float64 and 1e-5 in float32. Skipped where torch
is not installed; the finite-difference checks of the same layers are in test_nn_gradcheck.py."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning")]

TOL = {"float64": 1e-9, "float32": 1e-5}


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _flat(result):
    out = []
    for r in result if isinstance(result, (tuple, list)) else (result,):
        if isinstance(r, (tuple, list)):
            out.extend(_flat(r))
        elif r is not None:
            out.append(r)
    return out


class Fixed:
    """An input array that does not require grad (a float mask)."""

    def __init__(self, array):
        self.array = array


def _inputs(torch, arrays, dtype):
    """(ours, theirs) for each input: float arrays require grad, other arrays (targets,
    masks) and ``Fixed`` ones do not, anything else is passed as it is."""
    ours, theirs = [], []
    for a in arrays:
        fixed = isinstance(a, Fixed)
        a = a.array if fixed else a
        if isinstance(a, np.ndarray):
            float_ = a.dtype.kind == "f" and not fixed
            a = a.astype(dtype) if a.dtype.kind == "f" else a
            ours.append(mg.tensor(a, requires_grad=float_))
            theirs.append(torch.tensor(a, requires_grad=float_))
        else:
            ours.append(a)
            theirs.append(a)
    return ours, theirs


def compare(torch, ours, theirs, inputs, our_call=None, their_call=None, dtype="float64"):
    """Load ``theirs``' state dict into ``ours`` (same names), run both on ``inputs``,
    and compare every output, then every input's and parameter's gradient after the
    backward of one random weighting of the outputs."""
    tol = TOL[dtype]
    if theirs is not None:
        theirs.to(getattr(torch, dtype))
        ours.to(getattr(mg, dtype))
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    our_in, their_in = _inputs(torch, inputs, dtype)
    a = _flat((our_call or (lambda m, *x: m(*x)))(ours, *our_in))
    b = _flat((their_call or (lambda m, *x: m(*x)))(theirs, *their_in))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == tuple(y.shape)
        np.testing.assert_allclose(x.numpy(), y.detach().numpy(), rtol=tol, atol=tol)
    weights = [np.random.default_rng(i).standard_normal(x.shape).astype(dtype)
               for i, x in enumerate(a)]
    sum(((x * mg.tensor(w)).sum() for x, w in zip(a, weights)), mg.tensor(0.0)).backward()
    sum((y * torch.tensor(w)).sum() for y, w in zip(b, weights)).backward()
    for x, y in zip(our_in, their_in):
        if getattr(y, "requires_grad", False):
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=tol, atol=tol)
    if theirs is not None:
        their_params = dict(theirs.named_parameters())
        assert [n for n, _ in ours.named_parameters()] == list(their_params)
        for name, p in ours.named_parameters():
            q = their_params[name].grad
            got = p.grad.numpy() if p.grad is not None else np.zeros(p.shape)
            np.testing.assert_allclose(got, q.numpy() if q is not None else 0 * got,
                                       rtol=tol, atol=tol, err_msg=name)


def functional(name):
    """Call F.<name> on ours and torch.nn.functional.<name> on theirs."""
    def ours(_, *args, **kw):
        return getattr(F, name)(*args, **kw)

    def theirs_(torch):
        return lambda _, *args, **kw: getattr(torch.nn.functional, name)(*args, **kw)
    return ours, theirs_


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


# ---------------------------------------------------------------- MultiheadAttention

MHA_OPTIONS = {
    "plain": dict(),
    "kdim-vdim": dict(kdim=6, vdim=5),
    "bias_kv-zero_attn": dict(add_bias_kv=True, add_zero_attn=True),
    "no-bias": dict(bias=False),
}


def _mha_inputs(options, batch_first, masks):
    rng = np.random.default_rng(3)

    def seq(length, width):
        return rng.standard_normal((2, length, width) if batch_first else (length, 2, width))
    q, k, v = seq(4, 8), seq(5, options.get("kdim", 8)), seq(5, options.get("vdim", 8))
    attn = {"float": rng.standard_normal((4, 5)), "bool": rng.random((4, 5)) < 0.3,
            "3d": rng.standard_normal((2 * 2, 4, 5)), None: None}[masks]
    padding = np.zeros((2, 5), dtype=bool)
    padding[0, 3:] = True
    return [q, k, v, attn, padding if masks else None]


@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("masks", ["float", "bool", "3d", None])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("options", sorted(MHA_OPTIONS))
def test_multihead_attention_matches_torch(torch, options, batch_first, masks, need_weights,
                                           average):
    kw = MHA_OPTIONS[options]
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first, **kw)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first, **kw)

    def call(m, q, k, v, attn_mask, key_padding_mask):
        return m(q, k, v, key_padding_mask=key_padding_mask, need_weights=need_weights,
                 attn_mask=attn_mask, average_attn_weights=average)
    compare(torch, ours, theirs, _mha_inputs(kw, batch_first, masks), call, call)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_multihead_self_attention_causal_hint_unbatched_and_eval_dropout_match_torch(torch, dtype):
    ours = nn.MultiheadAttention(8, 2, dropout=0.4)
    theirs = torch.nn.MultiheadAttention(8, 2, dropout=0.4)
    ours.eval(), theirs.eval()
    for need_weights in (False, True):
        def call(m, x, mask):
            return m(x, x, x, attn_mask=mask, need_weights=need_weights, is_causal=True)
        mask = np.triu(np.ones((5, 5), dtype=bool), 1)
        compare(torch, ours, theirs, [rand(5, 3, 8), mask], call, call, dtype)
        compare(torch, ours, theirs, [rand(5, 8), mask], call, call, dtype)   # unbatched
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        ours(*(mg.zeros(5, 3, 8),) * 3, is_causal=True)


def test_multihead_attention_state_dict_loads_into_torch(torch):
    for kw in MHA_OPTIONS.values():
        ours = nn.MultiheadAttention(8, 2, **kw)
        theirs = torch.nn.MultiheadAttention(8, 2, **kw)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
        q, k, v = (a.astype("float32") for a in _mha_inputs(kw, False, None)[:3])
        a, _ = ours(mg.tensor(q), mg.tensor(k), mg.tensor(v))
        b, _ = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(v))
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- transformer layers

def _layer_options(torch_side, activation):
    if activation == "callable":
        return (torch_side.nn.functional.gelu if torch_side else F.gelu)
    return activation


@pytest.mark.parametrize("masks", ["causal-bool", "float+padding", None])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer_matches_torch(torch, batch_first, activation, norm_first,
                                                 masks):
    def make(side, lib):
        return lib.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=batch_first,
                                              norm_first=norm_first,
                                              activation=_layer_options(side, activation))
    x = rand(3, 5, 8) if batch_first else rand(5, 3, 8)
    mask = {"causal-bool": np.triu(np.ones((5, 5), dtype=bool), 1),
            "float+padding": rand(5, 5, seed=4), None: None}[masks]
    padding = np.zeros((3, 5), dtype=bool)
    padding[1, 3:] = True
    padding = padding if masks == "float+padding" else None

    def call(m, x, mask, padding):
        return m(x, src_mask=mask, src_key_padding_mask=padding)
    compare(torch, make(None, mg), make(torch, torch), [x, mask, padding], call, call)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mask_kind", ["bool", "float", "is_causal", "padding"])
def test_transformer_encoder_matches_torch(torch, dtype, mask_kind):
    def make(lib):
        layer = lib.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True,
                                               activation="gelu")
        return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(8),
                                         **({} if lib is mg else {"enable_nested_tensor": False}))
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    padding = np.zeros((3, 5), dtype=bool)
    padding[0, 4] = True
    mask = {"bool": causal, "float": Fixed(np.where(causal, -np.inf, 0.0)), "is_causal": causal,
            "padding": None}[mask_kind]

    def call(m, x, mask, padding):
        return m(x, mask=mask, src_key_padding_mask=padding,
                 is_causal=True if mask_kind == "is_causal" else None)
    compare(torch, make(mg), make(torch), [rand(3, 5, 8), mask,
                                          padding if mask_kind == "padding" else None],
            call, call, dtype)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_decoder_layer_and_decoder_match_torch(torch, batch_first, norm_first):
    def layer(lib):
        return lib.nn.TransformerDecoderLayer(8, 2, 12, dropout=0.0, batch_first=batch_first,
                                              norm_first=norm_first)
    tgt = rand(2, 4, 8) if batch_first else rand(4, 2, 8)
    memory = rand(2, 5, 8, seed=1) if batch_first else rand(5, 2, 8, seed=1)
    tgt_mask = np.triu(np.ones((4, 4), dtype=bool), 1)
    memory_padding = np.zeros((2, 5), dtype=bool)
    memory_padding[1, 3:] = True

    def call(m, tgt, memory, tgt_mask, memory_padding):
        return m(tgt, memory, tgt_mask=tgt_mask, memory_key_padding_mask=memory_padding)
    inputs = [tgt, memory, tgt_mask, memory_padding]
    compare(torch, layer(mg), layer(torch), inputs, call, call)
    compare(torch, nn.TransformerDecoder(layer(mg), 2, norm=nn.LayerNorm(8)),
            torch.nn.TransformerDecoder(layer(torch), 2, norm=torch.nn.LayerNorm(8)), inputs,
            call, call)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transformer_matches_torch_both_ways(torch, dtype):
    ours = nn.Transformer(8, 2, 2, 1, 12, dropout=0.0, batch_first=True)
    theirs = torch.nn.Transformer(8, 2, 2, 1, 12, dropout=0.0, batch_first=True)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(
        tgt_mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())

    def call(m, src, tgt, tgt_mask):
        return m(src, tgt, tgt_mask=tgt_mask)
    compare(torch, ours, theirs, [rand(2, 5, 8), rand(2, 4, 8, seed=1), Fixed(tgt_mask.numpy())],
            call, call, dtype)
    # and back: a fresh model of ours loads into torch's
    fresh = nn.Transformer(8, 2, 2, 1, 12, dropout=0.0, batch_first=True)
    theirs.float().load_state_dict({k: torch.tensor(v.numpy())
                                    for k, v in fresh.state_dict().items()})
    src, tgt = rand(2, 5, 8).astype("float32"), rand(2, 4, 8, seed=1).astype("float32")
    np.testing.assert_allclose(fresh(mg.tensor(src), mg.tensor(tgt)).numpy(),
                               theirs(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_transformer_layer_keys_are_torchs(torch):
    for make in (lambda lib: lib.nn.TransformerEncoderLayer(8, 2, 16, bias=False),
                 lambda lib: lib.nn.TransformerDecoderLayer(8, 2, 16, norm_first=True)):
        assert list(make(mg).state_dict()) == list(make(torch).state_dict())
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


# ---------------------------------------------------------------- PyTorch code, torch bound

def encoder_lm(torch, nn, data):
    """A next-token model on windows of ids, written as one writes it for PyTorch: a
    Dataset of (window, next id), token and position embeddings, a causal
    TransformerEncoder, a linear head on the last position."""

    class Windows(data.Dataset):
        def __init__(self, ids, size):
            self.ids, self.size = ids, size

        def __len__(self):
            return len(self.ids) - self.size

        def __getitem__(self, i):
            window = self.ids[i:i + self.size]
            return (torch.tensor(window, dtype=torch.long),
                    torch.tensor(self.ids[i + self.size], dtype=torch.long))

    class EncoderLM(nn.Module):
        def __init__(self, vocab, width=8, heads=2, layers=2, context=6):
            super().__init__()
            self.tokens = nn.Embedding(vocab, width)
            self.positions = nn.Embedding(context, width)
            block = nn.TransformerEncoderLayer(d_model=width, nhead=heads, dim_feedforward=16,
                                               dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(block, num_layers=layers)
            self.head = nn.Linear(width, vocab)

        def forward(self, x):
            batch, length = x.size()
            where = torch.arange(0, length).unsqueeze(0).expand(batch, length)
            h = self.tokens(x) + self.positions(where)
            future = torch.triu(torch.ones(length, length), diagonal=1).bool()
            h = self.encoder(h, mask=future)
            return self.head(h[:, -1, :])

    return Windows, EncoderLM


def test_pytorch_encoder_model_and_dataloader_code_runs_unchanged(torch):
    ids = [int(i) for i in np.random.default_rng(0).integers(0, 11, 40)]
    mg.set_default_dtype(mg.float64)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        Windows, EncoderLM = encoder_lm(mg, nn, mg.utils.data)
        TWindows, TEncoderLM = encoder_lm(torch, torch.nn, torch.utils.data)
        ours, theirs = EncoderLM(11), TEncoderLM(11)
    finally:
        torch.set_default_dtype(previous)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    loaders = (mg.utils.data.DataLoader(Windows(ids, 6), batch_size=8, drop_last=True),
               torch.utils.data.DataLoader(TWindows(ids, 6), batch_size=8, drop_last=True))
    assert len(loaders[0]) == len(loaders[1]) == 4
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    t_loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    for (x, y), (tx, ty) in zip(*loaders):
        np.testing.assert_array_equal(x.numpy(), tx.numpy())
        loss, t_loss = loss_fn(ours(x), y), t_loss_fn(theirs(tx), ty)
        assert math.isclose(loss.item(), t_loss.item(), rel_tol=1e-10)
        loss.backward()
        t_loss.backward()
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=name)
