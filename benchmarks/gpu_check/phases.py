"""The phases of the GPU check, each run in a subprocess (`python3 -m benchmarks.gpu_check _phase
NAME`) that prints its results as JSON lines."""
import argparse
import importlib.util
import os
import subprocess
from pathlib import Path

from benchmarks.gpu_check.common import SETTINGS, emit, now

# ---------------------------------------------------------------------------------- phases
def phase_preflight(opts):
    """One JSON object: what the machine has, or the reason nothing can run ("fatal")."""
    import platform
    info = {"python": platform.python_version(), "fatal": None, "errors": {}}
    try:
        import numpy as np
        info["numpy"] = np.__version__
    except ImportError as exc:
        info["fatal"] = f"NumPy is not installed ({exc})"
        return info
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CuPy built for another CUDA
        info["fatal"] = (f"CuPy is not available ({type(exc).__name__}: {exc}); the GPU check "
                         f"needs CuPy for this machine's CUDA (cupy-cuda12x or cupy-cuda13x)")
        return info
    info["cupy"] = cupy.__version__
    info["standin"] = bool(getattr(cupy, "STANDIN", False))
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        count, info["errors"]["device_count"] = 0, f"{type(exc).__name__}: {exc}"
    info["gpu_count"] = count
    if count < 1:
        info["fatal"] = ("no NVIDIA GPU: CuPy finds none ("
                         + info["errors"].get("device_count", "device count 0")
                         + "); check nvidia-smi and the driver")
        return info
    try:
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props.get("name", b"")
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        info["gpu_memory_mb"] = round(props.get("totalGlobalMem", 0) / 2**20)
        info["compute_capability"] = f"{props.get('major')}.{props.get('minor')}"
        info["cuda_driver_version"] = _cuda_version(cupy.cuda.runtime.driverGetVersion())
        info["cuda_runtime_version"] = _cuda_version(cupy.cuda.runtime.runtimeGetVersion())
    except Exception as exc:
        info["errors"]["properties"] = f"{type(exc).__name__}: {exc}"
    info.update(_nvidia_smi())
    # minigrad on the GPU: a tensor, a raw kernel, an element-wise kernel, a reduction kernel
    start = now()
    try:
        import minigrad as mg
        from minigrad import backend_cuda
        from minigrad import functional as F
        info["minigrad_cuda"] = bool(mg.cuda.is_available())
        x = np.random.default_rng(0).standard_normal((4, 65)).astype(np.float32)
        t = np.array([1, 0, 64, 3])
        got = F.cross_entropy(mg.tensor(x, device="cuda"), mg.tensor(t, device="cuda")).item()
        want = F.cross_entropy(mg.tensor(x), mg.tensor(t)).item()
        ln = F.layer_norm(mg.tensor(x, device="cuda", requires_grad=True), (65,))
        ln.sum().backward()
        g = F.gelu(mg.tensor(x, device="cuda")).numpy()
        info["first_kernels_ok"] = bool(abs(got - want) < 1e-4 and np.isfinite(g).all())
        info["first_kernels_detail"] = f"cross-entropy {got:.6f} on the GPU, {want:.6f} on the CPU"
        info["bfloat16"] = backend_cuda.bfloat16() is not None
    except Exception as exc:
        info["first_kernels_ok"] = False
        info["errors"]["first_kernels"] = f"{type(exc).__name__}: {exc}"
    info["first_kernels_s"] = round(now() - start, 2)
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_cuda"] = bool(torch.cuda.is_available())
        info["torch_cuda_version"] = torch.version.cuda
        if info["torch_cuda"]:
            info["torch_gpu"] = torch.cuda.get_device_name(0)
    except Exception as exc:
        info["torch"] = None
        info["errors"]["torch"] = f"{type(exc).__name__}: {exc}"
    for name in ("regex", "scipy", "matplotlib", "ml_dtypes"):
        info[f"has_{name}"] = importlib.util.find_spec(name) is not None
    return info


