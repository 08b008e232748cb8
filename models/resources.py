"""Up-front resource checks: refuse what cannot fit before spending minutes on it.

    check_training_memory(config, vocab_size)    # InputError with the estimate and what is free
    check_inference_memory(config, vocab_size)   # the weights alone (generate, evaluate)
    check_corpus_file(path)                      # a corpus file too large to encode in memory

The memory estimate is arithmetic on the config, nothing is allocated:
    weights      every parameter in float32, four times when training (the weights, their
                 gradients and the optimiser's two moments), and the position tables
    activations  what one micro-batch of batch_size x context tokens keeps for the backward
                 pass: per token and per layer a few copies of the width (attention: of the
                 context, per head), plus the logits, the softmax and their gradient over the
                 vocabulary; doubled for the backward pass's temporaries.
It is rough (it aims within a factor of two of the peak) and meant to refuse what cannot
fit at all, such as `--context 100000` or `--n-embd 65536`, with both numbers, not to
predict the peak. It is compared with the memory the system reports available
(MemAvailable in /proc/meminfo); where that is unknown, or on a GPU, nothing is refused.

Corpora are read and encoded in memory at once: a file over MAX_CORPUS_BYTES (1 GiB), or
one whose encoding (about CORPUS_BYTES_PER_BYTE times its size) exceeds the available
memory, is refused with its size and the limit.
"""
import os

from models.validation import InputError

FLOAT_BYTES = 4
TRAINING_COPIES = 4       # weights, gradients, two Adam moments
BACKWARD_FACTOR = 2       # temporaries of the backward pass over the activations kept
MAX_CORPUS_BYTES = 1 << 30
CORPUS_BYTES_PER_BYTE = 16  # text, the Python list of ids, the id array, while encoding
ROPE_POSITIONS = 4096  # the length of minigrad.nn.RotaryEmbedding's tables


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def size(nbytes):
    """Bytes in words: '812.0 MiB', '3.6 TiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if unit == "PiB":
            return f"{nbytes:.4g} {unit}"
        if nbytes < 1024:
            return f"{nbytes:,.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


# ---------------------------------------------------------------- models

def parameter_count(c, vocab):
    """The number of parameters of the model that config `c` describes for `vocab` tokens."""
    E, L, H, T, b = c.n_embd, c.n_layer, c.hidden_size, c.context, int(c.bias)
    if c.model == "bigram":
        return vocab * vocab
    if c.model == "bigram-emb":
        return vocab * E + E * vocab + vocab
    head = H * vocab + vocab
    if c.model == "mlp":
        window = c.mlp_window or T
        return (vocab + 1) * E + window * E * H + H + (L - 1) * (H * H + H) + head
    if c.model in ("rnn", "lstm"):
        gates = 4 if c.model == "lstm" else 1
        layers = sum(gates * (width * H + H * H + 2 * H) for width in [E] + [H] * (L - 1))
        return vocab * E + layers + head
    embed = vocab * E + T * E
    if c.model == "single-head":
        width = c.head_size or E
        return embed + 3 * E * width + width * vocab + vocab
    attention = 4 * E * E + 4 * E * b
    if c.model == "multi-head":
        ff = (8 * E * E + 5 * E * b) if c.feedforward else 0
        return embed + attention + ff + E * vocab + vocab
    F = c.ff_hidden or 4 * E
    ff = 2 * E * F + (F + E) * b + ((F * F + F * b) if c.ff_variant == "gelu3" else 0)
    norms = 2 * (E + E * b)
    block = attention + ff + norms
    positions = T * E if c.positions == "learned" else 0
    lm_head = (0 if c.tie_weights else E * vocab) + vocab * b  # tying shares the weight only
    return vocab * E + positions + L * block + (E + E * b) + lm_head


def buffer_count(c):
    """Floats of the tables a transformer builds besides its parameters (positions)."""
    if c.model != "transformer" or c.positions == "learned":
        return 0
    if c.positions == "sinusoidal":
        return c.context * c.n_embd
    return c.n_layer * ROPE_POSITIONS * (c.n_embd // c.n_head)  # cos and sin, per layer


def activation_floats(c, vocab):
    """Floats kept for the backward pass per token of a micro-batch (see the docstring)."""
    E, L, H, T = c.n_embd, c.n_layer, c.hidden_size, c.context
    logits = 3 * vocab
    if c.model in ("bigram", "bigram-emb"):
        return logits + 2 * E
    if c.model == "mlp":
        return logits + 2 * (c.mlp_window or T) * E + 3 * L * H
    if c.model in ("rnn", "lstm"):
        return logits + 2 * E + L * H * (12 if c.model == "lstm" else 3)
    heads = 1 if c.model == "single-head" else c.n_head
    attention = 2 * heads * T  # the probabilities and their dropout mask, per head
    if c.model in ("single-head", "multi-head"):
        return logits + 8 * E + attention + (12 * E if c.feedforward else 0)
    F = c.ff_hidden or 4 * E
    per_layer = 12 * E + (4 if c.ff_variant == "gelu3" else 2) * F + attention
    return logits + 2 * E + L * per_layer


def training_memory(c, vocab):
    """(total bytes, weights bytes, activations bytes) to train config `c`."""
    weights = (parameter_count(c, vocab) * TRAINING_COPIES + buffer_count(c)) * FLOAT_BYTES
    tokens = c.batch_size * c.context
    activations = tokens * activation_floats(c, vocab) * FLOAT_BYTES * BACKWARD_FACTOR
    return weights + activations, weights, activations


def check_training_memory(c, vocab, available=None):
    """An InputError, with the estimate and the memory available, if training config `c`
    with a vocabulary of `vocab` cannot fit (see the module docstring)."""
    available = available_memory() if available is None else available
    if available is None or c.device != "cpu":
        return
    total, weights, activations = training_memory(c, vocab)
    if total > available:
        raise InputError(
            f"this configuration needs about {size(total)} of memory to train "
            f"({size(weights)} for {parameter_count(c, vocab):,} parameters with their "
            f"gradients and optimiser state, {size(activations)} of activations for "
            f"--batch-size {c.batch_size} x --context {c.context}), more than the "
            f"{size(available)} available; lower --batch-size, --context or the model's size")


def check_inference_memory(c, vocab, source, available=None):
    """An InputError naming `source` if the weights of config `c` alone cannot fit."""
    available = available_memory() if available is None else available
    if available is None or c.device != "cpu":
        return
    weights = (parameter_count(c, vocab) + buffer_count(c)) * FLOAT_BYTES
    if weights > available:
        raise InputError(f"{source}: its config describes {parameter_count(c, vocab):,} "
                         f"parameters, {size(weights)} of weights, more than the "
                         f"{size(available)} of memory available")


# ---------------------------------------------------------------- corpora

def check_corpus_file(path, available=None):
    """An InputError naming `path` if the file is too large to read and encode in memory."""
    nbytes = os.stat(path).st_size
    if nbytes > MAX_CORPUS_BYTES:
        raise InputError(f"{path}: {size(nbytes)}, more than the corpus limit of "
                         f"{size(MAX_CORPUS_BYTES)} per file (a corpus is read and encoded in "
                         f"memory at once); train on a part of it")
    available = available_memory() if available is None else available
    needed = nbytes * CORPUS_BYTES_PER_BYTE
    if available is not None and needed > available:
        raise InputError(f"{path}: encoding its {size(nbytes)} takes about {size(needed)} of "
                         f"memory, more than the {size(available)} available; train on a "
                         f"part of it")
