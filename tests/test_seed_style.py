"""Model code written for PyTorch in the seeds' styles (tests/seed_style/: HW4's heads and
character Transformer, the Cervantes notebook's window models and DataLoader loop, the
copy task with its samplers, a nanoGPT-style GPT with tied weights), imported twice, with
``torch`` bound to PyTorch and to minigrad. After loading the same weights, losses, logits,
every parameter gradient and a few optimizer steps agree to 1e-5 (float32) / 1e-9
(float64); generation and sampling run and agree where they are deterministic."""
import numpy as np
import pytest

import minigrad as mg
import torch_binding as tb

pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:enable_nested_tensor:UserWarning")]
DTYPES = ["float32", "float64"]


@pytest.fixture(scope="module")
def torch():
    """PyTorch on one thread: on models this small its thread pool only contends with NumPy's."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def pair(name):
    """(ours, theirs): the seed-style module bound to minigrad and to PyTorch."""
    return tb.load(name, on_minigrad=True), tb.load(name, on_minigrad=False)


def ids(*shape, high=20, seed=0):
    return np.random.default_rng(seed).integers(0, high, size=shape)


def twin(torch, ours_mod, theirs_mod, build, dtype):
    """The same model on both sides, PyTorch's weights loaded into ours."""
    torch.manual_seed(0)
    theirs = build(theirs_mod)
    ours = build(ours_mod)
    tb.same_weights(ours, theirs, dtype)
    return ours, theirs


# ---------------------------------------------------------------- HW4 (seed 003)

