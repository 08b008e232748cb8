"""Writes docs/ops.md from the op registry: python tests/make_ops_doc.py.

``tests/test_docs.py`` fails when the committed file is out of date."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing
import minigrad  # noqa: E402

DOC = ROOT / "docs" / "ops.md"


def render():
    lines = ["# Ops", "",
             "Every op of the engine, generated from `minigrad.REGISTRY` by "
             "`python tests/make_ops_doc.py`. Each one is gradient-checked (first and second "
             "order) in `tests/test_ops.py` from its case in `tests/op_cases.py`.", "",
             "| op | kind | derivative | defined in |", "|---|---|---|---|"]
    for name in sorted(minigrad.REGISTRY):
        info = minigrad.REGISTRY[name]
        where = info.impl.__module__.replace(".", "/") + ".py"
        derivative = info.derivative.replace("|", "\\|")
        lines.append(f"| `{name}` | {info.kind} | {derivative} | `{where}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
    sys.exit(0)
