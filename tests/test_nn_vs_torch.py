"""minigrad.nn against torch.nn (where torch is installed): outputs and gradients with the
same weights, and PyTorch model code run with its imports changed."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_
from layer_helpers import flat, randn


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
    a = flat(our_out(ours, *inputs))
    b = flat(their_out(theirs, *theirs_in))
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
def test_linear_layernorm_rmsnorm_embedding_gelu_match_torch(torch, float64):
    tnn = torch.nn
    cases = [
        (nn.Linear(4, 3), tnn.Linear(4, 3), [randn(2, 5, 4)]),
        (nn.LayerNorm(4), tnn.LayerNorm(4), [randn(2, 5, 4)]),
        (nn.LayerNorm(4, bias=False), tnn.LayerNorm(4, bias=False), [randn(3, 4)]),
        (nn.RMSNorm(4), tnn.RMSNorm(4), [randn(2, 5, 4)]),
        (nn.RMSNorm((5, 4), eps=1e-3), tnn.RMSNorm((5, 4), eps=1e-3), [randn(2, 5, 4)]),
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
