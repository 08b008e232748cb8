"""FLOP and parameter counts for the benchmark models. Pure Python: no torch, no numpy.

A multiply-add counts as 2 FLOPs. A training step (forward + backward) costs 3x the forward:
the backward of a matmul Y = X W is two matmuls of the same size (dX = dY W^T, dW = X^T dY).
Element-wise work (LayerNorm, GELU, softmax, AdamW, ...) is not counted: these counts measure
how close a step comes to the machine's matmul ceiling, not how much work it does in total.

GPT (decoder-only, nanoGPT/PaLM convention), per training step:

    N     = 12 * L * C**2 + C * V          matmul weights: per block q,k,v (3C^2), attention
                                           output (C^2), feed-forward (4C^2 + 4C^2); plus the
                                           head (C*V, counted even when tied to the embedding).
                                           Token/positional embeddings are lookups, not matmuls.
    FLOPs = 6 * N * tokens + 12 * L * T * C * tokens,     tokens = B * T

The second term is attention: per token and layer, q @ k^T and att @ v are 2*T*C multiply-adds
each in the forward (4*T*C FLOPs; x3 for forward + backward = 12*T*C), counted over the full
T x T square, without discount for the causal mask.

LSTM language model (embedding E, L layers of hidden H, head V), per training step:

    N     = sum over layers l of 4H * (E_l + H)  +  H * V      E_0 = E, E_l = H for l >= 1
    FLOPs = 6 * N * tokens,                               tokens = B * T (loss at every position)

Each layer computes the four gates [i, f, g, o] = x W_ih^T + h W_hh^T per token (4H x (E_l+H)
multiply-adds); the head is one H x V matmul per token. Gate non-linearities, the cell update
and biases are left out (O(H) per token against O(H*(E+H)) above), so the count is
approximate, slightly low.
"""

__all__ = [
    "gpt_matmul_params",
    "gpt_param_count",
    "gpt_train_flops",
    "lstm_matmul_params",
    "lstm_param_count",
    "lstm_train_flops",
    "train_step_flops",
    "tokens_per_step",
    "matmul_flops",
    "op_flops",
]


# ---------------------------------------------------------------------------------- GPT
def gpt_matmul_params(n_layer, n_embd, vocab_size):
    """Matmul weights N of the GPT: 12*L*C^2 + C*V (embeddings excluded, head included)."""
    return 12 * n_layer * n_embd * n_embd + n_embd * vocab_size


def gpt_param_count(vocab_size, block_size, n_layer, n_embd, bias=True, tie_weights=False):
    """Every trainable scalar of `torch_ref.GPT` (and of the matching minigrad model).

    With C = n_embd, V = vocab_size, T = block_size, L = n_layer:
        embeddings   V*C (token) + T*C (position)
        per block    12*C^2 matmul weights + 2*C LayerNorm weights; with bias + 11*C
                     (q,k,v 3C, attention output C, fc 4C, fc out C, two LayerNorms 2C)
        final LN     C weight (+ C bias)
        head         C*V weight unless tied to the token embedding (+ V bias with bias)
    """
    c, v = n_embd, vocab_size
    per_block = 12 * c * c + 2 * c + (11 * c if bias else 0)
    total = v * c + block_size * c + n_layer * per_block
    total += c + (c if bias else 0)
    if not tie_weights:
        total += c * v
    if bias:
        total += v
    return total


def gpt_train_flops(vocab_size, block_size, n_layer, n_embd, batch_size, seq_len=None):
    """FLOPs of one GPT training step: 6*N*tokens + 12*L*T*C*tokens, tokens = B*T.

    T is `seq_len` when given (a batch shorter than the context), else `block_size`.
    """
    t = block_size if seq_len is None else seq_len
    tokens = batch_size * t
    n = gpt_matmul_params(n_layer, n_embd, vocab_size)
    return 6 * n * tokens + 12 * n_layer * t * n_embd * tokens


