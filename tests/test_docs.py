"""Generated documentation stays in step with the code."""
import minigrad
from make_ops_doc import DOC, render
from minigrad.viz import to_dot


def test_ops_doc_is_up_to_date():
    assert DOC.read_text() == render(), "docs/ops.md is stale: run python tests/make_ops_doc.py"


def test_graph_drawing_names_ops_and_leaves():
    w = minigrad.randn(3, requires_grad=True)
    dot = to_dot((w * 2).sum(), names={w: "w"})
    assert '"w"' in dot and "Mul" in dot and "Sum" in dot and "->" in dot
