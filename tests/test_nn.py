"""minigrad.nn: every layer gradient-checked in float64 w.r.t. its inputs and parameters,
the Module machinery, the key/value cache, dropout modes, bad inputs, and (where torch is
installed) outputs and gradients against torch.nn with the same weights."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_


@pytest.fixture
def float64():
    """New tensors and layers in float64 (conftest restores float32 after each test)."""
    mg.set_default_dtype(mg.float64)


def randn(*shape, away_from_zero=False):
    x = mg.randn(*shape, dtype=mg.float64)
    if away_from_zero:  # keep relu-like kinks out of the finite differences
        x = x + (x > 0).to(mg.float64) * 0.2 - (x <= 0).to(mg.float64) * 0.2
    return x.requires_grad_()


def ids(*shape, high):
    return mg.randint(0, high, shape)


# ---------------------------------------------------------------- gradcheck of every layer

def gradcheck_layer(layer, inputs, outputs=lambda y: y, reseed=False):
    """gradcheck of ``outputs(layer(*inputs))`` w.r.t. the float inputs and every parameter
    (the parameters themselves are passed as gradcheck inputs, so finite differences
    perturb them in place). ``reseed`` fixes the dropout mask across evaluations."""
    params = tuple(layer.parameters())
    n = len(inputs)

    def fn(*args):
        if reseed:
            mg.manual_seed(7)
        return outputs(layer(*args[:n]))

    assert mg.gradcheck(fn, tuple(inputs) + params)


def _with_cache(layer, x, split):
    """The layer run over x in two calls sharing a KVCache: positions [:split], then the rest."""
    cache = nn.KVCache()
    return mg.cat([layer(x[:, :split], cache=cache), layer(x[:, split:], cache=cache)], dim=1)


def case(layer, *inputs, outputs=None, reseed=False):
    return layer, list(inputs), outputs or (lambda y: y), reseed


def gelu_ff():
    return nn.FeedForward(4, 4, activation="gelu")


# name -> () -> case(...). The part of the name before '-' is the nn class the case covers
# (test_every_layer_has_a_gradcheck_case). Sizes are tiny: the full Jacobian costs two
# forwards per input element and one backward per output element.
GRADCHECK_CASES = {
    "Linear": lambda: case(nn.Linear(3, 2), randn(2, 3, 3)),
    "Linear-nobias": lambda: case(nn.Linear(3, 2, bias=False), randn(2, 3)),
    "Embedding": lambda: case(nn.Embedding(5, 3), ids(2, 3, high=5)),
    "LayerNorm": lambda: case(nn.LayerNorm(4), randn(2, 3, 4)),
    "LayerNorm-nobias": lambda: case(nn.LayerNorm(4, bias=False), randn(2, 4)),
    "LayerNorm-noaffine": lambda: case(nn.LayerNorm((2, 3), elementwise_affine=False),
                                       randn(2, 2, 3)),
    "Dropout": lambda: case(nn.Dropout(0.5), randn(2, 3, 4), reseed=True),
    "ReLU": lambda: case(nn.ReLU(), randn(2, 3, 4, away_from_zero=True)),
    "GELU": lambda: case(nn.GELU(), randn(2, 3, 4)),
    "GELU-tanh": lambda: case(nn.GELU("tanh"), randn(2, 3, 4)),
    "Tanh": lambda: case(nn.Tanh(), randn(2, 3, 4)),
    "Sequential": lambda: case(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
                               randn(2, 3)),
    "MultiHeadAttention": lambda: case(nn.MultiHeadAttention(4, 2), randn(2, 3, 4)),
    "MultiHeadAttention-weights": lambda: case(
        _need_weights(nn.MultiHeadAttention(4, 2, causal=False)), randn(2, 3, 4)),
    "MultiHeadAttention-rope-cache": lambda: case(
        _cached(nn.MultiHeadAttention(4, 2, rope=True, bias=False)), randn(1, 3, 4)),
    "MultiHeadAttention-dropout": lambda: case(nn.MultiHeadAttention(4, 2, dropout=0.3),
                                               randn(1, 3, 4), reseed=True),
    "FeedForward": lambda: case(nn.FeedForward(4, 6), randn(2, 3, 4, away_from_zero=True)),
    "FeedForward-gelu3": lambda: case(nn.FeedForward(3, 4, variant="gelu3"), randn(2, 3, 3)),
    "TransformerBlock-pre": lambda: case(nn.TransformerBlock(4, 2, ff=gelu_ff()),
                                         randn(2, 3, 4)),
    "TransformerBlock-post": lambda: case(nn.TransformerBlock(4, 2, ff=gelu_ff(), norm="post"),
                                          randn(2, 3, 4)),
    "RNNCell": lambda: case(nn.RNNCell(3, 2), randn(2, 3), randn(2, 2)),
    "LSTMCell": lambda: case(_with_state(nn.LSTMCell(3, 2)), randn(2, 3), randn(2, 2),
                             randn(2, 2), outputs=_flat),
    "GRUCell": lambda: case(nn.GRUCell(3, 2), randn(2, 3), randn(2, 2)),
    "RNN": lambda: case(nn.RNN(2, 2, num_layers=2, batch_first=True), randn(2, 3, 2),
                        randn(2, 2, 2), outputs=_flat),
    "LSTM": lambda: case(_with_state(nn.LSTM(2, 2, num_layers=2, batch_first=True)),
                         randn(2, 3, 2), randn(2, 2, 2), randn(2, 2, 2), outputs=_flat),
    "GRU": lambda: case(nn.GRU(2, 2, num_layers=2), randn(3, 2, 2), randn(2, 2, 2),
                        outputs=_flat),
    "RNN-bidirectional": lambda: case(nn.RNN(2, 2, num_layers=2, bidirectional=True),
                                      randn(3, 2, 2), randn(4, 2, 2), outputs=_flat),
    "LSTM-bidirectional-unbatched": lambda: case(
        _with_state(nn.LSTM(2, 2, num_layers=2, bidirectional=True)), randn(3, 2),
        randn(4, 2), randn(4, 2), outputs=_flat),
    "GRU-bidirectional": lambda: case(nn.GRU(2, 2, bidirectional=True, batch_first=True),
                                      randn(2, 3, 2), outputs=_flat),
    "Sigmoid": lambda: case(nn.Sigmoid(), randn(2, 3)),
    "SiLU": lambda: case(nn.SiLU(), randn(2, 3)),
    "Softmax": lambda: case(nn.Softmax(dim=1), randn(2, 3, 2)),
    "LogSoftmax": lambda: case(nn.LogSoftmax(dim=-1), randn(2, 3)),
    "Identity": lambda: case(nn.Identity(54, unused=True), randn(2, 3)),
    "Flatten": lambda: case(nn.Flatten(), randn(2, 3, 2)),
    "CrossEntropyLoss": lambda: case(nn.CrossEntropyLoss(), randn(4, 3), mg.tensor([0, 2, 1, 2])),
    "CrossEntropyLoss-smoothing-weight-ignore": lambda: case(
        nn.CrossEntropyLoss(weight=mg.tensor([0.5, 2.0, 1.0]), ignore_index=1,
                            label_smoothing=0.2), randn(2, 3, 4),
        mg.tensor([[0, 1, 2, 2], [1, 0, 0, 2]])),
    "CrossEntropyLoss-probabilities": lambda: case(
        nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum"), randn(2, 3),
        mg.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=mg.float64)),
    "NLLLoss": lambda: case(nn.NLLLoss(weight=mg.tensor([1.0, 3.0, 0.5])), randn(4, 3),
                            mg.tensor([0, 2, -100, 1])),
    "MSELoss": lambda: case(nn.MSELoss(reduction="sum"), randn(2, 3), randn(2, 3)),
    "MultiheadAttention": lambda: case(
        _masked_attention(nn.MultiheadAttention(4, 2, batch_first=True)), randn(2, 3, 4),
        randn(2, 5, 4), outputs=_flat),
    "MultiheadAttention-kdim-biaskv-zeroattn": lambda: case(
        _masked_attention(nn.MultiheadAttention(4, 2, kdim=3, vdim=2, add_bias_kv=True,
                                                add_zero_attn=True)),
        randn(3, 2, 4), randn(5, 2, 3), randn(5, 2, 2), outputs=_flat),
    "MultiheadAttention-dropout-causal": lambda: case(
        _causal_self_attention(nn.MultiheadAttention(4, 2, dropout=0.3)), randn(3, 1, 4),
        reseed=True),
    "TransformerEncoderLayer": lambda: case(
        _causal_encoder(nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu",
                                                   batch_first=True)), randn(2, 3, 4)),
    "TransformerEncoderLayer-norm_first-dropout": lambda: case(
        nn.TransformerEncoderLayer(4, 2, 6, dropout=0.2, activation=nn.GELU(), norm_first=True),
        randn(3, 2, 4), reseed=True),
    "TransformerEncoder": lambda: case(_causal_encoder(nn.TransformerEncoder(
        nn.TransformerEncoderLayer(4, 2, 5, dropout=0.0, activation="gelu", batch_first=True),
        2, norm=nn.LayerNorm(4))), randn(1, 3, 4)),
    "TransformerDecoderLayer": lambda: case(
        nn.TransformerDecoderLayer(4, 2, 5, dropout=0.0, activation="gelu", batch_first=True),
        randn(2, 3, 4), randn(2, 2, 4)),
    "TransformerDecoder": lambda: case(_causal_decoder(nn.TransformerDecoder(
        nn.TransformerDecoderLayer(4, 2, 5, dropout=0.0, activation="gelu", norm_first=True),
        1, norm=nn.LayerNorm(4))), randn(3, 1, 4), randn(2, 1, 4)),
    "Transformer": lambda: case(
        nn.Transformer(4, 2, 1, 1, 5, dropout=0.0, activation="gelu", batch_first=True),
        randn(1, 2, 4), randn(1, 3, 4)),
    "LearnedPositionalEmbedding": lambda: case(
        _offset(nn.LearnedPositionalEmbedding(5, 3), 2), randn(2, 3, 3)),
    "SinusoidalPositionalEncoding": lambda: case(
        _offset(nn.SinusoidalPositionalEncoding(4), 3), randn(2, 3, 4)),
    "RotaryEmbedding": lambda: case(_offset(nn.RotaryEmbedding(4), 5), randn(2, 2, 3, 4)),
}


class _Wrap(nn.Module):
    """Calls ``inner`` in a particular way; the parameters are the inner layer's."""

    def __init__(self, inner, call):
        super().__init__()
        self.inner, self.call = inner, call

    def forward(self, *args):
        return self.call(self.inner, *args)


