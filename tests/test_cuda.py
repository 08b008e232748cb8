"""The CUDA backend on CuPy: every op, every layer and every fused kernel on the GPU against
NumPy, device moves and checkpoints across devices, mixed precision and short training runs.

All tests but the first need CuPy and an NVIDIA GPU (marker ``cuda``) and skip cleanly
without them. On a machine with a GPU:

    pytest -m cuda                 # add  -m "cuda and not slow"  to leave out the long runs
"""
import io
import math
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import amp, backend_cuda, backend_plain, nn, ops, optim
from minigrad.backend_cuda import elementwise as cuda_elementwise
from minigrad.backend_cuda import rows as cuda_rows
from minigrad import functional as F
from minigrad.nn.utils import clip_grad_norm_
from op_cases import CASES, COND, IDS, TARGET
from test_nn_gradcheck import GRADCHECK_CASES, gradcheck_layer

from models.config import Config, build_model
from models.train import Trainer

DEVICE = "cuda"
# float64 must agree to rounding; float32 to 1e-5 relative (the bar).
TOLERANCE = {mg.float64: dict(rtol=1e-9, atol=1e-12), mg.float32: dict(rtol=1e-5, atol=1e-6)}


def test_backend_cuda_imports_without_cupy():
    """No marker: importing minigrad and its CUDA module never needs CuPy, and asking for
    the GPU then says what is missing."""
    code = """if True:
        import sys
        sys.modules["cupy"] = None          # import cupy now raises ImportError
        import numpy as np
        import minigrad as mg
        import minigrad.backend_cuda as bc
        assert not mg.cuda.is_available() and bc.bfloat16() is None
        assert not bc.supports(np.zeros(3))
        try:
            mg.zeros(2, device="cuda")
        except RuntimeError as e:
            assert "CuPy" in str(e), e
        else:
            raise AssertionError("no error without CuPy")
    """
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def cp():
    """CuPy, or a skip saying which of CuPy and the GPU is missing."""
    cupy = pytest.importorskip("cupy", reason="needs CuPy (pip install -e '.[cuda]')")
    if not mg.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU: CuPy finds none")
    return cupy


def leaves(tensors, dtype, device):
    """Fresh leaves with the values of ``tensors``: float ones in ``dtype`` requiring grad."""
    out = []
    for t in tensors:
        floating = mg.backend.is_floating(t.dtype)
        out.append(mg.tensor(t.numpy(), dtype=dtype if floating else None, device=device,
                             requires_grad=floating and t.requires_grad))
    return out


# ---------------------------------------------------------------- every op

def case_on(name, device):
    """The op case's function, with the constants it closes over (CPU tensors and arrays)
    made on ``device``: an op never mixes devices."""
    on = {
        "cross_entropy": lambda a: F.cross_entropy(a, TARGET.to(device)),
        "embedding": lambda w: F.embedding(IDS.to(device), w),
        "where": lambda a, b: mg.where(mg.tensor(COND, device=device), a, b),
        "index_add_into": lambda g: ops.index_add_into(
            g, (4, 3), mg.backend.to_device(np.array([0, 2, 0]), device)),
    }
    return on.get(name, CASES[name][0])


def run_case(name, inputs, dtype, device):
    """Output and input gradients of op case ``name`` on ``inputs`` (converted to ``dtype``
    on ``device``), as NumPy."""
    xs = leaves(inputs, dtype, device)
    out = case_on(name, device)(*xs)
    g = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(mg.tensor(g, dtype=out.dtype, device=out.device))
    return out.numpy(), [x.grad.numpy() for x in xs]


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [mg.float64, mg.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(set(CASES) - {"dropout"}))
def test_op_matches_numpy(cp, name, dtype):
    inputs = CASES[name][1]()  # drawn once: the case's generator moves on at every call
    ref_out, ref_grads = run_case(name, inputs, dtype, "cpu")
    out, grads = run_case(name, inputs, dtype, DEVICE)
    np.testing.assert_allclose(out, ref_out, **TOLERANCE[dtype], err_msg=f"{name} forward")
    for i, (g, ref) in enumerate(zip(grads, ref_grads)):
        np.testing.assert_allclose(g, ref, **TOLERANCE[dtype], err_msg=f"{name} input {i}")


