"""Data-parallel training (minigrad.distributed, `minigrad train --nproc N`) on 2 CPU ranks
through mpiexec: the collectives and DistributedDataParallel, 2 ranks taking the same steps
as 1 process on the whole batch, resuming with another number of ranks, and a rank that
raises, dies or hangs ending the job with a message and an intact checkpoint. Skipped where
mpi4py or mpiexec is missing (pip install -e '.[distributed]'). The NCCL group runs at world
size 1 on a GPU (marked cuda)."""
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models import checkpoint as ckpt
from models.config import Config
from models.distributed_launch import THREAD_VARIABLES, find_mpiexec
from models.train import Trainer
from models.validation import InputError

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 12
ROOT = Path(__file__).resolve().parents[1]


def _mpiexec():
    if importlib.util.find_spec("mpi4py") is None:
        return None
    try:
        return find_mpiexec()
    except InputError:
        return None


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec "
                               "(pip install -e '.[distributed]')")


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


SETTINGS = dict(model="transformer", n_layer=1, n_head=2, n_embd=16, context=8, batch_size=4,
                steps=6, warmup_steps=2, eval_every=2, eval_batches=2, final_eval=False,
                sample_tokens=0, threads=1)


def _flags(settings):
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        flags += [flag if value else "--no-" + flag[2:]] if isinstance(value, bool) else \
            [flag, str(value)]
    return flags


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        **{name: "1" for name in THREAD_VARIABLES})


def _train_ranks(run_dir, corpus, nproc, *extra, **changes):
    """`minigrad train --nproc N` in a subprocess; returns the completed process."""
    command = [sys.executable, "-m", "models.cli", "train", "--out", str(run_dir),
               "--corpus", corpus, "--nproc", str(nproc), *_flags({**SETTINGS, **changes}),
               *extra]
    return subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def _train_here(run_dir, corpus, stop_at=None, **changes):
    trainer = Trainer(Config(corpus=corpus, **{**SETTINGS, **changes}), run_dir,
                      stream=io.StringIO())
    if stop_at is not None:
        trainer.on_step = lambda step: trainer.request_stop() if step == stop_at else None
    return trainer.run()


def _assert_same_weights(a, b):
    """The two runs' last.npz: the same step and the same weights up to float32 rounding."""
    sa, sb = ckpt.load_checkpoint(Path(a) / ckpt.LAST), ckpt.load_checkpoint(Path(b) / ckpt.LAST)
    assert sa["step"] == sb["step"] and sa["tokens"] == sb["tokens"]
    assert sa["model"].keys() == sb["model"].keys()
    for name in sa["model"]:
        wa, wb = sa["model"][name].numpy(), sb["model"][name].numpy()
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6, err_msg=name)
    hidden_a, hidden_b = sa["data"]["hidden"], sb["data"]["hidden"]
    assert (hidden_a is None) == (hidden_b is None)
    for ha, hb in zip(hidden_a or [], hidden_b or []):
        np.testing.assert_allclose(np.asarray(ha), np.asarray(hb), rtol=1e-4, atol=1e-6)


@needs_mpi
def test_collectives_and_parameter_check_on_two_ranks():
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable,
                           str(ROOT / "tests" / "distributed_worker.py"), "collectives"],
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rank 0 ok" in done.stdout and "rank 1 ok" in done.stdout


MODELS = {"transformer": {}, "lstm": {"model": "lstm", "hidden_size": 16}}


@needs_mpi
@pytest.mark.parametrize("model", MODELS)
def test_two_ranks_take_the_steps_of_one_process_on_the_whole_batch(corpus, tmp_path, model):
    """--batch-size 4 over 2 ranks (2 rows each) against 1 process with 4 rows, AdamW (the
    LSTM: 2 streams each, its hidden state carried per rank and gathered for checkpoints)."""
    done = _train_ranks(tmp_path / "two", corpus, 2, "--check-every", "2", **MODELS[model])
    assert done.returncode == 0, done.stderr
    assert "step 6" in done.stdout  # rank 0's summary, printed once
    assert done.stdout.count("run:") == 1
    _train_here(tmp_path / "one", corpus, **MODELS[model])
    _assert_same_weights(tmp_path / "one", tmp_path / "two")
    log_one = (tmp_path / "one" / ckpt.LOG).read_text().splitlines()
    log_two = (tmp_path / "two" / ckpt.LOG).read_text().splitlines()
    assert len(log_one) == len(log_two) == 4  # steps 0, 2, 4, 6: rank 0 alone wrote


@needs_mpi
@pytest.mark.parametrize("model", MODELS)
def test_resume_with_another_number_of_ranks(corpus, tmp_path, model):
    """A run of 1 process stopped at step 3, resumed on 2 ranks to step 6, ends where the
    run of 1 process never stopped does (and so does its recurrent state)."""
    _train_here(tmp_path / "whole", corpus, **MODELS[model])
    _train_here(tmp_path / "resumed", corpus, stop_at=3, **MODELS[model])
    done = _train_ranks(tmp_path / "resumed", corpus, 2, "--resume", **MODELS[model])
    assert done.returncode == 0, done.stderr
    _assert_same_weights(tmp_path / "whole", tmp_path / "resumed")


@needs_mpi
def test_a_batch_that_does_not_split_over_the_ranks_is_refused(corpus, tmp_path):
    done = _train_ranks(tmp_path / "odd", corpus, 2, batch_size=5)
    assert done.returncode != 0
    assert "rank 0 of 2 (mpi): InputError: --batch-size 5 does not split into 2" in done.stderr
    # the launcher's own last word: what failed and which checkpoint survives
    assert "training over 2 processes ended with status" in done.stderr
    assert "no checkpoint was saved" in done.stderr