def _need_weights(attn):
    return _Wrap(attn, lambda m, x: m(x, need_weights=True))


def _cached(attn):
    return _Wrap(attn, lambda m, x: _with_cache(m, x, 2))


def _masked_attention(attn):
    """MultiheadAttention with a float attn_mask and a key_padding_mask, returning the
    per-head weights too."""
    def call(m, q, k, v=None):
        v = k if v is None else v
        n = q.shape[0] if m.batch_first else q.shape[1]
        mask = mg.tensor(np.linspace(-1.0, 1.0, q.shape[-2 if m.batch_first else 0] * k.shape[
            -2 if m.batch_first else 0]).reshape(-1, k.shape[-2 if m.batch_first else 0]),
            device=q.device)
        padding = np.zeros((n, k.shape[-2 if m.batch_first else 0]), dtype=bool)
        padding[0, -1] = True
        return m(q, k, v, key_padding_mask=mg.tensor(padding, device=q.device), attn_mask=mask,
                 average_attn_weights=False)
    return _Wrap(attn, call)


def _causal_self_attention(attn):
    def call(m, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[0], x.device, x.dtype)
        return m(x, x, x, attn_mask=mask, need_weights=False, is_causal=True)[0]
    return _Wrap(attn, call)


def _causal_encoder(layer):
    """An encoder (layer) called with a bool causal mask (batch first)."""
    def call(m, x):
        mask = mg.triu(mg.ones(x.shape[1], x.shape[1], device=x.device), diagonal=1).bool()
        if isinstance(m, nn.TransformerEncoder):
            return m(x, mask=mask)
        return m(x, src_mask=mask)
    return _Wrap(layer, call)


