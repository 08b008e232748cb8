"""Writes docs/ops.md from the op registry, running each op's checks: python tests/make_ops_doc.py.

``tests/test_docs.py`` regenerates the table and fails when the committed file differs, so
a check that stops passing, or an op added without a case, shows up there too."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]  # run from a checkout without installing
import minigrad  # noqa: E402
from op_cases import CASES  # noqa: E402
from op_harness import CHECKS, devices  # noqa: E402

DOC = ROOT / "docs" / "ops.md"
# The CUDA column is filled in by hand from a run of `pytest -m cuda` on a GPU.
CUDA_STATUS = "not yet run on a GPU"


def _status(check, name):
    if name not in CASES:
        return "no case"
    minigrad.manual_seed(0)
    try:
        with devices(name):
            check(name)
    except AssertionError:
        return "FAIL"
    return "pass"


def render():
    lines = ["# Ops", "",
             "Every op of the engine, generated from `minigrad.REGISTRY` by "
             "`python tests/make_ops_doc.py`, which runs the checks it reports "
             "(`tests/op_harness.py`) on the cases in `tests/op_cases.py`, in float64 on the "
             "NumPy backend: the gradient of a plain `backward()` (the array fast path where "
             "the op has one) against central differences, the gradient with "
             "`create_graph=True` (the engine-op backward) against central differences, the "
             "two against each other, and second order (`gradgradcheck`). Forward values and "
             "gradients are also compared with PyTorch in `tests/test_ops.py` where it is "
             "installed, and `tests/test_planted_bugs.py` proves the checks catch wrong "
             "backward rules.", "",
             "| op | kind | derivative | fast path | engine path | paths agree | second order "
             "| cuda | defined in |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in sorted(minigrad.REGISTRY):
        info = minigrad.REGISTRY[name]
        where = info.impl.__module__.replace(".", "/") + ".py"
        derivative = info.derivative.replace("|", "\\|")
        statuses = " | ".join(_status(check, name) for check in CHECKS)
        lines.append(f"| `{name}` | {info.kind} | {derivative} | {statuses} | {CUDA_STATUS} "
                     f"| `{where}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
