"""The shape of the engine that DESIGN.md promises, checked on the source: the ops import
one another in one direction, only the backend room tells CPU from GPU, each op's public
function sits beneath its class, and no file grows into two ideas."""
import ast
from pathlib import Path

import pytest

import minigrad
from minigrad import REGISTRY
from minigrad.autograd import Function

ROOT = Path(minigrad.__file__).resolve().parent
OPS = ROOT / "ops"
#: The modules of minigrad/ops in the order of their docstring: each imports only earlier ones.
OPS_ORDER = ["base", "broadcast", "arithmetic", "elementwise", "convert", "reduce", "index",
             "shape", "scan", "linalg", "softmax", "layer_norm", "activations", "attention",
             "recurrent", "embedding"]


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _minigrad_imports(node):
    """Names of the minigrad modules an import statement brings in."""
    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("minigrad"):
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("minigrad")]
    return []


def test_every_ops_module_is_in_the_order():
    assert sorted(p.stem for p in OPS.glob("*.py") if p.stem != "__init__") == sorted(OPS_ORDER)


@pytest.mark.parametrize("module", OPS_ORDER)
def test_ops_import_only_earlier_ops_and_only_at_the_top(module):
    tree = _tree(OPS / f"{module}.py")
    earlier = {f"minigrad.ops.{m}" for m in OPS_ORDER[:OPS_ORDER.index(module)]}
    for node in ast.walk(tree):
        names = _minigrad_imports(node)
        if not names:
            continue
        assert node in tree.body, f"ops/{module}.py line {node.lineno}: import inside a function"
        for name in names:
            if name.startswith("minigrad.ops."):
                target = ".".join(name.split(".")[:3])
                assert target in earlier, f"ops/{module}.py imports {target}, not listed before it"


def _python_files():
    return sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_engine_file_holds_two_ideas(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 420, f"{path.relative_to(ROOT)} has {lines} lines: split it by concept"


def test_only_the_backend_room_tells_cpu_from_gpu():
    """Outside minigrad/backend* (and the NCCL process group, which DESIGN.md lets
    minigrad/distributed reach through CuPy), no module imports a kernel set or CuPy, and no
    op, layer or optimizer compares device strings: they ask ``backend.kernels(array)``."""
    offenders = []
    for path in _python_files():
        rel = path.relative_to(ROOT)
        if rel.parts[0].startswith("backend") or rel.parts == ("distributed", "nccl.py"):
            continue
        for node in ast.walk(_tree(path)):
            names = _minigrad_imports(node) + (
                [a.name for a in node.names] if isinstance(node, ast.Import) else
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{rel}: imports {n}" for n in names
                          if n.split(".")[-1] in ("backend_cpu", "backend_cuda", "cupy", "cupyx")]
        if rel.parts[0] in ("ops", "optim", "nn") or rel.name in ("amp.py", "functional.py"):
            text = path.read_text()
            offenders += [f"{rel}: {s}" for s in ('== "cpu"', '!= "cpu"', "device_of(") if s in text]
    assert not offenders, offenders


def test_every_public_op_function_sits_beneath_its_class():
    """An op's public function is defined in the same module as its Function class,
    after it: 'go to definition' lands next to the forward and backward."""
    import minigrad.ops as ops
    for name, info in REGISTRY.items():
        if not (isinstance(info.impl, type) and issubclass(info.impl, Function)):
            continue
        public = getattr(ops, name, None)
        if public is None:  # pow_scalar: reached through pow
            continue
        assert public.__module__ == info.impl.__module__, (name, public.__module__)
        source = Path(__import__(info.impl.__module__, fromlist=["x"]).__file__).read_text()
        assert source.index(f"class {info.impl.__name__}(") < source.index(f"def {name}("), name
