"""The graph drawing: op names, shapes, values and gradients; SVG with Graphviz, text without."""
import shutil

import numpy as np
import pytest

import minigrad as mg
from minigrad import viz


def _scalar_graph():
    a = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)
    b = mg.tensor(-3.0, dtype=mg.float64, requires_grad=True)
    loss = ((a * b + a) * 0.2).tanh()
    return a, b, loss


def test_text_tree_shows_ops_shapes_and_draws_a_shared_node_once():
    x = mg.randn(4, 3, requires_grad=True)
    text = str(viz.draw((x @ x.T).relu().sum(), names={x: "x"}))
    assert text.splitlines()[0] == "#1 Sum ()"
    assert "ReLU (4, 4)" in text and "MatMul (4, 4)" in text and "Permute (3, 4)" in text
    assert text.count("x (4, 3)") == 1 and "(drawn above)" in text


def test_values_and_gradients_on_every_node_match_the_engine():
    a, b, loss = _scalar_graph()
    text = str(viz.draw(loss, names={a: "a", b: "b"}, values=True, grads=True))
    ga, gb = mg.grad(loss, [a, b])
    assert f"a ()  value 2  grad {ga.item():.4g}" in text
    assert f"b ()  value -3  grad {gb.item():.4g}" in text
    assert f"Tanh ()  value {loss.item():.4g}  grad 1" in text
    assert "constant ()  value 0.2" in text
    assert a.grad is None  # drawing computes gradients without accumulating them


def test_large_tensors_show_their_norm():
    x = mg.randn(5, 5, requires_grad=True)
    assert f"norm {np.linalg.norm(x.numpy()):.4g}" in str(viz.draw(x.tanh(), values=True))


def test_gradients_need_a_scalar_root():
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"the root has shape \(3,\)"):
        viz.draw(x * 2, grads=True)


def test_without_graphviz_a_notebook_falls_back_to_the_text(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    _, _, loss = _scalar_graph()
    graph = viz.draw(loss)
    assert graph._repr_svg_() is None and repr(graph).startswith("#1 Tanh")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_with_graphviz_a_notebook_gets_svg():
    a, _, loss = _scalar_graph()
    svg = viz.draw(loss, names={a: "a"}, values=True, grads=True)._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "Tanh" in svg
