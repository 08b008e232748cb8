"""Deadlines for collective operations, so that a dead or stuck rank never hangs the others.

A collective (all-reduce, broadcast, barrier) waits for every rank. If one rank has died or
hangs, the others would wait forever. One daemon thread per process watches the operation in
progress; past its deadline it writes what was being waited for, and how long, to stderr and
calls the group's abort (MPI_Abort, or the NCCL communicator's abort and process exit), which
ends every rank. Guarding an operation costs two attribute writes: no timer per call."""
import os
import sys
import threading
import time


class Watchdog:
    def __init__(self, timeout, on_expire, describe):
        """`timeout` seconds per guarded operation; `on_expire(message)` ends the job;
        `describe()` names this process in the message (e.g. "rank 1 of 2")."""
        if not timeout > 0:
            raise ValueError(f"Watchdog: timeout must be positive seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self._on_expire = on_expire
        self._describe = describe
        self._what = None
        self._deadline = None
        self._thread = None

    def guard(self, what):
        """Context manager: the operation `what` must finish within the timeout."""
        return _Guard(self, what)

    def _start(self, what):
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="minigrad-watchdog",
                                            daemon=True)
            self._thread.start()
        self._what = what
        self._deadline = time.monotonic() + self.timeout

    def _stop(self):
        self._deadline = None

    def _watch(self):
        # Checking ten times per timeout (at most every second) ends a stuck job within
        # 1.1 timeouts.
        interval = min(1.0, self.timeout / 10)
        while True:
            time.sleep(interval)
            deadline, what = self._deadline, self._what
            if deadline is not None and time.monotonic() > deadline:
                message = (f"minigrad.distributed: {self._describe()}: {what} did not finish "
                           f"within {self.timeout:g} s; another rank has probably died, raised "
                           f"an error or hangs (see its output above). Ending all ranks.")
                print(message, file=sys.stderr, flush=True)
                self._on_expire(message)
                os._exit(1)  # if the abort itself returned


class _Guard:
    def __init__(self, watchdog, what):
        self.watchdog, self.what = watchdog, what

    def __enter__(self):
        self.watchdog._start(self.what)

    def __exit__(self, *exc):
        self.watchdog._stop()