# ---------------------------------------------------------------------------------- LSTM
def lstm_matmul_params(vocab_size, emb_dim, hidden_size, num_layers=1):
    """Matmul weights of the LSTM LM: sum_l 4H(E_l + H) + H*V (embedding excluded)."""
    n = 0
    for layer in range(num_layers):
        in_dim = emb_dim if layer == 0 else hidden_size
        n += 4 * hidden_size * (in_dim + hidden_size)
    return n + hidden_size * vocab_size


def lstm_param_count(vocab_size, emb_dim, hidden_size, num_layers=1):
    """Every trainable scalar of `torch_ref.LSTMLM`: embedding V*E; per layer
    4H(E_l + H) weights + 8H biases (PyTorch keeps b_ih and b_hh apart); head H*V + V."""
    n = vocab_size * emb_dim
    for layer in range(num_layers):
        in_dim = emb_dim if layer == 0 else hidden_size
        n += 4 * hidden_size * (in_dim + hidden_size) + 8 * hidden_size
    return n + hidden_size * vocab_size + vocab_size


def lstm_train_flops(vocab_size, emb_dim, hidden_size, num_layers, seq_len, batch_size):
    """Approximate FLOPs of one LSTM LM training step: 6 * N * tokens, tokens = B*T."""
    n = lstm_matmul_params(vocab_size, emb_dim, hidden_size, num_layers)
    return 6 * n * batch_size * seq_len


# ---------------------------------------------------------------------------------- configs
def tokens_per_step(cfg):
    """Tokens predicted per step for a config dict (`torch_ref.CONFIGS` entry): B*T."""
    if cfg["kind"] == "gpt":
        return cfg["batch_size"] * cfg["block_size"]
    if cfg["kind"] == "lstm":
        return cfg["batch_size"] * cfg["seq_len"]
    raise ValueError(f"unknown model kind {cfg['kind']!r} (expected 'gpt' or 'lstm')")


def train_step_flops(cfg):
    """FLOPs of one training step for a config dict (`torch_ref.CONFIGS` entry)."""
    if cfg["kind"] == "gpt":
        return gpt_train_flops(cfg["vocab_size"], cfg["block_size"], cfg["n_layer"],
                               cfg["n_embd"], cfg["batch_size"])
    if cfg["kind"] == "lstm":
        return lstm_train_flops(cfg["vocab_size"], cfg["emb_dim"], cfg["hidden_size"],
                                cfg["num_layers"], cfg["seq_len"], cfg["batch_size"])
    raise ValueError(f"unknown model kind {cfg['kind']!r} (expected 'gpt' or 'lstm')")


# ---------------------------------------------------------------------------------- ops
def matmul_flops(m, k, n, batch=1):
    """Forward FLOPs of a (batch of) (m, k) @ (k, n) matmul: 2*batch*m*k*n."""
    return 2 * batch * m * k * n


def op_flops(name, size, mode="fwd"):
    """Matmul FLOPs of one call of a micro-benchmark op (see `torch_worker` for the sizes),
    or None for element-wise ops. mode 'fwdbwd' counts forward + backward (3x forward)."""
    if name == "matmul":
        m, k, n = size
        fwd = matmul_flops(m, k, n)
    elif name == "bmm":
        b, m, k, n = size
        fwd = matmul_flops(m, k, n, batch=b)
    elif name in ("attention", "sdpa"):
        b, h, t, hs = size
        fwd = 2 * matmul_flops(t, hs, t, batch=b * h)       # q @ k^T and att @ v
    elif name == "lstm_cell":
        b, e, h = size
        fwd = matmul_flops(b, e + h, 4 * h)
    elif name == "lstm":
        t, b, e, h = size
        fwd = t * matmul_flops(b, e + h, 4 * h)
    else:
        return None
    if mode == "fwd":
        return fwd
    if mode == "fwdbwd":
        return 3 * fwd
    raise ValueError(f"unknown mode {mode!r} (expected 'fwd' or 'fwdbwd')")
