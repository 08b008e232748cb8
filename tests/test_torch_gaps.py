"""Gaps that running the seeds' PyTorch cells on minigrad found (tests/test_seed_cells.py),
each pinned here on its own, next to PyTorch's behaviour where it is installed."""
import numpy as np
import pytest

import minigrad as mg


def test_randint_takes_pytorchs_two_call_forms():
    mg.manual_seed(1)
    a = mg.randint(7, (3, 4))                 # randint(high, size)
    b = mg.randint(5, 7, (100,))              # randint(low, high, size)
    assert a.shape == (3, 4) and a.dtype == mg.int64 and 0 <= int(a.min()) and int(a.max()) < 7
    assert set(b.tolist()) <= {5, 6}
    with pytest.raises(ValueError, match=r"randint: low \(3\) must be less than high \(3\)"):
        mg.randint(3, 3, (2,))


def test_a_0d_tensor_formats_as_its_number():
    loss = mg.tensor(2.718281, dtype=mg.float64)
    assert f"{loss:.2f}" == "2.72" and f"{mg.tensor(7):>3d}" == "  7"
    assert f"{mg.tensor([1.0, 2.0])}" == str(mg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"format spec '.2f' given for a tensor of shape \(2,\)"):
        f"{mg.tensor([1.0, 2.0]):.2f}"


@pytest.mark.parametrize("dtype", [mg.bool, mg.int64, mg.float32, mg.float64])
def test_tril_and_triu_keep_the_dtype(dtype):
    """A bool causal mask stays bool (it was silently made float32: nn.MultiheadAttention
    then added it to the scores instead of masking)."""
    ones = mg.ones(4, 4, dtype=dtype)
    for fn, ref in ((mg.triu, np.triu), (mg.tril, np.tril)):
        out = fn(ones, diagonal=1)
        assert out.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out.numpy(), ref(np.ones((4, 4), dtype), 1))


def test_a_bool_triu_mask_blocks_attention_like_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    ours = mg.nn.MultiheadAttention(8, 2, batch_first=True).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 8))
    a, _ = ours(*[mg.tensor(x)] * 3, attn_mask=mg.triu(mg.ones(5, 5, dtype=mg.bool), 1))
    b, _ = theirs(*[torch.tensor(x)] * 3, attn_mask=torch.triu(torch.ones(5, 5, dtype=torch.bool), 1))
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-9)


def test_devices_read_like_torch_device():
    x = mg.zeros(2)
    assert x.device == "cpu" and x.device.type == "cpu" and x.device.index is None
    assert not x.is_cuda and repr(x.device) == "device(type='cpu')"
    cuda = mg.device("cuda", 1)
    assert cuda == "cuda:1" and (cuda.type, cuda.index) == ("cuda", 1)
    assert mg.device(0) == "cuda:0" and str(mg.device("cuda")) == "cuda:0"
    with pytest.raises(ValueError, match="unknown device 'mps'"):
        mg.device("mps")


def test_tensor_to_takes_all_of_pytorchs_forms():
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    assert x.to(mg.float64).dtype == np.float64
    assert x.to(dtype=mg.float64).dtype == np.float64
    assert x.to(device="cpu") is x and x.to("cpu", non_blocking=True) is x
    assert x.to(mg.device("cpu"), mg.float64).dtype == np.float64
    assert x.to(mg.zeros(1, dtype=mg.float64)).dtype == np.float64    # like another tensor
    copied = x.to("cpu", copy=True)
    assert copied is not x and copied.tolist() == x.tolist()
    x.to(mg.float64).sum().backward()                                # still differentiable
    assert x.grad.tolist() == [1.0, 1.0]


def test_dtype_and_memory_helpers():
    x = mg.tensor([1.0, 2.0])
    assert x.half().dtype == np.float16 and x.pin_memory() is x
    assert x.is_floating_point() and mg.is_floating_point(x)
    assert not mg.tensor([1, 2]).is_floating_point()
    assert mg.finfo(mg.float32).min == np.finfo(np.float32).min and mg.finfo().eps > 0
    assert mg.iinfo(mg.int64).max == 2 ** 63 - 1


def test_modules_move_with_pytorchs_spellings():
    layer = mg.nn.Linear(3, 2)
    assert layer.half().weight.dtype == np.float16
    assert layer.float().cpu().weight.dtype == np.float32
    weight = layer.weight
    assert layer.to(device="cpu", dtype=mg.float64) is layer and weight.dtype == np.float64
    assert layer.to(mg.zeros(1, dtype=mg.float32)).weight is weight and weight.dtype == np.float32