def _causal_decoder(decoder):
    def call(m, tgt, memory):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[0], tgt.device, tgt.dtype)
        return m(tgt, memory, tgt_mask=mask)
    return _Wrap(decoder, call)


def _offset(layer, offset):
    return _Wrap(layer, lambda m, x: m(x, offset=offset))


def _with_state(lstm):
    """An LSTM or LSTMCell taking h and c as separate arguments."""
    return _Wrap(lstm, lambda m, x, h, c: m(x, (h, c)))


def _flat(result):
    """(output, h_n) or (output, (h_n, c_n)) as one flat tuple of tensors."""
    out = []
    for r in result if isinstance(result, tuple) else (result,):
        out.extend(_flat(r) if isinstance(r, tuple) else [r])
    return tuple(out)


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_layer_gradcheck(name, float64):
    gradcheck_layer(*GRADCHECK_CASES[name]())


def test_every_layer_has_a_gradcheck_case():
    containers = {"Module", "ModuleList", "ModuleDict"}
    layers = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
              and issubclass(getattr(nn, name), nn.Module)} - containers
    covered = {case.split("-")[0] for case in GRADCHECK_CASES}
    assert layers - covered == set(), "layers without a gradcheck case"
    assert covered - layers == set(), "cases naming no nn layer"


def test_gradcheck_helper_catches_a_wrong_layer_gradient(float64):
    class WrongScale(nn.Module):
        """Multiplies by w, but detaches w in one term: its gradient misses a factor."""

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(mg.tensor([1.5]))

        def forward(self, x):
            return x * self.w * self.w.detach()

    with pytest.raises(AssertionError, match="input 1"):
        gradcheck_layer(WrongScale(), [randn(3)])


# ---------------------------------------------------------------- Module machinery

class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(4, 2)
        self.register_buffer("steps", mg.zeros(1, dtype=mg.int64))
        self.register_buffer("scratch", mg.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_parameters_are_registered_in_order():
    m = TwoLayer()
    assert [n for n, _ in m.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight",
                                                    "fc2.bias"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    assert m.num_parameters() == 3 * 4 + 4 + 4 * 2 + 2
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "act", "fc2"]
    assert list(m.children()) == [m.fc1, m.act, m.fc2]
    assert [n for n, _ in m.named_buffers()] == ["steps", "scratch"]


def test_buffers_are_in_state_dict_unless_non_persistent():
    state = TwoLayer().state_dict()
    assert "steps" in state and "scratch" not in state
    assert set(state) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "steps"}


def test_tied_weights_are_one_parameter():
    m = nn.Module()
    m.emb = nn.Embedding(5, 3)
    m.head = nn.Linear(3, 5, bias=False)
    m.head.weight = m.emb.weight
    assert len(list(m.parameters())) == 1
    assert m.num_parameters() == 15
    assert set(m.state_dict()) == {"emb.weight", "head.weight"}


def test_assigning_none_and_replacing_attributes():
    m = TwoLayer()
    m.fc1.bias = None
    assert [n for n, _ in m.fc1.named_parameters()] == ["weight"]
    m.fc2 = nn.Tanh()
    assert "fc2.weight" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match="is a parameter: assign a Parameter"):
        m.fc1.weight = mg.zeros(4, 3)
    del m.act
    assert "act" not in dict(m.named_modules())