def test_nproc_without_mpiexec_says_how_to_install_it(monkeypatch):
    import models.distributed_launch as launch
    monkeypatch.setattr(launch.shutil, "which", lambda name, path=None: None)
    with pytest.raises(InputError, match=r"pip install -e '\.\[distributed\]'"):
        launch.find_mpiexec()


@needs_mpi
def test_collectives_check_their_arguments():
    """Misuse is an error naming the operation and what it got (a group of one rank)."""
    import minigrad as mg
    from minigrad.distributed import DistributedError
    from minigrad.distributed.mpi import MPIGroup
    group = MPIGroup(timeout=30)
    assert (group.rank, group.world_size) == (0, 1)
    with pytest.raises(DistributedError, match=r"all_reduce: expected a C-contiguous array .* "
                                               r"shape \(3,\)"):
        group.all_reduce(np.ones((3, 4))[:, 1])
    with pytest.raises(DistributedError, match="op must be one of sum, max, min, got 'mean'"):
        group.all_reduce(np.ones(2), "mean")
    with pytest.raises(DistributedError, match="root 1 is not a rank of a group of 1"):
        group.broadcast(np.ones(2), root=1)
    t = mg.tensor([1.0, 2.0])
    assert group.all_reduce(t) is t.data  # a Tensor's array, in place


@needs_mpi
@pytest.mark.parametrize("mode", ["raise", "die", "hang"])
def test_a_failing_rank_ends_the_job_and_the_checkpoint_survives(corpus, tmp_path, mode):
    """Rank 1 fails at step 5 (checkpoints every 2 steps): every rank ends, within the
    3-second deadline where rank 1 hangs, and last.npz holds step 4, intact."""
    began = time.monotonic()
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable,
                           str(ROOT / "tests" / "distributed_worker.py"), "fault", mode,
                           str(tmp_path / "run"), corpus],
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert time.monotonic() - began < 40
    expected = {"raise": "rank 1 of 2 (mpi): RuntimeError: planted failure",
                "die": "", "hang": "rank 0 of 2 (mpi): all_reduce(sum)"}[mode]
    assert expected in done.stderr, done.stderr
    state = ckpt.load_checkpoint(tmp_path / "run" / ckpt.LAST)
    assert state["step"] == 4
    assert all(np.isfinite(w.numpy()).all() for w in state["model"].values())


@pytest.mark.cuda
def test_nccl_group_at_world_size_one(corpus, tmp_path):
    """The NCCL process group and DistributedDataParallel on one GPU: the collectives and
    the trainer's data-parallel path."""
    cupy = pytest.importorskip("cupy")
    import minigrad.distributed as dist
    from minigrad import backend
    from models.distributed_train import DistributedTrainer
    if not backend.cuda_is_available():
        pytest.skip("needs an NVIDIA GPU")
    try:
        from cupy.cuda import nccl
        nccl.get_unique_id()
    except Exception as e:  # noqa: BLE001 (a CuPy without NCCL, or the NumPy stand-in)
        pytest.skip(f"needs CuPy with NCCL ({type(e).__name__}: {e})")
    group = dist.init("nccl", timeout=60)
    assert (group.rank, group.world_size, group.backend) == (0, 1, "nccl")
    a = cupy.arange(4, dtype=cupy.float32)
    assert (dist.all_reduce(a).get() == np.arange(4)).all()
    assert (dist.broadcast(a, 0).get() == np.arange(4)).all()
    dist.barrier()
    # The trainer itself, not run_rank: a failure must fail this test, not abort pytest.
    trainer = DistributedTrainer(Config(corpus=corpus, device="cuda", **SETTINGS),
                                 tmp_path / "gpu", group, check_every=2, stream=io.StringIO())
    summary = trainer.run()
    assert summary["step"] == SETTINGS["steps"]
    _train_here(tmp_path / "cpu", corpus)
    _assert_same_weights(tmp_path / "cpu", tmp_path / "gpu")


@needs_mpi
def test_distributed_benchmark_smoke(tmp_path):
    """`python -m benchmarks distributed` on the micro shapes, minigrad's side: step times on
    1 and 2 ranks and 1 process of 2 threads, the scaling efficiency, the all-reduce sweep."""
    from benchmarks import distributed_bench
    distributed_bench.main(["--preset", "micro", "--steps", "2", "--warmup", "1", "--rounds",
                            "1", "--sizes", "1e3,1e4", "--no-torch", "--quiet", "--json",
                            "--out", str(tmp_path)])
    rows = [json.loads(line) for line in (tmp_path / "distributed.jsonl").read_text().splitlines()]
    train, sweep = rows[0], rows[1:]
    assert train["minigrad_efficiency"] == pytest.approx(
        train["minigrad_1_ms"] / (2 * train["minigrad_2_ms"]))
    assert train["allreduce_ms"] > 0 and train["allreduce_share"] > 0
    assert train["minigrad_best_ms"] == min(train["minigrad_2_ms"], train["minigrad_threads_ms"])
    assert [r["values"] for r in sweep] == [1000, 10000]
    assert all(r["minigrad_ms"] > 0 for r in sweep)
    assert "| micro |" in (tmp_path / "distributed.md").read_text()


@pytest.mark.torch
def test_distributed_benchmark_torch_ranks_over_gloo():
    """The PyTorch peer: 2 ranks of DistributedDataParallel over gloo."""
    pytest.importorskip("torch")
    from benchmarks.distributed_bench import run_torch
    (row,) = run_torch(2, ["train", "--config", "micro", "--steps", "2", "--warmup", "0",
                           "--sdpa"], timeout=120)
    assert (row["side"], row["ranks"], len(row["ms_samples"])) == ("torch-sdpa", 2, 2)
