"""Keep each lesson's notebook in step with its text source.

The lessons are written as .py files in jupytext's percent format (`# %%` starts a code cell,
`# %% [markdown]` a text cell): plain text that diffs and reviews like code. Beside each is
the .ipynb a learner opens in Jupyter and a code host renders, generated from the .py
without outputs (tests/test_lessons.py runs the notebooks and fails when a pair differs):

    python docs/lessons/build.py           # write every .ipynb from its .py
    python docs/lessons/build.py --check   # exit 1, naming the notebooks that differ

With jupytext installed in Jupyter, editing either file of a pair updates the other
(the pair is declared in each lesson's header: formats ipynb,py:percent).
"""
import sys
from pathlib import Path

import jupytext

HERE = Path(__file__).resolve().parent


def sources():
    """The lessons' .py files, in course order (01_..., 02_...)."""
    return sorted(HERE.glob("[0-9][0-9]_*.py"))


def notebook_text(source):
    """The .ipynb text for ``source``: its cells, no outputs, cell ids numbered in order
    (jupytext would draw random ones, and every build would differ)."""
    notebook = jupytext.read(source)
    for number, cell in enumerate(notebook.cells, 1):
        cell.id = f"{source.stem[:2]}-{number:02d}"
    return jupytext.writes(notebook, fmt="ipynb")


def stale():
    """The notebooks that are missing or differ from what their .py gives."""
    out = []
    for source in sources():
        notebook = source.with_suffix(".ipynb")
        if not notebook.is_file() or notebook.read_text(encoding="utf-8") != notebook_text(source):
            out.append(notebook)
    return out


def main(argv):
    if argv == ["--check"]:
        names = [p.name for p in stale()]
        print("\n".join(f"{n} differs from its .py: run python docs/lessons/build.py"
                        for n in names) or "every notebook matches its .py")
        return 1 if names else 0
    if argv:
        print(__doc__)
        return 2
    for source in sources():
        source.with_suffix(".ipynb").write_text(notebook_text(source), encoding="utf-8")
    print(f"wrote {len(sources())} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
