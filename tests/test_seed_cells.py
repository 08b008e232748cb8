"""The seeds' own PyTorch cells (``<repo>/../shared/seeds``: 000 the Cervantes notebook,
001 the advanced-topics notebook, 003 HW4), read at test time and run unchanged in two
namespaces side by side: one where ``import torch`` gives PyTorch, one where it gives
minigrad. Skipped where the seeds, their data or PyTorch are absent.

What the harness changes, and why (the cells' own text is never edited):
- the text they read is a short excerpt of the same corpus, written where they look for it;
- the global constants of a cell (HW4's iteration counts and context size, its ``device``,
  'mps' in the seed, which neither library has here) are set after the cell that defines them;
- in the cells with a ``for epoch in`` loop, ``range`` yields at most two items;
- the default dtype is float64 on both sides, so that agreement can be asked to 1e-9 (and
  000's and HW4's cells run once more in float32, the seeds' own dtype, to 1e-5);
- the data drawn at random is drawn once, by PyTorch's side, and replayed on minigrad's
  (HW4's ``get_batch``, 001's copy data), and loaders do not shuffle;
- each model class a cell builds records the weights PyTorch's side starts from, and
  minigrad's side loads them; dropout is off (two libraries draw two different masks), and
  the models are built smaller than the seeds' sizes;
- 001 imports ``TwoLayerTransformer`` from a ``transformers`` module that the notebook left
  to its reader: ours (tests/seed_style/copy_task.py) stands in; tqdm and requests, which
  the HW4 cells import but need not here, get stand-ins where they are not installed.

After every cell, every model built from shared weights (its parameters and their last
gradients) and the named loss records agree to 1e-9 (1e-5 in float32)."""
import builtins
import importlib.util
import types

import numpy as np
import pytest

import minigrad as mg
import torch_binding as tb
from seed_cells import SEEDS, fenced_cells, notebook_cells, seed_text

pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:enable_nested_tensor:UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]
DATA = SEEDS.parent / "data"


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def cells_of(prefix, parse):
    text = seed_text(prefix)
    if text is None:
        pytest.skip(f"seed {prefix} not found under {SEEDS}")
    return parse(text)


def corpus(name, start_marker, length):
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    text = path.read_text(encoding="utf-8")
    start = max(text.find(start_marker), 0)
    return text[start:start + length]


@pytest.fixture
def precision(torch, request):
    """Both libraries make tensors of this dtype by default for the test's length (float64
    unless the test asks for float32); PyTorch on one thread (its thread pool only contends
    with NumPy's on these small models)."""
    dtype = getattr(request, "param", "float64")
    before, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(getattr(torch, dtype))
    torch.set_num_threads(1)
    mg.set_default_dtype(getattr(mg, dtype))
    yield dtype
    torch.set_default_dtype(before)           # conftest resets minigrad's
    torch.set_num_threads(threads)


def _capped_range(*args):
    return builtins.range(*args)[:2]


def _stand_in(name, **attrs):
    """The installed module ``name``, or a stand-in with ``attrs``."""
    if importlib.util.find_spec(name) is not None:
        return importlib.import_module(name)
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


