"""The trainer as one rank of a data-parallel job (`minigrad train --nproc N`, or
`mpiexec -n N minigrad train ...`; models/distributed_launch.py starts it).

Every rank builds the same model from the run's seed (and rank 0's weights are broadcast
anyway), draws the same whole batch of `--batch-size` rows from the run's batch generator
and trains on its own slice of rows: rank r of N takes rows r*B/N to (r+1)*B/N. The
gradients (and the loss) are averaged over the ranks before clipping and the update
(minigrad.distributed.DistributedDataParallel), so a step of N ranks is the step of one
process on the whole batch, up to float rounding, and every rank's generators and data
position stay those of a single process: a checkpoint resumes with any N. A recurrent
model's rank carries the hidden state of its own rows (streams); a checkpoint holds the
whole batch's, gathered from the ranks.

Rank 0 alone writes the run directory (logs, checkpoints, plot, samples); the other ranks
read it (the tokenizer, the data cache, last.npz on --resume) after rank 0 has set it up.
Evaluation runs on every rank (the same batches, so the same numbers and the same early
stop). A Ctrl-C reaches every rank; the stop is agreed through the step's all-reduce, so all
ranks stop after the same step. A rank that raises prints its error and ends the job (MPI
abort); one that dies or hangs makes the others' next collective time out.
"""
import sys
import traceback

import numpy as np

import minigrad.distributed as dist
from minigrad import backend
from minigrad.tensor import Tensor

from models import checkpoint as ckpt
from models.rundir import RunDir
from models.stopping import TrainingDiverged
from models.train import Trainer
from models.validation import InputError


class ReadOnlyRunDir(RunDir):
    """The run directory as ranks other than 0 see it: read, never locked or written."""

    def open(self):
        return self

    def write_bytes(self, name, data):
        pass

    def append_line(self, name, line):
        pass


