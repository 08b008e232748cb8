"""Keep each lesson's notebook in step with its text source.

The lessons are written as .py files in jupytext's percent format (`# %%` starts a code cell,
`# %% [markdown]` a text cell): plain text that diffs and reviews like code. Beside each is
the .ipynb a learner opens in Jupyter and a code host renders, generated from the .py and
run top to bottom, so that it shows its outputs (tests/test_lessons.py runs the notebooks
again, and fails when a notebook's cells differ from its .py):

    python docs/lessons/build.py              # write and run every notebook (about a minute)
    python docs/lessons/build.py 09           # only the lessons whose names start so
    python docs/lessons/build.py --check      # exit 1, naming the notebooks that differ

With jupytext installed in Jupyter, editing either file of a pair updates the other
(the pair is declared in each lesson's header: formats ipynb,py:percent).
"""
import re
import sys
from pathlib import Path

import jupytext
import nbformat

HERE = Path(__file__).resolve().parent


def sources():
    """The lessons' .py files, in course order (01_..., 02_...)."""
    return sorted(HERE.glob("[0-9][0-9]_*.py"))


def notebook(source):
    """The notebook of ``source``, cell ids numbered in order (jupytext would draw random
    ones, and every build would differ)."""
    nb = jupytext.read(source)
    for number, cell in enumerate(nb.cells, 1):
        cell.id = f"{source.stem[:2]}-{number:02d}"
    return nb


def run(nb):
    """Execute ``nb`` in a fresh kernel, in this folder, and tidy its outputs."""
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = _joined_streams(cell.outputs)
    return nb


def _joined_streams(outputs):
    """Consecutive pieces of one stream as one output, as a screen would show them."""
    joined = []
    for out in outputs:
        prev = joined[-1] if joined else None
        if (out.output_type == "stream" and prev is not None and prev.output_type == "stream"
                and prev.name == out.name):
            prev.text += out.text
        else:
            joined.append(out)
    for out in joined:
        if out.output_type == "stream":
            out.text = _redrawn(out.text)
    return [out for out in joined if out.output_type != "stream" or out.text.strip()]


def _redrawn(text):
    """Terminal text as it ends up on screen: a line redrawn after carriage returns (a
    progress bar) keeps only its last drawing."""
    lines = []
    for line in text.split("\n"):
        drawings = [d for d in re.split(r"\r", line) if d.strip()]
        lines.append(drawings[-1].rstrip() if drawings else "")
    return "\n".join(lines)


def _cells(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def stale():
    """The notebooks that are missing or whose cells differ from their .py."""
    out = []
    for source in sources():
        path = source.with_suffix(".ipynb")
        if not path.is_file() or _cells(nbformat.read(path, as_version=4)) != _cells(notebook(source)):
            out.append(path)
    return out


def main(argv):
    if argv == ["--check"]:
        names = [p.name for p in stale()]
        print("\n".join(f"{n} differs from its .py: run python docs/lessons/build.py"
                        for n in names) or "every notebook matches its .py")
        return 1 if names else 0
    chosen = [s for s in sources() if not argv or any(s.name.startswith(a) for a in argv)]
    if not chosen:
        print(__doc__)
        return 2
    for source in chosen:
        text = jupytext.writes(run(notebook(source)), fmt="ipynb")
        source.with_suffix(".ipynb").write_text(text, encoding="utf-8")
        print(f"wrote {source.with_suffix('.ipynb').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
