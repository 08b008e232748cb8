"""Importing this `cupyx` installs the NumPy stand-in (tests/cupy_standin/) in its place.
Only on sys.path for rehearsals: gpu_check --standin and MINIGRAD_CUPY_STANDIN=1 put this
folder on PYTHONPATH for their subprocesses."""
import importlib.util
import os
import sys


def _standin():
    module = sys.modules.get("cupy_standin")
    if module is None:
        package = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir,
                                               "cupy_standin"))
        spec = importlib.util.spec_from_file_location(
            "cupy_standin", os.path.join(package, "__init__.py"),
            submodule_search_locations=[package])
        module = importlib.util.module_from_spec(spec)
        sys.modules["cupy_standin"] = module
        spec.loader.exec_module(module)
    return module


_standin().install()  # sys.modules["cupy"] is now the stand-in: `import cupy` returns it