class DistributedTrainer(Trainer):
    def __init__(self, config, run_dir, group, resume=False, stream=None, check_every=0):
        lead = group.rank == 0
        super().__init__(config, run_dir, resume, stream if lead else _Silent())
        self.group, self.check_every = group, check_every
        if not lead:
            self.rundir = ReadOnlyRunDir(run_dir)
        self._pending_stop = None

    def setup(self):
        c, group = self.config, self.group
        if self.config.batch_size % group.world_size:
            raise InputError(f"--batch-size {c.batch_size} does not split into {group.world_size}"
                             f" equal shards (one per process): use a multiple of "
                             f"{group.world_size}")
        if group.rank == 0:  # rank 0 writes the tokenizer, data cache and config first
            super().setup()
            group.barrier()
        else:
            group.barrier()
            super().setup()
        self.ddp = dist.DistributedDataParallel(self.model, group)
        group.barrier()  # no rank starts (and rank 0 writes nothing) before all are set up

    def _check_run_dir(self):
        if self.group.rank != 0 and not self.resume:
            return None  # rank 0 has already refused a directory that holds a run
        return super()._check_run_dir()

    def learn_tokenizer(self, corpus):
        if self.group.rank == 0:
            return super().learn_tokenizer(corpus)
        # the tokenizer rank 0 has just learnt and saved, read rather than learnt again
        return ckpt.read_tokenizer(self.run_dir / ckpt.TOKENIZER, {}, self.run_dir)

    def next_batch(self, index):
        """This rank's rows of the step's whole batch."""
        x, y = super().next_batch(index)
        rows = self._rows(x.shape[0])
        return x[rows], y[rows]

    def train_step(self):
        # Dropout masks differ between ranks (and stay reproducible): each step draws from a
        # generator seeded by (seed, step, rank); the run's own generator is left alone.
        seed = np.random.SeedSequence([self.config.seed, self.step, self.group.rank])
        tokens = self.tokens
        with backend.thread_generator(int(seed.generate_state(1)[0]), self.ddp.xp):
            loss = super().train_step()
        self.tokens = tokens + (self.tokens - tokens) * self.group.world_size
        if self.check_every and (self.step + 1) % self.check_every == 0:
            self.ddp.check_parameters()
        return loss

    def after_backward(self, loss_sum):
        self.ddp.reduce_gradients()
        shared = self.ddp.xp.asarray([loss_sum, self._pending_stop is not None], np.float64)
        self.group.all_reduce(shared, "sum")
        loss_sum, stop = (float(v) for v in shared)
        if stop:
            super().request_stop("interrupted")
        return loss_sum / self.group.world_size

    def request_stop(self, reason="interrupted"):
        # A signal may reach the ranks in different steps: its stop waits for the next
        # all-reduce, which tells every rank at once. Other stops (early stopping) come from
        # numbers every rank shares.
        if reason == "interrupted":
            self._pending_stop = reason
        else:
            super().request_stop(reason)

    def _split_batches(self, x):
        return False  # one process per core already

    def save(self, *names):
        whole = self._whole_hidden()  # a collective: every rank takes part
        if self.group.rank == 0:
            mine, self.hidden = self.hidden, whole
            try:
                super().save(*names)
            finally:
                self.hidden = mine

    def _restore(self, info):
        super()._restore(info)
        self.hidden = _map_state(self.hidden, lambda h: h[:, self._rows(h.shape[1])].copy())

    def _rows(self, batch):
        """This rank's slice of `batch` rows."""
        size = batch // self.group.world_size
        return slice(self.group.rank * size, (self.group.rank + 1) * size)

    def _whole_hidden(self):
        """The recurrent state of the whole batch (each rank holds its rows), as one
        process would hold it: the checkpoint's, so that any N resumes from it."""
        world = self.group.world_size

        def gather(h):
            layers, rows, width = h.shape
            whole = backend.get_array_module(h).zeros((layers, rows * world, width), h.dtype)
            whole[:, self._rows(rows * world)] = h
            return self.group.all_reduce(whole, "sum")

        return _map_state(self.hidden, gather)

    def finish(self):
        if self.group.rank == 0:
            return super().finish()
        return self.summary()


def _map_state(state, fn):
    """`fn` applied to the array of each tensor of a recurrent state (None, a tensor or a
    tuple of them), as new tensors."""
    if state is None:
        return None
    parts = tuple(Tensor._wrap(fn(t.data), False)
                  for t in (state if isinstance(state, tuple) else (state,)))
    return parts if isinstance(state, tuple) else parts[0]


class _Silent:
    """A stream for the progress display of ranks other than 0."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


def run_rank(config, run_dir, resume=False, check_every=0, timeout=dist.DEFAULT_TIMEOUT,
             on_step=None):
    """Train as this process's rank of the job; returns rank 0's summary (None on other
    ranks). Any error ends every rank of the job, with a message naming this rank.
    `on_step(trainer, step)` is called after every step (tests inject faults with it)."""
    kind = "nccl" if config.device.startswith("cuda") else "mpi"
    group = dist.init(kind, timeout)
    try:
        trainer = DistributedTrainer(config, run_dir, group, resume, check_every=check_every)
        if on_step is not None:
            trainer.on_step = lambda step: on_step(trainer, step)
        with backend.blas_threads(1):
            summary = trainer.run()
    except BaseException as e:  # noqa: B902 (whatever it is, the other ranks must end too)
        _report(group, e)
        group.abort(str(e))
        raise
    return summary if group.rank == 0 else None


def _report(group, error):
    # Errors of input, files, divergence and the group say all there is in their message.
    expected = isinstance(error, (ValueError, OSError, TrainingDiverged, dist.DistributedError))
    if not expected and not isinstance(error, KeyboardInterrupt):
        traceback.print_exception(error, file=sys.stderr)
    print(f"minigrad: error: {group.describe()}: {type(error).__name__}: {error} (ending all "
          f"ranks)", file=sys.stderr, flush=True)
