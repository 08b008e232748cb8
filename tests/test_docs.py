"""Generated documentation stays in step with the code."""
import minigrad
from make_ops_doc import DOC, render
from minigrad.viz import to_dot


def test_ops_doc_is_up_to_date():
    assert DOC.read_text() == render(), "docs/ops.md is stale: run python tests/make_ops_doc.py"


def test_graph_drawing_names_ops_and_leaves():
    w = minigrad.randn(3, requires_grad=True)
    dot = to_dot((w * 2).sum(), names={w: "w"})
    assert '"w (3,)"' in dot and "Mul" in dot and "Sum" in dot and "->" in dot


READING = DOC.parent / "reading.md"


def test_reading_tour_links_point_at_what_they_name():
    from doc_links import check, links
    assert len(links(READING)) >= 30
    assert check(READING) == [], "run python tests/doc_links.py docs/reading.md"


def test_link_check_catches_moved_renamed_and_out_of_range_links(tmp_path):
    from doc_links import check
    doc = tmp_path / "doc.md"
    code = tmp_path / "code.py"
    code.write_text("class A:\n    def f(self):\n        pass\n")
    doc.write_text("[`A.f`](code.py#L2) [`A.f`](code.py#L1) [`A.g`](code.py#L2) [`A`](code.py#L9)")
    problems = check(doc)
    assert len(problems) == 3
    assert "now at line 2" in problems[0] and "renamed" in problems[1] and "past the end" in problems[2]
