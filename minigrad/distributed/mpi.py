"""Process groups over MPI (mpi4py), for CPU arrays: one process per core or per machine,
launched by `mpiexec -n N` (locally or with a hostfile)."""
import sys
import time

from minigrad.distributed.group import DistributedError, ProcessGroup

ABORT_GRACE = 0.5  # seconds between a rank's last words and the abort
MPI_HINT = ("install the distributed extra (pip install -e '.[distributed]': mpi4py and the "
            "MPICH wheel, which provides mpiexec)")


def import_mpi():
    """mpi4py's MPI module (which initialises MPI), or a DistributedError saying how to
    install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise DistributedError(f"minigrad.distributed needs mpi4py ({e}); {MPI_HINT}") from None
    return MPI


class MPIGroup(ProcessGroup):
    backend = "mpi"

    def __init__(self, timeout, comm=None):
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        super().__init__(self.comm.Get_rank(), self.comm.Get_size(), timeout)
        self._ops = {"sum": self.MPI.SUM, "max": self.MPI.MAX, "min": self.MPI.MIN}

    def _all_reduce(self, array, op):
        if self.world_size > 1:
            self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self._ops[op])

    def _broadcast(self, array, root):
        if self.world_size > 1:
            self.comm.Bcast(array, root=root)

    def _barrier(self):
        self.comm.Barrier()

    def abort(self, message):
        """End every rank of the job (mpiexec stops the others)."""
        sys.stdout.flush()
        sys.stderr.flush()
        # mpiexec forwards a rank's output through its proxies, and an abort can overtake
        # what is still on the way: the message saying why would be lost. Half a second
        # lets it through (without the wait it was lost in about 1 run of 15 here).
        time.sleep(ABORT_GRACE)
        self.comm.Abort(1)