def test_register_parameter_and_add_module_as_pytorch():
    m = nn.Module()
    m.register_parameter("scale", nn.Parameter(mg.ones(2)))
    m.register_parameter("shift", None)               # an optional parameter, absent
    m.add_module("fc", nn.Linear(2, 2))
    assert [n for n, _ in m.named_parameters()] == ["scale", "fc.weight", "fc.bias"]
    assert m.shift is None and "shift" not in m.state_dict()
    m.shift = nn.Parameter(mg.zeros(2))
    assert "shift" in m.state_dict()
    with pytest.raises(TypeError, match="expected a Parameter or None"):
        m.register_parameter("w", mg.ones(2))
    with pytest.raises(ValueError, match="invalid name"):
        m.add_module("a.b", nn.Tanh())


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first in Broken"):
        Broken()


def test_missing_forward_is_explained():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(mg.zeros(1))


def test_train_eval_propagate_to_every_submodule():
    m = nn.TransformerBlock(4, 2, dropout=0.1)
    assert m.eval() is m
    assert not any(sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())


def test_zero_grad_drops_or_zeroes():
    m = TwoLayer()
    m(mg.randn(2, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(float(abs(p.grad).sum()) == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_apply_visits_children_first():
    seen = []
    TwoLayer().apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "Tanh", "Linear", "TwoLayer"]


def test_repr_shows_the_tree():
    text = repr(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.1)))
    assert text == ("Sequential(\n"
                    "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
                    "  (1): ReLU()\n"
                    "  (2): Dropout(p=0.1)\n"
                    ")")
    assert repr(nn.LSTM(2, 3, num_layers=2)) == "LSTM(2, 3, num_layers=2)"   # as PyTorch's
    assert repr(nn.GRU(2, 3, bias=False, batch_first=True, bidirectional=True)) == \
        "GRU(2, 3, bias=False, batch_first=True, bidirectional=True)"


def test_to_dtype_keeps_parameter_identity():
    m = TwoLayer()
    weight = m.fc1.weight
    m(mg.randn(2, 3)).sum().backward()
    assert m.to(mg.float64) is m
    assert m.fc1.weight is weight and weight.dtype == mg.float64
    assert weight.grad.dtype == mg.float64
    assert m.steps.dtype == mg.int64, "integer buffers keep their dtype"
    assert m.scratch.dtype == mg.float64
    m.to("cpu")
    assert m.fc1.weight.device == "cpu"


def test_module_list_and_dict_and_sequential_indexing():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(layers[1:]) == 2
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(seq[:2], nn.Sequential) and seq[:2](mg.randn(4, 2)).shape == (4, 3)
    d = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    assert list(d) == ["a", "b"] and "a" in d and isinstance(d["b"], nn.ReLU)
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]


# ---------------------------------------------------------------- state dict

def test_state_dict_round_trip_gives_the_same_outputs():
    a, b = TwoLayer(), TwoLayer()
    x = mg.randn(5, 3)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    weight = b.fc1.weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert b.fc1.weight is weight, "loading copies in place"


def test_state_dict_shares_memory_and_load_copies():
    m = TwoLayer()
    state = m.state_dict()
    other = TwoLayer()
    other.load_state_dict(state)
    with mg.no_grad():
        m.fc1.weight[0, 0] = 123.0
    assert state["fc1.weight"].numpy()[0, 0] == 123.0
    assert other.fc1.weight.numpy()[0, 0] != 123.0


def test_load_state_dict_accepts_numpy_arrays_and_casts():
    m = TwoLayer()
    state = {k: v.numpy().astype(np.float64) if v.dtype.kind == "f" else v.numpy()
             for k, v in TwoLayer().state_dict().items()}
    m.load_state_dict(state)
    assert m.fc1.weight.dtype == mg.float32
    np.testing.assert_allclose(m.fc1.weight.numpy(), state["fc1.weight"], rtol=1e-6)


def test_load_state_dict_errors_name_every_bad_key():
    m = TwoLayer()
    state = m.state_dict()
    del state["fc2.bias"]
    state["fc3.weight"] = mg.zeros(2, 2)
    state["fc1.weight"] = mg.zeros(5, 3)
    before = m.fc2.weight.numpy().copy()
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict(state)
    message = str(err.value)
    assert "TwoLayer" in message
    assert "missing key(s): fc2.bias" in message
    assert "unexpected key(s): fc3.weight" in message
    assert "fc1.weight: checkpoint has shape (5, 3), the model (4, 3)" in message
    np.testing.assert_array_equal(m.fc2.weight.numpy(), before)  # nothing loaded on error


def test_load_state_dict_non_strict_reports_keys_but_rejects_shapes():
    m = TwoLayer()
    state = {"fc1.weight": mg.ones(4, 3), "extra": mg.zeros(1)}
    missing, unexpected = m.load_state_dict(state, strict=False)
    assert "fc1.bias" in missing and unexpected == ["extra"]
    np.testing.assert_array_equal(m.fc1.weight.numpy(), 1)
    with pytest.raises(RuntimeError, match="checkpoint has shape"):
        m.load_state_dict({"fc1.weight": mg.ones(3, 3)}, strict=False)


# ---------------------------------------------------------------- initialisation

def test_linear_default_init_is_pytorchs_uniform():
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = layer.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound


