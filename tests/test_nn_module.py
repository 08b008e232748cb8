"""minigrad.nn.Module: registration, state dicts, initialisation and dropout modes, as in
PyTorch."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


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
