"""Run under `mpiexec -n 2` by tests/test_distributed.py:

    python tests/distributed_worker.py collectives
    python tests/distributed_worker.py fault MODE RUN_DIR CORPUS   (MODE: raise, die, hang)

`collectives` checks the process group and DistributedDataParallel on 2 ranks and prints
"rank R ok". `fault` trains a micro transformer (a checkpoint every 2 steps) in which rank 1
fails at step 5 in the way MODE says."""
import os
import sys
import time

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn


def collectives():
    group = dist.init("mpi", timeout=20)
    r, n = dist.rank(), dist.world_size()
    a = np.full(3, r + 1.0, np.float32)
    assert (dist.all_reduce(a) == n * (n + 1) / 2).all(), a
    assert (dist.all_reduce(np.array([r], np.int64), "max") == n - 1).all()
    b = np.arange(4.0) * (r + 1)
    assert (dist.broadcast(b, root=1) == np.arange(4.0) * 2).all(), b
    dist.barrier()
    mg.manual_seed(r)  # different weights on each rank, until DDP broadcasts rank 0's
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=40 / 2**20)  # 40 bytes: 3 buckets
    assert len(ddp.buckets) == 3, [len(b) for b in ddp.buckets]
    ddp.check_parameters()
    x = mg.tensor(np.full((2, 3), r + 1.0, np.float32))
    ddp(x).sum().backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    ddp.reduce_gradients()
    for g, p in zip(grads, model.parameters()):
        mean = dist.all_reduce(g) / n
        assert np.allclose(p.grad.numpy(), mean), (p.grad.numpy(), mean)
    if r == 1:
        model[0].weight.data[0, 0] += 1
    try:
        ddp.check_parameters()
    except dist.DistributedError as e:
        assert "rank(s) 1 differ" in str(e), e
    else:
        raise AssertionError("check_parameters missed weights that differ on rank 1")
    print(f"rank {group.rank} ok", flush=True)


def fault(mode, run_dir, corpus):
    from models.config import Config
    from models.distributed_train import run_rank
    config = Config(model="transformer", corpus=corpus, n_layer=1, n_head=2, n_embd=16,
                    context=8, batch_size=4, steps=8, warmup_steps=2, eval_every=2,
                    eval_batches=1, final_eval=False, sample_tokens=0, threads=1)

    def fail(trainer, step):
        if trainer.group.rank != 1 or step != 5:
            return
        if mode == "raise":
            raise RuntimeError("planted failure on rank 1 at step 5")
        if mode == "die":
            os._exit(3)
        time.sleep(120)  # hang: the others' deadline must end the job

    run_rank(config, run_dir, timeout=3, on_step=fail)


if __name__ == "__main__":
    if sys.argv[1] == "collectives":
        collectives()
    else:
        fault(*sys.argv[2:5])
