"""What every process group offers, whatever carries the bytes (MPI or NCCL).

A group is the set of ranks of one job. Each collective takes a contiguous array (NumPy for
MPI, CuPy for NCCL) or a Tensor (its array), works in place and returns the array; each is
guarded by a deadline (minigrad/distributed/watchdog.py), so a rank that dies or hangs ends
the job with a message instead of a silent wait."""
from minigrad.distributed.watchdog import Watchdog

#: Seconds a collective may wait for the other ranks before the job is ended. Generous,
#: since rank 0 alone may spend a while writing a checkpoint or evaluating.
DEFAULT_TIMEOUT = 300.0
OPS = ("sum", "max", "min")


class DistributedError(RuntimeError):
    """A misuse of a process group, or ranks that disagree (parameters out of sync)."""


class ProcessGroup:
    """Base of MPIGroup and NCCLGroup: subclasses set `rank`, `world_size`, `backend`
    and define `_all_reduce`, `_broadcast`, `_barrier` and `abort`."""

    backend = None

    def __init__(self, rank, world_size, timeout):
        self.rank, self.world_size = rank, world_size
        self.watchdog = Watchdog(timeout, self.abort, self.describe)

    def describe(self):
        return f"rank {self.rank} of {self.world_size} ({self.backend})"

    def all_reduce(self, array, op="sum"):
        """Combine `array` over all ranks with `op` ("sum", "max" or "min"), in place on
        every rank; returns the array."""
        array = self._checked(array, "all_reduce")
        if op not in OPS:
            raise DistributedError(f"all_reduce: op must be one of {', '.join(OPS)}, got {op!r}")
        with self.watchdog.guard(f"all_reduce({op}) of {array.size} {array.dtype} values"):
            self._all_reduce(array, op)
        return array

    def broadcast(self, array, root=0):
        """Copy rank `root`'s `array` into every rank's `array` (same shape and dtype)."""
        array = self._checked(array, "broadcast")
        if not 0 <= root < self.world_size:
            raise DistributedError(f"broadcast: root {root} is not a rank of a group of "
                                   f"{self.world_size}")
        with self.watchdog.guard(f"broadcast from rank {root} of {array.size} {array.dtype} "
                                 f"values"):
            self._broadcast(array, root)
        return array

    def barrier(self):
        """Return once every rank has reached its barrier."""
        with self.watchdog.guard("barrier"):
            self._barrier()

    def abort(self, message):
        raise NotImplementedError

    @staticmethod
    def _checked(array, op):
        array = getattr(array, "data", array) if hasattr(array, "requires_grad") else array
        if not hasattr(array, "flags") or not array.flags.c_contiguous:
            raise DistributedError(f"{op}: expected a C-contiguous array or Tensor, got "
                                   f"{type(array).__name__} with shape "
                                   f"{getattr(array, 'shape', None)}")
        return array
