"""``DistributedDataParallel``: one model replica per rank, gradients averaged over ranks.

    group = minigrad.distributed.init("mpi")              # under mpiexec -n N
    ddp = DistributedDataParallel(model)                  # rank 0's weights on every rank
    loss = F.cross_entropy(ddp(x_shard), y_shard)         # each rank its own rows
    loss.backward()
    ddp.reduce_gradients()                                # every .grad: the mean over ranks
    optimizer.step()

The gradient of the mean loss over the whole batch is the mean of the ranks' gradients of
their shard's mean loss (equal shards), so N ranks with b rows each take the same step as
one process with N*b rows, up to float rounding. Gradients travel in buckets: the parameters
are packed, in order, into flat arrays of about `bucket_cap_mb` each, one collective per
bucket instead of one per tensor. Reduction runs after backward, not overlapped with it: on
CPU ranks a communication thread would compete for the cores that run backward, and the
all-reduce takes a small share of a step (`python -m benchmarks distributed` measures it).

Every rank applies the same update to the same weights, so they stay identical; in debug
use, `check_parameters()` (every `check_every` steps in the trainer) compares a checksum of
each rank's weights with rank 0's and raises a DistributedError naming the ranks that
drifted."""
import hashlib

import numpy as np

from minigrad import backend
from minigrad.distributed.default import default_group
from minigrad.distributed.group import DistributedError
from minigrad.nn.module import Module
from minigrad.tensor import Tensor


class DistributedDataParallel(Module):
    def __init__(self, module, group=None, bucket_cap_mb=25.0):
        super().__init__()
        self.module = module
        self.process_group = group if group is not None else default_group()
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise DistributedError("DistributedDataParallel: the module has no trainable "
                                   "parameters")
        self.xp = params[0].xp
        self.buckets = _buckets(params, int(bucket_cap_mb * 2**20))
        self.broadcast_parameters()

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def broadcast_parameters(self, root=0):
        """Copy rank `root`'s parameter values to every rank."""
        for bucket in self.buckets:
            flat = self._pack(bucket, [p.data for p in bucket])
            self.process_group.broadcast(flat, root)
            for p, view in zip(bucket, _views(bucket, flat)):
                p.data[...] = view

    def reduce_gradients(self):
        """Replace every parameter's .grad by its mean over the ranks (a missing .grad
        counts as zeros)."""
        scale = 1.0 / self.process_group.world_size
        for bucket in self.buckets:
            flat = self._pack(bucket, [None if p.grad is None else p.grad.data for p in bucket])
            self.process_group.all_reduce(flat, "sum")
            for p, view in zip(bucket, _views(bucket, flat)):
                if p.grad is None:
                    p.grad = Tensor._wrap(view * scale, False)
                else:  # the mean written back in the same pass over memory as the copy
                    self.xp.multiply(view, scale, out=p.grad.data)

    def check_parameters(self):
        """Raise a DistributedError on every rank unless all ranks hold rank 0's weights,
        bit for bit (a SHA-256 of the parameters, compared with rank 0's)."""
        group = self.process_group
        digest = hashlib.sha256()
        for p in self.module.parameters():
            digest.update(np.ascontiguousarray(backend.to_device(p.data, "cpu")).tobytes())
        mine = self.xp.asarray(np.frombuffer(digest.digest(), np.uint8).copy())
        root = group.broadcast(mine.copy(), 0)
        differs = self.xp.zeros(group.world_size, self.xp.float64)
        differs[group.rank] = float(bool((mine != root).any()))
        group.all_reduce(differs, "sum")
        ranks = [r for r, d in enumerate(backend.to_device(differs, "cpu")) if d]
        if ranks:
            raise DistributedError(f"check_parameters: the weights of rank(s) "
                                   f"{', '.join(map(str, ranks))} differ from rank 0's: the "
                                   f"ranks no longer train one model")

    def _pack(self, bucket, arrays):
        flat = self.xp.empty(sum(p.data.size for p in bucket), bucket[0].dtype)
        for view, array in zip(_views(bucket, flat), arrays):
            if array is None:
                view[...] = 0
            else:
                view[...] = array
        return flat


def _buckets(params, cap_bytes):
    """Parameters in order, grouped into lists of one dtype of about `cap_bytes` each."""
    buckets, size = [], 0
    for p in params:
        nbytes = p.data.nbytes
        if not buckets or buckets[-1][0].dtype != p.dtype or size + nbytes > cap_bytes:
            buckets.append([])
            size = 0
        buckets[-1].append(p)
        size += nbytes
    return buckets


def _views(bucket, flat):
    """Views of `flat` shaped like each parameter of `bucket`, in order."""
    views, start = [], 0
    for p in bucket:
        views.append(flat[start:start + p.data.size].reshape(p.shape))
        start += p.data.size
    return views
