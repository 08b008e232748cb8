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

DOC = ROOT / "docs" / "ops.md"
# The CUDA column is filled in by hand from a run of `pytest -m cuda` on a GPU.
CUDA_STATUS = "not yet run on a GPU"


def _status(check, name):
    if name not in CASES:
        return "no case"
    fn, make, *options = CASES[name]
    minigrad.manual_seed(0)
    ok = check(fn, make(), raise_exception=False, **(options[0] if options else {}))
    return "pass" if ok else "FAIL"


def render():
    lines = ["# Ops", "",
             "Every op of the engine, generated from `minigrad.REGISTRY` by "
             "`python tests/make_ops_doc.py`, which runs the checks it reports: float64 "
             "central differences (`gradcheck`, full Jacobian) and second order "
             "(`gradgradcheck`) on the NumPy backend, from the cases in `tests/op_cases.py`. "
             "Forward values and gradients are also compared with PyTorch in "
             "`tests/test_ops.py` where it is installed.", "",
             "| op | kind | derivative | first order (numpy) | second order (numpy) | cuda | defined in |",
             "|---|---|---|---|---|---|---|"]
    for name in sorted(minigrad.REGISTRY):
        info = minigrad.REGISTRY[name]
        where = info.impl.__module__.replace(".", "/") + ".py"
        derivative = info.derivative.replace("|", "\\|")
        lines.append(f"| `{name}` | {info.kind} | {derivative} | "
                     f"{_status(minigrad.gradcheck, name)} | "
                     f"{_status(minigrad.gradgradcheck, name)} | {CUDA_STATUS} | `{where}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
