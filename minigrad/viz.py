"""Draw the recorded graph below a tensor: op names, shapes, optionally values and gradients.

    draw(loss, names={w: "w"}, values=True, grads=True)

returns a ``Graph`` that a notebook shows as SVG when Graphviz's ``dot`` is installed, and as
a text tree otherwise (``print(graph)`` always gives the tree; ``graph.dot`` the DOT source).
``grads=True`` computes d root / d node for every node with ``minigrad.grad`` (``root`` must
have one element), without touching any ``.grad``.
"""
import shutil
import subprocess

import numpy as np

from minigrad.autograd import _topological_order, grad

SHOWN_ELEMENTS = 6  # a tensor with more elements shows its norm instead of its values


def _nodes(root):
    """Every tensor of the graph, each after its inputs: the recorded ones, and the
    constants (no grad) that ops read."""
    recorded = _topological_order(root)
    seen, order = set(), []
    for node in recorded:
        for inp in node._inputs if node._fn is not None else ():
            if not inp.requires_grad and id(inp) not in seen:
                seen.add(id(inp))
                order.append(inp)
        seen.add(id(node))
        order.append(node)
    return order


def _numbers(array):
    a = np.asarray(array, dtype=np.float64)
    if a.size <= SHOWN_ELEMENTS:
        if a.ndim == 0:
            return f"{float(a):.4g}"
        text = np.array2string(a, separator=" ", formatter={"float_kind": lambda v: f"{v:.4g}"})
        return text.replace("\n", "")
    return f"norm {np.linalg.norm(a):.4g}"


def _grads(root, nodes):
    if root.numel() != 1:
        raise ValueError(f"draw(grads=True): the root has shape {root.shape}; gradients on "
                         "the nodes need a root with one element (a loss)")
    wanted = [n for n in nodes if n.requires_grad]
    found = grad(root, wanted, allow_unused=True)
    return {id(n): g for n, g in zip(wanted, found) if g is not None}


class Graph:
    """The graph below ``root``; see the module docstring."""

    def __init__(self, root, names=None, values=False, grads=False):
        self.root = root
        self.names = {id(t): n for t, n in (names or {}).items()}
        self.nodes = _nodes(root)
        self.values = values
        self.grads = _grads(root, self.nodes) if grads else {}

    def label(self, node, sep):
        """Name or op, shape, and the value and gradient where asked for."""
        if id(node) in self.names:
            head = self.names[id(node)]
        elif node._fn is not None:
            head = node._fn.name
        else:
            head = "input" if node.requires_grad else "constant"
        parts = [f"{head} {tuple(node.shape)}"]
        if self.values:
            parts.append(f"value {_numbers(node.data)}")
        if id(node) in self.grads:
            parts.append(f"grad {_numbers(self.grads[id(node)].data)}")
        return sep.join(parts)

    @property
    def dot(self):
        lines = ["digraph minigrad {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
        for node in self.nodes:
            label = self.label(node, "\\n").replace('"', "'")
            shape = "box" if node._fn is not None else (
                "ellipse" if node.requires_grad else "plaintext")
            lines.append(f'  n{id(node)} [label="{label}", shape={shape}];')
            for inp in node._inputs if node._fn is not None else ():
                lines.append(f"  n{id(inp)} -> n{id(node)};")
        lines.append("}")
        return "\n".join(lines)

    def text(self):
        """The graph as an indented tree, root first; a node used twice is drawn once and
        then referred to by its number."""
        lines, number = [], {}
        stack = [(self.root, 0)]
        while stack:
            node, depth = stack.pop()
            if id(node) in number:
                lines.append(f"{'    ' * depth}#{number[id(node)]} (drawn above)")
                continue
            number[id(node)] = len(number) + 1
            tag = f"#{number[id(node)]}"
            lines.append(f"{'    ' * depth}{tag} {self.label(node, '  ')}")
            inputs = node._inputs if node._fn is not None else ()
            stack.extend((inp, depth + 1) for inp in reversed(inputs))
        return "\n".join(lines)

    __str__ = __repr__ = text

    def svg(self):
        """SVG text from Graphviz's ``dot``, or None where it is not installed."""
        exe = shutil.which("dot")
        if exe is None:
            return None
        done = subprocess.run([exe, "-Tsvg"], input=self.dot, capture_output=True, text=True,
                              timeout=60, check=True)
        return done.stdout

    def _repr_svg_(self):
        # Jupyter shows the SVG when there is one, and the text tree (repr) when this is None.
        return self.svg()


def draw(root, names=None, values=False, grads=False):
    """A ``Graph`` of everything ``root`` was computed from (see the module docstring)."""
    return Graph(root, names, values, grads)


def to_dot(root, names=None):
    """DOT source of the graph below ``root`` (``dot -Tpng``): a box per op, an ellipse per
    leaf. ``names`` maps tensors to labels (e.g. ``{w: 'w', x: 'x'}``); other leaves show
    their shape."""
    return Graph(root, names).dot
