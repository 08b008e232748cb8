"""Attention without the causal mask, and seed 004's left-padded sentence windows."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import optim

from models import Config, MultiHeadAttentionLM, SingleHeadAttentionLM, TransformerLM, build_model
from models.generate import generate
from models.sentence_windows import left_pad, sentence_windows

# The toy corpus of seed 004 (004_a925688bd983bbe6.txt): six sentences, words split on spaces.
CORPUS = ["the cat sat on the mat", "the dog sat on the rug", "the cat chased the mouse",
          "the dog chased the ball", "the cat slept on the mat", "the dog barked at the mailman"]
VOCAB = sorted(set(" ".join(CORPUS).split()))
PAD = len(VOCAB)  # the seed pads with an id after the words


def models(causal):
    return [SingleHeadAttentionLM(12, 6, n_embd=8, causal=causal),
            MultiHeadAttentionLM(12, 6, n_embd=8, n_head=2, causal=causal),
            TransformerLM(12, 6, n_layer=1, n_head=2, n_embd=8, causal=causal)]


@pytest.mark.parametrize("index", range(3), ids=["single-head", "multi-head", "transformer"])
def test_only_non_causal_attention_sees_later_tokens(index):
    a, b = np.array([[1, 2, 3, 4]]), np.array([[1, 2, 3, 9]])  # only the last token differs
    for causal in (True, False):
        mg.manual_seed(0)
        model = models(causal)[index].eval()
        first = [model(mg.tensor(x)).numpy()[0, 0] for x in (a, b)]
        assert np.allclose(*first) == causal, causal  # position 0 sees position 3 iff not causal
        assert (model.new_cache() is None) == (not causal)


def test_generation_from_a_non_causal_model_recomputes_each_window():
    mg.manual_seed(0)
    model = TransformerLM(12, 6, n_layer=1, n_head=2, n_embd=8, causal=False)
    out = generate(model, [[1, 2]], 10, seed=3)[0]
    assert len(out) == 10 and generate(model, [[1, 2]], 10, seed=3, use_cache=False)[0] == out


def test_config_builds_a_non_causal_model():
    model = build_model(Config(n_layer=1, n_embd=8, n_head=2, context=4, causal=False), 10)
    assert not model.causal and not model.blocks[0].attn.causal


def test_sentence_windows_of_the_toy_corpus():
    stoi = {w: i for i, w in enumerate(VOCAB)}
    sentences = [[stoi[w] for w in s.split()] for s in CORPUS]
    x, y = sentence_windows(sentences, 5, PAD)
    assert x.shape == (28, 5) and y.shape == (28,)  # one row per word after the first
    the, cat, sat, on, mat = (stoi[w] for w in ("the", "cat", "sat", "on", "mat"))
    assert x[0].tolist() == [PAD] * 4 + [the] and y[0] == cat
    assert x[4].tolist() == [the, cat, sat, on, the] and y[4] == mat  # window full: no pad
    assert x[5].tolist() == [PAD] * 4 + [the]  # a new sentence starts from padding
    assert left_pad([the, cat], 5, PAD) == [PAD, PAD, PAD, the, cat]
    assert left_pad(sentences[0], 3, PAD) == sentences[0][-3:]
    with pytest.raises(ValueError, match="pad id"):
        sentence_windows([[1, PAD]], 5, PAD)
    with pytest.raises(ValueError, match="block_size"):
        sentence_windows(sentences, 0, PAD)


def test_the_toy_model_learns_the_toy_corpus():
    # Seed 004's set-up: one block, 2 heads, 32 wide, non-causal, loss on the last position
    # of the padded windows, full batch, AdamW 1e-3. The seed trains 300 epochs; 150 here.
    stoi = {w: i for i, w in enumerate(VOCAB)}
    x, y = sentence_windows([[stoi[w] for w in s.split()] for s in CORPUS], 5, PAD)
    mg.manual_seed(42)
    model = TransformerLM(PAD + 1, 5, n_layer=1, n_head=2, n_embd=32, activation="relu",
                          bias=True, tie_weights=False, causal=False)
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    x, y = mg.tensor(x), mg.tensor(y)
    losses = []
    for _ in range(150):
        loss = F.cross_entropy(model(x)[:, -1, :], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 2.5 and losses[-1] < 1.0, (losses[0], losses[-1])