@pytest.mark.parametrize("decorate", ["bare", "called"])
def test_inference_mode_records_no_graph(decorate):
    x = mg.tensor([1.0], requires_grad=True)
    with mg.inference_mode():
        assert not (x * 2).requires_grad
    with mg.inference_mode(False):
        assert (x * 2).requires_grad

    def double(t):
        return t * 2
    double = mg.inference_mode(double) if decorate == "bare" else mg.inference_mode()(double)
    assert not double(x).requires_grad and mg.is_grad_enabled()


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, float("inf")])
def test_clip_grad_norm_of_any_order_and_clip_grad_value(norm_type):
    a = mg.tensor([3.0, -4.0], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([[12.0]], dtype=mg.float64, requires_grad=True)
    (a * mg.tensor([3.0, -4.0], dtype=mg.float64)).sum().backward()
    (b * 12.0).sum().backward()
    flat = np.array([3.0, -4.0, 12.0])
    want = np.linalg.norm(flat, ord=norm_type)
    assert np.isclose(mg.nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=norm_type), want)
    clipped = np.concatenate([a.grad.numpy(), b.grad.numpy().ravel()])
    assert np.isclose(np.linalg.norm(clipped, ord=norm_type), 1.0, rtol=1e-5)
    mg.nn.utils.clip_grad_value_([a, b], 0.1)
    assert np.abs(np.concatenate([a.grad.numpy(), b.grad.numpy().ravel()])).max() <= 0.1
    b.grad.data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="total norm of order"):
        mg.nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=norm_type, error_if_nonfinite=True)


def test_autocast_and_grad_scaler_take_pytorchs_spellings():
    x = mg.randn(4, 4)
    for ctx in (mg.autocast(device_type="cuda", dtype=mg.float16), mg.autocast("cuda"),
                mg.amp.autocast("cpu", dtype=mg.float16), mg.cuda.amp.autocast(dtype=mg.float16),
                mg.amp.autocast("float16")):
        with ctx:
            assert mg.amp.get_autocast_dtype() == "float16"
            assert (x @ x).dtype == np.float32
    assert mg.amp.get_autocast_dtype() is None
    with pytest.raises(ValueError, match="bfloat16 is not available"):
        mg.autocast("cpu")                     # PyTorch's CPU default, which NumPy lacks
    with pytest.raises(ValueError, match="device_type must be 'cuda' or 'cpu'"):
        mg.autocast("mps", dtype=mg.float16)
    assert mg.amp.GradScaler("cuda").get_scale() == 2.0 ** 16
    assert mg.cuda.amp.GradScaler(init_scale=8.0).get_scale() == 8.0


def test_cuda_and_backends_answer_what_model_files_ask():
    assert (mg.cuda.device_count() > 0) == mg.cuda.is_available()
    mg.cuda.manual_seed_all(3)
    a = mg.randn(2)
    mg.manual_seed(3)
    assert a.tolist() == mg.randn(2).tolist()
    assert mg.backends.mps.is_available() is False
    mg.backends.cuda.matmul.allow_tf32 = True          # accepted; float32 stays float32
    mg.backends.cuda.matmul.allow_tf32 = False


def test_rsqrt_square_and_outer_have_gradients_and_pytorchs_values():
    x = mg.tensor([0.5, 1.0, 2.5], dtype=mg.float64, requires_grad=True)
    v = mg.tensor([1.5, -2.0], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda t: mg.rsqrt(t), [x]) and mg.gradcheck(lambda t: t.square(), [x])
    assert mg.gradcheck(lambda a, b: mg.outer(a, b), [x, v])
    np.testing.assert_allclose(x.rsqrt().numpy(), 1 / np.sqrt([0.5, 1.0, 2.5]))
    np.testing.assert_allclose(mg.outer(x, v).numpy(), np.outer([0.5, 1.0, 2.5], [1.5, -2.0]))
    with pytest.raises(ValueError, match=r"outer: expected two 1-D tensors, got shapes \(3,\)"):
        mg.outer(x, mg.zeros(2, 2))
    assert mg.empty_like(x).shape == (3,) and x.nelement() == 3


def test_softmax_takes_a_dtype_and_casts_differentiably():
    x = mg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)          # float32
    for out in (mg.softmax(x, dim=-1, dtype=mg.float64), x.log_softmax(-1, dtype=mg.float64),
                mg.nn.functional.softmax(x, dim=-1, dtype=mg.float64)):
        assert out.dtype == np.float64
    (mg.nn.functional.log_softmax(x, -1, dtype=mg.float64)[0, 0]).backward()
    assert x.grad.dtype == np.float32 and np.isclose(float(x.grad.sum()), 0.0, atol=1e-6)


