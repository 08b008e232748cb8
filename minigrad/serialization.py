"""Checkpoints: ``save(obj, path)`` and ``load(path)``.

``obj`` is any nesting of dicts (str or int keys), lists and tuples whose leaves are
Tensors, arrays, numbers, strings, booleans or None: a model's ``state_dict``, an
optimizer's, a whole training state. The file is an ``.npz`` archive: one entry per array,
plus ``__manifest__``, a JSON document giving the structure with the arrays referred to by
entry name, the format name and its version. Nothing is pickled, so loading a file runs no
code from it, and a file is untrusted until checked: ``load`` reads the array headers first
and refuses any that claim more bytes than the archive holds (``describe`` stops there,
for callers that check shapes before allocating).

``save`` writes a temporary file in the same directory, flushes it to disk and renames it
over ``path`` in one step (``os.replace``), so a crash mid-save leaves the previous file
intact.
"""
import collections
import contextlib
import json
import math
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
MAX_LOAD_BYTES = 16 << 30  # arrays one file may hold (load's default max_bytes)
MAX_MANIFEST_BYTES = 64 << 20
# What NumPy and zipfile raise on files they cannot parse.
UNREADABLE = (ValueError, OSError, EOFError, zipfile.BadZipFile)


def save(obj, path):
    """Write ``obj`` to ``path`` (an ``.npz`` file) atomically."""
    arrays = {}
    manifest = {"format": FORMAT, "version": VERSION, "root": _encode(obj, arrays, "obj")}
    arrays[MANIFEST] = np.frombuffer(json.dumps(manifest).encode("utf-8"), dtype=np.uint8)
    write_atomically(os.fspath(path), lambda f: np.savez(f, **arrays))


def load(path, device=None, max_bytes=MAX_LOAD_BYTES, *, map_location=None, weights_only=True):
    """Read what ``save`` wrote. Tensors come back on ``device`` (default 'cpu'; PyTorch's
    ``map_location`` names it too, as a device), arrays as NumPy arrays. A missing file
    raises ``FileNotFoundError``; a damaged, truncated, foreign or crafted file raises
    ``ValueError`` naming the path. ``weights_only`` is accepted either way: a minigrad file
    holds only tensors, arrays and plain containers, and nothing is ever unpickled.

    Every array's header is checked before any array is read: its dtype must be a plain
    number or bool, its shape must match the bytes the archive really holds, and all the
    arrays together must fit in ``max_bytes``. So a file can never ask for more memory
    than its own size, however large the shape its header claims."""
    if map_location is not None:
        if not isinstance(map_location, str) or device is not None:
            raise TypeError(f"load: map_location must be a device name such as 'cpu' (and "
                            f"not given with device=), got {map_location!r}")
        device = map_location
    path = os.fspath(path)
    with _open_archive(path) as archive:
        manifest, entries = _read_index(path, archive, max_bytes)
        arrays = {name: _read_array(path, archive, entry) for name, entry in entries.items()}
    return _decode_root(path, manifest, lambda name, node: arrays[name], device)


def describe(path, max_bytes=MAX_LOAD_BYTES):
    """What ``load`` would return, with every array and tensor replaced by an
    ``ArrayInfo(shape, dtype, tensor)``, reading only the manifest and the array headers
    (with the same checks as ``load``): a caller can check a file's structure and shapes
    before it allocates anything."""
    path = os.fspath(path)
    with _open_archive(path) as archive:
        manifest, entries = _read_index(path, archive, max_bytes)
    return _decode_root(path, manifest, lambda name, node: ArrayInfo(
        entries[name].shape, entries[name].dtype, "tensor" in node), None)


class ArrayInfo(collections.namedtuple("ArrayInfo", "shape dtype tensor")):
    """The shape and dtype of an array in an archive; ``tensor``: saved from a Tensor."""


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

_Entry = collections.namedtuple("_Entry", "name info shape dtype")


@contextlib.contextmanager
def _open_archive(path):
    """The file as a ZipFile, after checking that it is one (never handing a foreign file
    to NumPy, whose errors would suggest loading it with pickle)."""
    with open(path, "rb") as f:
        magic = f.read(6)
        if magic.startswith(b"\x93NUMPY"):
            raise _foreign(path, "it holds a single .npy array, not an .npz archive")
        if not magic.startswith(b"PK"):
            what = "the file is empty" if not magic else "it is not a zip archive"
            raise _foreign(path, f"it cannot be read as an .npz archive ({what})")
        f.seek(0)
        try:
            archive = zipfile.ZipFile(f)
        except UNREADABLE as err:
            raise _damaged(path, err) from None
        with archive:
            yield archive


