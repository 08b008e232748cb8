"""minigrad.save / minigrad.load: round trips, atomic writes, and clear errors for damaged
or foreign files."""
import json
import math
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn


def assert_same(a, b):
    """Equal values of equal types, all the way down."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert type(k) is type(list(b)[list(a).index(k)])
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, mg.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def test_round_trip_keeps_structure_types_and_values(tmp_path):
    obj = {
        "model": {"w": mg.randn(3, 4), "ids": mg.tensor([1, 2, 3]),
                  "p": mg.randn(2, dtype=mg.float64, requires_grad=True)},
        "state": {0: {"step": 7, "exp_avg": np.arange(6.0).reshape(2, 3)}, 1: {}},
        "betas": (0.9, 0.999),
        "history": [1.5, float("inf"), float("nan"), -0.0, 10 ** 20],
        "flags": [True, False, None],
        "name": "ñandú ✓",
        "mask": np.array([[True, False]]),
        "bytes": np.arange(4, dtype=np.uint8),
        "empty": {"list": [], "tuple": (), "dict": {}, "array": np.zeros((0, 3))},
        "numpy numbers": [np.float64(0.25), np.int64(3), np.bool_(True)],
    }
    mg.save(obj, tmp_path / "all.npz")
    back = mg.load(tmp_path / "all.npz")
    expected = dict(obj, **{"numpy numbers": [0.25, 3, True]})
    assert_same(expected, back)


def test_model_state_dict_round_trip(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 5, batch_first=True))
    path = str(tmp_path / "model.npz")
    mg.save(model.state_dict(), path)
    other = nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 5, batch_first=True))
    other.load_state_dict(mg.load(path))
    idx = mg.tensor([[1, 2, 3]])
    np.testing.assert_array_equal(model(idx)[0].numpy(), other(idx)[0].numpy())


def test_path_is_used_as_given_and_overwritten(tmp_path):
    path = tmp_path / "checkpoint.bin"
    mg.save({"a": 1}, path)
    mg.save({"a": 2}, path)
    assert mg.load(path) == {"a": 2}
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.bin"], "no temporary files left"


def test_load_to_device(tmp_path):
    mg.save({"w": mg.ones(2)}, tmp_path / "c.npz")
    assert mg.load(tmp_path / "c.npz", device="cpu")["w"].device == "cpu"


def test_a_crash_during_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mg.save({"step": 1, "w": mg.ones(3)}, path)

    def crash(src, dst):
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        mg.save({"step": 2, "w": mg.zeros(3)}, path)
    monkeypatch.undo()
    back = mg.load(path)
    assert back["step"] == 1 and back["w"].numpy().tolist() == [1, 1, 1]
    assert os.listdir(tmp_path) == ["ckpt.npz"], "the temporary file is removed"


def test_a_crash_while_writing_the_archive_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    mg.save({"step": 1}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        mg.save({"step": 2}, path)
    monkeypatch.undo()
    assert mg.load(path) == {"step": 1} and os.listdir(tmp_path) == ["ckpt.npz"]


# ---------------------------------------------------------------- bad files

def test_truncated_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "cut.npz"
    mg.save({"w": mg.randn(100, 100)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"load: {path} is damaged or truncated"):
        mg.load(path)


def test_corrupted_array_data_is_reported(tmp_path):
    path = tmp_path / "flipped.npz"
    mg.save({"w": mg.zeros(1000)}, path)
    data = bytearray(path.read_bytes())
    data[2000] ^= 0xFF  # inside the array's bytes: the zip CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged or truncated"):
        mg.load(path)


@pytest.mark.parametrize("write, reason", [
    (lambda p: p.write_text("step,loss\n1,2.5\n"), "cannot be read as an .npz archive"),
    (lambda p: np.save(open(p, "wb"), np.arange(3)), "single .npy array"),
    (lambda p: np.savez(open(p, "wb"), weights=np.arange(3)), "without a minigrad manifest"),
    (lambda p: p.write_bytes(b""), "cannot be read"),
])
def test_foreign_files_are_rejected_by_name(tmp_path, write, reason):
    path = tmp_path / "foreign.npz"
    write(path)
    with pytest.raises(ValueError, match=f"load: {path} is not a minigrad checkpoint.*{reason}"):
        mg.load(path)


def _write_manifest(path, manifest):
    raw = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, __manifest__=raw)


def test_newer_format_versions_and_other_manifests_are_rejected(tmp_path):
    path = tmp_path / "new.npz"
    _write_manifest(path, {"format": "minigrad", "version": 99, "root": None})
    with pytest.raises(ValueError, match="format version 99; this minigrad reads versions up to 1"):
        mg.load(path)
    _write_manifest(path, {"format": "other", "version": 1, "root": None})
    with pytest.raises(ValueError, match="names no 'minigrad' format"):
        mg.load(path)
    _write_manifest(path, {"format": "minigrad", "version": 1, "root": {"tensor": "a9",
                                                                          "requires_grad": False}})
    with pytest.raises(ValueError, match="damaged manifest"):
        mg.load(path)


def test_the_archive_holds_no_pickle(tmp_path):
    path = tmp_path / "c.npz"
    mg.save({"w": mg.ones(2), "cfg": {"name": "x"}}, path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["__manifest__.npy", "a0.npy"]
    with np.load(path, allow_pickle=False) as archive:
        assert json.loads(archive["__manifest__"].tobytes())["version"] == 1


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("obj, message", [
    ({"fn": print}, r"cannot store a builtin_function_or_method \(at obj\['fn'\]\)"),
    ({"a": [1, {2.5: 1}]}, r"dict keys must be strings or integers, got 2.5"),
    ({"objs": np.array([object()])}, r"the array at obj\['objs'\] holds Python objects"),
    ({"set": {1, 2}}, "cannot store a set"),
])
def test_unsupported_values_are_rejected_before_writing(tmp_path, obj, message):
    with pytest.raises(TypeError, match=message):
        mg.save(obj, tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------- property

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 62, 2 ** 62), st.text(max_size=5),
    st.floats(allow_nan=False),
    st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=4).map(np.array),
)
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers(0, 9)), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=20)
@given(tree=trees)
def test_any_nesting_round_trips(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("prop") / "t.npz"
    mg.save(tree, path)
    assert_same(tree, mg.load(path))


def test_saved_files_are_readable_by_others(tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        path = tmp_path / "state.npz"
        mg.save({"w": mg.zeros(2)}, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