def _cuda_version(number):
    number = int(number or 0)
    return f"{number // 1000}.{number % 1000 // 10}" if number else "0 (stand-in)"


def _nvidia_smi():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"nvidia_smi": f"not run ({type(exc).__name__})"}
    if out.returncode != 0:
        return {"nvidia_smi": f"exit status {out.returncode}: {out.stderr.strip()[:200]}"}
    first = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    parts = [p.strip() for p in first.split(",")]
    info = {"nvidia_smi": first}
    if len(parts) >= 2:
        info["driver_version"] = parts[1]
    return info


def _bench_cli(opts, extra):
    """The benchmark command line's machinery in this process, set for the GPU (and, in a
    rehearsal, with PyTorch's side on the CPU, since PyTorch has no GPU there)."""
    from benchmarks import __main__ as cli
    argv = extra + ["--device", "cuda", "--out", str(Path(opts.scratch) / "bench"),
                    "--quiet", "--threads", str(min(os.cpu_count() or 1, 8))]
    args = cli.build_parser().parse_args(argv)
    env = cli.Env(args)
    if opts.standin:
        original_step_argv, original_worker_argv = cli._step_argv, cli.worker_argv

        def step_argv(args, env, side, device, *rest, **kwargs):
            argv = original_step_argv(args, env, side, device, *rest, **kwargs)
            if side == "torch":
                argv[argv.index("--device") + 1] = "cpu"
            return argv

        def worker_argv(module, *args):
            argv = original_worker_argv(module, *args)
            if module == cli.TORCH_WORKER and "--device" in argv:
                argv[argv.index("--device") + 1] = "cpu"
            return argv

        cli._step_argv, cli.worker_argv = step_argv, worker_argv
        env.peer = lambda device: (env.torch_info is not None, env.torch_note)
    return cli, args, env


def phase_train_step(opts):
    """Rows of compare_step, one JSON line each as it finishes."""
    s = SETTINGS[opts.size]
    deadline = now() + opts.budget
    cli, args, env = _bench_cli(opts, ["train-step", "--rounds", "1", "--steps",
                                       str(s["bench_steps"]), "--warmup", str(s["bench_warmup"]),
                                       "--sdpa-both", "--peak-sizes", "1024,2048"]
                                + [a for kv in s["bench_set"] for a in ("--set", kv)])
    precisions = ["off", "float16"] + (["bfloat16"] if opts.bfloat16 else [])
    for amp in precisions:
        for name in s["presets"]:
            left = deadline - now()
            if left < 15:
                emit({"skipped": f"{name} {amp}: the phase's time is spent"})
                continue
            args.amp, args.timeout = amp, max(10.0, min(120.0, left - 5))
            overrides = cli.parse_overrides(args.set, cli.CONFIGS[name])
            row = cli.compare_step(args, env, name, overrides, "cuda")
            row["peak_gflops_device"] = env.peaks.get("cuda")
            emit(row)
    if not opts.bfloat16:
        emit({"note": "bfloat16 not run: minigrad cannot compute in it here "
                      "(backend_cuda.bfloat16() is None: no ml_dtypes, or a CuPy without it)"})


def phase_ops(opts):
    s = SETTINGS[opts.size]
    cli, args, env = _bench_cli(opts, ["ops", "--rounds", "1", "--repeats",
                                       str(s["op_repeats"]), "--modes", "fwd,fwdbwd"]
                                + (["--quick"] if s["op_quick"] else []))
    args.timeout = max(10.0, opts.budget - 10)
    specs = cli._op_specs(args)
    for row in cli.compare_ops(args, env, specs, "cuda", "ops"):
        emit(row)


