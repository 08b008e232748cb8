"""The presets named after a seed: each reproduces that document's model, tokenizer, split,
optimiser, schedule, evaluation cadence and length field by field (the documents are
listed in the project's docs/REPRODUCTION.md; `minigrad reproduce` trains them).

Where a seed leaves a setting unstated or states two values, the description says which we
took. Settings a seed does not have (a final evaluation over the whole val split, samples)
are ours and change no number the seed reports.
"""

# PyTorch's defaults, which the seeds use unless they say otherwise.
_TORCH_ADAM = dict(betas=(0.9, 0.999), eps=1e-8, decay_all=True)

# HW4 (seed 003): Tiny Shakespeare by character, 90/10 split, random windows of 256, batch
# 32, torch.optim.AdamW(model.parameters(), lr) (weight decay 0.01 on every parameter), a
# constant rate, no clipping, no dropout, PyTorch's initialisation; 1,000 steps, the loss
# estimated every 200 steps as the mean of 100 random batches of train and of val.
_HW4 = dict(_TORCH_ADAM, context=256, batch_size=32, optimizer="adamw", weight_decay=0.01,
            schedule="constant", warmup_steps=0, grad_clip=0.0, dropout=0.0, init="torch",
            steps=1000, eval_every=200, eval_batches=100)

HW4 = {
    "hw4-bigram": dict(
        _HW4, model="bigram", lr=1e-2,
        description="HW4 1.1 (seed 003): a (65, 65) logits table; AdamW 1e-2, 1,000 steps"),
    "hw4-bigram-emb": dict(
        _HW4, model="bigram-emb", n_embd=32, lr=1e-2,
        description="HW4 1.2 (seed 003): embedding 32, Linear(32, 65); AdamW 1e-2, 1,000 "
                    "steps"),
    "hw4-single-head": dict(
        _HW4, model="single-head", n_embd=384, head_size=384, lr=6e-4,
        description="HW4 1.3.2 (seed 003): token + position embedding 384, one head with key, "
                    "query and value of 384 (the notebook passes embed_size as head_size), "
                    "Linear(384, 65); 590,657 parameters; AdamW 6e-4, 1,000 steps"),
    "hw4-multi-head": dict(
        _HW4, model="multi-head", n_embd=384, n_head=6, attention="hw4", lr=6e-4,
        description="HW4 1.3.3 (seed 003): 6 heads, key and query 64, value 384 -> 384 each, "
                    "concatenated into Linear(2304, 384) with a bias, Linear(384, 65); "
                    "2,213,057 parameters; AdamW 6e-4, 1,000 steps"),
    "hw4-transformer": dict(
        _HW4, model="transformer", n_layer=6, n_head=6, n_embd=384, attention="hw4",
        bias=True, tie_weights=False, activation="relu", ff_variant="hw4", norm="pre",
        init="normal", optimizer="adam", lr=1e-4, weight_decay=0.0, steps=2000,
        description="HW4 1.4 (seed 003): 6 pre-LN blocks of HW4's 6 heads (values 384 wide) "
                    "and a ReLU feed-forward 1536, final LayerNorm, untied Linear head, "
                    "N(0, 0.02) init, no dropout; 19,636,289 parameters; Adam 1e-4, 2,000 "
                    "steps (HW4 also estimates at the step before the last, not at it)"),
}

# The thesis (seed 002): Tiny Shakespeare split 80/10/10 (train, val, test: 896,135 training
# characters of 1,115,394 in the thesis), batch 64, 4,146 batches per epoch, an evaluation
# each epoch, early stopping on val. We estimate the val loss on 100 random batches per
# evaluation (the thesis: the whole val split); our BPE is byte-level, the thesis's is
# SentencePiece's (byte fallback, NFKC). Biases on every Linear and LayerNorm, which the
# thesis leaves off its attention projections.
_EPOCH = 4146
_THESIS = dict(
    model="transformer", tokenizer="bpe", batch_size=64, n_head=8, ff_variant="gelu3",
    activation="gelu", bias=True, tie_weights=False, positions="learned", init="xavier",
    optimizer="adamw", lr=1.5e-3, weight_decay=0.01, decay_all=True, min_lr=0.0,
    schedule="cosine", grad_clip=1.0, val_fraction=0.1, test_fraction=0.1,
    eval_every=_EPOCH, eval_batches=100, patience=10)

