"""Left-padded sentence windows: the dataset of seed 004's toy attention model.

Each sentence is its own sequence. For every position i >= 1 of a sentence, the input is
the (at most) `block_size` tokens before i, padded on the left with `pad_id` up to
`block_size`, and the target is the token at i; the model is trained on the logits of the
last position only. The last position always holds the newest token, so with learned
positions "the word just before the target" is always at the same place, and a sentence
never sees the one before it.

    "the cat sat", block 3, pad P  ->  [P P the] -> cat,  [P the cat] -> sat
"""
import numpy as np


def sentence_windows(sentences, block_size, pad_id):
    """(x (N, block_size), y (N,)) int64 arrays over `sentences` (lists of ids), one row per
    target: every token of every sentence but its first, in order."""
    if not (isinstance(block_size, int) and block_size >= 1):
        raise ValueError(f"sentence_windows: block_size must be an int >= 1, got {block_size!r}")
    rows, targets = [], []
    for n, ids in enumerate(sentences):
        ids = list(ids)
        if pad_id in ids:
            raise ValueError(f"sentence_windows: sentence {n} holds the pad id {pad_id}; a "
                             f"padded window could not tell padding from text")
        for i in range(1, len(ids)):
            context = ids[max(0, i - block_size):i]
            rows.append([pad_id] * (block_size - len(context)) + context)
            targets.append(ids[i])
    x = np.array(rows, dtype=np.int64).reshape(len(rows), block_size)
    return x, np.array(targets, dtype=np.int64)


def left_pad(ids, block_size, pad_id):
    """The latest `block_size` ids, padded on the left to `block_size` (a prompt for a model
    trained on sentence windows)."""
    ids = list(ids)[-block_size:]
    return [pad_id] * (block_size - len(ids)) + ids