@pytest.mark.cuda
def test_dropout_on_the_gpu(cp):
    """Dropout draws from CuPy's generator, so it cannot match NumPy's mask; instead: the
    kept entries are scaled by 1/(1-p), about p of them are dropped, and the gradient is
    the same mask."""
    x = mg.ones(200, 50, dtype=mg.float64, device=DEVICE, requires_grad=True)
    y = F.dropout(x, 0.3)
    y.sum().backward()
    values = np.unique(y.numpy())
    np.testing.assert_allclose(values, [0.0, 1 / 0.7])
    assert abs((y.numpy() == 0).mean() - 0.3) < 0.02
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    fn, make = CASES["dropout"][:2]
    assert fn(*leaves(make(), mg.float64, DEVICE)).device == "cuda:0"


@pytest.mark.cuda
def test_mixing_devices_names_both(cp):
    with pytest.raises(RuntimeError, match="cuda:0.*cpu|cpu.*cuda:0"):
        mg.ones(2, device=DEVICE) + mg.ones(2)
    mg.cuda.synchronize()


# ---------------------------------------------------------------- every layer

@pytest.mark.cuda
@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_layer_gradcheck_on_the_gpu(cp, name):
    mg.set_default_dtype(mg.float64)  # the layers' parameters (conftest restores float32)
    layer, inputs, outputs, reseed = GRADCHECK_CASES[name]()
    layer.to(DEVICE)
    inputs = leaves(inputs, mg.float64, DEVICE)
    assert all(p.device == "cuda:0" for p in layer.parameters())
    gradcheck_layer(layer, inputs, outputs, reseed)


# ---------------------------------------------------------------- fused kernels

def close(got, want, dtype):
    np.testing.assert_allclose(mg.backend.to_device(got, "cpu"), mg.backend.to_device(want, "cpu"),
                               **({"rtol": 1e-12, "atol": 1e-13} if dtype == np.float64
                                  else {"rtol": 1e-5, "atol": 1e-6}))


def plain_softmax(cp, s, scale, mask=None):
    p = s * scale
    if mask is not None:
        p = cp.where(mask, -cp.inf, p)
    p -= p.max(axis=-1, keepdims=True)
    p = cp.exp(p)
    return p / p.sum(axis=-1, keepdims=True)


DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


@pytest.mark.cuda
@DTYPES
@pytest.mark.parametrize("shape, causal", [((3, 1), False), ((4, 65), False), ((2, 1000), False),
                                           ((2, 4, 4), True), ((3, 2, 5), True),
                                           ((2, 64, 300), True)])
def test_softmax_kernel(cp, dtype, shape, causal):
    rng = cp.random.default_rng(0)
    s = rng.standard_normal(shape, dtype=dtype) * 3
    mask = cp.triu(cp.ones(shape[-2:], dtype=bool), k=shape[-1] - shape[-2] + 1) if causal else None
    p = cuda_rows.softmax(s, scale=0.3, causal=causal)
    close(p, plain_softmax(cp, s, dtype(0.3), mask), dtype)
    inplace = s.copy()
    cuda_rows.softmax(inplace, scale=0.3, causal=causal, out=inplace)
    close(inplace, p, dtype)
    g = rng.standard_normal(shape, dtype=dtype)
    close(cuda_rows.softmax_backward(p, g, scale=0.3),
          p * (g - (g * p).sum(axis=-1, keepdims=True)) * dtype(0.3), dtype)


