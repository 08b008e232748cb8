"""Checkpoints: ``save(obj, path)`` and ``load(path)``.

``obj`` is any nesting of dicts (str or int keys), lists and tuples whose leaves are
Tensors, arrays, numbers, strings, booleans or None: a model's ``state_dict``, an
optimizer's, a whole training state. The file is an ``.npz`` archive: one entry per array,
plus ``__manifest__``, a JSON document giving the structure with the arrays referred to by
entry name, the format name and its version. Nothing is pickled, so loading a file runs no
code from it.

``save`` writes a temporary file in the same directory, flushes it to disk and renames it
over ``path`` in one step (``os.replace``), so a crash mid-save leaves the previous file
intact.
"""
import contextlib
import json
import numbers
import os
import tempfile
import zipfile

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

FORMAT = "minigrad"
VERSION = 1
MANIFEST = "__manifest__"
# What NumPy and zipfile raise on files they cannot parse.
UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile)


def save(obj, path):
    """Write ``obj`` to ``path`` (an ``.npz`` file) atomically."""
    arrays = {}
    manifest = {"format": FORMAT, "version": VERSION, "root": _encode(obj, arrays, "obj")}
    arrays[MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    write_atomically(os.fspath(path), lambda f: np.savez(f, **arrays))


def load(path, device=None):
    """Read what ``save`` wrote. Tensors come back on ``device`` (default 'cpu'), arrays as
    NumPy arrays. A missing file raises ``FileNotFoundError``; a damaged, truncated or
    foreign file raises ``ValueError`` naming the path."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        zipped = f.read(2) == b"PK"
        f.seek(0)
        try:
            archive = np.load(f, allow_pickle=False)
        except UNREADABLE as err:
            if zipped:
                raise _damaged(path, err) from None
            raise _foreign(path, f"it cannot be read as an .npz archive ({err})") from None
        if not hasattr(archive, "files"):
            raise _foreign(path, "it holds a single .npy array, not an .npz archive")
        with archive:
            if MANIFEST not in archive.files:
                raise _foreign(path, "it is an .npz archive without a minigrad manifest")
            try:
                arrays = {name: archive[name] for name in archive.files}
            except UNREADABLE as err:
                raise _damaged(path, err) from None
    manifest = _read_manifest(path, arrays.pop(MANIFEST))
    try:
        return _decode(manifest["root"], arrays, device)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"load: {path} has a damaged manifest ({err!r})") from None


# ---------------------------------------------------------------- encoding

def _encode(obj, arrays, where):
    """The JSON node of ``obj``; arrays go into ``arrays`` under fresh entry names."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, Tensor):
        return {"tensor": _add_array(obj.numpy(), arrays, where),
                "requires_grad": obj.requires_grad}
    if isinstance(obj, np.ndarray) or backend.get_array_module(obj) is not np:
        return {"array": _add_array(backend.to_device(obj, "cpu"), arrays, where)}
    if isinstance(obj, dict):
        return {"dict": [[_key(k, where), _encode(v, arrays, f"{where}[{k!r}]")]
                         for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot store a {type(obj).__name__} (at {where}); expected "
                    "dicts, lists, tuples, Tensors, arrays, numbers, strings or None")


def _add_array(array, arrays, where):
    if array.dtype.kind == "O":
        raise TypeError(f"save: the array at {where} holds Python objects (dtype object), "
                        "which cannot be stored without pickle")
    name = f"a{len(arrays)}"
    arrays[name] = np.asarray(array)
    return name


def _key(k, where):
    if isinstance(k, str):
        return k
    if isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)):
        return int(k)
    raise TypeError(f"save: dict keys must be strings or integers, got {k!r} "
                    f"({type(k).__name__}) in {where}")


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it over
    ``path``: readers see the old file or the complete new one, never a torn one, even if
    the process dies mid-write. The file gets the usual permissions (0666 less the umask),
    not the private 0600 of a temporary file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    if os.name == "posix":
        # The rename itself is durable only once the directory entry is on disk.
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- decoding

def _damaged(path, err):
    return ValueError(f"load: {path} is damaged or truncated and cannot be read ({err})")


def _foreign(path, reason):
    return ValueError(f"load: {path} is not a minigrad checkpoint (an .npz archive written by "
                      f"minigrad.save): {reason}")


def _read_manifest(path, raw):
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as err:
        raise ValueError(f"load: {path} has an unreadable manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _foreign(path, f"its manifest names no '{FORMAT}' format")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise ValueError(f"load: {path} has format version {manifest.get('version')!r}; this "
                         f"minigrad reads versions up to {VERSION}")
    return manifest


def _decode(node, arrays, device):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if "dict" in node:
        return {k: _decode(v, arrays, device) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, device) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, device) for v in node["tuple"])
    if "tensor" in node:
        return Tensor(arrays[node["tensor"]], requires_grad=node["requires_grad"], device=device)
    if "array" in node:
        return arrays[node["array"]]
    raise ValueError(f"unknown node {sorted(node)}")
