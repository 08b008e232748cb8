"""One rank of `python -m benchmarks distributed`: prints one JSON line (rank 0 only).

    mpiexec -n N python -m benchmarks.distributed_worker minigrad train --config NAME
        --batch-size B [--steps 10] [--warmup 2] [--set KEY=VALUE ...]
    mpiexec -n N python -m benchmarks.distributed_worker minigrad allreduce --sizes 1e4,1e6
    RANK=r WORLD_SIZE=N MASTER_ADDR=127.0.0.1 MASTER_PORT=P \\
        python -m benchmarks.distributed_worker torch train|allreduce ... [--sdpa]

`train` times whole data-parallel steps of a preset with the step's batch `--batch-size`
split over the ranks: minigrad's DistributedDataParallel over MPI, or PyTorch's
DistributedDataParallel over gloo; one thread per rank. A step ends at a barrier, so its
time is the slowest rank's. One rank trains the plain model (no wrapper), on `--threads`
threads: minigrad splits the batch over them (`minigrad.parallel.split_backward`, as
`minigrad train --threads` does), PyTorch runs its own intra-op threads. minigrad's
gradient all-reduce is also timed on its own, after a barrier, so that its time is the
transfer's and not the wait for the slowest rank's backward (it runs after backward;
PyTorch overlaps its buckets with backward, so its share is not separable).
`allreduce` times the all-reduce of float32 arrays of each size (the parameter counts of a
model's gradients)."""
import argparse
import json
import os
import sys
import time

from benchmarks.configs import CONFIGS, parse_overrides
from benchmarks.harness import median_time


def _emit(rank, row):
    if rank == 0:
        print(json.dumps(row), flush=True)


def minigrad_train(args):
    import minigrad as mg
    import minigrad.distributed as dist
    from minigrad import functional as F

    from benchmarks import mg_ref
    group = dist.init("mpi", timeout=args.timeout)
    overrides = parse_overrides(args.set, CONFIGS[args.config])
    overrides.pop("sdpa", None)
    size = _shard(args.batch_size, group.world_size, args.threads)
    model, optimizer, cfg = mg_ref.build(args.config, seed=args.seed, batch_size=size,
                                         **overrides)
    idx, targets = mg_ref.make_batch(cfg, seed=args.seed + group.rank)
    reduce_s = []
    if group.world_size == 1:
        def step():
            mg_ref.train_step(model, optimizer, idx, targets, shards=args.threads)
    else:
        ddp = dist.DistributedDataParallel(model, group)

        def step():
            optimizer.zero_grad(set_to_none=True)
            out = model(idx)
            F.cross_entropy(out[0] if isinstance(out, tuple) else out, targets).backward()
            group.barrier()  # the all-reduce's own time, not the wait for the slowest rank
            began = time.perf_counter()
            ddp.reduce_gradients()
            reduce_s.append(time.perf_counter() - began)
            optimizer.step()

    with mg.backend.blas_threads(args.threads):
        median_s, samples = median_time(step, args.steps, args.warmup, sync=group.barrier)
    timed = sorted(reduce_s[args.warmup:])
    reduce_ms = timed[len(timed) // 2] * 1e3 if timed else None
    _emit(group.rank, {"side": "minigrad", "config": args.config, "ranks": group.world_size,
                       "threads": args.threads, "batch_size": args.batch_size, "ms_median": median_s * 1e3,
                       "ms_samples": [s * 1e3 for s in samples], "allreduce_ms": reduce_ms,
                       "params": model.num_parameters()})


def minigrad_allreduce(args):
    import numpy as np

    import minigrad.distributed as dist
    group = dist.init("mpi", timeout=args.timeout)
    for n in args.sizes:
        array = np.ones(n, np.float32)
        median_s, _ = median_time(lambda: group.all_reduce(array), args.steps, args.warmup)
        _emit(group.rank, {"side": "minigrad", "ranks": group.world_size, "values": n,
                           "ms_median": median_s * 1e3})


def _torch_group(torch):
    import torch.distributed as tdist
    tdist.init_process_group("gloo", rank=int(os.environ["RANK"]),
                             world_size=int(os.environ["WORLD_SIZE"]))
    return tdist


def torch_train(args):
    import torch
    torch.set_num_threads(args.threads)
    tdist = _torch_group(torch)
    from torch.nn.parallel import DistributedDataParallel

    from benchmarks import torch_ref
    rank, world = tdist.get_rank(), tdist.get_world_size()
    overrides = parse_overrides(args.set, CONFIGS[args.config])
    if args.sdpa and CONFIGS[args.config]["kind"] == "gpt":
        overrides["sdpa"] = True
    model, optimizer, cfg = torch_ref.build(args.config, seed=args.seed,
                                            batch_size=_shard(args.batch_size, world,
                                                              args.threads),
                                            **overrides)
    ddp = DistributedDataParallel(model) if world > 1 else model
    gen = torch.Generator().manual_seed(args.seed + rank)
    idx, targets = torch_ref.make_batch(cfg, gen)
    median_s, samples = median_time(lambda: torch_ref.train_step(ddp, optimizer, idx, targets),
                                    args.steps, args.warmup, sync=tdist.barrier)
    _emit(rank, {"side": "torch-sdpa" if args.sdpa else "torch", "config": args.config,
                 "ranks": world, "threads": args.threads, "batch_size": args.batch_size, "ms_median": median_s * 1e3,
                 "ms_samples": [s * 1e3 for s in samples],
                 "params": sum(p.numel() for p in model.parameters())})
    _close(tdist)


def torch_allreduce(args):
    import torch
    torch.set_num_threads(1)
    tdist = _torch_group(torch)
    for n in args.sizes:
        tensor = torch.ones(n)
        median_s, _ = median_time(lambda: tdist.all_reduce(tensor), args.steps, args.warmup)
        _emit(tdist.get_rank(), {"side": "torch", "ranks": tdist.get_world_size(), "values": n,
                                 "ms_median": median_s * 1e3})
    _close(tdist)


def _close(tdist):
    """Leave together, then at once: gloo's threads can end the interpreter's shutdown (or
    destroy_process_group) in std::terminate ("terminate called without an active
    exception"), a failed exit status after the results were written."""
    tdist.barrier()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _shard(batch_size, world, threads):
    if batch_size % world:
        raise SystemExit(f"--batch-size {batch_size} does not split over {world} ranks")
    if threads > 1 and world > 1:
        raise SystemExit("--threads is for one rank: ranks run one thread each")
    return batch_size // world


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed_worker")
    parser.add_argument("side", choices=["minigrad", "torch"])
    parser.add_argument("what", choices=["train", "allreduce"])
    parser.add_argument("--config", default="tiny", choices=sorted(CONFIGS))
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the step's whole batch (default the preset's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--sdpa", action="store_true", help="torch: fused attention")
    parser.add_argument("--threads", type=int, default=1, help="threads of a single rank")
    parser.add_argument("--sizes", type=lambda s: [int(float(v)) for v in s.split(",")],
                        default=[10**4, 10**5, 10**6, 10**7])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--timeout", type=float, default=600.0)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.batch_size is None:
        args.batch_size = CONFIGS[args.config]["batch_size"]
    run = {("minigrad", "train"): minigrad_train, ("minigrad", "allreduce"): minigrad_allreduce,
           ("torch", "train"): torch_train, ("torch", "allreduce"): torch_allreduce}
    run[args.side, args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