@pytest.mark.cuda
@DTYPES
@pytest.mark.parametrize("rows, classes", [(5, 1), (64, 65), (7, 8000)])
def test_cross_entropy_kernels(cp, dtype, rows, classes):
    rng = cp.random.default_rng(1)
    x = rng.standard_normal((2, rows, classes), dtype=dtype) * 4
    t = rng.integers(0, classes, (2, rows))
    loss, lse = cuda_rows.cross_entropy_forward(x, t)
    m = x.max(axis=-1, keepdims=True)
    logp = x - m - cp.log(cp.exp(x - m).sum(axis=-1, keepdims=True))
    close(loss, -cp.take_along_axis(logp, t[..., None], axis=-1)[..., 0], dtype)
    close(lse, (x - logp)[..., 0], dtype)
    scale = rng.standard_normal((2, rows), dtype=dtype)
    scale[0, 0] = 0  # an ignored position
    d = cp.exp(logp)
    d.reshape(-1, classes)[cp.arange(2 * rows), t.reshape(-1)] -= 1
    close(cuda_rows.cross_entropy_backward(x, lse, t, scale), d * scale[..., None], dtype)
    close(cuda_rows.cross_entropy_backward(x, lse, t, dtype(0.5)), d * dtype(0.5), dtype)


@pytest.mark.cuda
@DTYPES
@pytest.mark.parametrize("n", [4, 33, 384, 1000])
def test_layer_norm_kernels(cp, dtype, n):
    rng = cp.random.default_rng(2)
    x = rng.standard_normal((3, 5, n), dtype=dtype) * 2 + 1
    w, b = rng.standard_normal(n, dtype=dtype), rng.standard_normal(n, dtype=dtype)
    y, mean, rstd = cuda_rows.layer_norm_forward(x, w, b, 1e-5)
    mu = x.mean(axis=-1, keepdims=True)
    r = 1 / cp.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + dtype(1e-5))
    xh = (x - mu) * r
    close(y, xh * w + b, dtype)
    close(mean, mu[..., 0], dtype)
    close(rstd, r[..., 0], dtype)
    g = rng.standard_normal(x.shape, dtype=dtype)
    dx, dw, db = cuda_rows.layer_norm_backward(x, w, g, mean, rstd)
    gh = g * w
    close(dx, r * (gh - gh.mean(axis=-1, keepdims=True)
                   - xh * (gh * xh).mean(axis=-1, keepdims=True)), dtype)
    close(dw, (g * xh).reshape(-1, n).sum(axis=0), dtype)
    close(db, g.reshape(-1, n).sum(axis=0), dtype)


@pytest.mark.cuda
@DTYPES
def test_gelu_kernels(cp, dtype):
    """Against the formulas in float64 (in float32 they cancel in the negative tail)."""
    from cupyx.scipy.special import erf
    x = cp.concatenate([cp.linspace(-9, 9, 301), cp.random.default_rng(3).standard_normal(999)])
    x = x.astype(dtype).reshape(13, 100)
    g = cp.random.default_rng(4).standard_normal(x.shape, dtype=dtype)
    x64, g64 = x.astype(cp.float64), g.astype(cp.float64)
    cdf = 0.5 * (1 + erf(x64 / math.sqrt(2)))
    pdf = cp.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    close(cuda_elementwise.gelu(x), x64 * cdf, dtype)
    close(cuda_elementwise.gelu_backward(x, g), g64 * (cdf + x64 * pdf), dtype)
    c = math.sqrt(2 / math.pi)
    t = cp.tanh(c * (x64 + 0.044715 * x64 ** 3))
    close(cuda_elementwise.gelu_tanh(x), 0.5 * x64 * (1 + t), dtype)
    close(cuda_elementwise.gelu_tanh_backward(x, g),
          g64 * (0.5 * (1 + t) + 0.5 * x64 * (1 - t * t) * c * (1 + 3 * 0.044715 * x64 ** 2)),
          dtype)


