"""`minigrad train --nproc N`: start N ranks on this machine through `mpiexec`, or run as
one rank of a job that mpiexec started (`mpiexec -n N --hostfile H minigrad train ...`).

The launcher runs `mpiexec -n N python -m models.cli train ...` (the same arguments) with
one BLAS thread per rank, waits, and on a failure says which checkpoint survives. Inside a
job (MPI's environment variables name its size) `minigrad train` trains as one rank
(models/distributed_train.py)."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from minigrad.distributed import DEFAULT_TIMEOUT

from models.validation import InputError

#: One BLAS (and OpenMP) thread per rank: N ranks on N cores, no oversubscription.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def add_flags(parser):
    group = parser.add_argument_group("data-parallel training (pip install -e "
                                      "'.[distributed]')")
    group.add_argument("--nproc", type=int, default=1, metavar="N",
                       help="processes on this machine, started through mpiexec, each "
                       "training on its share of every batch (--batch-size stays the whole "
                       "step's batch) with one BLAS thread (--threads is then unused); under "
                       "mpiexec -n N the job's ranks")
    group.add_argument("--check-every", type=int, default=0, metavar="STEPS",
                       help="debug: compare every rank's weights with rank 0's every this "
                       "many steps (0: never)")
    group.add_argument("--rank-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"end the job when a rank waits this long for the others "
                       f"(default {DEFAULT_TIMEOUT:g})")


def job_size():
    """The number of ranks of the MPI job this process belongs to (1 outside one)."""
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        if name in os.environ:
            return int(os.environ[name])
    return 1


def requested(args):
    return args.nproc > 1 or job_size() > 1


def train(args, config, out):
    """Launch the ranks (returns mpiexec's exit status) or, inside a job, train as one rank
    (returns rank 0's summary, 0 on the other ranks)."""
    if args.nproc < 1:
        raise InputError(f"--nproc must be at least 1, got {args.nproc}")
    if args.check_every < 0 or not args.rank_timeout > 0:
        raise InputError("--check-every must be 0 or more and --rank-timeout positive")
    size = job_size()
    if size == 1:
        return launch(args.argv, args.nproc, out)
    if args.nproc not in (1, size):
        raise InputError(f"--nproc {args.nproc} in a job of {size} ranks (mpiexec -n "
                         f"{size}): leave out --nproc under mpiexec")
    from models.distributed_train import run_rank
    summary = run_rank(config, out, args.resume, args.check_every, args.rank_timeout)
    return 0 if summary is None else summary


def find_mpiexec():
    """mpiexec beside this Python (the mpich wheel in a venv) or on PATH."""
    found = shutil.which("mpiexec", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        raise InputError("--nproc needs mpiexec: install the distributed extra (pip install "
                         "-e '.[distributed]': mpi4py and the MPICH wheel, which provides "
                         "mpiexec), or an MPI of the system")
    return found


def launch(argv, nproc, out):
    """Run `minigrad train argv` as `nproc` ranks under mpiexec; its exit status."""
    command = [find_mpiexec(), "-n", str(nproc), sys.executable, "-m", "models.cli", *argv]
    env = dict(os.environ, **{name: "1" for name in THREAD_VARIABLES})
    # Ctrl-C reaches the ranks (same process group): they stop after the same step and save.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        status = subprocess.call(command, env=env)
    finally:
        signal.signal(signal.SIGINT, previous)
    # 128 + a signal: the ranks stopped on Ctrl-C or SIGTERM and rank 0 said where it saved
    if status not in (0, 128 + signal.SIGINT, 128 + signal.SIGTERM):
        print(f"minigrad: error: training over {nproc} processes ended with status {status} "
              f"(the output of the rank that failed is above); {_last_checkpoint(out)}",
              file=sys.stderr)
    return status


def _last_checkpoint(out):
    from models.checkpoint import LAST, read_info
    path = Path(out) / LAST
    try:
        info, _ = read_info(path)
    except (OSError, ValueError, InputError):
        return f"no checkpoint was saved in {out}"
    return f"the last checkpoint, {path}, holds step {info['step']} (continue with --resume)"