def test_init_functions_follow_pytorchs_formulas():
    w = mg.empty(200, 300)
    nn.init.xavier_uniform_(w)
    bound = math.sqrt(6 / 500)
    assert np.abs(w.numpy()).max() <= bound
    assert abs(w.numpy().std() - bound / math.sqrt(3)) < 0.02 * bound
    nn.init.kaiming_uniform_(w, nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    nn.init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)
    nn.init.normal_(w, mean=1.0, std=0.02)
    assert abs(w.numpy().mean() - 1.0) < 1e-3 and abs(w.numpy().std() - 0.02) < 1e-3
    assert nn.init.zeros_(w) is w and not w.numpy().any()
    assert nn.init.ones_(w).numpy().min() == 1
    assert nn.init.constant_(w, 0.5).numpy().max() == 0.5
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(mg.empty(3))


def test_init_is_reproducible_from_the_seed():
    mg.manual_seed(3)
    a = nn.TransformerBlock(8, 2).state_dict()
    mg.manual_seed(3)
    b = nn.TransformerBlock(8, 2).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    emb = nn.Embedding(6, 3, padding_idx=-1)
    assert emb.padding_idx == 5 and not emb.weight.numpy()[5].any()
    emb(mg.tensor([[5, 1, 5]])).sum().backward()
    assert not emb.weight.grad.numpy()[5].any() and emb.weight.grad.numpy()[1].all()


# ---------------------------------------------------------------- dropout modes

def test_dropout_train_and_eval():
    drop = nn.Dropout(0.25)
    x = mg.ones(200, 100)
    y = drop(x).numpy()
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.75)
    drop.eval()
    assert drop(x) is x


def test_eval_makes_a_model_with_dropout_deterministic():
    block = nn.TransformerBlock(8, 2, dropout=0.5)
    x = mg.randn(2, 5, 8)
    assert not np.allclose(block(x).numpy(), block(x).numpy())
    block.eval()
    np.testing.assert_array_equal(block(x).numpy(), block(x).numpy())


def test_recurrent_dropout_applies_between_layers_only_in_training():
    lstm = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = mg.randn(4, 2, 3)
    assert not np.allclose(lstm(x)[0].numpy(), lstm(x)[0].numpy())
    lstm.eval()
    np.testing.assert_array_equal(lstm(x)[0].numpy(), lstm(x)[0].numpy())


# ---------------------------------------------------------------- attention and the KV cache

@pytest.mark.parametrize("rope", [False, True])
def test_kv_cache_decoding_equals_full_forward(rope, float64):
    attn = nn.MultiHeadAttention(8, 2, rope=rope)
    x = mg.randn(2, 6, 8)
    full = attn(x).numpy()
    cache = nn.KVCache()
    steps = [attn(x[:, :3], cache=cache)] + [attn(x[:, t:t + 1], cache=cache) for t in range(3, 6)]
    assert len(cache) == 6
    np.testing.assert_allclose(mg.cat(steps, dim=1).numpy(), full, rtol=1e-12, atol=1e-12)


def test_kv_cache_through_a_stack_of_blocks_gives_the_same_logits(float64):
    mg.manual_seed(1)
    emb, pos = nn.Embedding(11, 8), nn.LearnedPositionalEmbedding(16, 8)
    blocks = nn.ModuleList(nn.TransformerBlock(8, 2, rope=True) for _ in range(2))
    head = nn.Linear(8, 11)

    def logits(tokens, caches=None, offset=0):
        x = pos(emb(tokens), offset=offset)
        for i, block in enumerate(blocks):
            x = block(x, cache=None if caches is None else caches[i])
        return head(x)

    tokens = mg.randint(0, 11, (2, 7))
    full = logits(tokens).numpy()
    caches = [nn.KVCache() for _ in blocks]
    steps = [logits(tokens[:, t:t + 1], caches, offset=t) for t in range(7)]
    np.testing.assert_allclose(mg.cat(steps, dim=1).numpy(), full, rtol=1e-11, atol=1e-12)


def test_attention_weights_are_causal_and_normalised():
    attn = nn.MultiHeadAttention(8, 4)
    out, weights = attn(mg.randn(2, 5, 8), need_weights=True)
    assert out.shape == (2, 5, 8) and weights.shape == (2, 4, 5, 5)
    w = weights.numpy()
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-5)
    assert not np.triu(w, k=1).any()


def test_record_attention_keeps_each_layers_weights_without_changing_the_output():
    blocks = nn.Sequential(nn.TransformerBlock(8, 2), nn.TransformerBlock(8, 4))
    x = mg.randn(2, 5, 8)
    plain = blocks(x).numpy()
    with nn.record_attention(blocks) as layers:
        recorded = blocks(x).numpy()
    np.testing.assert_allclose(recorded, plain, rtol=1e-5, atol=1e-6)
    assert [layer.weights.shape for layer in layers] == [(2, 2, 5, 5), (2, 4, 5, 5)]
    assert not layers[0].weights.requires_grad
    np.testing.assert_allclose(layers[1].weights.numpy().sum(-1), 1, rtol=1e-5)
    assert not any(layer.keep_weights for layer in layers)  # switched off again


def test_rotary_embedding_depends_on_relative_position_only(float64):
    rope = nn.RotaryEmbedding(4, max_len=32)
    q, k = mg.randn(1, 1, 1, 4), mg.randn(1, 1, 1, 4)

    def score(i, j):
        return float((rope(q, offset=i) * rope(k, offset=j)).sum())

    assert math.isclose(score(3, 1), score(10, 8), rel_tol=1e-12)
    assert not math.isclose(score(3, 1), score(3, 2), rel_tol=1e-6)
    np.testing.assert_allclose(rope(q, offset=0).numpy(), q.numpy())


