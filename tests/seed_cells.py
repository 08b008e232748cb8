"""The code cells of the seed documents (``<repo>/../shared/seeds``), read at test time so
that no copy of them lives in the project.

Two layouts occur: exported notebooks, where a cell starts at a line ``In [N]:`` and its
code is followed by its printed output and by the next markdown; and markdown with
```python fences. For the first, a cell's code is the longest run of its lines, from the
top, that parses as Python: output ("Epoch 1, Loss: 5.03") and prose do not."""
import ast
import re
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"

_CELL_START = re.compile(r"^In \[[^\]]*\]:\s*$", re.M)
_FENCE = re.compile(r"```python\n(.*?)```", re.S)


def seed_text(prefix):
    """The text of the seed document whose file name starts with ``prefix`` ("000"), or
    None when the seeds are not beside this checkout."""
    found = sorted(SEEDS.glob(f"{prefix}_*.txt")) if SEEDS.is_dir() else []
    return found[0].read_text(encoding="utf-8") if found else None


def _parses(lines):
    try:
        ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    return True


def _code_prefix(chunk):
    lines = chunk.splitlines()
    for end in range(len(lines), 0, -1):
        if _parses(lines[:end]):
            return "\n".join(lines[:end]).strip("\n")
    return ""


def notebook_cells(text):
    """Code of each ``In [..]:`` cell, in document order."""
    starts = [m.end() for m in _CELL_START.finditer(text)]
    ends = [m.start() for m in _CELL_START.finditer(text)][1:] + [len(text)]
    return [_code_prefix(text[a:b]) for a, b in zip(starts, ends)]


def fenced_cells(text):
    """Code of each ```python block, in document order."""
    return _FENCE.findall(text)