class Lockstep:
    """One seed's cells, run in a PyTorch namespace and then in a minigrad one."""

    def __init__(self, torch, dtype, extra_modules=lambda on_minigrad: {}):
        self.torch, self.dtype = torch, dtype
        self.theirs = tb.namespace(False, "seed_on_torch", extra_modules(False))
        self.ours = tb.namespace(True, "seed_on_minigrad", extra_modules(True))
        self.sides = (self.theirs, self.ours)

    def run(self, code, label, watch=(), loose=None):
        """Run ``code`` on both sides, then compare every model and the values named in
        ``watch`` (or in ``loose``, name: the dtype whose tolerance applies instead)."""
        for ns in self.sides:
            capped = "for epoch in" in code
            ns["__builtins__"]["range"] = _capped_range if capped else builtins.range
            try:
                tb.run(code, ns, label)
            finally:
                ns["__builtins__"]["range"] = builtins.range
        self.check(label, {**dict.fromkeys(watch, self.dtype), **(loose or {})})

    def set(self, **values):
        for ns in self.sides:
            ns.update(values)

    def share_weights(self, class_name, after=lambda model: None, **overrides):
        """Wrap the model class ``class_name`` on both sides: PyTorch's records the initial
        weights of each model it builds, minigrad's loads them (``overrides`` replace the
        cell's arguments; ``after`` is then called with the new model)."""
        initial = []

        def wrap(cls, after_init):
            def __init__(self, *args, **kwargs):
                cls.__init__(self, *args, **{**kwargs, **overrides})
                after_init(self)
                after(self)
            return type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__,
                                               "shares_weights": True})

        self.theirs[class_name] = wrap(self.theirs[class_name], lambda m: initial.append(
            {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}))
        self.ours[class_name] = wrap(self.ours[class_name],
                                     lambda m: m.load_state_dict(initial.pop(0)))

    def replay(self, function_name):
        """Calls of ``function_name`` (a random batch) return, on minigrad's side, what they
        returned on PyTorch's, in the same order."""
        drawn = []
        theirs_fn, ours_fn = self.theirs[function_name], self.ours[function_name]

        def record(*args, **kwargs):
            out = theirs_fn(*args, **kwargs)
            drawn.append([t.numpy() for t in out])
            return out

        def replay(*args, **kwargs):
            ours_fn(*args, **kwargs)     # it still runs on minigrad; its draw is replaced
            return tuple(mg.tensor(a) for a in drawn.pop(0))

        self.theirs[function_name], self.ours[function_name] = record, replay

    def check(self, label, watch):
        for name, theirs in self.theirs.items():
            ours = self.ours.get(name)
            if isinstance(theirs, self.torch.nn.Module) and getattr(theirs, "shares_weights", False):
                assert isinstance(ours, mg.nn.Module), f"{label}: {name} is not a minigrad Module"
                tb.assert_grads_match(ours, theirs, self.dtype)
                # In float32 Adam moves attention's key bias by rounding noise: its exact
                # gradient is 0 (softmax ignores a shift of a row), the computed one is
                # noise, and Adam divides by the noise's own size. No output sees it.
                skip = "in_proj_bias" if self.dtype == "float32" else None
                tb.assert_params_match(ours, theirs, self.dtype, skip)
            elif name in watch:
                _assert_same(ours, theirs, watch[name], f"{label}: {name}")


def _assert_same(ours, theirs, dtype, what):
    if isinstance(theirs, dict):
        assert ours.keys() == theirs.keys(), what
        for k in theirs:
            _assert_same(ours[k], theirs[k], dtype, f"{what}[{k!r}]")
    else:
        tb.assert_close(np.asarray(tb.array(ours), float), np.asarray(tb.array(theirs), float),
                        dtype, what)



def _chdir(path, monkeypatch):
    path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(path)


# ---------------------------------------------------------------- 000: Cervantes

@pytest.mark.parametrize("precision", ["float64", "float32"], indirect=True)
def test_cervantes_notebook_cells_give_pytorchs_training(torch, precision, tmp_path, monkeypatch):
    cells = cells_of("000", notebook_cells)
    (tmp_path / "Data").mkdir()
    (tmp_path / "Data" / "cervantes_2.txt").write_text(
        corpus("quijote.txt", "En un lugar de la Mancha", 1200), encoding="utf-8")
    _chdir(tmp_path / "notebook", monkeypatch)
    run = Lockstep(torch, precision)
    small = {"SimpleAutoregressiveModel": dict(embed_dim=16, hidden_dim=32),
             "RNNLanguageModel": dict(embed_dim=16, hidden_dim=32),
             "LSTMLanguageModel": dict(embed_dim=16, hidden_dim=32),
             "TransformerLanguageModel": dict(embed_dim=32, num_heads=4, ff_dim=64)}
    for i, code in enumerate(cells):
        run.run(code, f"<seed 000 cell {i}>", watch=("total_loss", "final_loss", "encoded_text"))
        if "from torch.utils.data import" in code:
            for ns, lib in ((run.theirs, torch), (run.ours, mg)):
                ns["DataLoader"] = _unshuffled(lib.utils.data.DataLoader)
        for name, sizes in small.items():
            if f"class {name}(" in code:
                # in eval mode: nn.TransformerEncoderLayer's dropout defaults to 0.1, and
                # two libraries draw two different masks
                run.share_weights(name, after=lambda m: m.eval(), **sizes)
    assert len(run.ours["final_loss"]) == 2 and run.ours["decoded_text"].startswith("en un ")


