"""A per-test time limit and a progress file, for runs that must not hang (the GPU check).

pytest-timeout is not everywhere (the GPU machine's image lacks it), so this plugin does the
part that matters, with the standard library. Both features are off unless asked for:

``--per-test-timeout SECONDS`` (or ``MINIGRAD_TEST_TIMEOUT=SECONDS``)
    SIGALRM fails a test (setup, call and teardown together) that runs longer, and the run
    goes on with the next test. A test stuck inside C code that never returns to Python
    (a hung GPU kernel inside a synchronise) cannot be interrupted that way: ``faulthandler``
    then dumps every thread's stack and ends the process after a further ``HARD_GRACE``
    seconds, so the run stops instead of eating its whole budget. Which test it was is the
    last ``start`` without an ``end`` in the progress file.

``--progress-file PATH`` (or ``MINIGRAD_TEST_PROGRESS=PATH``)
    One JSON object per line, appended as the run goes, flushed each time:
    ``{"event": "start", "nodeid": ...}`` and ``{"event": "end", "nodeid": ...,
    "outcome": "passed" | "failed" | "error" | "skipped", "duration": s}``; the hard
    timeout's stack dump goes there too. A killed run keeps everything it had finished.

Loaded by tests/conftest.py (which imports these hooks); elsewhere ``-p per_test_timeout``
with tests/ on the path.
"""
import faulthandler
import json
import os
import signal
import time

import pytest

# seconds past the timeout before faulthandler ends the process
HARD_GRACE = float(os.environ.get("MINIGRAD_TEST_HARD_GRACE", "30"))

_state = {"timeout": None, "progress": None, "outcomes": {}, "started": {}, "deadline": None}


def pytest_addoption(parser):
    group = parser.getgroup("per-test timeout")
    group.addoption("--per-test-timeout", type=float, default=None, metavar="SECONDS",
                    help="fail a test that runs longer (default: $MINIGRAD_TEST_TIMEOUT, "
                         "else no limit)")
    group.addoption("--progress-file", default=None, metavar="PATH",
                    help="append a JSON line as each test starts and ends (default: "
                         "$MINIGRAD_TEST_PROGRESS)")


def pytest_configure(config):
    timeout = config.getoption("per_test_timeout", None)
    if timeout is None and os.environ.get("MINIGRAD_TEST_TIMEOUT"):
        timeout = float(os.environ["MINIGRAD_TEST_TIMEOUT"])
    if timeout is not None and timeout <= 0:
        timeout = None
    if timeout is not None and not hasattr(signal, "setitimer"):
        timeout = None  # no SIGALRM here (Windows)
    _state["timeout"] = timeout
    path = config.getoption("progress_file", None) or os.environ.get("MINIGRAD_TEST_PROGRESS")
    if path and _state["progress"] is None:
        _state["progress"] = open(path, "a", buffering=1, encoding="utf-8")


def _write(record):
    stream = _state["progress"]
    if stream is not None:
        record["t"] = round(time.time(), 3)
        stream.write(json.dumps(record) + "\n")
        stream.flush()


def _on_alarm(signum, frame):
    pytest.fail(f"timed out: over the per-test limit of {_state['timeout']:g} s",
                pytrace=True)


def _arm(seconds):
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))


def _disarm():
    signal.setitimer(signal.ITIMER_REAL, 0)


def pytest_runtest_logstart(nodeid, location):
    _state["started"][nodeid] = time.perf_counter()
    _write({"event": "start", "nodeid": nodeid})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    timeout = _state["timeout"]
    if timeout is None:
        yield
        return
    _state["deadline"] = time.monotonic() + timeout
    hard = _state["progress"]
    faulthandler.dump_traceback_later(timeout + HARD_GRACE, exit=True,
                                      **({"file": hard} if hard is not None else {}))
    _arm(timeout)
    try:
        yield
    finally:
        _disarm()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    if _state["timeout"] is None:
        yield
        return
    _arm(_state["deadline"] - time.monotonic())
    try:
        yield
    finally:
        _disarm()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    if _state["timeout"] is None:
        yield
        return
    # a test that ran out still gets a few seconds to clean up
    _arm(max(_state["deadline"] - time.monotonic(), 5.0))
    try:
        yield
    finally:
        _disarm()
        faulthandler.cancel_dump_traceback_later()


def pytest_runtest_logreport(report):
    outcomes = _state["outcomes"]
    if report.when == "call":
        outcomes[report.nodeid] = "skipped" if report.skipped else (
            "failed" if report.failed else "passed")
    elif report.failed:
        if outcomes.get(report.nodeid) != "failed":
            outcomes[report.nodeid] = "error"
    elif report.skipped and report.when == "setup":
        outcomes[report.nodeid] = "skipped"


def pytest_runtest_logfinish(nodeid, location):
    began = _state["started"].pop(nodeid, None)
    _write({"event": "end", "nodeid": nodeid,
            "outcome": _state["outcomes"].pop(nodeid, "unknown"),
            "duration": None if began is None else round(time.perf_counter() - began, 3)})
