"""Shared test setup: hypothesis profiles and a fresh seed for every test.

The 'ci' profile (default) keeps the suite within minutes on two cores; run
``pytest --hypothesis-profile=thorough`` for a longer search.

Two switches for the GPU suite (see tests/per_test_timeout.py and tests/cupy_standin/):
``MINIGRAD_TEST_TIMEOUT=SECONDS`` (or ``--per-test-timeout``) fails a test that runs longer,
and ``MINIGRAD_CUPY_STANDIN=1`` rehearses the ``cuda`` tests on the CPU with a NumPy stand-in
for CuPy (``MINIGRAD_CUPY_STANDIN=1 python -m pytest -m cuda``)."""
import os

if os.environ.get("MINIGRAD_CUPY_STANDIN") == "1":
    # Before minigrad first imports CuPy; subprocesses get it from PYTHONPATH.
    import cupy_standin

    cupy_standin.install()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (cupy_standin.IMPORT_PATH, os.environ.get("PYTHONPATH")) if p)

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import minigrad  # noqa: E402
from per_test_timeout import (pytest_addoption, pytest_configure,  # noqa: E402,F401
                              pytest_runtest_call, pytest_runtest_logfinish,
                              pytest_runtest_logreport, pytest_runtest_logstart,
                              pytest_runtest_setup, pytest_runtest_teardown)

settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile("ci")


@pytest.fixture
def float64():
    """New tensors and layers in float64 (restored to float32 after each test, below)."""
    minigrad.set_default_dtype(minigrad.float64)


@pytest.fixture(autouse=True)
def _seed_and_default_dtype():
    minigrad.manual_seed(0)
    yield
    minigrad.set_default_dtype(minigrad.float32)
