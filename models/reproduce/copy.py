"""Seed 001's copy task, and a copy task a model can actually solve.

The seed's (its Part 3): 500 random sequences of 16 tokens from 1..49, next-token loss at
every position, 100 epochs in order, batch 32, Adam 1e-3, clipping 1.0. Each token is drawn
independently of the ones before it, so nothing can be predicted: a model can only
memorise the 500 sequences. We report its training loss (which falls as it memorises) and
its next-token accuracy on the training sequences and on fresh ones (chance, 1/49).

The real copy task: a random sequence of 16 tokens, a separator, the same sequence again;
the loss and the accuracy count only the repeated half, which is determined by the first.
Fresh sequences every step; accuracy (teacher forcing, greedy: the argmax must be the
token) on 1,000 held-out sequences, and the share of them copied without one mistake
(with every prediction right, greedy decoding reproduces the sequence exactly).
"""
import time

import numpy as np

import minigrad as mg
from minigrad import backend
from minigrad import functional as F
from minigrad.nn.utils import clip_grad_norm_

from models.config import build_model
from models.optim_config import build_optimizer
from models.plot import attention_weights
from models.presets import get_preset

VOCAB, LENGTH, SEPARATOR = 50, 16, 0  # tokens 1..49; 0 separates the halves (real task)
IGNORE = -100
TARGET_ACCURACY = 0.99


def one_blas_thread(task):
    """Run `task` with one BLAS thread: these models are too small for BLAS to gain from
    more, and on a busy machine its waiting threads cost several times the work."""
    def run(*args, **kwargs):
        with backend.blas_threads(1):
            return task(*args, **kwargs)
    run.__name__, run.__doc__ = task.__name__, task.__doc__
    return run