THESIS = {
    "thesis": dict(
        _THESIS, vocab_size=8000, n_layer=3, n_embd=256, context=128, ff_hidden=1024,
        dropout=0.3, norm="pre", betas=(0.9, 0.98), eps=1e-9, warmup_steps=1000,
        steps=40 * _EPOCH,
        description="the thesis's final model (seed 002, 5.1): BPE 8,000, 3 pre-LN layers, "
                    "8 heads, 256 wide, context 128, 3-layer GELU feed-forward 1024, dropout "
                    "0.3, Xavier init; AdamW 1.5e-3 (0.9, 0.98), eps 1e-9, weight decay 0.01, "
                    "warmup 1,000 then cosine per step over 40 epochs of 4,146 batches "
                    "(the thesis trained 40; the cosine's length is our choice), gradient "
                    "clipping 1.0 (the thesis clips but gives no norm), early stopping "
                    "patience 10 epochs; split 80/10/10"),
    "thesis-v1": dict(
        _THESIS, vocab_size=10000, n_layer=6, n_embd=512, context=256, ff_hidden=1024,
        dropout=0.1, norm="post", betas=(0.9, 0.999), eps=1e-8, warmup_steps=0,
        steps=20 * _EPOCH,
        description="the thesis's first model (seed 002, 5.1): BPE 10,000 (4.7 says 16,000; "
                    "we take 5.1's, the run it reports), 6 post-LN layers, 8 heads, 512 wide, "
                    "context 256, feed-forward 1024 (4.7.1 says 2,048; 5.1's again), dropout "
                    "0.1; AdamW 1.5e-3, weight decay 0.01, cosine per step from the start, "
                    "20 epochs of 4,146 batches, patience 10; split 80/10/10"),
}

# The Cervantes notebook (seed 000): words lowercased, `.!?,:;` split off, whitespace split,
# words seen twice kept; every stride-1 window an example whose target is the next word,
# shuffled, batch 32, counted in epochs; Adam with PyTorch's defaults, no clipping, PyTorch's
# initialisation. The notebook trains on an excerpt (vocabulary 915) we do not have and keeps
# nothing back: we train on the full novel and hold out its last 10% for val.
_CERVANTES = dict(
    _TORCH_ADAM, corpus="quijote", tokenizer="word", lower=True, word_split="spaces",
    min_freq=2, objective="last", batch_size=32, optimizer="adam", weight_decay=0.0,
    schedule="constant", warmup_steps=0, grad_clip=0.0, dropout=0.0, init="torch",
    eval_every=2000, eval_batches=20)

CERVANTES = {
    "quijote-mlp": dict(
        _CERVANTES, model="mlp", context=2, mlp_window=2, n_embd=64, hidden_size=128,
        n_layer=1, activation="relu", lr=1e-3, epochs=5,
        description="the Cervantes notebook's MLP (seed 000): 2 words, embedding 64, "
                    "Linear(128, 128), ReLU, Linear(128, V); Adam 1e-3, 5 epochs (our table "
                    "has one more row, for positions before the text starts)"),
    "quijote-rnn": dict(
        _CERVANTES, model="rnn", context=10, n_embd=64, hidden_size=128, n_layer=1, lr=1e-3,
        epochs=100,
        description="the Cervantes notebook's RNN (seed 000): 10 words, embedding 64, tanh "
                    "RNN 128, the last output to Linear(128, V); Adam 1e-3, 100 epochs"),
    "quijote-lstm": dict(
        _CERVANTES, model="lstm", context=10, n_embd=64, hidden_size=128, n_layer=1, lr=1e-3,
        epochs=170,
        description="the Cervantes notebook's LSTM (seed 000): 10 words, embedding 64, LSTM "
                    "128, the last output to Linear(128, V); Adam 1e-3, 170 epochs"),
    "quijote-transformer": dict(
        _CERVANTES, model="transformer", context=16, n_layer=2, n_head=4, n_embd=128,
        ff_hidden=256, ff_variant="hw4", activation="relu", dropout=0.1, norm="post",
        bias=True, tie_weights=False, positions="learned", lr=3e-4, epochs=100,
        description="the Cervantes notebook's Transformer (seed 000): 16 words, learned "
                    "positions, 2 post-LN encoder layers (PyTorch's TransformerEncoderLayer: "
                    "4 heads, 128 wide, ReLU feed-forward 256, dropout 0.1) under a causal "
                    "mask, the last position to Linear(128, V); Adam 3e-4, 100 epochs (we add "
                    "a final LayerNorm, which the notebook's encoder has not)"),
}

# Seed 001's copy task: 500 random sequences of 16 tokens drawn from 1..49 (vocabulary 50),
# batch 32 in order, 100 epochs (1,600 steps), next-token loss at every position, Adam 1e-3,
# clipping 1.0. Its TwoLayerTransformer (d_model 128, 4 heads, d_ff 512, dropout 0.1) is
# defined in a notebook we do not have: we take 2 pre-LN blocks with sinusoidal positions
# (the notebook's Part 2) and a ReLU feed-forward. models/reproduce/copy.py makes the data.
COPY = {
    "copy": dict(
        _TORCH_ADAM, model="transformer", n_layer=2, n_head=4, n_embd=128, ff_hidden=512,
        ff_variant="hw4", activation="relu", dropout=0.1, norm="pre", bias=True,
        tie_weights=False, positions="sinusoidal", init="torch", context=16, batch_size=32,
        optimizer="adam", lr=1e-3, weight_decay=0.0, schedule="constant", warmup_steps=0,
        grad_clip=1.0, steps=1600, eval_every=160,
        description="seed 001's copy task: a 2-layer transformer (128 wide, 4 heads, "
                    "feed-forward 512, dropout 0.1, sinusoidal positions: our choice of block, "
                    "the notebook's class is not in it) on 500 random sequences of 16 tokens "
                    "of a vocabulary of 50, batch 32, Adam 1e-3, clipping 1.0, 100 epochs; "
                    "run with `minigrad reproduce copy`"),
}
