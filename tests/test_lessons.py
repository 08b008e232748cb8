"""The course in docs/lessons/ runs: each notebook top to bottom in a fresh kernel (the
exercises' unsolved cells report, they do not fail), each .ipynb matches its .py source,
every exercise is used by a lesson, and the lessons' links into the code point at what
they name. Skipped where the notebook packages (the test extra) are missing."""
import importlib.util
import re
import sys
import time
from pathlib import Path

import pytest

from doc_links import check as check_links
from minigrad.learn import EXERCISES

LESSONS = Path(__file__).resolve().parent.parent / "docs" / "lessons"
SOURCES = sorted(LESSONS.glob("[0-9][0-9]_*.py"))
LIMIT_SECONDS = 120  # each lesson runs in well under a minute on 2 cores; this catches runaways


def _build_module():
    pytest.importorskip("jupytext")
    spec = importlib.util.spec_from_file_location("lessons_build", LESSONS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _execute(notebook):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    client = nbclient.NotebookClient(notebook, timeout=LIMIT_SECONDS, kernel_name="python3",
                                     resources={"metadata": {"path": str(LESSONS)}})
    return client.execute()


def test_there_are_ten_lessons():
    assert [p.name[:2] for p in SOURCES] == [f"{n:02d}" for n in range(1, 11)]


def test_the_kernel_is_this_python():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, minigrad; print(sys.executable)")])
    out = _execute(notebook).cells[0].outputs[0]["text"].strip()
    assert Path(out).resolve() == Path(sys.executable).resolve()


def test_every_notebook_matches_its_source():
    assert _build_module().stale() == [], "run python docs/lessons/build.py"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_lesson_runs_top_to_bottom(source):
    nbformat = pytest.importorskip("nbformat")
    if "live_plot=True" in source.read_text():
        pytest.importorskip("matplotlib")  # the plot extra
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    began = time.perf_counter()
    _execute(notebook)
    seconds = time.perf_counter() - began
    print(f"{source.stem}: {seconds:.1f} s")
    assert seconds < LIMIT_SECONDS


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_lesson_ends_with_a_gradient_check(source):
    jupytext = pytest.importorskip("jupytext")
    code = [c.source for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert re.search(r"\b(gradcheck|gradgradcheck)\(", code[-1]), code[-1]


def test_every_exercise_is_in_its_lesson():
    for name, exercise in EXERCISES.items():
        lesson = SOURCES[exercise.lesson - 1]
        assert f'check("{name}"' in lesson.read_text(), f"{lesson.name} lacks check({name!r}, ...)"


def test_links_into_the_code_point_at_what_they_name():
    problems = [p for source in SOURCES for p in check_links(source)]
    assert problems == [], "run python tests/doc_links.py docs/lessons/*.py"


def test_lessons_and_the_reading_tour_point_at_each_other():
    reading = (LESSONS.parent / "reading.md").read_text()
    assert "lessons/README.md" in reading
    index = (LESSONS / "README.md").read_text()
    assert "../reading.md" in index
    for source in SOURCES:
        assert f"({source.stem}.ipynb)" in index, f"docs/lessons/README.md lacks {source.stem}"
