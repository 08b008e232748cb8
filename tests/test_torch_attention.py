"""nn.MultiheadAttention and the Transformer layers on minigrad against PyTorch itself
(tests/torch_compare.py says how), and PyTorch model code run with torch bound to minigrad.
Skipped where torch is not installed; the finite-difference checks are in
test_nn_gradcheck.py."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from torch_compare import Fixed, compare, rand

pytestmark = [pytest.mark.torch,
              pytest.mark.filterwarnings("ignore:Support for mismatched:UserWarning")]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- MultiheadAttention

MHA_OPTIONS = {
    "plain": dict(),
    "kdim-vdim": dict(kdim=6, vdim=5),
    "bias_kv-zero_attn": dict(add_bias_kv=True, add_zero_attn=True),
    "no-bias": dict(bias=False),
}


def _mhainputs_of(options, batch_first, masks):
    rng = np.random.default_rng(3)

    def seq(length, width):
        return rng.standard_normal((2, length, width) if batch_first else (length, 2, width))
    q, k, v = seq(4, 8), seq(5, options.get("kdim", 8)), seq(5, options.get("vdim", 8))
    attn = {"float": rng.standard_normal((4, 5)), "bool": rng.random((4, 5)) < 0.3,
            "3d": rng.standard_normal((2 * 2, 4, 5)), None: None}[masks]
    padding = np.zeros((2, 5), dtype=bool)
    padding[0, 3:] = True
    return [q, k, v, attn, padding if masks else None]


@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("masks", ["float", "bool", "3d", None])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("options", sorted(MHA_OPTIONS))
def test_multihead_attention_matches_torch(torch, options, batch_first, masks, need_weights,
                                           average):
    kw = MHA_OPTIONS[options]
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first, **kw)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first, **kw)

    def call(m, q, k, v, attn_mask, key_padding_mask):
        return m(q, k, v, key_padding_mask=key_padding_mask, need_weights=need_weights,
                 attn_mask=attn_mask, average_attn_weights=average)
    compare(torch, ours, theirs, _mhainputs_of(kw, batch_first, masks), call, call)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_multihead_self_attention_causal_hint_unbatched_and_eval_dropout_match_torch(torch, dtype):
    ours = nn.MultiheadAttention(8, 2, dropout=0.4)
    theirs = torch.nn.MultiheadAttention(8, 2, dropout=0.4)
    ours.eval(), theirs.eval()
    for need_weights in (False, True):
        def call(m, x, mask):
            return m(x, x, x, attn_mask=mask, need_weights=need_weights, is_causal=True)
        mask = np.triu(np.ones((5, 5), dtype=bool), 1)
        compare(torch, ours, theirs, [rand(5, 3, 8), mask], call, call, dtype)
        compare(torch, ours, theirs, [rand(5, 8), mask], call, call, dtype)   # unbatched
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        ours(*(mg.zeros(5, 3, 8),) * 3, is_causal=True)


def test_multihead_attention_state_dict_loads_into_torch(torch):
    for kw in MHA_OPTIONS.values():
        ours = nn.MultiheadAttention(8, 2, **kw)
        theirs = torch.nn.MultiheadAttention(8, 2, **kw)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
        q, k, v = (a.astype("float32") for a in _mhainputs_of(kw, False, None)[:3])
        a, _ = ours(mg.tensor(q), mg.tensor(k), mg.tensor(v))
        b, _ = theirs(torch.tensor(q), torch.tensor(k), torch.tensor(v))
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- transformer layers

def _layer_options(torch_side, activation):
    if activation == "callable":
        return (torch_side.nn.functional.gelu if torch_side else F.gelu)
    return activation


@pytest.mark.parametrize("masks", ["causal-bool", "float+padding", None])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "callable"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer_matches_torch(torch, batch_first, activation, norm_first,
                                                 masks):
    def make(side, lib):
        return lib.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=batch_first,
                                              norm_first=norm_first,
                                              activation=_layer_options(side, activation))
    x = rand(3, 5, 8) if batch_first else rand(5, 3, 8)
    mask = {"causal-bool": np.triu(np.ones((5, 5), dtype=bool), 1),
            "float+padding": rand(5, 5, seed=4), None: None}[masks]
    padding = np.zeros((3, 5), dtype=bool)
    padding[1, 3:] = True
    padding = padding if masks == "float+padding" else None

    def call(m, x, mask, padding):
        return m(x, src_mask=mask, src_key_padding_mask=padding)
    compare(torch, make(None, mg), make(torch, torch), [x, mask, padding], call, call)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mask_kind", ["bool", "float", "is_causal", "padding"])
def test_transformer_encoder_matches_torch(torch, dtype, mask_kind):
    def make(lib):
        layer = lib.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True,
                                               activation="gelu")
        return lib.nn.TransformerEncoder(layer, 2, norm=lib.nn.LayerNorm(8),
                                         **({} if lib is mg else {"enable_nested_tensor": False}))
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    padding = np.zeros((3, 5), dtype=bool)
    padding[0, 4] = True
    mask = {"bool": causal, "float": Fixed(np.where(causal, -np.inf, 0.0)), "is_causal": causal,
            "padding": None}[mask_kind]

    def call(m, x, mask, padding):
        return m(x, mask=mask, src_key_padding_mask=padding,
                 is_causal=True if mask_kind == "is_causal" else None)
    compare(torch, make(mg), make(torch), [rand(3, 5, 8), mask,
                                          padding if mask_kind == "padding" else None],
            call, call, dtype)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_decoder_layer_and_decoder_match_torch(torch, batch_first, norm_first):
    def layer(lib):
        return lib.nn.TransformerDecoderLayer(8, 2, 12, dropout=0.0, batch_first=batch_first,
                                              norm_first=norm_first)
    tgt = rand(2, 4, 8) if batch_first else rand(4, 2, 8)
    memory = rand(2, 5, 8, seed=1) if batch_first else rand(5, 2, 8, seed=1)
    tgt_mask = np.triu(np.ones((4, 4), dtype=bool), 1)
    memory_padding = np.zeros((2, 5), dtype=bool)
    memory_padding[1, 3:] = True

    def call(m, tgt, memory, tgt_mask, memory_padding):
        return m(tgt, memory, tgt_mask=tgt_mask, memory_key_padding_mask=memory_padding)
    inputs = [tgt, memory, tgt_mask, memory_padding]
    compare(torch, layer(mg), layer(torch), inputs, call, call)
    compare(torch, nn.TransformerDecoder(layer(mg), 2, norm=nn.LayerNorm(8)),
            torch.nn.TransformerDecoder(layer(torch), 2, norm=torch.nn.LayerNorm(8)), inputs,
            call, call)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_transformer_matches_torch_both_ways(torch, dtype):
    ours = nn.Transformer(8, 2, 2, 1, 12, dropout=0.0, batch_first=True)
    theirs = torch.nn.Transformer(8, 2, 2, 1, 12, dropout=0.0, batch_first=True)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(
        tgt_mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())

    def call(m, src, tgt, tgt_mask):
        return m(src, tgt, tgt_mask=tgt_mask)
    compare(torch, ours, theirs, [rand(2, 5, 8), rand(2, 4, 8, seed=1), Fixed(tgt_mask.numpy())],
            call, call, dtype)
    # and back: a fresh model of ours loads into torch's
    fresh = nn.Transformer(8, 2, 2, 1, 12, dropout=0.0, batch_first=True)
    theirs.float().load_state_dict({k: torch.tensor(v.numpy())
                                    for k, v in fresh.state_dict().items()})
    src, tgt = rand(2, 5, 8).astype("float32"), rand(2, 4, 8, seed=1).astype("float32")
    np.testing.assert_allclose(fresh(mg.tensor(src), mg.tensor(tgt)).numpy(),
                               theirs(torch.tensor(src), torch.tensor(tgt)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_transformer_layer_keys_are_torchs(torch):
    for make in (lambda lib: lib.nn.TransformerEncoderLayer(8, 2, 16, bias=False),
                 lambda lib: lib.nn.TransformerDecoderLayer(8, 2, 16, norm_first=True)):
        assert list(make(mg).state_dict()) == list(make(torch).state_dict())
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


# ---------------------------------------------------------------- PyTorch code, torch bound

def encoder_lm(torch, nn, data):
    """A next-token model on windows of ids, written as one writes it for PyTorch: a
    Dataset of (window, next id), token and position embeddings, a causal
    TransformerEncoder, a linear head on the last position."""

    class Windows(data.Dataset):
        def __init__(self, ids, size):
            self.ids, self.size = ids, size

        def __len__(self):
            return len(self.ids) - self.size

        def __getitem__(self, i):
            window = self.ids[i:i + self.size]
            return (torch.tensor(window, dtype=torch.long),
                    torch.tensor(self.ids[i + self.size], dtype=torch.long))

    class EncoderLM(nn.Module):
        def __init__(self, vocab, width=8, heads=2, layers=2, context=6):
            super().__init__()
            self.tokens = nn.Embedding(vocab, width)
            self.positions = nn.Embedding(context, width)
            block = nn.TransformerEncoderLayer(d_model=width, nhead=heads, dim_feedforward=16,
                                               dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(block, num_layers=layers)
            self.head = nn.Linear(width, vocab)

        def forward(self, x):
            batch, length = x.size()
            where = torch.arange(0, length).unsqueeze(0).expand(batch, length)
            h = self.tokens(x) + self.positions(where)
            future = torch.triu(torch.ones(length, length), diagonal=1).bool()
            h = self.encoder(h, mask=future)
            return self.head(h[:, -1, :])

    return Windows, EncoderLM


def test_pytorch_encoder_model_and_dataloader_code_runs_unchanged(torch):
    ids = [int(i) for i in np.random.default_rng(0).integers(0, 11, 40)]
    mg.set_default_dtype(mg.float64)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        Windows, EncoderLM = encoder_lm(mg, nn, mg.utils.data)
        TWindows, TEncoderLM = encoder_lm(torch, torch.nn, torch.utils.data)
        ours, theirs = EncoderLM(11), TEncoderLM(11)
    finally:
        torch.set_default_dtype(previous)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    loaders = (mg.utils.data.DataLoader(Windows(ids, 6), batch_size=8, drop_last=True),
               torch.utils.data.DataLoader(TWindows(ids, 6), batch_size=8, drop_last=True))
    assert len(loaders[0]) == len(loaders[1]) == 4
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    t_loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    for (x, y), (tx, ty) in zip(*loaders):
        np.testing.assert_array_equal(x.numpy(), tx.numpy())
        loss, t_loss = loss_fn(ours(x), y), t_loss_fn(theirs(tx), ty)
        assert math.isclose(loss.item(), t_loss.item(), rel_tol=1e-10)
        loss.backward()
        t_loss.backward()
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(),
                                   rtol=1e-9, atol=1e-12, err_msg=name)