def test_sinusoidal_table_matches_the_paper(float64):
    pe = nn.SinusoidalPositionalEncoding(6, max_len=10)(mg.zeros(1, 10, 6)).numpy()[0]
    p, i = 7, 2
    assert math.isclose(pe[p, 2 * i], math.sin(p / 10000 ** (2 * i / 6)), rel_tol=1e-12)
    assert math.isclose(pe[p, 2 * i + 1], math.cos(p / 10000 ** (2 * i / 6)), rel_tol=1e-12)


def test_feed_forward_variants():
    hw4 = nn.FeedForward(4)
    assert [type(m).__name__ for m in hw4.net] == ["Linear", "ReLU", "Linear", "Dropout"]
    assert hw4.net[0].out_features == 16
    gelu3 = nn.FeedForward(4, 10, variant="gelu3")
    assert [type(m).__name__ for m in gelu3.net] == ["Linear", "GELU", "Linear", "GELU",
                                                     "Linear", "Dropout"]
    with pytest.raises(ValueError, match="variant"):
        nn.FeedForward(4, variant="swiglu")


def test_nn_functional_takes_pytorch_arguments():
    import minigrad.nn.functional as F
    x = mg.randn(2, 3, 5, 4)
    np.testing.assert_array_equal(F.softmax(x, dim=-1).numpy(), x.softmax(-1).numpy())
    np.testing.assert_array_equal(F.log_softmax(x, dim=1).numpy(), x.log_softmax(1).numpy())
    causal = F.scaled_dot_product_attention(x, x, x, is_causal=True).numpy()
    allowed = mg.tril(mg.ones(5, 5)) == 1
    np.testing.assert_allclose(F.scaled_dot_product_attention(x, x, x, attn_mask=allowed).numpy(),
                               causal, rtol=1e-6)
    additive = mg.zeros(5, 5).masked_fill(~allowed, -1e9)
    np.testing.assert_allclose(F.scaled_dot_product_attention(x, x, x, attn_mask=additive).numpy(),
                               causal, rtol=1e-6)


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("make, call, error, message", [
    (lambda: nn.Linear(64, 32), lambda m: m(mg.zeros(2, 48)), ValueError,
     r"Linear\(64, 32\): input of shape \(2, 48\) has 48 features in its last dimension, "
     r"expected 64"),
    (lambda: nn.Embedding(10, 4), lambda m: m(mg.tensor([[3, 10]])), IndexError,
     r"Embedding\(10, 4\): id 10 is out of range; ids must be in \[0, 10\)"),
    (lambda: nn.Embedding(10, 4), lambda m: m(mg.tensor([-1])), IndexError,
     r"Embedding\(10, 4\): id -1 is out of range"),
    (lambda: nn.Embedding(10, 4), lambda m: m(mg.zeros(3)), TypeError, "ids must be integers"),
    (lambda: nn.MultiHeadAttention(10, 3), None, ValueError,
     "embed_dim 10 is not divisible by num_heads 3"),
    (lambda: nn.MultiHeadAttention(8, 2), lambda m: m(mg.zeros(2, 3, 6)), ValueError,
     r"MultiHeadAttention\(embed_dim=8, num_heads=2\): input of shape \(2, 3, 6\), "
     r"expected \(batch, time, 8\)"),
    (lambda: nn.LearnedPositionalEmbedding(4, 3), lambda m: m(mg.zeros(1, 5, 3)), ValueError,
     r"LearnedPositionalEmbedding\(4, 3\): positions 0..4 \(offset 0 \+ length 5\) exceed "
     r"the table of 4 positions"),
    (lambda: nn.RotaryEmbedding(4, max_len=8), lambda m: m(mg.zeros(1, 3, 4), offset=6),
     ValueError, "exceed the table of 8 positions"),
    (lambda: nn.LayerNorm(4), lambda m: m(mg.zeros(2, 5)), ValueError,
     r"LayerNorm\(\(4,\)\): input of shape \(2, 5\) must end with \(4,\)"),
    (lambda: nn.LSTM(3, 4), lambda m: m(mg.zeros(5, 2, 2)), ValueError,
     r"LSTM\(3, 4, num_layers=1\): input of shape \(5, 2, 2\), expected \(time, batch, 3\)"),
    (lambda: nn.GRU(3, 4, num_layers=2), lambda m: m(mg.zeros(5, 2, 3), mg.zeros(1, 2, 4)),
     ValueError, r"h0 has shape \(1, 2, 4\), expected \(num_layers, batch, hidden\) = \(2, 2, 4\)"),
    (lambda: nn.LSTMCell(3, 4), lambda m: m(mg.zeros(2, 3), (mg.zeros(2, 4), mg.zeros(2, 3))),
     ValueError, r"LSTMCell\(3, 4\): state of shape \(2, 3\), expected"),
    (lambda: nn.Dropout(1.5), None, ValueError, r"p must be in \[0, 1\], got 1.5"),
    (lambda: nn.TransformerBlock(8, 2, norm="middle"), None, ValueError, "norm must be"),
])
def test_bad_inputs_raise_clear_errors(make, call, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        call(layer)


# ---------------------------------------------------------------- recurrent layers

def test_recurrent_shapes_and_final_states():
    lstm = nn.LSTM(3, 5, num_layers=2, batch_first=True)
    out, (h, c) = lstm(mg.randn(4, 6, 3))
    assert out.shape == (4, 6, 5) and h.shape == c.shape == (2, 4, 5)
    np.testing.assert_array_equal(out.numpy()[:, -1], h.numpy()[-1])
    gru = nn.GRU(3, 5)
    out, h = gru(mg.randn(6, 4, 3))
    assert out.shape == (6, 4, 5) and h.shape == (1, 4, 5)
    np.testing.assert_array_equal(out.numpy()[-1], h.numpy()[0])


def test_recurrent_init_is_uniform_within_one_over_sqrt_hidden():
    bound = 1 / math.sqrt(20)
    for p in nn.LSTM(7, 20, num_layers=2).parameters():
        assert np.abs(p.numpy()).max() <= bound


# ---------------------------------------------------------------- clip_grad_norm_

def test_clip_grad_norm_scales_to_max_norm():
    a = mg.zeros(3, requires_grad=True)
    b = mg.zeros(2, 2, requires_grad=True)
    c = mg.zeros(2, requires_grad=True)  # no gradient: skipped
    (a * mg.tensor([3.0, 0.0, 0.0])).sum().backward()
    (b * mg.tensor([[0.0, 4.0], [0.0, 0.0]])).sum().backward()
    total = clip_grad_norm_([a, b, c], 1.0)
    assert isinstance(total, float) and math.isclose(total, 5.0, rel_tol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 / (5 + 1e-6), 0, 0], rtol=1e-6)
    assert math.isclose(clip_grad_norm_([a, b], 10.0), 1.0, rel_tol=1e-5), "no clip below max"
    assert clip_grad_norm_([c], 1.0) == 0.0


