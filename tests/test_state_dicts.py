"""State dicts of the recurrent layers under PyTorch's names, both ways: a PyTorch RNN /
LSTM / GRU state dict (tensors as arrays) loads into ours as it is, ours loads into
PyTorch's, and both give the same outputs. State dicts and checkpoints saved under the
earlier names (``cells.{k}.weight_ih``) still load, and a run saved by the trainer before
the rename resumes exactly."""
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

DATA = Path(__file__).parent / "data"
KINDS = ["RNN", "LSTM", "GRU"]


def _run(layer, x, h, c=None):
    return layer(x, (h, c)) if c is not None else layer(x, h)


def _flat(result):
    out = []
    for r in result if isinstance(result, tuple) else (result,):
        out.extend(_flat(r) if isinstance(r, tuple) else [r])
    return out


# ---------------------------------------------------------------- names

@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_parameters_have_pytorchs_names_in_pytorchs_order(kind):
    layer = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
    names = [f"{p}_l{k}{suffix}" for k in range(2) for suffix in ("", "_reverse")
             for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert [n for n, _ in layer.named_parameters()] == names
    assert list(layer.state_dict()) == names
    assert [len(w) for w in layer.all_weights] == [4] * 4
    assert [n for n, _ in getattr(nn, kind)(3, 4, bias=False).named_parameters()] == [
        "weight_ih_l0", "weight_hh_l0"]
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    assert layer.weight_ih_l1.shape == (gates * 4, 2 * 4)  # both directions feed layer 1


@pytest.mark.parametrize("kind", KINDS)
def test_state_dicts_under_the_earlier_names_still_load(kind):
    old = getattr(nn, kind)(3, 4, num_layers=2)
    legacy = {f"cells.{name[-1]}.{name[:-3]}": v.numpy().copy()
              for name, v in old.state_dict().items()}
    assert "cells.1.weight_hh" in legacy
    new = getattr(nn, kind)(3, 4, num_layers=2)
    missing, unexpected = new.load_state_dict(legacy)
    assert not missing and not unexpected
    for name, v in old.state_dict().items():
        np.testing.assert_array_equal(new.state_dict()[name].numpy(), v.numpy())
    # inside a model too, with the prefix; an unknown key is still reported
    model = nn.Sequential(nn.Linear(3, 3), getattr(nn, kind)(3, 4, num_layers=2))
    state = {"0.weight": np.zeros((3, 3)), "0.bias": np.zeros(3),
             **{f"1.{k}": v for k, v in legacy.items()}}
    model.load_state_dict(state)
    np.testing.assert_array_equal(model[1].weight_ih_l1.numpy(), old.weight_ih_l1.numpy())
    with pytest.raises(RuntimeError, match=r"unexpected key\(s\): 1.cells.2.weight_ih"):
        model.load_state_dict({**state, "1.cells.2.weight_ih": np.zeros((4, 4))})


def test_a_checkpoint_saved_before_the_rename_loads_and_resumes_exactly(tmp_path, monkeypatch):
    """tests/data/lstm-cells-run.*: a 2-layer LSTM run stopped at step 2 of 4 by the trainer
    of the earlier layout (its model keys are rnn.cells.{k}.*). Resumed now, it must end
    with the weights of an uninterrupted 4-step run of today's code."""
    from models import checkpoint as ckpt
    from models.config import Config
    from models.train import Trainer

    old = mg.load(DATA / "lstm-cells-run.npz")
    assert "rnn.cells.1.weight_hh" in old["model"]
    monkeypatch.chdir(tmp_path)
    text = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\n"
            "Speak, speak.\n" * 12)
    Path("corpus.txt").write_text(text)           # the run's corpus, by relative path
    run_dir = Path("old")
    run_dir.mkdir()
    for suffix, name in ((".npz", ckpt.LAST), (".config.json", ckpt.CONFIG),
                         (".tokenizer.json", ckpt.TOKENIZER), (".log.jsonl", ckpt.LOG)):
        shutil.copy(DATA / f"lstm-cells-run{suffix}", run_dir / name)
    config = Config.from_dict(old["config"])

    model, _, _, _ = ckpt.load_trained(run_dir)
    np.testing.assert_array_equal(model.rnn.weight_hh_l1.numpy(),
                                  np.asarray(old["model"]["rnn.cells.1.weight_hh"]))

    resumed = Trainer(config, run_dir, resume=True, stream=io.StringIO())
    assert resumed.run()["step"] == config.steps
    straight = Trainer(config, "straight", stream=io.StringIO())
    straight.run()
    a, b = resumed.model.state_dict(), straight.model.state_dict()
    assert list(a) == list(b) and "rnn.weight_ih_l0" in a
    for name in a:
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=1e-6, atol=1e-7,
                                   err_msg=name)


