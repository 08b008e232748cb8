"""Run directories and the checkpoints in them.

A run directory (`minigrad train --out RUN_DIR`) holds:

    config.json     the full Config of the run (models/config.py)
    tokenizer.json  the tokenizer (`tokenizers.load` reads it)
    cache/          the corpus encoded with that tokenizer (token ids, .npy), reused on resume
    last.npz        the latest checkpoint: at every evaluation, at the end, and on Ctrl-C
    best.npz        the checkpoint with the lowest val loss so far
    log.jsonl       one JSON object per evaluation (step, train_loss, val_loss, lr, ...)
    loss.png        train and val loss against step, drawn at the end (needs matplotlib)
    samples.txt     text sampled from the model at the end of training

A checkpoint is one `minigrad.save` archive (.npz, written to a temporary file and renamed,
so a crash mid-save leaves the previous one whole) with everything an exact resume needs:

    format, version   "minigrad-lm", 1
    config            the Config as a dict (enough to rebuild the model)
    model             model.state_dict()
    optimizer         optimizer.state_dict() (Adam moments and step counts)
    scheduler         the learning-rate schedule's state_dict()
    scaler            the loss scaler's state_dict() (mixed precision; inert without --amp)
    step              optimiser steps done
    rng               {"minigrad": weights/dropout generator state, "batches": the numpy
                      Generator state that draws the training batches}
    data              {"position": next chunk (rnn/lstm)}, and "hidden": the recurrent state
    best_val, evals_since_best, tokens, elapsed    bookkeeping of early stopping and speed
"""
from pathlib import Path

import minigrad as mg
import tokenizers

from models.config import Config, build_model

FORMAT, VERSION = "minigrad-lm", 1
CONFIG, TOKENIZER, CACHE = "config.json", "tokenizer.json", "cache"
LAST, BEST = "last.npz", "best.npz"
LOG, PLOT, SAMPLES = "log.jsonl", "loss.png", "samples.txt"


def save_checkpoint(path, state):
    """Write a training state (the dict described above, without format) atomically."""
    mg.save({"format": FORMAT, "version": VERSION, **state}, path)


def load_checkpoint(path, device=None):
    """The dict `save_checkpoint` wrote; ValueError if the file is another kind of archive."""
    state = mg.load(path, device=device)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: a minigrad archive, but not a language-model checkpoint "
                         f"(written by `minigrad train`)")
    if state.get("version", 0) > VERSION:
        raise ValueError(f"{path}: checkpoint version {state['version']} is newer than this "
                         f"code reads ({VERSION})")
    return state


def find_checkpoint(path):
    """The checkpoint file that `path` names: the file itself, or in a run directory
    best.npz (else last.npz). Errors say what was expected."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path}: no checkpoint in this directory (expected {BEST} or "
                                f"{LAST}, written by `minigrad train --out {path}`)")
    if path.is_file():
        return path
    raise FileNotFoundError(f"{path}: no such checkpoint file or run directory")


def load_trained(path, device="cpu"):
    """(model in eval mode, tokenizer, config, checkpoint dict) from a run directory or a
    checkpoint file; the tokenizer is the tokenizer.json next to the checkpoint."""
    file = find_checkpoint(path)
    state = load_checkpoint(file)
    tokenizer_path = file.parent / TOKENIZER
    if not tokenizer_path.is_file():
        raise FileNotFoundError(f"{tokenizer_path}: missing; a checkpoint needs the tokenizer "
                                f"file of its run next to it")
    tokenizer = tokenizers.load(tokenizer_path)
    config = Config.from_dict(state["config"])
    model = build_model(config, tokenizer.vocab_size)
    model.load_state_dict(state["model"])
    model.to(device)
    model.eval()
    return model, tokenizer, config, state
