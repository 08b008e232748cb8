"""Split one training step's batch over threads.

NumPy runs element-wise work on one core and BLAS scales poorly on small products, so on a
CPU with few cores a step runs faster as independent shards, each in its own thread with
one-thread BLAS, whose gradients are then averaged. The result is the gradient of the mean
loss over the whole batch, as without splitting (up to float rounding)."""
from concurrent.futures import ThreadPoolExecutor

from minigrad import autograd, backend
from minigrad.tensor import Tensor

_pools = {}


def _pool(n):
    if n not in _pools:
        _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minigrad-shard")
    return _pools[n]


def split_backward(loss_fn, params, batch, shards=2):
    """``loss_fn(*batch_shard)`` for each of ``shards`` equal slices of every array in
    ``batch`` (split along dimension 0), run in parallel; accumulates the gradient of the
    mean of the shard losses into each parameter's ``.grad`` and returns that mean loss
    (a float).

    Each shard draws its random numbers (dropout) from its own generator, seeded from the
    global one, so a run stays reproducible."""
    params = [p for p in params if p.requires_grad]
    n = batch[0].shape[0]
    if shards < 1 or n % shards:
        raise ValueError(f"split_backward: a batch of {n} does not split into {shards} equal shards")
    size = n // shards
    seeds = backend.generator(batch[0].xp).integers(0, 2**63, size=shards)

    def run(k):
        part = [b[k * size:(k + 1) * size] for b in batch]
        with backend.thread_generator(int(seeds[k]), batch[0].xp):
            loss = loss_fn(*part)
            grads = autograd.grad(loss, params, allow_unused=True)
        return loss.item(), grads

    with backend.blas_threads(1):
        results = list(_pool(shards).map(run, range(shards)))
    for i, p in enumerate(params):
        parts = [g[i].data for _, g in results if g[i] is not None]
        if not parts:
            continue
        total = parts[0] / shards if len(parts) == 1 else sum(parts[1:], parts[0]) / shards
        if p.grad is None:
            p.grad = Tensor._wrap(total.astype(p.dtype, copy=False), False)
        else:
            p.grad.data += total
    return sum(loss for loss, _ in results) / shards
