"""The PyTorch-named functions that are compositions of ops."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_equals_cross_entropy_of_log_softmax(reduction):
    x = mg.randn(2, 3, 5, dtype=mg.float64, requires_grad=True)
    t = mg.tensor([[1, -100, 4], [0, 2, 2]])
    a = F.nll_loss(x.log_softmax(-1), t, reduction=reduction)
    b = F.cross_entropy(x, t, reduction=reduction)
    np.testing.assert_allclose(a.numpy(), b.numpy())
    assert mg.gradcheck(lambda x: F.nll_loss(x, t, reduction=reduction), x)


def test_linear_and_its_error():
    x = mg.randn(2, 3, 4, dtype=mg.float64, requires_grad=True)
    w = mg.randn(5, 4, dtype=mg.float64, requires_grad=True)
    b = mg.randn(5, dtype=mg.float64, requires_grad=True)
    np.testing.assert_allclose(F.linear(x, w, b).numpy(), x.numpy() @ w.numpy().T + b.numpy())
    assert mg.gradcheck(F.linear, x, w, b)
    with pytest.raises(ValueError, match="linear: input .* has 3 features"):
        F.linear(mg.zeros(2, 3), mg.zeros(5, 4))


def test_mse_loss():
    a = mg.randn(3, 2, dtype=mg.float64, requires_grad=True)
    b = mg.randn(3, 2, dtype=mg.float64)
    np.testing.assert_allclose(F.mse_loss(a, b).item(), ((a.numpy() - b.numpy()) ** 2).mean())
    assert mg.gradcheck(lambda a: F.mse_loss(a, b), a)


def test_causal_attention_ignores_the_future():
    q, k, v = (mg.randn(1, 2, 4, 3, dtype=mg.float64, requires_grad=True) for _ in range(3))
    out, w = F.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
    assert np.allclose(np.triu(w.numpy()[0, 0], 1), 0)
    v2 = v.detach().numpy().copy()
    v2[..., 3, :] += 10  # changing the last value moves only the last query's output
    out2 = F.scaled_dot_product_attention(q, k, mg.tensor(v2), is_causal=True)
    np.testing.assert_allclose(out.numpy()[..., :3, :], out2.numpy()[..., :3, :])
    assert mg.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), q, k, v)


@pytest.mark.torch
def test_attention_matches_pytorch():
    torch = pytest.importorskip("torch")
    q, k, v = (np.random.default_rng(i).standard_normal((2, 2, 5, 3)) for i in range(3))
    ours = F.scaled_dot_product_attention(*(mg.tensor(a) for a in (q, k, v)), is_causal=True)
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_attention_masks_match_pytorch(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 4))
    mask = rng.random((3, 5)) > 0.3
    mask[:, 0] = True
    m = mask if kind == "bool" else np.where(mask, 0.0, -1e9)
    ours = F.scaled_dot_product_attention(*(mg.tensor(a) for a in (q, k, v)), attn_mask=mg.tensor(m))
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), attn_mask=torch.tensor(m))
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10)


@pytest.mark.torch
def test_cross_entropy_class_weights_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((6, 4)), rng.uniform(0.5, 2, 4)
    t = np.array([0, 3, 1, -100, 2, 3])
    xm = mg.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    ours = F.cross_entropy(xm, mg.tensor(t), weight=mg.tensor(w))
    ref = torch.nn.functional.cross_entropy(xt, torch.tensor(t), weight=torch.tensor(w))
    ours.backward()
    ref.backward()
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-12)
    np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    assert mg.gradcheck(lambda x: F.cross_entropy(x, mg.tensor(t), weight=mg.tensor(w)), xm.detach().requires_grad_())


def test_multinomial_follows_the_distribution():
    mg.manual_seed(0)
    draws = mg.multinomial(mg.tensor([[0.1, 0.0, 0.9]] * 4000), 1).numpy().ravel()
    assert (draws != 1).all()
    assert abs((draws == 2).mean() - 0.9) < 0.02
    with pytest.raises(ValueError, match="sums to 0"):
        mg.multinomial(mg.tensor([[0.0, 0.0]]), 1)
