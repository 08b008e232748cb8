"""The workers and the queue in front of them.

`Slots(count, max_waiting, timeout)`: a generation takes one of `count` slots (one worker
thread each) for as long as it runs. A request that finds them all taken waits in line,
first come first served; one that finds `max_waiting` requests already waiting, or that
waits longer than `timeout` seconds, gets QueueFull, which the app answers with 503 and a
Retry-After of the queue ahead at the recent time per generation: never an unbounded
wait. A request cancelled while waiting (its client went away) leaves the line, and hands
on a slot it was given in the same moment.
"""
import asyncio
import collections
import math


class QueueFull(Exception):
    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = retry_after


class Slots:
    """`count` workers, at most `max_waiting` requests waiting for one, in order. Used on
    the event loop only."""

    def __init__(self, count, max_waiting, timeout):
        self.count, self.max_waiting, self.timeout = count, max_waiting, timeout
        self.free = count
        self.waiters = collections.deque()
        self.seconds = collections.deque(maxlen=20)  # recent generation times

    @property
    def running(self):
        return self.count - self.free

    async def acquire(self):
        """Wait for a worker; QueueFull if the queue is full or the wait too long."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        if len(self.waiters) >= self.max_waiting:
            raise QueueFull(f"all {self.count} workers are busy and {len(self.waiters)} "
                            f"requests are waiting (--max-queue {self.max_waiting})",
                            self.retry_after())
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiters.append(future)
        timer = loop.call_later(self.timeout, self._expire, future)
        try:
            await future
        except asyncio.CancelledError:  # the client went away: hand on a slot it was given
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release()
            raise
        finally:
            timer.cancel()
            if future in self.waiters:
                self.waiters.remove(future)

    def _expire(self, future):
        if not future.done():
            self.waiters.remove(future)
            future.set_exception(QueueFull(f"no worker became free within {self.timeout:g} s "
                                           f"(--queue-timeout)", self.retry_after()))

    def release(self, seconds=None):
        if seconds is not None:
            self.seconds.append(seconds)
        while self.waiters:
            future = self.waiters.popleft()
            if not future.done():
                future.set_result(None)  # the slot passes straight to the next in line
                return
        self.free += 1

    def retry_after(self):
        """Whole seconds until a worker is likely free: the queue ahead, at the recent
        time per generation."""
        per_job = sum(self.seconds) / len(self.seconds) if self.seconds else 1.0
        return max(1, math.ceil(per_job * (len(self.waiters) + 1) / self.count))