HW4_MODELS = {
    "bigram": lambda m: m.Bigram(12),
    "transformer": lambda m: m.CharTransformer(12, block=8, embed=16, n_heads=4, n_layers=2),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("model", sorted(HW4_MODELS))
def test_hw4_models_give_pytorchs_logits_loss_and_gradients(torch, model, dtype):
    ours_mod, theirs_mod = pair("hw4")
    ours, theirs = twin(torch, ours_mod, theirs_mod, HW4_MODELS[model], dtype)
    x, y = ids(3, 8, high=12), ids(3, 8, high=12, seed=1)
    out_a, out_b = ours(mg.tensor(x), mg.tensor(y)), theirs(torch.tensor(x), torch.tensor(y))
    tb.assert_close(out_a[0], out_b[0], dtype, "logits")
    tb.assert_close(out_a[1], out_b[1], dtype, "loss")
    out_a[1].backward()
    out_b[1].backward()
    tb.assert_grads_match(ours, theirs, dtype)


def test_hw4_training_steps_batches_and_generation(torch):
    ours_mod, theirs_mod = pair("hw4")
    ours, theirs = twin(torch, ours_mod, theirs_mod, HW4_MODELS["transformer"], "float64")
    opt_a = mg.optim.AdamW(ours.parameters(), lr=1e-2)
    opt_b = torch.optim.AdamW(theirs.parameters(), lr=1e-2)
    for step in range(3):
        x, y = ids(4, 8, high=12, seed=step), ids(4, 8, high=12, seed=10 + step)
        for model, opt, lib in ((ours, opt_a, mg), (theirs, opt_b, torch)):
            opt.zero_grad(set_to_none=True)
            model(lib.tensor(x), lib.tensor(y))[1].backward()
            opt.step()
    tb.assert_params_match(ours, theirs, "float64")
    data = mg.tensor(ids(200, high=12))
    x, y = ours_mod.batch(data, 8, 5)
    assert x.shape == y.shape == (5, 8) and (x[:, 1:] == y[:, :-1]).all()
    assert 0 < float(ours_mod.mean_loss(ours, data, 8, batches=2)) < 10
    out = ours.generate(mg.zeros((1, 1), dtype=mg.long), 12)
    assert out.shape == (1, 13) and int(out.max()) < 12


# ---------------------------------------------------------------- Cervantes (seed 000)

CERVANTES_MODELS = {
    "mlp": lambda m: m.WindowMLP(20, width=5),
    "rnn": lambda m: m.Recurrent(20, "RNN"),
    "lstm": lambda m: m.Recurrent(20, "LSTM"),
    "encoder": lambda m: m.Encoder(20, width=5),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("model", sorted(CERVANTES_MODELS))
def test_cervantes_models_give_pytorchs_loss_and_gradients(torch, model, dtype):
    ours_mod, theirs_mod = pair("cervantes")
    ours, theirs = twin(torch, ours_mod, theirs_mod, CERVANTES_MODELS[model], dtype)
    x, y = ids(6, 5), ids(6, seed=1)
    a = mg.nn.CrossEntropyLoss()(ours_mod.logits_of(ours, mg.tensor(x)), mg.tensor(y))
    b = torch.nn.CrossEntropyLoss()(theirs_mod.logits_of(theirs, torch.tensor(x)), torch.tensor(y))
    a.backward()
    b.backward()
    tb.assert_close(a, b, dtype, "loss")
    tb.assert_grads_match(ours, theirs, dtype)


@pytest.mark.parametrize("model", sorted(CERVANTES_MODELS))
def test_cervantes_dataloader_training_matches_pytorch_epoch_by_epoch(torch, model):
    ours_mod, theirs_mod = pair("cervantes")
    ours, theirs = twin(torch, ours_mod, theirs_mod, CERVANTES_MODELS[model], "float64")
    text = ids(40, seed=3).tolist()
    ours_loss = ours_mod.train(ours, text, width=5, epochs=2)
    theirs_loss = theirs_mod.train(theirs, text, width=5, epochs=2)
    tb.assert_close(ours_loss, theirs_loss, "float64", "epoch losses")
    tb.assert_params_match(ours, theirs, "float64")
    assert ours_loss[1] < ours_loss[0]
    sampled = ours_mod.continue_text(ours, text[:5], width=5, length=6)
    assert len(sampled) == 11 and all(0 <= t < 20 for t in sampled)


def test_cervantes_shuffled_loader_runs_on_minigrad():
    ours_mod = tb.load("cervantes", on_minigrad=True)
    losses = ours_mod.train(ours_mod.WindowMLP(20, width=5), ids(40, seed=3).tolist(), width=5,
                            epochs=2, shuffle=True)
    assert len(losses) == 2 and losses[1] < losses[0]


# ---------------------------------------------------------------- copy task and samplers (seed 001)

def copy_model(m, dropout=0.0):
    return m.TwoLayerTransformer(15, d_model=16, num_heads=2, d_ff=32, max_seq_len=10,
                                 dropout=dropout)


def test_sinusoidal_positions_match_pytorch(torch):
    ours_mod, theirs_mod = pair("copy_task")
    tb.assert_close(ours_mod.sinusoidal_positions(12, 8), theirs_mod.sinusoidal_positions(12, 8),
                    "float32", "positions")


@pytest.mark.parametrize("dtype", DTYPES)
def test_copy_transformer_gives_pytorchs_gradients(torch, dtype):
    ours_mod, theirs_mod = pair("copy_task")
    ours, theirs = twin(torch, ours_mod, theirs_mod, copy_model, dtype)
    data = ids(12, 10, high=15, seed=4)
    # one backward through the model in eval mode (PyTorch's dropout layers then pass through)
    ours.eval(), theirs.eval()
    a = ours(mg.tensor(data)).logsumexp(dim=-1).mean()
    b = theirs(torch.tensor(data)).logsumexp(dim=-1).mean()
    a.backward()
    b.backward()
    tb.assert_close(a, b, dtype, "loss")
    tb.assert_grads_match(ours, theirs, dtype)


def test_copy_task_training_with_clipping_matches_pytorch(torch):
    """In float64: Adam divides by the gradient's running size, so the key bias, whose
    gradient is rounding noise (softmax ignores a shift of a row), moves by noise in float32."""
    ours_mod, theirs_mod = pair("copy_task")
    ours, theirs = twin(torch, ours_mod, theirs_mod, copy_model, "float64")
    data = ids(12, 10, high=15, seed=4)
    ours_loss = ours_mod.train(ours, mg.tensor(data), epochs=2, batch_size=4)
    theirs_loss = theirs_mod.train(theirs, torch.tensor(data), epochs=2, batch_size=4)
    tb.assert_close(ours_loss, theirs_loss, "float64", "epoch losses")
    tb.assert_params_match(ours, theirs, "float64")


@pytest.mark.parametrize("k, p", [(1, 0.0), (3, 0.5), (15, 0.999)])
def test_top_k_and_top_p_distributions_match_pytorch(torch, k, p):
    ours_mod, theirs_mod = pair("copy_task")
    logits = np.random.default_rng(k).standard_normal((2, 15))
    for fn, arg in (("top_k_probs", k), ("top_p_probs", p)):
        ours = getattr(ours_mod, fn)(mg.tensor(logits), arg)
        theirs = getattr(theirs_mod, fn)(torch.tensor(logits), arg)
        tb.assert_close(ours, theirs, "float64", fn)
        assert np.allclose(ours.sum(dim=-1).numpy(), 1.0)


def test_decoding_matches_pytorch_where_it_is_deterministic(torch):
    ours_mod, theirs_mod = pair("copy_task")
    ours, theirs = twin(torch, ours_mod, theirs_mod, copy_model, "float64")
    start = [1, 5, 8, 3]
    greedy = theirs_mod.decode(theirs, torch.tensor(start), 5).tolist()
    assert ours_mod.decode(ours, mg.tensor(start), 5).tolist() == greedy
    # top-k with k = 1 and top-p with p = 0 keep the argmax only
    assert ours_mod.decode(ours, mg.tensor(start), 5, how="top_k", k=1).tolist() == greedy
    assert ours_mod.decode(ours, mg.tensor(start), 5, how="top_p", p=0.0).tolist() == greedy
    for how in ("temperature", "top_k", "top_p"):
        out = ours_mod.decode(ours, mg.tensor(start), 5, how=how, temperature=0.7).tolist()
        assert out[:4] == start and len(out) == 9 and all(0 <= t < 15 for t in out)


# ---------------------------------------------------------------- a nanoGPT-style file

def gpt(m):
    return m.GPT(m.GPTConfig())


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpt_with_tied_weights_gives_pytorchs_loss_and_gradients(torch, dtype):
    ours_mod, theirs_mod = pair("gpt")
    ours, theirs = twin(torch, ours_mod, theirs_mod, gpt, dtype)
    assert ours.lm_head.weight is ours.transformer.wte.weight
    assert ours.get_num_params() == theirs.get_num_params()
    x, y = ids(2, 16, high=40), ids(2, 16, high=40, seed=1)
    y[0, :3] = -1                                                 # ignored targets
    (la, a), (lb, b) = ours(mg.tensor(x), mg.tensor(y)), theirs(torch.tensor(x), torch.tensor(y))
    tb.assert_close(la, lb, dtype, "logits")
    tb.assert_close(a, b, dtype, "loss")
    a.backward()
    b.backward()
    tb.assert_grads_match(ours, theirs, dtype)


def test_gpt_optimizer_groups_steps_and_top_k_generation(torch):
    ours_mod, theirs_mod = pair("gpt")
    ours, theirs = twin(torch, ours_mod, theirs_mod, gpt, "float64")
    opt_a = ours.configure_optimizers(0.1, 1e-2, (0.9, 0.95))
    opt_b = theirs.configure_optimizers(0.1, 1e-2, (0.9, 0.95))
    for step in range(3):
        x, y = ids(2, 16, high=40, seed=step), ids(2, 16, high=40, seed=5 + step)
        for model, opt, lib in ((ours, opt_a, mg), (theirs, opt_b, torch)):
            opt.zero_grad(set_to_none=True)
            model(lib.tensor(x), lib.tensor(y))[1].backward()
            opt.step()
    tb.assert_params_match(ours, theirs, "float64")
    start = ids(1, 3, high=40)
    # top_k=1 keeps only the argmax: the same tokens as PyTorch, past the block size
    want = theirs.generate(torch.tensor(start), 20, top_k=1).tolist()
    assert ours.generate(mg.tensor(start), 20, top_k=1).tolist() == want
    out = ours.generate(mg.tensor(start), 5, temperature=0.8, top_k=5)
    assert out.shape == (1, 8) and out.dtype == mg.int64
