"""Data-parallel training over several processes: process groups and gradient all-reduce.

    import minigrad.distributed as dist
    dist.init("mpi")                       # under `mpiexec -n N python train.py`
    dist.rank(), dist.world_size()
    dist.all_reduce(array)                 # in place: the sum over ranks
    dist.broadcast(array, root=0)
    dist.barrier()
    ddp = dist.DistributedDataParallel(model)   # see minigrad/distributed/data_parallel.py

Two backends behind one interface (minigrad/distributed/group.py): "mpi" (mpi4py; CPU
arrays; one process per core or machine, across machines with `mpiexec --hostfile`) and
"nccl" (CuPy's NCCL bindings; GPU arrays; one process per GPU, its ranks started by
mpiexec too). Every collective has a deadline (`timeout` seconds): a rank that dies, raises
or hangs ends the job with a message naming what was waited for, never a silent hang.
`minigrad train --nproc N` (models/distributed_train.py) runs the trainer this way.
"""
from minigrad.distributed.data_parallel import DistributedDataParallel
from minigrad.distributed.group import DEFAULT_TIMEOUT, DistributedError, ProcessGroup

BACKENDS = ("mpi", "nccl")
_group = None


def init(backend="mpi", timeout=DEFAULT_TIMEOUT):
    """Join the job's process group (once per process) and make it the default; returns it."""
    global _group
    if backend not in BACKENDS:
        raise DistributedError(f"init: backend must be one of {', '.join(BACKENDS)}, got "
                               f"{backend!r}")
    if _group is not None:
        if _group.backend != backend:
            raise DistributedError(f"init: already initialised with backend {_group.backend!r}")
        return _group
    if backend == "mpi":
        from minigrad.distributed.mpi import MPIGroup
        _group = MPIGroup(timeout)
    else:
        from minigrad.distributed.nccl import NCCLGroup
        _group = NCCLGroup(timeout)
    return _group


def is_initialized():
    return _group is not None


def default_group():
    if _group is None:
        raise DistributedError("minigrad.distributed is not initialised: call "
                               "minigrad.distributed.init() first")
    return _group


def rank():
    return default_group().rank


def world_size():
    return default_group().world_size


def all_reduce(array, op="sum"):
    return default_group().all_reduce(array, op)


def broadcast(array, root=0):
    return default_group().broadcast(array, root)


def barrier():
    default_group().barrier()


__all__ = ["init", "is_initialized", "default_group", "rank", "world_size", "all_reduce",
           "broadcast", "barrier", "DistributedDataParallel", "DistributedError",
           "ProcessGroup", "DEFAULT_TIMEOUT", "BACKENDS"]
