"""Seed 001's figures of the sinusoidal positional encoding, drawn from the engine's own
table (minigrad.nn.SinusoidalPositionalEncoding):

    left    the table as a heatmap: positions 0..99 down, dimensions 0..127 across
    right   the encoding of positions 0, 10, 20 and 50 over the first 64 dimensions

    PE[p, 2i] = sin(p / 10000^(2i/d)),   PE[p, 2i+1] = cos(p / 10000^(2i/d))

The first dimensions turn fastest (wavelength 2 pi at i = 0) and the last slowest (up to
10000 * 2 pi), so every position gets its own pattern, and PE[p + k] is a fixed rotation
of PE[p] in each (sin, cos) pair, whatever p: what lets attention pick out relative offsets.

    minigrad plot --positional                   # positional.png here
    minigrad plot --positional --out pe.png --max-len 200 --d-model 64
"""
from minigrad import nn

from models.plot import _require_pyplot, _save
from models.validation import Int

MAX_LEN, D_MODEL = 100, 128          # seed 001's figure
POSITIONS, DIMS_SHOWN = (0, 10, 20, 50), 64


def sinusoidal_table(max_len=MAX_LEN, d_model=D_MODEL):
    """The encoding table (max_len, d_model) as a NumPy array."""
    return nn.SinusoidalPositionalEncoding(d_model, max_len).pe.numpy()


def plot_sinusoidal(png_path, max_len=MAX_LEN, d_model=D_MODEL, positions=POSITIONS):
    """Draw the heatmap and the line plots into one PNG; returns its path."""
    bad = [p for p in positions if not 0 <= p < max_len]
    if bad:
        raise ValueError(f"--max-len {max_len}: positions {bad} are not in the table")
    table = sinusoidal_table(max_len, d_model)
    plt = _require_pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    image = left.imshow(table, aspect="auto", cmap="RdBu")
    left.set(xlabel="dimension", ylabel="position",
             title=f"sinusoidal positional encoding ({max_len} x {d_model})")
    fig.colorbar(image, ax=left)
    shown = min(DIMS_SHOWN, d_model)
    for p in positions:
        right.plot(table[p, :shown], label=f"position {p}", alpha=0.8)
    right.set(xlabel="dimension", ylabel="value",
              title=f"positions {', '.join(map(str, positions))}: first {shown} dimensions")
    right.grid(alpha=0.3)
    right.legend()
    return _save(fig, png_path, plt)


def add_arguments(parser):
    """The `minigrad plot` flags of these figures."""
    group = parser.add_argument_group("the sinusoidal encoding (seed 001)")
    group.add_argument("--positional", action="store_true",
                       help=f"draw it: a heatmap of {MAX_LEN} positions x {D_MODEL} dimensions "
                       f"and positions {', '.join(map(str, POSITIONS))}")
    group.add_argument("--max-len", type=Int(2, 100_000).parse, default=MAX_LEN,
                       help=f"positions drawn (default {MAX_LEN})")
    group.add_argument("--d-model", type=Int(2, 100_000).parse, default=D_MODEL,
                       help=f"dimensions, even (default {D_MODEL})")
    group.add_argument("--out", default="positional.png",
                       help="the PNG to write (default positional.png)")


def run(args):
    """`minigrad plot --positional`: returns the path written."""
    if args.d_model % 2:
        raise ValueError(f"--d-model must be even (sin and cos pairs), got {args.d_model}")
    return plot_sinusoidal(args.out, args.max_len, args.d_model)