# ---------------------------------------------------------------- against torch.nn

torch_only = pytest.mark.torch


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def to_torch(torch, t):
    return torch.tensor(t.numpy(), requires_grad=t.dtype.kind == "f")


def copy_weights(torch, ours, theirs, names=None):
    """Copy our parameters into the torch module (names maps ours -> theirs)."""
    state = {(names(k) if names else k): torch.tensor(v.numpy())
             for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)


def assert_same_outputs_and_grads(torch, ours, theirs, inputs, our_out, their_out, names=None):
    """Compare outputs, then (after backward of the same random weighting) the gradients
    of every input and parameter."""
    theirs_in = [to_torch(torch, x) for x in inputs]
    a = _flat(our_out(ours, *inputs))
    b = _flat(their_out(theirs, *theirs_in))
    assert len(a) == len(b)
    weights = [np.random.default_rng(i).standard_normal(x.shape) for i, x in enumerate(a)]
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.numpy(), y.detach().numpy(), rtol=1e-6, atol=1e-9)
    sum(((x * mg.tensor(w)).sum() for x, w in zip(a, weights)), mg.tensor(0.0)).backward()
    sum((y * torch.tensor(w)).sum() for y, w in zip(b, weights)).backward()
    for x, y in zip(inputs, theirs_in):
        if y.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-6, atol=1e-9)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        q = their_params[names(name) if names else name]
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-9,
                                   err_msg=name)


@torch_only
def test_linear_layernorm_embedding_gelu_match_torch(torch, float64):
    tnn = torch.nn
    cases = [
        (nn.Linear(4, 3), tnn.Linear(4, 3), [randn(2, 5, 4)]),
        (nn.LayerNorm(4), tnn.LayerNorm(4), [randn(2, 5, 4)]),
        (nn.LayerNorm(4, bias=False), tnn.LayerNorm(4, bias=False), [randn(3, 4)]),
        (nn.GELU("tanh"), tnn.GELU("tanh"), [randn(3, 4)]),
    ]
    for ours, theirs, inputs in cases:
        theirs.double()
        copy_weights(torch, ours, theirs)
        assert_same_outputs_and_grads(torch, ours, theirs, inputs, lambda m, x: m(x),
                                      lambda m, x: m(x))
    emb, temb = nn.Embedding(7, 3, padding_idx=2), tnn.Embedding(7, 3, padding_idx=2).double()
    copy_weights(torch, emb, temb)
    idx = mg.tensor([[1, 2, 6], [2, 0, 1]])
    out, tout = emb(idx), temb(torch.tensor(idx.numpy()))
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    (out * mg.tensor(np.arange(18.0).reshape(2, 3, 3))).sum().backward()
    (tout * torch.arange(18.0, dtype=torch.float64).reshape(2, 3, 3)).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), temb.weight.grad.numpy())


@torch_only
@pytest.mark.parametrize("causal", [True, False])
def test_multi_head_attention_matches_torch(torch, float64, causal):
    ours = nn.MultiHeadAttention(8, 2, causal=causal)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    names = {"in_proj.weight": "in_proj_weight", "in_proj.bias": "in_proj_bias"}
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1) if causal else None

    def their_out(m, x):
        return m(x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=False)

    copy_weights(torch, ours, theirs, lambda k: names.get(k, k))
    assert_same_outputs_and_grads(torch, ours, theirs, [randn(2, 5, 8)],
                                  lambda m, x: m(x, need_weights=True), their_out,
                                  lambda k: names.get(k, k))


