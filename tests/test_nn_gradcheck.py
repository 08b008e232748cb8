"""minigrad.nn: every layer gradient-checked in float64 with respect to its inputs and
parameters (the full Jacobian against finite differences), and proof that the check catches a
wrong layer gradient."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from layer_helpers import flat, ids, randn


# ---------------------------------------------------------------- gradcheck of every layer

def gradcheck_layer(layer, inputs, outputs=lambda y: y, reseed=False):
    """gradcheck of ``outputs(layer(*inputs))`` w.r.t. the float inputs and every parameter
    (the parameters themselves are passed as gradcheck inputs, so finite differences
    perturb them in place). ``reseed`` fixes the dropout mask across evaluations."""
    params = tuple(layer.parameters())
    n = len(inputs)

    def fn(*args):
        if reseed:
            mg.manual_seed(7)
        return outputs(layer(*args[:n]))

    assert mg.gradcheck(fn, tuple(inputs) + params)


def _with_cache(layer, x, split):
    """The layer run over x in two calls sharing a KVCache: positions [:split], then the rest."""
    cache = nn.KVCache()
    return mg.cat([layer(x[:, :split], cache=cache), layer(x[:, split:], cache=cache)], dim=1)


def case(layer, *inputs, outputs=None, reseed=False):
    return layer, list(inputs), outputs or (lambda y: y), reseed


def gelu_ff():
    return nn.FeedForward(4, 4, activation="gelu")


# name -> () -> case(...). The part of the name before '-' is the nn class the case covers
# (test_every_layer_has_a_gradcheck_case). Sizes are tiny: the full Jacobian costs two
# forwards per input element and one backward per output element.
GRADCHECK_CASES = {
    "Linear": lambda: case(nn.Linear(3, 2), randn(2, 3, 3)),
    "Linear-nobias": lambda: case(nn.Linear(3, 2, bias=False), randn(2, 3)),
    "Embedding": lambda: case(nn.Embedding(5, 3), ids(2, 3, high=5)),
    "LayerNorm": lambda: case(nn.LayerNorm(4), randn(2, 3, 4)),
    "LayerNorm-nobias": lambda: case(nn.LayerNorm(4, bias=False), randn(2, 4)),
    "LayerNorm-noaffine": lambda: case(nn.LayerNorm((2, 3), elementwise_affine=False),
                                       randn(2, 2, 3)),
    "RMSNorm": lambda: case(nn.RMSNorm(4), randn(2, 3, 4)),
    "RMSNorm-noaffine-eps": lambda: case(nn.RMSNorm((2, 3), eps=1e-3, elementwise_affine=False),
                                         randn(2, 2, 3)),
    "Dropout": lambda: case(nn.Dropout(0.5), randn(2, 3, 4), reseed=True),
    "ReLU": lambda: case(nn.ReLU(), randn(2, 3, 4, away_from_zero=True)),
    "GELU": lambda: case(nn.GELU(), randn(2, 3, 4)),
    "GELU-tanh": lambda: case(nn.GELU("tanh"), randn(2, 3, 4)),
    "Tanh": lambda: case(nn.Tanh(), randn(2, 3, 4)),
    "Sequential": lambda: case(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)),
                               randn(2, 3)),
    "MultiHeadAttention": lambda: case(nn.MultiHeadAttention(4, 2), randn(2, 3, 4)),
    "MultiHeadAttention-weights": lambda: case(
        _need_weights(nn.MultiHeadAttention(4, 2, causal=False)), randn(2, 3, 4)),
    "MultiHeadAttention-rope-cache": lambda: case(
        _cached(nn.MultiHeadAttention(4, 2, rope=True, bias=False)), randn(1, 3, 4)),
    "MultiHeadAttention-dropout": lambda: case(nn.MultiHeadAttention(4, 2, dropout=0.3),
                                               randn(1, 3, 4), reseed=True),
    "FeedForward": lambda: case(nn.FeedForward(4, 6), randn(2, 3, 4, away_from_zero=True)),
    "FeedForward-gelu3": lambda: case(nn.FeedForward(3, 4, variant="gelu3"), randn(2, 3, 3)),
    "TransformerBlock-pre": lambda: case(nn.TransformerBlock(4, 2, ff=gelu_ff()),
                                         randn(2, 3, 4)),
    "TransformerBlock-post": lambda: case(nn.TransformerBlock(4, 2, ff=gelu_ff(), norm="post"),
                                          randn(2, 3, 4)),
    "RNNCell": lambda: case(nn.RNNCell(3, 2), randn(2, 3), randn(2, 2)),
    "LSTMCell": lambda: case(_with_state(nn.LSTMCell(3, 2)), randn(2, 3), randn(2, 2),
                             randn(2, 2), outputs=flat),
    "GRUCell": lambda: case(nn.GRUCell(3, 2), randn(2, 3), randn(2, 2)),
    "RNN": lambda: case(nn.RNN(2, 2, num_layers=2, batch_first=True), randn(2, 3, 2),
                        randn(2, 2, 2), outputs=flat),
    "LSTM": lambda: case(_with_state(nn.LSTM(2, 2, num_layers=2, batch_first=True)),
                         randn(2, 3, 2), randn(2, 2, 2), randn(2, 2, 2), outputs=flat),
    "GRU": lambda: case(nn.GRU(2, 2, num_layers=2), randn(3, 2, 2), randn(2, 2, 2),
                        outputs=flat),
    "RNN-bidirectional": lambda: case(nn.RNN(2, 2, num_layers=2, bidirectional=True),
                                      randn(3, 2, 2), randn(4, 2, 2), outputs=flat),
    "LSTM-bidirectional-unbatched": lambda: case(
        _with_state(nn.LSTM(2, 2, num_layers=2, bidirectional=True)), randn(3, 2),
        randn(4, 2), randn(4, 2), outputs=flat),
    "GRU-bidirectional": lambda: case(nn.GRU(2, 2, bidirectional=True, batch_first=True),
                                      randn(2, 3, 2), outputs=flat),
    "Sigmoid": lambda: case(nn.Sigmoid(), randn(2, 3)),
    "SiLU": lambda: case(nn.SiLU(), randn(2, 3)),
    "Softmax": lambda: case(nn.Softmax(dim=1), randn(2, 3, 2)),
    "LogSoftmax": lambda: case(nn.LogSoftmax(dim=-1), randn(2, 3)),
    "Identity": lambda: case(nn.Identity(54, unused=True), randn(2, 3)),
    "Flatten": lambda: case(nn.Flatten(), randn(2, 3, 2)),
    "CrossEntropyLoss": lambda: case(nn.CrossEntropyLoss(), randn(4, 3), mg.tensor([0, 2, 1, 2])),
    "CrossEntropyLoss-smoothing-weight-ignore": lambda: case(
        nn.CrossEntropyLoss(weight=mg.tensor([0.5, 2.0, 1.0]), ignore_index=1,
                            label_smoothing=0.2), randn(2, 3, 4),
        mg.tensor([[0, 1, 2, 2], [1, 0, 0, 2]])),
    "CrossEntropyLoss-probabilities": lambda: case(
        nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum"), randn(2, 3),
        mg.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=mg.float64)),
    "NLLLoss": lambda: case(nn.NLLLoss(weight=mg.tensor([1.0, 3.0, 0.5])), randn(4, 3),
                            mg.tensor([0, 2, -100, 1])),
    "MSELoss": lambda: case(nn.MSELoss(reduction="sum"), randn(2, 3), randn(2, 3)),
    "MultiheadAttention": lambda: case(
        _masked_attention(nn.MultiheadAttention(4, 2, batch_first=True)), randn(2, 3, 4),
        randn(2, 5, 4), outputs=flat),
    "MultiheadAttention-kdim-biaskv-zeroattn": lambda: case(
        _masked_attention(nn.MultiheadAttention(4, 2, kdim=3, vdim=2, add_bias_kv=True,
                                                add_zero_attn=True)),
        randn(3, 2, 4), randn(5, 2, 3), randn(5, 2, 2), outputs=flat),
    "MultiheadAttention-dropout-causal": lambda: case(
        _causal_self_attention(nn.MultiheadAttention(4, 2, dropout=0.3)), randn(3, 1, 4),
        reseed=True),
    "TransformerEncoderLayer": lambda: case(
        _causal_encoder(nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu",
                                                   batch_first=True)), randn(2, 3, 4)),
    "TransformerEncoderLayer-norm_first-dropout": lambda: case(
        nn.TransformerEncoderLayer(4, 2, 6, dropout=0.2, activation=nn.GELU(), norm_first=True),
        randn(3, 2, 4), reseed=True),
    "TransformerEncoder": lambda: case(_causal_encoder(nn.TransformerEncoder(
        nn.TransformerEncoderLayer(4, 2, 5, dropout=0.0, activation="gelu", batch_first=True),
        2, norm=nn.LayerNorm(4))), randn(1, 3, 4)),
    "TransformerDecoderLayer": lambda: case(
        nn.TransformerDecoderLayer(4, 2, 5, dropout=0.0, activation="gelu", batch_first=True),
        randn(2, 3, 4), randn(2, 2, 4)),
    "TransformerDecoder": lambda: case(_causal_decoder(nn.TransformerDecoder(
        nn.TransformerDecoderLayer(4, 2, 5, dropout=0.0, activation="gelu", norm_first=True),
        1, norm=nn.LayerNorm(4))), randn(3, 1, 4), randn(2, 1, 4)),
    "Transformer": lambda: case(
        nn.Transformer(4, 2, 1, 1, 5, dropout=0.0, activation="gelu", batch_first=True),
        randn(1, 2, 4), randn(1, 3, 4)),
    "LearnedPositionalEmbedding": lambda: case(
        _offset(nn.LearnedPositionalEmbedding(5, 3), 2), randn(2, 3, 3)),
    "SinusoidalPositionalEncoding": lambda: case(
        _offset(nn.SinusoidalPositionalEncoding(4), 3), randn(2, 3, 4)),
    "RotaryEmbedding": lambda: case(_offset(nn.RotaryEmbedding(4), 5), randn(2, 2, 3, 4)),
}


class _Wrap(nn.Module):
    """Calls ``inner`` in a particular way; the parameters are the inner layer's."""

    def __init__(self, inner, call):
        super().__init__()
        self.inner, self.call = inner, call

    def forward(self, *args):
        return self.call(self.inner, *args)