@one_blas_thread
def seed_task(quick=False, seed=0, say=print):
    """The seed's set-up: per-epoch training loss, accuracies on train and fresh sequences."""
    config = get_preset("copy")
    epochs, samples = (2, 64) if quick else (100, 500)
    rng = np.random.default_rng(seed)
    data = rng.integers(1, VOCAB, (samples, LENGTH))
    mg.manual_seed(seed)
    model = build_model(config, VOCAB)
    optimizer = build_optimizer(config, model)
    began, losses = time.perf_counter(), []
    for epoch in range(epochs):
        model.train()
        total = [_step(model, optimizer, config, data[i:i + config.batch_size])
                 for i in range(0, samples, config.batch_size)]
        losses.append(float(np.mean(total)))
        if epoch % 10 == 0 or epoch == epochs - 1:
            say(f"copy (seed 001): epoch {epoch}: loss {losses[-1]:.4f}")
    fresh = np.random.default_rng(seed + 1).integers(1, VOCAB, (samples, LENGTH))
    return {"epochs": epochs, "steps": epochs * -(-samples // config.batch_size),
            "losses": losses, "train_accuracy": _accuracy(model, data, 1)[0],
            "fresh_accuracy": _accuracy(model, fresh, 1)[0],
            "seconds": time.perf_counter() - began, "parameters": model.num_parameters()}


@one_blas_thread
def real_task(quick=False, seed=0, say=print):
    """A sequence, the separator, the sequence again: held-out accuracy on the repeat."""
    config = get_preset("copy").replace(context=2 * LENGTH)
    steps, check_every = (6, 3) if quick else (4000, 250)
    rng = np.random.default_rng(seed)
    heldout = copy_sequences(np.random.default_rng(seed + 1), 64 if quick else 1000)
    mg.manual_seed(seed)
    model = build_model(config, VOCAB)
    optimizer = build_optimizer(config, model)
    began, curve, step = time.perf_counter(), [], 0
    while step < steps:
        model.train()
        loss = _step(model, optimizer, config, copy_sequences(rng, config.batch_size), LENGTH)
        step += 1
        if step % check_every == 0 or step == steps:
            accuracy, exact = _accuracy(model, heldout, LENGTH)
            curve.append({"step": step, "loss": loss, "accuracy": accuracy, "exact": exact})
            say(f"copy (real): step {step}: loss {loss:.4f}, held-out accuracy "
                f"{accuracy:.4f}, sequences exact {exact:.3f}")
            if accuracy >= 0.999:  # learnt: the rest would only repeat it
                break
    model.eval()
    ids = heldout[0, :-1].tolist()  # where each position of a held-out sequence looks
    layers = attention_weights(model, ids)
    return {"steps": step, "curve": curve, "accuracy": curve[-1]["accuracy"],
            "exact": curve[-1]["exact"], "seconds": time.perf_counter() - began,
            "parameters": model.num_parameters(), "length": LENGTH,
            "attention": {"ids": ids, "layers": [name for name, _ in layers],
                          "weights": [w.tolist() for _, w in layers]}}


def copy_sequences(rng, count):
    """(count, 2 LENGTH + 1) rows: LENGTH tokens of 1..49, SEPARATOR, the same tokens."""
    first = rng.integers(1, VOCAB, (count, LENGTH))
    return np.concatenate([first, np.full((count, 1), SEPARATOR), first], axis=1)


def _step(model, optimizer, config, rows, scored_from=0):
    """One update on next-token targets of `rows`, scoring targets from `scored_from` on."""
    x, y = _inputs_targets(rows, scored_from)
    loss = F.cross_entropy(model(x), y, ignore_index=IGNORE)
    optimizer.zero_grad()
    loss.backward()
    clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return loss.item()


def _inputs_targets(rows, scored_from):
    y = rows[:, 1:].copy()
    y[:, :scored_from] = IGNORE  # real task: the first half and the separator are random
    return mg.tensor(rows[:, :-1]), mg.tensor(y)


@mg.no_grad()
def _accuracy(model, rows, scored_from):
    """(token accuracy, share of rows with every scored token right) under greedy argmax."""
    model.eval()
    x, y = _inputs_targets(rows, scored_from)
    predicted = model(x).numpy().argmax(-1)
    scored = y.numpy() != IGNORE
    right = (predicted == y.numpy()) | ~scored
    return float(right[scored].mean()), float(right.all(axis=1).mean())


def section(seed, real, plot_path=None, attention_path=None):
    lines = ["## Seed 001's copy task, and a real one", "",
             "The seed's task draws every token independently, so the next token cannot be "
             "predicted from the ones before it: a model can only memorise its 500 "
             "sequences. The notebook prints its training loss every 10 epochs, but the "
             "document holds no outputs: the numbers are ours. Accuracy on fresh sequences "
             "stays at chance (1/49 = 0.020).", "",
             "| task | parameters | steps | train loss (first / last epoch) | accuracy, "
             "train sequences | accuracy, fresh sequences | wall time |",
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| seed 001 (memorise) | {seed['parameters']:,} | {seed['steps']:,} "
             f"({seed['epochs']} epochs) | {seed['losses'][0]:.4f} / {seed['losses'][-1]:.4f} "
             f"| {seed['train_accuracy']:.4f} | {seed['fresh_accuracy']:.4f} | "
             f"{seed['seconds'] / 60:.1f} min |", "",
             f"The real copy task: {real['length']} random tokens, a separator, the same "
             f"tokens again, fresh sequences every step; scored on the repeated half of "
             f"held-out sequences. Target: accuracy at least {TARGET_ACCURACY:.0%}.", "",
             "| task | parameters | steps | held-out accuracy (repeated half) | sequences "
             "copied exactly | target met | wall time |",
             "|---|---:|---:|---:|---:|---|---:|",
             f"| copy | {real['parameters']:,} | {real['steps']:,} | {real['accuracy']:.4f} | "
             f"{real['exact']:.3f} | {'yes' if real['accuracy'] >= TARGET_ACCURACY else 'no'} "
             f"| {real['seconds'] / 60:.1f} min |"]
    if plot_path:
        lines += ["", f"![copy curves]({plot_path})"]
    if attention_path:
        lines += ["", "Where each position of a held-out sequence attends (rows: query "
                  "positions, columns: keys; every layer and head; the separator is token 0). "
                  f"The token to output at position t of the repeated half sits at t - "
                  f"{real['length']}: a head that copies shows a diagonal shifted by "
                  f"{real['length']} below the main one.", "",
                  f"![copy attention]({attention_path})"]
    return lines
