"""Draw the recorded graph of a tensor as Graphviz DOT text (``dot -Tpng``)."""
from minigrad.autograd import _topological_order


def to_dot(root, names=None):
    """DOT source of the graph below ``root``: one box per op, one ellipse per leaf.

    ``names`` maps tensors to labels (e.g. ``{w: 'w', x: 'x'}``); other leaves show their
    shape."""
    names = {id(t): n for t, n in (names or {}).items()}
    lines = ["digraph minigrad {", "  rankdir=LR;"]
    for node in _topological_order(root):
        label = names.get(id(node), f"{node.shape}")
        if node._fn is None:
            lines.append(f'  n{id(node)} [label="{label}", shape=ellipse];')
        else:
            lines.append(f'  n{id(node)} [label="{node._fn.name}\\n{node.shape}", shape=box];')
            for inp in node._inputs:
                if inp.requires_grad:
                    lines.append(f"  n{id(inp)} -> n{id(node)};")
    lines.append("}")
    return "\n".join(lines)
