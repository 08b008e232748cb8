"""How well a language model predicts text.

Two measures of the mean next-token cross-entropy (in nats):
    estimate_loss   HW4's: the mean loss of `num_batches` random batches per split. Cheap
                    and noisy; the trainer's running estimate (`estimate` adds accuracy).
    evaluate_split  every target of the split exactly once, in windows of the model's
                    context (models.data.iter_eval_windows), deterministic. Also reports
                    perplexity exp(loss), and bits per character and per byte of the text
                    the targets decode to, which compare across tokenizers: a BPE token
                    covers several characters, so its loss per token is not comparable
                    with a character model's, but the total bits over the same text are.
Both also give next-token accuracy: the share of targets that are the model's most likely
token (seed 001 reports it for its copy task).

Recurrent models are evaluated on windows too, each from a zero state; windows are at
least `MIN_RECURRENT_WINDOW` tokens so that few targets are predicted from a cold state.
"""
import math

import numpy as np

import minigrad as mg
from minigrad import functional as F

from models.data import device_of, get_batch, iter_eval_windows, to_ids

MIN_RECURRENT_WINDOW = 256
LOGITS_BUDGET = 2 ** 25  # most logits per evaluation batch (128 MB in float32)
IGNORE = -100  # cross_entropy's ignore_index: targets masked out of a window


def logits_of(model, x):
    """The logits of a model for ids x (B, T), from a zero state if it is recurrent."""
    out = model(x)
    return out[0] if model.recurrent else out


def eval_window(model, context, num_tokens):
    """The window length to evaluate `model` with on a split of `num_tokens` tokens."""
    window = model.block_size or (max(context, MIN_RECURRENT_WINDOW) if model.recurrent
                                  else context)
    return max(1, min(window, num_tokens - 1))


def estimate_loss(model, splits, context, batch_size, num_batches, rng):
    """{split: mean loss over num_batches random batches} (HW4's estimate_loss), in eval
    mode; `rng` (numpy Generator) draws the windows."""
    return {name: m["loss"] for name, m in
            estimate(model, splits, context, batch_size, num_batches, rng).items()}


@mg.no_grad()
def estimate(model, splits, context, batch_size, num_batches, rng):
    """{split: {"loss", "accuracy"}}: the means over num_batches random batches of the loss
    and of next-token accuracy (the batches of estimate_loss)."""
    was_training = model.training
    model.eval()
    device = device_of(model)
    out = {}
    for name, ids in splits.items():
        window = min(context, len(ids) - 1)
        losses, hits = [], []
        for _ in range(num_batches):
            x, y = get_batch(ids, batch_size, window, rng)
            logits = logits_of(model, to_ids(x, device))
            y = to_ids(y, device)
            losses.append(F.cross_entropy(logits, y).item())
            hits.append(correct(logits, y) / y.numel())
        out[name] = {"loss": float(np.mean(losses)), "accuracy": float(np.mean(hits))}
    model.train(was_training)
    return out


def correct(logits, targets, mask=None):
    """How many targets (B, T) are the argmax of their logits (B, T, V); only where `mask`
    (a NumPy bool array (B, T)) is True, if given."""
    hit = (logits.argmax(-1) == targets).numpy()
    return int(hit[mask].sum() if mask is not None else hit.sum())


def measures(loss, chars_per_token=None, prefix=""):
    """Perplexity exp(loss) and, given the split's characters per token, bits per character
    loss / ln 2 / chars_per_token, as record fields named with `prefix`."""
    out = {prefix + "perplexity": math.exp(min(loss, 700))}
    if chars_per_token:
        out[prefix + "bits_per_char"] = loss / math.log(2) / chars_per_token
    return out


def record_fields(estimates, chars_per_token=None):
    """The log fields of `estimate`'s result: per split, its loss, accuracy, perplexity and
    (with {split: characters per token}) bits per character: "train_loss", "val_loss", ...
    "val_bits_per_char"."""
    fields = {f"{name}_loss": e["loss"] for name, e in estimates.items()}
    for name, e in estimates.items():
        fields[f"{name}_accuracy"] = e["accuracy"]
        fields.update(measures(e["loss"], (chars_per_token or {}).get(name), f"{name}_"))
    return fields


def chars_per_token(ids, tokenizer, limit=1_000_000):
    """Characters per token of a split: those of its first `limit` tokens decoded (so that
    a huge split costs one bounded decode), for the bits per character of an estimate."""
    ids = [int(i) for i in ids[:limit]]
    return len(tokenizer.decode(ids)) / max(len(ids), 1)


@mg.no_grad()
def evaluate_split(model, ids, context, batch_size=32, tokenizer=None):
    """Loss over every target of `ids` once: {"loss", "perplexity", "targets", "accuracy"}
    and, with the tokenizer, {"bits_per_char", "bits_per_byte", "chars", "bytes"}."""
    was_training = model.training
    model.eval()
    device = device_of(model)
    window = eval_window(model, context, len(ids))
    batch_size = max(1, min(batch_size, LOGITS_BUDGET // (window * model.vocab_size)))
    total, count, hits = 0.0, 0, 0
    for x, y, mask in iter_eval_windows(ids, window, batch_size):
        y = to_ids(np.where(mask, y, IGNORE), device)
        logits = logits_of(model, to_ids(x, device))
        total += F.cross_entropy(logits, y, ignore_index=IGNORE, reduction="sum").item()
        count += int(mask.sum())
        hits += correct(logits, y, mask)
    model.train(was_training)
    loss = total / count
    result = {"loss": loss, "perplexity": math.exp(min(loss, 700)), "targets": count,
              "accuracy": hits / count}
    if tokenizer is not None:
        text = tokenizer.decode([int(i) for i in ids[1:]])  # the text the targets spell
        chars, size = len(text), len(text.encode("utf-8", "replace"))
        bits = total / math.log(2)
        result.update(chars=chars, bytes=size, bits_per_char=bits / max(chars, 1),
                      bits_per_byte=bits / max(size, 1))
    return result


def distinct_n(sequences, n):
    """Distinct-n (Li et al. 2016): distinct n-grams / all n-grams over the token sequences
    (generated samples); 1.0 means no n-gram repeats, low values mean repetitive text."""
    grams = [tuple(seq[i:i + n]) for seq in sequences for i in range(len(seq) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def count_bigram_loss(train_ids, eval_ids, vocab_size, alpha=1.0):
    """Mean cross-entropy on `eval_ids` of the count-based bigram model of `train_ids` with
    add-`alpha` smoothing: p(b | a) = (count(a, b) + alpha) / (count(a) + alpha V).

    A closed form, no training: it checks the data pipeline and the split against known
    numbers (2.4819 on Tiny Shakespeare's 90/10 split by character with add-one)."""
    counts = np.full((vocab_size, vocab_size), float(alpha))
    np.add.at(counts, (train_ids[:-1].astype(np.int64), train_ids[1:].astype(np.int64)), 1.0)
    log_probs = np.log(counts / counts.sum(axis=1, keepdims=True))
    return float(-log_probs[eval_ids[:-1].astype(np.int64), eval_ids[1:].astype(np.int64)].mean())
