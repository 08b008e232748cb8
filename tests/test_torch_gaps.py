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
