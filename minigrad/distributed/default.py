"""The process's default group: ``init`` joins the job once, and the module-level
collectives of ``minigrad.distributed`` (and ``DistributedDataParallel`` without a group)
use it."""
from minigrad.distributed.group import DEFAULT_TIMEOUT, DistributedError
from minigrad.distributed.mpi import MPIGroup
from minigrad.distributed.nccl import NCCLGroup

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
    _group = (MPIGroup if backend == "mpi" else NCCLGroup)(timeout)
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
