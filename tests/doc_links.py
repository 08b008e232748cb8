"""Links from the docs into the code, kept pointing at what they name.

A link such as [`Mul.backward`](../minigrad/ops/arithmetic.py#L51) names a symbol (a
function, a class, or ``Class.method``) in its text and a line in its target. ``check``
lists the links whose line is past the end of the file or is no longer where the symbol is
defined (it moved, or was renamed); ``python tests/doc_links.py docs/reading.md`` rewrites
the line numbers of the links whose symbol still exists.
"""
import ast
import re
import sys
from pathlib import Path

LINK = re.compile(r"\[`(?P<symbol>[A-Za-z_][\w.]*)(?:\(\))?`\]\((?P<path>[^)#]+\.py)#L(?P<line>\d+)\)")


def definition_line(path, symbol):
    """The line where ``symbol`` ('name' or 'Class.name') is defined in ``path``, or None."""
    scope = ast.parse(Path(path).read_text()).body
    node = None
    for part in symbol.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        scope = node.body
    return node.lineno


def links(doc):
    """(match, target path) of every symbol link in the Markdown file ``doc``."""
    doc = Path(doc)
    return [(m, (doc.parent / m["path"]).resolve()) for m in LINK.finditer(doc.read_text())]


def check(doc):
    """Messages for the links of ``doc`` that no longer point at their symbol."""
    problems = []
    for m, target in links(doc):
        where = f"{Path(doc).name}: [{m['symbol']}]({m['path']}#L{m['line']})"
        if not target.is_file():
            problems.append(f"{where}: no such file")
            continue
        lines = len(target.read_text().splitlines())
        line = definition_line(target, m["symbol"])
        if int(m["line"]) > lines:
            problems.append(f"{where}: past the end of the file ({lines} lines)")
        elif line is None:
            problems.append(f"{where}: {m['symbol']} is not defined there (renamed?)")
        elif line != int(m["line"]):
            problems.append(f"{where}: {m['symbol']} is now at line {line}")
    return problems


def refresh(doc):
    """Rewrite the line numbers of ``doc``'s links to where their symbols are defined."""
    doc = Path(doc)

    def fix(m):
        line = definition_line((doc.parent / m["path"]).resolve(), m["symbol"])
        return m[0] if line is None else m[0].replace(f"#L{m['line']})", f"#L{line})")
    doc.write_text(LINK.sub(fix, doc.read_text()))


if __name__ == "__main__":
    for name in sys.argv[1:]:
        refresh(name)
        print("\n".join(check(name)) or f"{name}: every link points at its symbol")