def _need_weights(attn):
    return _Wrap(attn, lambda m, x: m(x, need_weights=True))


def _cached(attn):
    return _Wrap(attn, lambda m, x: _with_cache(m, x, 2))


def _masked_attention(attn):
    """MultiheadAttention with a float attn_mask and a key_padding_mask, returning the
    per-head weights too."""
    def call(m, q, k, v=None):
        v = k if v is None else v
        n = q.shape[0] if m.batch_first else q.shape[1]
        mask = mg.tensor(np.linspace(-1.0, 1.0, q.shape[-2 if m.batch_first else 0] * k.shape[
            -2 if m.batch_first else 0]).reshape(-1, k.shape[-2 if m.batch_first else 0]),
            device=q.device)
        padding = np.zeros((n, k.shape[-2 if m.batch_first else 0]), dtype=bool)
        padding[0, -1] = True
        return m(q, k, v, key_padding_mask=mg.tensor(padding, device=q.device), attn_mask=mask,
                 average_attn_weights=False)
    return _Wrap(attn, call)


def _causal_self_attention(attn):
    def call(m, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[0], x.device, x.dtype)
        return m(x, x, x, attn_mask=mask, need_weights=False, is_causal=True)[0]
    return _Wrap(attn, call)


def _causal_encoder(layer):
    """An encoder (layer) called with a bool causal mask (batch first)."""
    def call(m, x):
        mask = mg.triu(mg.ones(x.shape[1], x.shape[1], device=x.device), diagonal=1).bool()
        if isinstance(m, nn.TransformerEncoder):
            return m(x, mask=mask)
        return m(x, src_mask=mask)
    return _Wrap(layer, call)