def _read_index(path, archive, max_bytes):
    """(manifest, {entry name: _Entry}) from the headers, every size checked."""
    members = {info.filename[:-4]: info for info in archive.infolist()
               if info.filename.endswith(".npy")}
    if MANIFEST not in members:
        raise _foreign(path, "it is an .npz archive without a minigrad manifest")
    entries = {name: _read_header(path, archive, info) for name, info in members.items()}
    raw = entries.pop(MANIFEST)
    if raw.dtype != np.uint8 or len(raw.shape) != 1 or raw.shape[0] > MAX_MANIFEST_BYTES:
        raise _crafted(path, f"its manifest is {raw.dtype} {raw.shape}, not bytes (uint8) of "
                             f"at most {_size(MAX_MANIFEST_BYTES)}")
    total = sum(_nbytes(e) for e in entries.values())
    if max_bytes is not None and total > max_bytes:
        raise ValueError(f"load: {path} holds {_size(total)} of arrays, more than the limit "
                         f"of {_size(max_bytes)} (max_bytes)")
    return _read_manifest(path, _read_array(path, archive, raw)), entries


def _read_header(path, archive, info):
    """The entry's shape and dtype from its .npy header, checked against the bytes the
    archive holds for it (a crafted header cannot claim more)."""
    name = info.filename[:-4]
    if info.compress_type != zipfile.ZIP_STORED:
        raise _crafted(path, f"entry {name} is compressed (minigrad.save stores entries as "
                             f"they are)")
    try:
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in _HEADER_READERS:
                raise ValueError(f".npy format version {version}")
            shape, _, dtype = _HEADER_READERS[version](f)
            header_size = f.tell()
    except UNREADABLE as err:
        raise _damaged(path, f"entry {name}: {err}") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biufc":
        raise _crafted(path, f"entry {name} has dtype {dtype}, not a number or bool")
    entry = _Entry(name, info, shape, dtype)
    if _nbytes(entry) != info.file_size - header_size:
        raise _crafted(path, f"entry {name} claims shape {shape} of {dtype} "
                             f"({_size(_nbytes(entry))}) but holds "
                             f"{_size(info.file_size - header_size)}")
    return entry


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def _nbytes(entry):
    return math.prod(entry.shape) * entry.dtype.itemsize  # Python ints: no overflow


def _read_array(path, archive, entry):
    try:
        with archive.open(entry.info) as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except UNREADABLE as err:
        raise _damaged(path, err) from None


def _size(nbytes):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:,} bytes" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


def _damaged(path, err):
    return ValueError(f"load: {path} is damaged or truncated and cannot be read ({err})")


def _foreign(path, reason):
    return ValueError(f"load: {path} is not a minigrad checkpoint (an .npz archive written by "
                      f"minigrad.save): {reason}")


def _crafted(path, reason):
    return ValueError(f"load: {path} is damaged or was not written by minigrad.save: {reason}")


def _read_manifest(path, raw):
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as err:
        raise ValueError(f"load: {path} has an unreadable manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _foreign(path, f"its manifest names no '{FORMAT}' format")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise ValueError(f"load: {path} has format version {version!r}; this "
                         f"minigrad reads versions up to {VERSION}")
    return manifest


def _decode_root(path, manifest, array_of, device):
    try:
        return _decode(manifest["root"], array_of, device)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:  # RecursionError too
        raise ValueError(f"load: {path} has a damaged manifest ({err!r})") from None


def _decode(node, array_of, device):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if "dict" in node:
        return {_check_key(k): _decode(v, array_of, device) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, array_of, device) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, array_of, device) for v in node["tuple"])
    if "tensor" in node:
        if not isinstance(node["requires_grad"], bool):
            raise ValueError(f"requires_grad {node['requires_grad']!r} is not true or false")
        array = array_of(node["tensor"], node)
        if isinstance(array, ArrayInfo):
            return array
        return Tensor(array, requires_grad=node["requires_grad"], device=device)
    if "array" in node:
        return array_of(node["array"], node)
    raise ValueError(f"unknown node {sorted(node)}")


def _check_key(key):
    if not isinstance(key, (str, int)) or isinstance(key, bool):
        raise ValueError(f"dict key {key!r} is neither a string nor an integer")
    return key
