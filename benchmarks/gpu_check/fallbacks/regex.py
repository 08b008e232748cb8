"""Where the `regex` package is missing (the GPU machine's image lacks it), the standard
library's `re` in its place: enough for `import tokenizers` and the character tokenizer. A
BPE pattern with Unicode classes (\\p{L}) fails with re.error, which is `regex.error` here.
Only ever on sys.path when benchmarks.gpu_check puts it there, and says so in its summary."""
from re import *  # noqa: F401,F403
from re import compile, error, escape  # noqa: F401

__version__ = "re-fallback"