def test_no_grad_as_a_bare_decorator():
    @mg.no_grad
    def double(t):
        return t * 2
    assert not double(mg.tensor([1.0], requires_grad=True)).requires_grad
    assert mg.is_grad_enabled()


def test_load_takes_map_location_and_weights_only(tmp_path):
    layer = mg.nn.Linear(2, 3)
    mg.save(layer.state_dict(), tmp_path / "w.mg")
    state = mg.load(tmp_path / "w.mg", map_location="cpu", weights_only=True)
    other = mg.nn.Linear(2, 3)
    other.load_state_dict(state)
    assert other.weight.tolist() == layer.weight.tolist()
    with pytest.raises(TypeError, match="map_location must be a device name"):
        mg.load(tmp_path / "w.mg", map_location=lambda storage, loc: storage)


def test_schedulers_match_pytorch():
    torch = pytest.importorskip("torch")
    for ours_cls, theirs_cls, kw in (
            (mg.optim.lr_scheduler.CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR,
             dict(T_max=7, eta_min=1e-3)),
            (mg.optim.lr_scheduler.LinearLR, torch.optim.lr_scheduler.LinearLR,
             dict(start_factor=0.1, end_factor=1.0, total_iters=4))):
        ours_opt = mg.optim.SGD([mg.nn.Parameter(mg.zeros(1))], lr=0.1)
        theirs_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        ours, theirs = ours_cls(ours_opt, **kw), theirs_cls(theirs_opt, **kw)
        for _ in range(7):
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
            ours_opt.step(), theirs_opt.step()
            ours.step(), theirs.step()


def test_trunc_normal_and_embedding_from_pretrained():
    w = mg.nn.init.trunc_normal_(mg.empty(200, 50), std=0.02, a=-0.03, b=0.03)
    assert float(w.abs().max()) <= 0.03 and 0.01 < float(w.std()) < 0.02
    table = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    frozen = mg.nn.Embedding.from_pretrained(table)
    assert frozen(mg.tensor([1])).tolist() == [[3.0, 4.0]] and not frozen.weight.requires_grad
    assert mg.nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_sum_and_mean_take_a_dtype():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.5]], requires_grad=True)        # float32
    assert x.sum(dtype=mg.float64).dtype == np.float64
    assert mg.mean(x, dim=1, dtype=mg.float64).tolist() == [1.5, 3.75]
    assert mg.sum(mg.tensor([True, True, False]), dtype=mg.int64).item() == 2
    x.sum(dim=0, dtype=mg.float64).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_bool_reductions_checks_and_stacks():
    x = mg.tensor([[1.0, np.nan], [np.inf, -2.0]])
    assert mg.isnan(x).tolist() == [[False, True], [False, False]]
    assert x.isinf().tolist() == [[False, False], [True, False]]
    assert mg.isfinite(x).tolist() == [[True, False], [False, True]]
    assert mg.any(x > 0, dim=1).tolist() == [True, True] and (x > 0).any() is True
    assert mg.all(x > 0, dim=0, keepdim=True).tolist() == [[True, False]]
    assert (x > 0).all(dim=1).tolist() == [False, False]
    a, b = mg.zeros(3, 2), mg.ones(3, 1)
    assert mg.hstack([a, b]).shape == (3, 3) and mg.hstack([mg.zeros(2), mg.ones(3)]).shape == (5,)
    assert mg.vstack([mg.zeros(3), mg.ones(2, 3)]).tolist() == [[0, 0, 0], [1, 1, 1], [1, 1, 1]]
    assert mg.randn(2, 12).unflatten(-1, (3, -1)).shape == (2, 3, 4)
    probs = mg.tensor([[0.0, 1.0, 0.0]])
    assert probs.multinomial(1).tolist() == [[1]]


def test_normalize_matches_pytorch_and_has_gradients():
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 4)), dtype=mg.float64,
                  requires_grad=True)
    assert mg.gradcheck(lambda t: mg.nn.functional.normalize(t, dim=-1), [x])
    np.testing.assert_allclose(np.linalg.norm(mg.nn.functional.normalize(x).numpy(), axis=1),
                               1.0)
    zero = mg.nn.functional.normalize(mg.zeros(2, 3), dim=-1)        # eps keeps 0 / 0 away
    assert zero.tolist() == [[0.0] * 3] * 2
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(mg.nn.functional.normalize(x, dim=0).numpy(),
                               torch.nn.functional.normalize(torch.tensor(x.numpy()), dim=0).numpy(),
                               rtol=1e-12)