def _trainer(device, steps, run_dir, overrides):
    import io

    from models.presets import get_preset
    from models.train import Trainer
    config = get_preset("nanogpt-char").replace(
        device=device, steps=steps, eval_every=max(steps, 1), eval_batches=10,
        final_eval=False, sample_tokens=0, threads=min(os.cpu_count() or 1, 8), **overrides)
    trainer = Trainer(config, run_dir, stream=io.StringIO())
    trainer.setup()
    return trainer


def _estimate(trainer):
    import numpy as np

    from models.evaluate import estimate_loss
    c = trainer.config
    splits = {name: trainer.splits[name] for name in ("train", "val")}
    losses = estimate_loss(trainer.model, splits, c.context, c.batch_size, c.eval_batches,
                           np.random.default_rng(c.seed + 1))
    return {k: float(v) for k, v in losses.items()}


def _gpu_pool_mb():
    try:
        import cupy
        return cupy.get_default_memory_pool().total_bytes() / 2**20
    except Exception:
        return None


def phase_train(opts):
    """nanogpt-char on the GPU: one JSON line per step, then the end."""
    s = SETTINGS[opts.size]
    deadline = now() + opts.budget
    start = now()
    trainer = _trainer("cuda", s["train_steps"], Path(opts.scratch) / "train",
                       s["train_set"])
    c = trainer.config
    emit({"event": "start", "device": "cuda", "params": trainer.model.num_parameters(),
          "config": {k: getattr(c, k) for k in ("n_layer", "n_head", "n_embd", "context",
                                                   "batch_size", "dropout", "lr", "steps")},
          "setup_s": round(now() - start, 2)})
    e0 = now()
    before = _estimate(trainer)
    eval_s = now() - e0
    emit({"event": "eval", "step": 0, "s": round(eval_s, 2), **before})
    peak = _gpu_pool_mb() or 0.0
    stopped = None
    for step in range(1, c.steps + 1):
        # keep time for the final evaluation: as long as the first took, and a margin
        if now() > deadline - 1.5 * eval_s - 5:
            stopped = "time budget"
            break
        began = now()
        loss = trainer.train_step()
        trainer.step = step
        emit({"event": "step", "step": step, "loss": loss, "s": round(now() - began, 4),
              "lr": trainer.scheduler.get_last_lr()[0]})
        if step % 25 == 0:
            peak = max(peak, _gpu_pool_mb() or 0.0)
    e0 = now()
    after = _estimate(trainer)
    emit({"event": "eval", "step": trainer.step, **after})
    emit({"event": "end", "steps": trainer.step, "stopped": stopped,
          "seconds": round(now() - start, 2), "eval_s": round(now() - e0, 2),
          "peak_gpu_mem_mb": max(peak, _gpu_pool_mb() or 0.0)})


def phase_compare(opts):
    """The first steps of nanogpt-char (dropout off) on each device, from the same weights."""
    s = SETTINGS[opts.size]
    overrides = dict(s["train_set"], dropout=0.0)
    for device in ("cuda", "cpu"):
        start = now()
        trainer = _trainer(device, s["compare_steps"], Path(opts.scratch) / f"compare-{device}",
                           overrides)
        losses = []
        for step in range(1, s["compare_steps"] + 1):
            losses.append(trainer.train_step())
            trainer.step = step
        emit({"device": device, "losses": losses, "seconds": round(now() - start, 2)})



def run_phase(argv):
    """``_phase NAME`` in a subprocess: JSON lines on stdout as results come."""
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks.gpu_check _phase")
    parser.add_argument("name", choices=["preflight", "train-step", "ops", "train", "compare"])
    parser.add_argument("--scratch", required=True)
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--size", choices=list(SETTINGS), default="full")
    parser.add_argument("--standin", action="store_true")
    parser.add_argument("--bfloat16", action="store_true")
    opts = parser.parse_args(argv)
    if opts.name == "preflight":
        emit(phase_preflight(opts))
        return 0
    {"train-step": phase_train_step, "ops": phase_ops, "train": phase_train,
     "compare": phase_compare}[opts.name](opts)
    return 0


