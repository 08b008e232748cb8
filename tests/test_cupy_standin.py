"""The CuPy stand-in (tests/cupy_standin/) that rehearses the GPU suite on a CPU: arrays
that NumPy cannot take for its own, and kernel emulations that catch wrong launches."""
import os
import subprocess
import sys

import numpy as np
import pytest

import cupy_standin as cs

SOURCE = r"""
typedef float real;
extern "C" __global__ void softmax_rows(const real* x, real* y, int n, real scale,
                                        int causal, int tq) { /* not compiled here */ }
"""


def test_array_round_trip_and_device():
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    a = cs.asarray(host)
    assert isinstance(a, cs.ndarray) and type(a) is not np.ndarray
    host[0, 0] = 99  # asarray copied, as a transfer does
    back = a.get()
    assert type(back) is np.ndarray and back[0, 0] == 0
    np.testing.assert_array_equal(back[1], [3, 4, 5])
    assert a.device.id == 0 and a.flags.c_contiguous
    with a.device:
        b = cs.cupy.exp(a) * 2
    assert isinstance(b, cs.ndarray) and b.dtype == np.float32
    total = a.sum()
    assert isinstance(total, cs.ndarray) and total.ndim == 0 and float(total) == 15.0
    assert isinstance(a[0, 1], cs.ndarray)  # scalar indexing gives a 0-d array, as CuPy
    assert np.isnan(cs.empty(3, np.float32).get()).all()  # fresh memory is garbage


def test_host_arrays_are_refused_where_cupy_refuses_them():
    a = cs.asarray(np.ones(3))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="numpy.ndarray"):
        np.concatenate([a, np.ones(3)])
    with pytest.raises(TypeError):
        cs.cupy.exp([1.0, 2.0])
    assert float((a[np.array([0, 2])]).sum()) == 2.0  # a host index is fine, as in CuPy


def test_raw_kernel_emulation_and_launch_checks():
    fn = cs.RawModule(code=SOURCE).get_function("softmax_rows")
    rows, n, tq = 6, 5, 3
    x = cs.asarray(np.random.default_rng(0).standard_normal((rows, n)).astype(np.float32))
    y = cs.empty((rows, n), np.float32)
    fn((rows,), (32,), (x, y, np.int32(n), np.float32(0.5), np.int32(1), np.int32(tq)))
    s = 0.5 * x.get()
    visible = (np.arange(rows) % tq)[:, None] + n - tq + 1 > np.arange(n)
    s = np.where(visible, s, -np.inf)
    want = np.exp(s - s.max(1, keepdims=True))
    np.testing.assert_allclose(y.get(), want / want.sum(1, keepdims=True), rtol=1e-6)
    args = (x, y, np.int32(n), np.float32(0.5), np.int32(0), np.int32(1))
    with pytest.raises(TypeError, match="int64"):  # a Python int goes to the GPU as 8 bytes
        fn((rows,), (32,), (x, y, n) + args[3:])
    with pytest.raises(TypeError, match="float64"):
        fn((rows,), (32,), (x.astype(np.float64),) + args[1:])
    with pytest.raises(ValueError, match="contiguous"):
        fn((rows,), (32,), (cs.asarray(np.ones((n, rows), np.float32)).T,) + args[1:])
    with pytest.raises(TypeError, match="takes 6 arguments"):
        fn((rows,), (32,), args[:5])
    with pytest.raises(ValueError, match="multiple of 32"):
        fn((rows,), (48,), args)
    short = cs.empty((rows, n), np.float32)
    fn((rows - 1,), (32,), (x, short) + args[2:])  # a grid too small leaves a row unwritten
    assert np.isnan(short.get()[-1]).all() and not np.isnan(short.get()[:-1]).any()
    with pytest.raises(NotImplementedError, match="no emulation"):
        cs.RawModule(code=SOURCE.replace("softmax_rows", "other")).get_function("other")


def test_elementwise_kernel_interprets_its_operation():
    k = cs.ElementwiseKernel("T x, T s", "T y", "T u = (T)2 * x;\ny = u + exp((T)-0.5 * x) * s;",
                             name="k")
    x = cs.asarray(np.linspace(-2, 2, 5).astype(np.float32))
    y = k(x, 3.0)
    assert isinstance(y, cs.ndarray) and y.dtype == np.float32
    xh = x.get().astype(np.float64)
    np.testing.assert_allclose(y.get(), 2 * xh + np.exp(-0.5 * xh) * 3, rtol=1e-6)
    update = cs.ElementwiseKernel("T g, T lr", "T p, T m", "m = m + g;\np = p - lr * m;",
                                  name="update")
    p, m = cs.asarray(np.ones(3, np.float32)), cs.asarray(np.zeros(3, np.float32))
    out = update(cs.asarray(np.full(3, 2, np.float32)), 0.5, p, m)  # outputs in place
    assert out[0] is p and out[1] is m
    np.testing.assert_allclose(p.get(), 0.0)
    np.testing.assert_allclose(m.get(), 2.0)
    with pytest.raises(TypeError, match="mismatched"):
        update(cs.asarray(np.ones(3)), 0.5, p, m)  # float64 g, float32 p: T cannot be both
    with pytest.raises(NotImplementedError):
        cs.ElementwiseKernel("T x", "T y", "y = x > 0 ? x : (T)0", name="relu")


def test_reduction_kernel():
    k = cs.ReductionKernel("T g, T x", "T dw", "g * x", "a + b", "dw = a", "0", name="dw")
    g = cs.asarray(np.arange(6, dtype=np.float32).reshape(3, 2))
    x = cs.asarray(np.full((3, 1), 2, np.float32))
    np.testing.assert_allclose(k(g, x, axis=0).get(), [12.0, 18.0])


def test_import_path_installs_the_standin_and_minigrad_uses_it():
    """`import cupy` from tests/cupy_standin_path gives the stand-in, and minigrad then runs
    its CUDA branch on it (in a subprocess: installing it here would change this session)."""
    code = """if True:
        import cupy, minigrad as mg
        assert cupy.STANDIN and mg.cuda.is_available()
        t = mg.tensor([1.0, 2.0], device="cuda", requires_grad=True)
        (t * t).sum().backward()
        assert t.device == "cuda:0" and t.grad.numpy().tolist() == [2.0, 4.0]
        assert type(t.data).__module__ == "cupy"
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [cs.IMPORT_PATH, os.path.dirname(os.path.dirname(cs.IMPORT_PATH))]))
    subprocess.run([sys.executable, "-c", code], check=True, env=env,
                   cwd=os.path.dirname(os.path.dirname(cs.IMPORT_PATH)))


@pytest.mark.skipif(__import__("shutil").which("g++") is None, reason="needs g++")
def test_kernel_sources_are_compiled_on_the_host():
    """Where g++ exists the stand-in checks the CUDA text (with shims for the built-ins), as
    NVRTC would at the first launch on a GPU."""
    bad = SOURCE.replace("/* not compiled here */", "real v = x[0] +; y[0] = v;")
    with pytest.raises(cs.CompileException, match="does not compile"):
        cs.RawModule(code=bad).get_function("softmax_rows")
    k = cs.ElementwiseKernel("T x", "T y", "y = undefined_function(x)", name="bad")
    with pytest.raises(cs.CompileException):
        k(cs.asarray(np.ones(2, np.float32)))