# ---------------------------------------------------------------- both ways with PyTorch

@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _outputs_agree(torch, ours, theirs, kind, batch_first, unbatched, tol, dtype):
    layers, d = ours.num_layers, ours.num_directions
    rng = np.random.default_rng(0)
    shape = (5, 3) if unbatched else ((2, 5, 3) if batch_first else (5, 2, 3))
    x = rng.standard_normal(shape).astype(dtype)
    state = (layers * d, 4) if unbatched else (layers * d, 2, 4)
    h, c = (rng.standard_normal(state).astype(dtype) for _ in range(2))
    c = c if kind == "LSTM" else None
    ours_out = _flat(_run(ours, mg.tensor(x), mg.tensor(h), None if c is None else mg.tensor(c)))
    theirs_out = _flat(_run(theirs, torch.tensor(x), torch.tensor(h),
                            None if c is None else torch.tensor(c)))
    for a, b in zip(ours_out, theirs_out):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.torch
@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_state_dicts_load_both_ways(torch, kind, batch_first, bidirectional,
                                             unbatched):
    options = dict(num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    if kind == "RNN":
        options["nonlinearity"] = "relu"
    # PyTorch's state dict, as arrays, into ours: no renaming
    theirs = getattr(torch.nn, kind)(3, 4, **options).double()
    ours = getattr(nn, kind)(3, 4, **options).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    missing, unexpected = ours.load_state_dict(
        {k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert not missing and not unexpected
    _outputs_agree(torch, ours, theirs, kind, batch_first, unbatched, 1e-9, "float64")
    # ours into PyTorch's (float32, as both default to)
    ours = getattr(nn, kind)(3, 4, **options)
    theirs = getattr(torch.nn, kind)(3, 4, **options)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()},
                           strict=True)
    _outputs_agree(torch, ours, theirs, kind, batch_first, unbatched, 1e-5, "float32")


@pytest.mark.torch
@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_gradients_match_torch(torch, kind):
    """Outputs and every gradient of a bidirectional 2-layer layer, in float64."""
    options = dict(num_layers=2, bidirectional=True, batch_first=True)
    theirs = getattr(torch.nn, kind)(3, 4, **options).double()
    ours = getattr(nn, kind)(3, 4, **options).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 5, 3))
    mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    a, b = _flat(ours(mx)), _flat(theirs(tx))
    weights = [np.random.default_rng(i).standard_normal(t.shape) for i, t in enumerate(a)]
    sum((t * mg.tensor(w)).sum() for t, w in zip(a, weights)).backward()
    sum((t * torch.tensor(w)).sum() for t, w in zip(b, weights)).backward()
    np.testing.assert_allclose(mx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=name)


def test_recurrent_options_pytorch_has_and_we_do_not_are_refused_clearly():
    with pytest.raises(NotImplementedError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"h0 has shape \(1, 2, 4\), expected \(num_layers \* 2"):
        nn.GRU(3, 4, bidirectional=True)(mg.zeros(5, 2, 3), mg.zeros(1, 2, 4))