def _kernel_calls(cp, dtype):
    """(name, call of a kernel set, tolerance scale) for every kernel of the seam, on CuPy
    arrays of ``dtype``: what the ops and optimizers ask ``backend.kernels`` for."""
    rng = cp.random.default_rng(6)

    def r(*shape, scale=1.0):
        return (rng.standard_normal(shape, dtype=cp.float64) * scale).astype(dtype)
    x, g, w, b = r(6, 40, scale=3), r(6, 40), r(40), r(40)
    t = rng.integers(0, 40, 6)
    q, k, v = r(2, 3, 5, 4), r(2, 1, 7, 4), r(2, 3, 7, 6)
    go = r(2, 3, 5, 6)
    calls = {
        "erf": lambda m: m.erf(x),
        "gelu": lambda m: m.gelu_backward(x, g, m.gelu_forward(x)[1]) + m.gelu_forward(x)[0],
        "gelu_tanh": lambda m: (m.gelu_tanh_backward(x, g, m.gelu_tanh_forward(x)[1])
                                + m.gelu_tanh_forward(x)[0]),
        "softmax_last": lambda m: m.softmax_backward(m.softmax(x, (1,)), g, (1,)),
        "softmax_first": lambda m: m.softmax_backward(m.softmax(x, (0,)), g, (0,)),
        "cross_entropy": lambda m: (m.cross_entropy_backward(
            x, m.cross_entropy_forward(x, t)[1], t, g[:, 0]), m.cross_entropy_forward(x, t)[0]),
        "layer_norm": lambda m: (m.layer_norm_backward(x, w, g, m.layer_norm_forward(x, w, b, 1e-5)[1]),
                                 m.layer_norm_forward(x, w, b, 1e-5)[0]),
        "attention": lambda m: _attention_both_ways(m, q, k, v, go),
    }
    return calls


def _attention_both_ways(m, q, k, v, g):
    out, saved, keep = m.attention_forward(q, k, v, 0.5, True, 0.0)
    return out, m.attention_backward(g, out, saved, keep, 0.0, q, k, v, 0.5)


def _flatten(result):
    if isinstance(result, (tuple, list)):
        return [a for part in result for a in _flatten(part)]
    return [result]


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16],
                         ids=["float64", "float32", "float16"])  # float16: the plain fallback
@pytest.mark.parametrize("name", ["erf", "gelu", "gelu_tanh", "softmax_last", "softmax_first",
                                  "cross_entropy", "layer_norm", "attention"])
def test_cuda_kernel_set_matches_the_plain_formulas(cp, dtype, name):
    call = _kernel_calls(cp, dtype)[name]
    tol = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=1e-4, atol=1e-5),
           np.float16: dict(rtol=2e-2, atol=2e-2)}[dtype]
    for a, ref in zip(_flatten(call(backend_cuda)), _flatten(call(backend_plain))):
        assert a.dtype == ref.dtype and a.shape == ref.shape, (a.dtype, ref.dtype, a.shape)
        np.testing.assert_allclose(cp.asnumpy(a).astype(np.float64),
                                   cp.asnumpy(ref).astype(np.float64), **tol, err_msg=name)


@pytest.mark.cuda
@DTYPES
@pytest.mark.parametrize("kind, weight_decay", [("Adam", 0.0), ("Adam", 0.1), ("AdamW", 0.1)])
def test_adam_kernel_matches_the_numpy_update(cp, dtype, kind, weight_decay):
    """Five steps of the fused kernel (taken by Adam.update for CuPy arrays) against the
    same optimizer on NumPy copies."""
    rng = np.random.default_rng(5)
    start = rng.standard_normal((4, 6)).astype(dtype)
    on_gpu = mg.tensor(start, device=DEVICE, requires_grad=True)
    on_cpu = mg.tensor(start, requires_grad=True)
    opts = [getattr(optim, kind)([p], lr=1e-2, betas=(0.9, 0.99), weight_decay=weight_decay)
            for p in (on_gpu, on_cpu)]
    for _ in range(5):
        g = rng.standard_normal(start.shape).astype(dtype)
        on_gpu.grad, on_cpu.grad = mg.tensor(g, device=DEVICE), mg.tensor(g)
        for opt in opts:
            opt.step()
    close(on_gpu.data, on_cpu.data, dtype)
    for key in ("exp_avg", "exp_avg_sq"):
        close(opts[0].state[on_gpu][key], opts[1].state[on_cpu][key], dtype)


# ---------------------------------------------------------------- devices and checkpoints

