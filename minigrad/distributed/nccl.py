"""Process groups over NCCL (through CuPy's bindings), for GPU arrays: one process per GPU.

Ranks find each other through MPI: rank 0 makes NCCL's unique id and broadcasts it with
mpi4py. At world size 1 (one GPU, no mpiexec) no MPI is needed. Each rank uses the GPU
numbered by its rank among the ranks of its machine. NCCL's calls are queued on the
current CUDA stream; each collective waits for its stream, so the deadline covers the
transfer itself."""
import os
import sys
import time

from minigrad.distributed.group import DistributedError, ProcessGroup
from minigrad.distributed.mpi import ABORT_GRACE, import_mpi


def _nccl():
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise DistributedError(f"the nccl backend needs CuPy built with NCCL ({e}); install "
                               f"the cuda extra (pip install -e '.[cuda]')") from None
    if not getattr(nccl, "available", True) or not hasattr(nccl, "NcclCommunicator"):
        raise DistributedError("the nccl backend: this CuPy has no NCCL (cupy.cuda.nccl); "
                               "use a CuPy wheel built with NCCL")
    return cupy, nccl


def _mpi_world():
    """(rank, world size, local rank, communicator) from MPI, or a world of one without it."""
    if not any(v in os.environ for v in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")):
        return 0, 1, 0, None
    MPI = import_mpi()
    comm = MPI.COMM_WORLD
    local = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    return comm.Get_rank(), comm.Get_size(), local, comm


class NCCLGroup(ProcessGroup):
    backend = "nccl"

    def __init__(self, timeout):
        self.cupy, self.nccl = _nccl()
        rank, world, local, self.mpi_comm = _mpi_world()
        count = self.cupy.cuda.runtime.getDeviceCount()
        if count == 0:
            raise DistributedError("the nccl backend: no CUDA device is visible")
        self.device = local % count
        self.cupy.cuda.Device(self.device).use()
        super().__init__(rank, world, timeout)
        uid = self.nccl.get_unique_id() if rank == 0 else None
        if self.mpi_comm is not None:
            uid = self.mpi_comm.bcast(uid, root=0)
        with self.watchdog.guard("creating the NCCL communicator"):
            self.comm = self.nccl.NcclCommunicator(world, uid, rank)
        self._ops = {"sum": self.nccl.NCCL_SUM, "max": self.nccl.NCCL_MAX,
                     "min": self.nccl.NCCL_MIN}

    def _dtype(self, array):
        name = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
                "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8"}.get(
                    array.dtype.name)
        if name is None or not isinstance(array, self.cupy.ndarray):
            raise DistributedError(f"nccl: expected a CuPy array of float16/32/64, int32/64 or "
                                   f"uint8, got {type(array).__name__} of {array.dtype}")
        return getattr(self.nccl, name)

    def _all_reduce(self, array, op):
        stream = self.cupy.cuda.get_current_stream()
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, self._dtype(array),
                            self._ops[op], stream.ptr)
        stream.synchronize()

    def _broadcast(self, array, root):
        stream = self.cupy.cuda.get_current_stream()
        self.comm.bcast(array.data.ptr, array.size, self._dtype(array), root, stream.ptr)
        stream.synchronize()

    def _barrier(self):
        self._all_reduce(self.cupy.zeros(1, self.cupy.float32), "sum")

    def abort(self, message):
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.abort()
        if self.mpi_comm is not None:
            time.sleep(ABORT_GRACE)  # see MPIGroup.abort
            self.mpi_comm.Abort(1)
        os._exit(1)
