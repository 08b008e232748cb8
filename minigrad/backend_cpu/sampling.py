"""Random masks and scattered sums on the CPU: dropout's keep-mask and the embedding
gradient."""
import math

import numpy as np

from minigrad import backend, backend_plain


def keep_mask(like, shape, p):
    """Dropout's mask: bool of ``shape``, each entry True with probability 1 - p. Each
    64-bit word of the seeded generator's raw output gives two 32-bit draws, compared with
    p * 2^32: 2.6 times as fast as drawing floats, and dropout masks are the largest random
    draws of a training step."""
    n = math.prod(shape)
    draws = backend.generator(np).bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    return (draws >= min(round(p * (1 << 32)), (1 << 32) - 1)).reshape(shape)


scatter_add = backend_plain.scatter_add

_ONE_HOT_ROWS = 256  # measured: the product wins up to a few hundred rows, sorting beyond


def add_rows(table, ids, rows):
    """table[ids] += rows (see ``backend_plain.add_rows``). For a small table (a character
    vocabulary) as one matrix product with the one-hot matrix of the ids, else by sorting
    the ids and summing each run with ``reduceat``: both much faster than ``add.at``."""
    flat = ids.reshape(-1)
    rows = rows.reshape(flat.size, table.shape[1])
    if flat.size == 0:
        return table
    if table.shape[0] <= _ONE_HOT_ROWS:
        one_hot = np.zeros((table.shape[0], flat.size), dtype=rows.dtype)
        one_hot[flat, np.arange(flat.size)] = 1
        table += one_hot @ rows
        return table
    order = np.argsort(flat, kind="stable")
    sorted_ids = flat[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_ids[1:] != sorted_ids[:-1]]))
    table[sorted_ids[starts]] += np.add.reduceat(rows[order], starts, axis=0)
    return table