@pytest.mark.cuda
def test_module_to_cuda_and_a_checkpoint_saved_on_cuda_loads_on_cpu(cp, tmp_path):
    mg.manual_seed(0)
    cpu_model = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))
    gpu_model = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))
    gpu_model.load_state_dict(cpu_model.state_dict())
    params = list(gpu_model.parameters())
    assert gpu_model.to(DEVICE) is gpu_model
    assert all(p is q and p.device == "cuda:0" for p, q in zip(gpu_model.parameters(), params))
    x = mg.randn(4, 5)
    np.testing.assert_allclose(gpu_model(x.to(DEVICE)).numpy(), cpu_model(x).numpy(),
                               rtol=1e-5, atol=1e-6)

    opt = optim.AdamW(gpu_model.parameters(), lr=1e-2)
    gpu_model(x.to(DEVICE)).sum().backward()
    opt.step()
    mg.save({"model": gpu_model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.npz")
    state = mg.load(tmp_path / "c.npz")
    restored = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.LayerNorm(8), nn.Linear(8, 3))
    restored.load_state_dict(state["model"])
    assert all(p.device == "cpu" for p in restored.parameters())
    np.testing.assert_allclose(restored(x).numpy(), gpu_model(x.to(DEVICE)).numpy(),
                               rtol=1e-5, atol=1e-6)
    cpu_opt = optim.AdamW(restored.parameters(), lr=1e-2)
    cpu_opt.load_state_dict(state["optimizer"])
    for p, q in zip(restored.parameters(), gpu_model.parameters()):
        np.testing.assert_array_equal(cpu_opt.state[p]["exp_avg"],
                                      mg.backend.to_device(opt.state[q]["exp_avg"], "cpu"))
    back = mg.load(tmp_path / "c.npz", device=DEVICE)
    assert all(t.device == "cuda:0" for t in back["model"].values())


# ---------------------------------------------------------------- training

def tiny_config(device, steps, **changes):
    return Config(device=device, steps=steps, eval_every=steps, eval_batches=10,
                  warmup_steps=min(100, steps), final_eval=False, sample_tokens=0, **changes)


@pytest.mark.cuda
def test_float16_autocast_trains_stably_on_the_gpu(cp):
    """The thesis's float16 run went NaN: with autocast and the loss scaler, a small GPT
    trains on the GPU with finite, falling loss and a scale that never collapses."""
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 40
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    model = build_model(Config(n_layer=2, n_head=2, n_embd=64, context=32), len(chars)).to(DEVICE)
    opt = optim.AdamW(model.parameters(), lr=3e-3)
    scaler = amp.GradScaler(growth_interval=20)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(150):
        starts = rng.integers(0, len(ids) - 33, 16)
        x = mg.tensor(np.stack([ids[s:s + 32] for s in starts]), device=DEVICE)
        y = mg.tensor(np.stack([ids[s + 1:s + 33] for s in starts]), device=DEVICE)
        with amp.autocast("float16"):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    assert scaler.get_scale() >= 1.0


@pytest.mark.cuda
@pytest.mark.slow
def test_tiny_preset_reaches_the_cpu_val_loss_on_the_gpu(cp, tmp_path):
    """300 steps of the default `tiny` preset on Tiny Shakespeare, on the GPU and on the
    CPU from the same weights and batches: the val losses agree within noise."""
    val = {}
    for device in ("cpu", DEVICE):
        trainer = Trainer(tiny_config(device, 300), tmp_path / device, stream=io.StringIO())
        trainer.run()
        val[device] = trainer.best_val
    assert val[DEVICE] < 2.6, val              # it learned (the untrained loss is ~4.2)
    assert abs(val[DEVICE] - val["cpu"]) < 0.05, val


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["float16", "bfloat16"])
def test_tiny_preset_trains_with_amp_on_the_gpu(cp, tmp_path, mode):
    if mode == "bfloat16" and backend_cuda.bfloat16() is None:
        pytest.skip("this CuPy does not compute in bfloat16")
    trainer = Trainer(tiny_config(DEVICE, 300, amp=mode), tmp_path / mode, stream=io.StringIO())
    trainer.run()
    assert math.isfinite(trainer.best_val) and trainer.best_val < 2.7
