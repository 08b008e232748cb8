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
    run.lock        held by the training process that owns the directory (its PID inside)

Every file is written atomically and never through a symbolic link (models/rundir.py).

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
    tokenizer_sha256  the digest of the run's tokenizer.json: a checkpoint is never used
                      with another tokenizer (older checkpoints without it are not checked)

A checkpoint is untrusted until checked: `read_info` reads only the manifest and the array
headers and checks every field's type and range (the config as config.json's), and the
structures (model, optimizer, ...) are compared with those the code builds for that config
(`models.validation.conform`) before any array is read.
"""
import hashlib
from pathlib import Path

import numpy as np

import minigrad as mg
import tokenizers

from models.config import Config, build_model
from models.resources import check_inference_memory
from models.rundir import (  # noqa: F401 (the names of a run's files live with the run dir)
    BEST, CACHE, CONFIG, LAST, LOCK, LOG, PLOT, SAMPLES, TOKENIZER)
from models.validation import ANY, Float, InputError, Int, Text, check_ranges, conform

FORMAT, VERSION = "minigrad-lm", 1
FIELDS = {  # the bookkeeping fields of a checkpoint; the structures are checked by conform
    "step": Int(0), "best_val": Float(infinite=True), "evals_since_best": Int(0),
    "tokens": Int(0), "elapsed": Float(0), "version": Int(1, VERSION)}
MAX_TOKENIZER_BYTES = tokenizers.base.MAX_FILE_BYTES
UNIT = Float(0, 1, high_open=True)
RANGES = {  # the numbers inside the structures (their types are checked by conform)
    "optimizer.param_groups.*.lr": Float(0), "optimizer.param_groups.*.initial_lr": Float(0),
    "optimizer.param_groups.*.eps": Float(0), "optimizer.param_groups.*.betas.*": UNIT,
    "optimizer.param_groups.*.weight_decay": Float(0), "optimizer.state.*.step": Int(0),
    "scheduler.last_epoch": Int(0), "scheduler.warmup_steps": Int(0),
    "scheduler.max_steps": Int(1), "scheduler.min_lr": Float(0), "scheduler.base_lrs.*": Float(0),
    "scheduler._last_lr.*": Float(0), "scaler.scale": Float(0, low_open=True),
    "scaler.growth_factor": Float(1, low_open=True), "scaler.growth_interval": Int(1),
    "scaler.backoff_factor": Float(0, 1, low_open=True, high_open=True),
    "scaler._growth_tracker": Int(0), "rng.*.state.state": Int(0, 2 ** 128 - 1),
    "rng.*.state.inc": Int(0, 2 ** 128 - 1), "rng.*.has_uint32": Int(0, 1),
    "rng.*.uinteger": Int(0, 2 ** 32 - 1),
}
STRUCTURES = ("config", "model", "optimizer", "scheduler", "scaler", "rng", "data")


def save_checkpoint(path, state):
    """Write a training state (the dict described above, without format) atomically."""
    mg.save({"format": FORMAT, "version": VERSION, **state}, path)


def read_info(path):
    """(info, Config) of a checkpoint, reading only its manifest and array headers: info is
    the checkpoint dict with every array an ArrayInfo (shape, dtype), every field checked
    (an InputError naming the file and the field)."""
    try:
        info = mg.serialization.describe(path)
    except ValueError as e:
        raise InputError(str(e)) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise InputError(f"{path}: a minigrad archive, but not a language-model checkpoint "
                         f"(written by `minigrad train`)")
    if isinstance(info.get("version"), int) and info["version"] > VERSION:
        raise InputError(f"{path}: checkpoint version {info['version']} is newer than this "
                         f"code reads ({VERSION})")
    missing = [name for name in (*FIELDS, *STRUCTURES) if name not in info]
    if missing:
        raise InputError(f"{path}: not a complete checkpoint (no {', '.join(missing)})")
    for name, spec in FIELDS.items():
        spec.validate(f"{path}: field {name!r}", info[name])
    if "tokenizer_sha256" in info:
        Text().validate(f"{path}: field 'tokenizer_sha256'", info["tokenizer_sha256"])
    return info, Config.from_dict(info["config"], source=f"{path}: config")


def load_checkpoint(path, device=None):
    """The dict `save_checkpoint` wrote (call `read_info` first to check it)."""
    try:
        return mg.load(path, device=device)
    except ValueError as e:
        raise InputError(str(e)) from None


def read_tokenizer(path, info, checkpoint):
    """(tokenizer, sha256 of its file) from `path`, read once; an InputError unless its
    bytes are those `checkpoint` (its `info`) was trained with. Checkpoints from before the
    digest was recorded are not checked."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing; a checkpoint needs the tokenizer file of its run "
                         f"next to it")
    with open(path, "rb") as f:
        data = f.read(MAX_TOKENIZER_BYTES + 1)
    if len(data) > MAX_TOKENIZER_BYTES:
        raise InputError(f"{path}: larger than {MAX_TOKENIZER_BYTES >> 20} MiB: not a "
                         f"tokenizer file")
    digest, recorded = hashlib.sha256(data).hexdigest(), info.get("tokenizer_sha256")
    if recorded is not None and recorded != digest:
        raise InputError(f"{path} is not the tokenizer {checkpoint} was trained with (sha256 "
                         f"{digest[:12]}..., recorded {recorded[:12]}...): the file was "
                         f"replaced or edited; restore the run's own tokenizer.json")
    try:
        return tokenizers.loads(data, path), digest
    except ValueError as e:
        raise InputError(str(e)) from None


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
    checkpoint file; the tokenizer is the tokenizer.json next to the checkpoint. Everything
    is checked before the model is built or an array read: the fields, the tokenizer's
    digest, the memory the weights need, the shapes against the model."""
    file = find_checkpoint(path)
    info, config = read_info(file)
    tokenizer, _ = read_tokenizer(file.parent / TOKENIZER, info, file)
    check_inference_memory(config, tokenizer.vocab_size, file)
    model = build_model(config, tokenizer.vocab_size)
    conform(model.with_current_names(info["model"]), model.state_dict(), f"{file}: model")
    state = load_checkpoint(file)
    model.load_state_dict(state["model"])
    model.to(device)
    model.eval()
    return model, tokenizer, config, state


# ---------------------------------------------------------------- a trainer's state

def training_state(t):
    """The checkpoint dict of trainer `t` (models.train.Trainer)."""
    return {
        "config": t.config.to_dict(),
        "model": t.model.state_dict(),
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict(),
        "scaler": t.scaler.state_dict(),
        "step": t.step,
        "rng": {"minigrad": mg.get_rng_state(), "batches": t.batch_rng.bit_generator.state},
        "data": {"position": t.batcher.position if t.batcher else None,
                 "hidden": _hidden_arrays(t.hidden)},
        "best_val": t.best_val, "evals_since_best": t.evals_since_best,
        "tokens": t.tokens, "elapsed": t.elapsed,
        "tokenizer_sha256": t.tokenizer_digest,
    }


def check_training_state(t, info, path):
    """An InputError naming the field unless the checkpoint header `info` has the structure
    of trainer `t`'s own state: the model's shapes, the optimizer's groups and per-parameter
    state, the schedule's and the scaler's fields, the generators, the data position."""
    template = training_state(t)
    template["optimizer"]["state"] = template["data"]["hidden"] = ANY
    for name in STRUCTURES[1:]:  # the config is checked by read_info
        # A model's keys from before a layer renamed them are read under the new names.
        value = t.model.with_current_names(info[name]) if name == "model" else info[name]
        conform(value, template[name], f"{path}: {name}")
    params = [p for group in t.optimizer.param_groups for p in group["params"]]
    states = _mapping(info["optimizer"]["state"], f"{path}: optimizer.state")
    for index, entry in states.items():
        Int(0, len(params) - 1).validate(f"{path}: optimizer state index", index)
        conform(entry, _optimizer_entry(t.config, params[index]),
                f"{path}: optimizer.state.{index}")
    check_ranges(info, RANGES, path)
    if t.batcher is not None:
        Int(0, len(t.batcher)).validate(f"{path}: data.position", info["data"]["position"])
    if info["data"]["hidden"] is not None:
        c = t.config
        shape = (c.n_layer, c.batch_size, c.hidden_size)
        conform(info["data"]["hidden"], [np.zeros(shape)] * (2 if c.model == "lstm" else 1),
                f"{path}: data.hidden")


def restore_training_state(t, state, path):
    """Load a checked checkpoint dict into trainer `t`."""
    try:
        t.model.load_state_dict(state["model"])
        t.optimizer.load_state_dict(state["optimizer"])
        t.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            t.scaler.load_state_dict(state["scaler"])
        mg.set_rng_state(state["rng"]["minigrad"])
        t.batch_rng.bit_generator.state = state["rng"]["batches"]
    except (ValueError, TypeError, KeyError, OverflowError) as e:  # e.g. a generator's state
        raise InputError(f"{path}: cannot restore the training state ({e})") from None
    if t.scheduler.max_steps != t.config.steps:
        # Resumed with other --steps: the schedule now ends at the new last step.
        t.scheduler.max_steps = t.config.steps
        for group, lr in zip(t.optimizer.param_groups, t.scheduler.get_lr()):
            group["lr"] = lr
    if t.batcher is not None:
        t.batcher.position = state["data"]["position"]
    t.hidden = _hidden_tensors(state["data"]["hidden"], t.config.device)
    t.step = state["step"]
    t.best_val, t.evals_since_best = state["best_val"], state["evals_since_best"]
    t.tokens, t.elapsed = state["tokens"], state["elapsed"]


def _mapping(value, where):
    if not isinstance(value, dict):
        raise InputError(f"{where} should be a mapping, got {type(value).__name__}")
    return value


def _optimizer_entry(config, p):
    """What the run's optimiser keeps per parameter p (models/optim_config.py)."""
    if config.optimizer in ("adam", "adamw"):
        return {"step": 0, "exp_avg": p, "exp_avg_sq": p}
    momentum = {"momentum_buffer": p} if config.momentum else {}
    if config.optimizer == "rmsprop":
        return {"step": 0, "square_avg": p, **momentum}
    return momentum  # sgd


def _hidden_arrays(hidden):
    if hidden is None:
        return None
    return [h.numpy() for h in (hidden if isinstance(hidden, tuple) else (hidden,))]


def _hidden_tensors(arrays, device):
    if arrays is None:
        return None
    tensors = tuple(mg.tensor(a, device=device) for a in arrays)
    return tensors if len(tensors) > 1 else tensors[0]