def _causal_decoder(decoder):
    def call(m, tgt, memory):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[0], tgt.device, tgt.dtype)
        return m(tgt, memory, tgt_mask=mask)
    return _Wrap(decoder, call)


def _offset(layer, offset):
    return _Wrap(layer, lambda m, x: m(x, offset=offset))


def _with_state(lstm):
    """An LSTM or LSTMCell taking h and c as separate arguments."""
    return _Wrap(lstm, lambda m, x, h, c: m(x, (h, c)))


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_layer_gradcheck(name, float64):
    gradcheck_layer(*GRADCHECK_CASES[name]())


def test_every_layer_has_a_gradcheck_case():
    containers = {"Module", "ModuleList", "ModuleDict"}
    layers = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
              and issubclass(getattr(nn, name), nn.Module)} - containers
    covered = {case.split("-")[0] for case in GRADCHECK_CASES}
    assert layers - covered == set(), "layers without a gradcheck case"
    assert covered - layers == set(), "cases naming no nn layer"


def test_gradcheck_helper_catches_a_wrong_layer_gradient(float64):
    class WrongScale(nn.Module):
        """Multiplies by w, but detaches w in one term: its gradient misses a factor."""

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(mg.tensor([1.5]))

        def forward(self, x):
            return x * self.w * self.w.detach()

    with pytest.raises(AssertionError, match="input 1"):
        gradcheck_layer(WrongScale(), [randn(3)])