def _unshuffled(loader):
    def DataLoader(*args, **kwargs):
        return loader(*args, **{**kwargs, "shuffle": False})
    return DataLoader


# ---------------------------------------------------------------- 001: advanced topics

def test_advanced_topics_cells_give_pytorchs_training_and_decoding(torch, precision, tmp_path,
                                                                   monkeypatch):
    cells = cells_of("001", notebook_cells)
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    _chdir(tmp_path, monkeypatch)
    run = Lockstep(torch, precision, lambda on_minigrad: {
        "transformers": tb.load("copy_task", on_minigrad)})
    for i, code in enumerate(cells):
        # the cell computes its sinusoids from .float() positions: float32 rounding
        run.run(code, f"<seed 001 cell {i}>",
                watch=("losses", "predictions", "correct"), loose={"pe": "float32"})
        if "def create_copy_dataset" in code:
            run.ours["train_data"] = mg.tensor(run.theirs["train_data"].numpy())
        if "from transformers import TwoLayerTransformer" in code:
            run.share_weights("TwoLayerTransformer", dropout=0.0)
    start = [1, 5, 8, 3]
    greedy = [run.theirs["generate_greedy"](run.theirs["model"], torch.tensor(start), 12).tolist()]
    for ns in (run.ours, run.theirs):
        model, lib = ns["model"], (mg if ns is run.ours else torch)
        assert ns["generate_greedy"](model, lib.tensor(start), max_len=12).tolist() == greedy[0]
        # k = 1 and p = 0 leave only the most likely token: greedy decoding again
        assert ns["generate_top_k"](model, lib.tensor(start), max_len=12, k=1).tolist() == greedy[0]
        assert ns["generate_top_p"](model, lib.tensor(start), max_len=12, p=0.0).tolist() == greedy[0]
    assert len(greedy[0]) == 12


# ---------------------------------------------------------------- 003: HW4

#: HW4's models at the sizes the test builds them (the seed: embed 384, 6 heads, 6 layers).
HW4_SMALL = {"BigramLanguageModel": {}, "BigramWithWordEmbeddingsLM": {},
             "SingleHeadedAttentionLM": {}, "MultiHeadedAttentionLM": {"embed_size": 24},
             "TransformerLM": {"embed_size": 24, "num_heads": 4, "n_layers": 2}}


@pytest.mark.parametrize("precision", ["float64", "float32"], indirect=True)
def test_hw4_cells_give_pytorchs_losses_and_gradients(torch, precision, tmp_path, monkeypatch):
    cells = cells_of("003", fenced_cells)
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    _chdir(tmp_path, monkeypatch)
    (tmp_path / "input.txt").write_text(corpus("tinyshakespeare.txt", "", 20000))
    stand_ins = {"tqdm": _stand_in("tqdm", tqdm=lambda iterable, *a, **k: iterable),
                 "requests": _stand_in("requests")}
    run = Lockstep(torch, precision, lambda on_minigrad: stand_ins)
    for i, code in enumerate(cells):
        run.run(code, f"<seed 003 cell {i}>", watch=("loss_list", "losses", "loss", "train_data"))
        if "device = " in code:
            run.set(device="cpu")
        if "CONTEXT_WINDOW_SIZE = " in code:
            run.set(SMALL_ITERS=3, LARGE_ITERS=3, EVAL_ITERS=2, CONTEXT_WINDOW_SIZE=16)
        if "def get_batch" in code:
            run.replay("get_batch")
        for name, sizes in HW4_SMALL.items():
            if f"class {name}(" in code:
                run.share_weights(name, **sizes)
    assert len(run.ours["loss_list"]) == 3
    for name in ("uncond_gen", "cond_gen", "cond_gen2"):        # sampled: only the lengths
        assert len(run.ours[name]) == len(run.theirs[name]) > 16