@torch_only
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_layers_match_torch(torch, float64, kind):
    ours = getattr(nn, kind)(3, 4, num_layers=2, batch_first=True)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, batch_first=True).double()
    copy_weights(torch, ours, theirs)   # the same names: weight_ih_l0, ...
    x, h0, c0 = randn(2, 5, 3), randn(2, 2, 4), randn(2, 2, 4)
    if kind == "LSTM":
        assert_same_outputs_and_grads(torch, ours, theirs, [x, h0, c0],
                                      lambda m, x, h, c: m(x, (h, c)),
                                      lambda m, x, h, c: m(x, (h, c)))
    else:
        assert_same_outputs_and_grads(torch, ours, theirs, [x, h0], lambda m, x, h: m(x, h),
                                      lambda m, x, h: m(x, h))


@torch_only
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(torch, float64, kind):
    ours, theirs = getattr(nn, kind)(3, 4), getattr(torch.nn, kind)(3, 4).double()
    copy_weights(torch, ours, theirs)
    x, h, c = randn(2, 3), randn(2, 4), randn(2, 4)
    if kind == "LSTMCell":
        assert_same_outputs_and_grads(torch, ours, theirs, [x, h, c],
                                      lambda m, x, h, c: m(x, (h, c)),
                                      lambda m, x, h, c: m(x, (h, c)))
    else:
        assert_same_outputs_and_grads(torch, ours, theirs, [x, h], lambda m, x, h: m(x, h),
                                      lambda m, x, h: m(x, h))


@torch_only
def test_clip_grad_norm_matches_torch(torch, float64):
    grads = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate([(3, 4), (5,)])]
    ours = [mg.zeros(*g.shape, requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        (p * mg.tensor(g)).sum().backward()
        (q * torch.tensor(g)).sum().backward()
    total = clip_grad_norm_(ours, 0.5)
    assert math.isclose(total, float(torch.nn.utils.clip_grad_norm_(theirs, 0.5)), rel_tol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- PyTorch code, imports changed

def hw4_gpt(torch, nn, F):
    """HW4's GPT language model, written exactly as for PyTorch (small sizes)."""
    n_embd, n_head, n_layer, block_size, vocab_size, dropout = 8, 2, 2, 6, 11, 0.0

    class Head(nn.Module):
        def __init__(self, head_size):
            super().__init__()
            self.key = nn.Linear(n_embd, head_size, bias=False)
            self.query = nn.Linear(n_embd, head_size, bias=False)
            self.value = nn.Linear(n_embd, head_size, bias=False)
            self.register_buffer('tril', torch.tril(torch.ones(block_size, block_size)))
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            B, T, C = x.shape
            k = self.key(x)
            q = self.query(x)
            wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
            wei = wei.masked_fill(self.tril[:T, :T] == 0, float('-inf'))
            wei = F.softmax(wei, dim=-1)
            wei = self.dropout(wei)
            v = self.value(x)
            return wei @ v

    class MultiHeadAttention(nn.Module):
        def __init__(self, num_heads, head_size):
            super().__init__()
            self.heads = nn.ModuleList([Head(head_size) for _ in range(num_heads)])
            self.proj = nn.Linear(head_size * num_heads, n_embd)
            self.dropout = nn.Dropout(dropout)

        def forward(self, x):
            out = torch.cat([h(x) for h in self.heads], dim=-1)
            return self.dropout(self.proj(out))

    class FeedFoward(nn.Module):
        def __init__(self, n_embd):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(),
                                     nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))

        def forward(self, x):
            return self.net(x)

    class Block(nn.Module):
        def __init__(self, n_embd, n_head):
            super().__init__()
            head_size = n_embd // n_head
            self.sa = MultiHeadAttention(n_head, head_size)
            self.ffwd = FeedFoward(n_embd)
            self.ln1 = nn.LayerNorm(n_embd)
            self.ln2 = nn.LayerNorm(n_embd)

        def forward(self, x):
            x = x + self.sa(self.ln1(x))
            x = x + self.ffwd(self.ln2(x))
            return x

    class GPTLanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
            self.position_embedding_table = nn.Embedding(block_size, n_embd)
            self.blocks = nn.Sequential(*[Block(n_embd, n_head=n_head) for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab_size)
            self.apply(self._init_weights)

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            B, T = idx.shape
            tok_emb = self.token_embedding_table(idx)
            pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))
            x = tok_emb + pos_emb
            x = self.blocks(x)
            x = self.ln_f(x)
            logits = self.lm_head(x)
            if targets is None:
                loss = None
            else:
                B, T, C = logits.shape
                logits = logits.view(B * T, C)
                targets = targets.view(B * T)
                loss = F.cross_entropy(logits, targets)
            return logits, loss

    return GPTLanguageModel


@torch_only
def test_pytorch_gpt_code_runs_unchanged_on_minigrad(torch, float64):
    import minigrad.nn.functional as mF
    ours = hw4_gpt(mg, nn, mF)()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        theirs = hw4_gpt(torch, torch.nn, torch.nn.functional)()
    finally:
        torch.set_default_dtype(previous)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    idx, targets = mg.randint(0, 11, (3, 6)), mg.randint(0, 11, (3, 6))
    logits, loss = ours(idx, targets)
    t_logits, t_loss = theirs(torch.tensor(idx.numpy()), torch.tensor(targets.numpy()))
    np.testing.assert_allclose(logits.numpy(), t_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert math.isclose(loss.item(), t_loss.item(), rel_tol=1e-10)
    loss.backward()
    t_loss.backward()
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(),
                                   rtol=1e-8, atol=1e-12, err_msg=name)
