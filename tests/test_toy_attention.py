"""Seed 004's tiny attention model: its size, PyTorch's forward on the same weights, its
training on left-padded windows and left-padded generation."""
import numpy as np
import pytest

import minigrad as mg

from models.toy_attention import ToyAttentionLM, generate_toy, train_toy, vocabulary


def test_size_of_the_seed_model():
    words = vocabulary()
    assert len(words) == 14
    # token 15x32 + positions 5x32 + attention (3*32*32 + 96) + (32*32 + 32) + feed-forward
    # (32*128 + 128) + (128*32 + 32) + two LayerNorms 4*32 + head 32*15 + 15
    assert ToyAttentionLM(len(words) + 1).num_parameters() == 13_839
    assert ToyAttentionLM(15).new_cache() is None  # no mask, so no key/value cache


def test_gradcheck_of_the_loss_wrt_every_parameter():
    """float64: the last position's cross-entropy against finite differences, every
    parameter (a projection of the Jacobian for the large ones)."""
    mg.set_default_dtype(mg.float64)
    model = ToyAttentionLM(7, d_model=8, n_heads=2, block_size=5)
    rng = np.random.default_rng(0)
    ids, targets = mg.tensor(rng.integers(0, 7, (3, 5))), mg.tensor(rng.integers(0, 7, (3,)))

    def loss(*params):
        return mg.functional.cross_entropy(model(ids)[:, -1], targets)

    for name, p in model.named_parameters():
        assert mg.gradcheck(loss, p, fast=p.numel() > 100), name


def test_forward_matches_the_seed_model_in_pytorch():
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    ours = ToyAttentionLM(15).eval()
    w = {k: torch.tensor(v.numpy().astype(np.float64)) for k, v in ours.state_dict().items()}
    tok, pos = torch.nn.Embedding(15, 32).double(), torch.nn.Embedding(5, 32).double()
    attn = torch.nn.MultiheadAttention(32, 2, batch_first=True).double()
    ff = torch.nn.Sequential(torch.nn.Linear(32, 128), torch.nn.ReLU(),
                             torch.nn.Linear(128, 32)).double()
    ln1, ln2 = torch.nn.LayerNorm(32).double(), torch.nn.LayerNorm(32).double()
    head = torch.nn.Linear(32, 15).double()
    with torch.no_grad():
        for module, names in [
                (tok, {"weight": "token_embed.weight"}), (pos, {"weight": "pos_embed.weight"}),
                (attn, {"in_proj_weight": "attn.in_proj.weight",
                        "in_proj_bias": "attn.in_proj.bias",
                        "out_proj.weight": "attn.out_proj.weight",
                        "out_proj.bias": "attn.out_proj.bias"}),
                (ff, {"0.weight": "ff.net.0.weight", "0.bias": "ff.net.0.bias",
                      "2.weight": "ff.net.2.weight", "2.bias": "ff.net.2.bias"}),
                (ln1, {"weight": "ln1.weight", "bias": "ln1.bias"}),
                (ln2, {"weight": "ln2.weight", "bias": "ln2.bias"}),
                (head, {"weight": "lm_head.weight", "bias": "lm_head.bias"})]:
            module.load_state_dict({theirs: w[mine] for theirs, mine in names.items()})
        ids = torch.tensor([[14, 14, 3, 1, 7], [0, 1, 2, 3, 4]])
        h = tok(ids) + pos(torch.arange(5))[None]  # the seed's forward, step by step
        n = ln1(h)
        h = h + attn(n, n, n)[0]
        expected = head(h + ff(ln2(h))).numpy()
    mg.set_default_dtype(mg.float64)
    try:
        ours = ours.to(dtype=mg.float64)
        got = ours(mg.tensor(ids.numpy())).numpy()
    finally:
        mg.set_default_dtype(mg.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_training_and_left_padded_generation():
    model, words, losses = train_toy(epochs=100)
    assert losses[0] > 2.5 and losses[-1] < 0.7  # ln 15 = 2.71 at the start
    text = generate_toy(model, words, "the cat chased", seed=1)
    assert text.startswith("the cat chased ") and len(text.split()) <= 3 + 15
    assert set(text.split()) <= set(words)
    assert generate_toy(model, words, "the zebra", max_new_tokens=2, seed=1).startswith("the zebra")
