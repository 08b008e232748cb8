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
from minigrad.distributed.default import (
    BACKENDS, all_reduce, barrier, broadcast, default_group, init, is_initialized, rank,
    world_size)
from minigrad.distributed.group import DEFAULT_TIMEOUT, DistributedError, ProcessGroup

__all__ = ["init", "is_initialized", "default_group", "rank", "world_size", "all_reduce",
           "broadcast", "barrier", "DistributedDataParallel", "DistributedError",
           "ProcessGroup", "DEFAULT_TIMEOUT", "BACKENDS"]
