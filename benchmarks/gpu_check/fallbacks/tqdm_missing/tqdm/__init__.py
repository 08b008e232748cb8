"""Where the `tqdm` package is missing (the GPU machine's image lacks it), a stand-in with
the little of its interface that models/progress.py uses: a bar that prints a plain line
every `miniters` steps. Only ever on sys.path when benchmarks.gpu_check puts it there (the
folder tqdm_missing/, so it never shadows an installed tqdm), and says so in its summary."""
from tqdm.std import TqdmWarning, tqdm  # noqa: F401

__version__ = "gpu-check-fallback"
