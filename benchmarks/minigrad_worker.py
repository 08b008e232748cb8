"""minigrad side of the benchmarks, run as its own process; prints one JSON object per line.
The mirror of benchmarks/torch_worker.py: same subcommands, same arguments, same keys.

    python -m benchmarks.minigrad_worker train-step --config tiny[,quijote-lstm,...]
        [--steps 10] [--warmup 2] [--set KEY=VALUE ...] [--seed 1337]
        [--device cpu|cuda] [--impl auto|models|ref] [--amp off|float16|bfloat16] [--threads N]
    -> {"config", "backend": "minigrad", "xp", "device", "ms_median", "ms_samples",
        "tokens_per_s", "gflops", "peak_mem_mb", "threads", "model_impl", "optimizer_impl", ...}

    python -m benchmarks.minigrad_worker op --name NAME [--size A,B,...] [--mode fwd|fwdbwd]
        [--repeats 20] [--warmup 3] [--number N] [--no-grad] [--device cpu|cuda]
    -> {"op", "size", "mode", "backend": "minigrad", "ms_median", "ms_samples", "gflops", ...}

    python -m benchmarks.minigrad_worker op-batch --spec NAME:A,B,..:MODE [--spec ...]
    -> one `op` row per spec (MODE: fwd, fwd-nograd or fwdbwd)

    python -m benchmarks.minigrad_worker info
    -> {"backend": "minigrad", "numpy_version", "blas", "cuda": bool, "cupy_version", ...}

train-step times whole steps (zero_grad, forward, cross-entropy, backward, optimizer step) of
the model `benchmarks.mg_ref.build` makes (the network of torch_ref, in minigrad) on random
token ids. op builds the same inputs as the torch worker's (float32) and times one call; the
ops and their sizes are listed in torch_worker's docstring and benchmarks/configs.OP_SIZES.

`--device cuda` runs on minigrad's CuPy backend (minigrad.cuda.synchronize() before each
clock reading). `--threads N` sets the BLAS thread count (OPENBLAS/OMP/MKL_NUM_THREADS) before
NumPy is imported; by default NumPy's own choice (every core) stands.
"""

import argparse
import json
import os
import sys

from benchmarks import flops
from benchmarks.configs import CONFIGS, OP_SIZES, parse_op_spec, parse_overrides
from benchmarks.harness import median_time, peak_memory_mb

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def emit(obj):
    print(json.dumps(obj), flush=True)


def _blas_threads():
    """The BLAS thread count NumPy runs with, as best we can tell."""
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return pools[0]["num_threads"]
    except ImportError:
        pass
    for var in THREAD_VARS[:3]:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count()


def _blas_name(np):
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:          # older NumPy: no dicts mode
        return None


def _setup(args):
    """(minigrad, sync or None, device string, xp name) for --device."""
    import minigrad as mg
    device = getattr(args, "device", "cpu") or "cpu"
    if device == "cpu":
        return mg, None, "cpu", "numpy"
    if not mg.cuda.is_available():
        raise SystemExit(f"--device {device}: minigrad's CUDA backend is not available "
                         "(needs CuPy and an NVIDIA GPU)")
    return mg, mg.cuda.synchronize, device, "cupy"


def _common(mg, xp_name):
    import numpy as np
    row = {"numpy_version": np.__version__, "minigrad_version": mg.__version__,
           "threads": _blas_threads()}
    if xp_name == "cupy":
        import cupy
        row["cupy_version"] = cupy.__version__
    return row


# ---------------------------------------------------------------------------------- train-step
def run_train_step(args):
    mg, sync, device, xp_name = _setup(args)
    from benchmarks import mg_ref

    results = []
    for name in [c for c in args.config.split(",") if c]:
        if name not in CONFIGS:
            raise SystemExit(f"unknown config {name!r}; choose from {', '.join(CONFIGS)}")
        try:
            overrides = parse_overrides(args.set, CONFIGS[name])
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        # torch-only switches (the fused attention, nn.LSTMCell loop) mean nothing here
        for key in ("sdpa", "cell_loop"):
            overrides.pop(key, None)
        model, optimizer, cfg = mg_ref.build(name, seed=args.seed, impl=args.impl,
                                             device=device, **overrides)
        idx, targets = mg_ref.make_batch(cfg, seed=args.seed, device=device)
        losses = []

        # The batch is split over the BLAS threads, one each, as `minigrad train` does.
        shards = (args.threads or os.cpu_count() or 1) if device == "cpu" else 1
        amp = None if args.amp == "off" else args.amp
        # float16 steps through a loss scaler, as a float16 training run does
        scaler = mg.amp.GradScaler() if amp == "float16" else None

        def step():
            losses.append(mg_ref.train_step(model, optimizer, idx, targets, shards, amp=amp,
                                            scaler=scaler))

        median_s, samples = median_time(step, repeats=args.steps, warmup=args.warmup,
                                        sync=sync)
        tokens = flops.tokens_per_step(cfg)
        step_flops = flops.train_step_flops(cfg)
        row = {
            "config": name,
            "backend": "minigrad",
            "xp": xp_name,
            "device": device,
            "ms_median": median_s * 1e3,
            "ms_samples": [s * 1e3 for s in samples],
            "tokens_per_s": tokens / median_s,
            "gflops": step_flops / median_s / 1e9,
            "peak_mem_mb": peak_memory_mb(),
            "peak_gpu_mem_mb": _gpu_peak_mb() if xp_name == "cupy" else None,
            "steps": args.steps,
            "warmup": args.warmup,
            "tokens_per_step": tokens,
            "flops_per_step": step_flops,
            "params": model.num_parameters(),
            "loss_first": losses[0],
            "loss_last": losses[-1],
            "overrides": overrides,
            "model_impl": cfg["model_impl"],
            "model_impl_note": cfg.get("model_impl_note"),
            "optimizer_impl": cfg["optimizer_impl"],
            "amp": args.amp,
            **_common(mg, xp_name),
        }
        emit(row)
        results.append(row)
    return results


def _gpu_peak_mb():
    """CuPy's memory pool size: the pool keeps the blocks it has allocated, so at the end of
    the run this is its high-water mark (CuPy keeps no peak counter of its own)."""
    import cupy
    return cupy.get_default_memory_pool().total_bytes() / 2**20


# ---------------------------------------------------------------------------------- op
def make_op(name, size, mode, grad, mg, device="cpu"):
    """A no-argument callable doing one op call in `mode`; inputs are built once, here.
    The same ops as torch_worker.make_op, written with minigrad."""
    import numpy as np
    F = mg.functional
    rng = np.random.default_rng(0)
    rg = grad or mode == "fwdbwd"

    def randn(*shape):
        data = rng.standard_normal(shape, dtype=np.float32)
        return mg.tensor(data, requires_grad=rg, device=device)

    def randint(high, shape):
        return mg.tensor(rng.integers(high, size=shape, dtype=np.int64), device=device)

    if name == "matmul":
        m, k, n = size
        a, b = randn(m, k), randn(k, n)
        forward = lambda: a @ b                                      # noqa: E731
    elif name == "bmm":
        bsz, m, k, n = size
        a, b = randn(bsz, m, k), randn(bsz, k, n)
        forward = lambda: mg.matmul(a, b)                            # noqa: E731
    elif name == "softmax":
        r, c = size
        x = randn(r, c)
        forward = lambda: F.softmax(x, -1)                           # noqa: E731
    elif name == "log_softmax_ce":
        n, v = size
        x = randn(n, v)
        t = randint(v, (n,))
        forward = lambda: F.cross_entropy(x, t)                      # noqa: E731
    elif name == "layer_norm":
        n, c = size
        x, w, b = randn(n, c), randn(c), randn(c)
        forward = lambda: F.layer_norm(x, (c,), w, b, 1e-5)          # noqa: E731
    elif name == "gelu":
        n, c = size
        x = randn(n, c)
        forward = lambda: F.gelu(x)                                  # noqa: E731
    elif name == "embedding":
        v, c, n = size
        table = randn(v, c)
        ids = randint(v, (n,))
        forward = lambda: F.embedding(ids, table)                    # noqa: E731
    elif name == "attention":
        bsz, h, t, d = size
        q, k, v = randn(bsz, h, t, d), randn(bsz, h, t, d), randn(bsz, h, t, d)
        future = mg.tensor(np.triu(np.ones((t, t), dtype=bool), k=1), device=device)
        scale = d ** -0.5

        def forward():
            att = (q @ k.transpose(-2, -1)) * scale
            att = att.masked_fill(future, float("-inf"))
            return F.softmax(att, -1) @ v
    elif name == "sdpa":
        bsz, h, t, d = size
        q, k, v = randn(bsz, h, t, d), randn(bsz, h, t, d), randn(bsz, h, t, d)
        forward = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)  # noqa: E731
    elif name == "lstm":
        t, bsz, e, hid = size
        from minigrad import nn
        lstm = nn.LSTM(e, hid)
        if device != "cpu":
            lstm.to(device)
        lstm.requires_grad_(rg)
        x = randn(t, bsz, e)

        def forward():
            return lstm(x)[0]
    elif name == "lstm_cell":
        bsz, e, hid = size
        from minigrad import nn
        cell = nn.LSTMCell(e, hid)
        if device != "cpu":
            cell.to(device)
        cell.requires_grad_(rg)
        x, h0, c0 = randn(bsz, e), randn(bsz, hid), randn(bsz, hid)

        def forward():
            h, c = cell(x, (h0, c0))
            return h
    elif name == "add_small":
        (n,) = size
        a, b = randn(n), randn(n)
        forward = lambda: a + b                                      # noqa: E731
    else:
        raise SystemExit(f"unknown op {name!r}; choose from {', '.join(OP_SIZES)}")

    if mode == "fwd":
        return forward
    if mode != "fwdbwd":
        raise SystemExit(f"unknown mode {mode!r} (fwd or fwdbwd)")
    upstream = randn(*forward().shape).detach()

    def fwdbwd():
        out = forward()
        out.backward(upstream)

    return fwdbwd


def run_op(args):
    size = tuple(int(s) for s in args.size.split(",")) if args.size else OP_SIZES[args.name]
    if len(size) != len(OP_SIZES[args.name]):
        raise SystemExit(f"op {args.name} takes {len(OP_SIZES[args.name])} sizes, got {size}")
    if args.no_grad and args.mode != "fwd":
        raise SystemExit("--no-grad goes with --mode fwd only")
    return time_op(args.name, size, args.mode, args.no_grad, args)


def run_op_batch(args):
    try:
        specs = [parse_op_spec(text) for text in args.spec]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return [time_op(name, size, mode, no_grad, args) for name, size, mode, no_grad in specs]


def time_op(name, size, mode, no_grad, args):
    import contextlib
    mg, sync, device, xp_name = _setup(args)
    fn = make_op(name, size, mode, not no_grad, mg, device)
    with mg.no_grad() if no_grad else contextlib.nullcontext():
        number = args.number
        if number is None:          # enough calls per sample for about 2 ms
            for _ in range(3):
                fn()
            _, calib = median_time(fn, repeats=3, warmup=0, sync=sync)
            number = max(1, min(100_000, int(2e-3 / max(min(calib), 1e-9))))
        median_s, samples = median_time(fn, repeats=args.repeats, warmup=args.warmup,
                                        number=number, sync=sync)
    op_flops = flops.op_flops(name, size, mode)
    row = {
        "op": name,
        "size": list(size),
        "mode": mode,
        "grad": not no_grad,
        "backend": "minigrad",
        "xp": xp_name,
        "device": device,
        "ms_median": median_s * 1e3,
        "ms_samples": [s * 1e3 for s in samples],
        "us_median": median_s * 1e6,
        "gflops": None if op_flops is None else op_flops / median_s / 1e9,
        "number": number,
        "peak_mem_mb": peak_memory_mb(),
        **_common(mg, xp_name),
    }
    emit(row)
    return row


# ---------------------------------------------------------------------------------- info
def run_info(args):
    import numpy as np

    import minigrad as mg
    cuda = bool(mg.cuda.is_available())
    row = {"backend": "minigrad", "minigrad_version": mg.__version__,
           "numpy_version": np.__version__, "blas": _blas_name(np), "threads": _blas_threads(),
           "cpu_count": os.cpu_count(), "cuda": cuda, "cupy_version": None,
           "cuda_device": None}
    if cuda:
        import cupy
        row["cupy_version"] = cupy.__version__
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props.get("name", b"")
        row["cuda_device"] = name.decode() if isinstance(name, bytes) else str(name)
    emit(row)
    return row


# ---------------------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.minigrad_worker",
                                     description="minigrad benchmark worker (JSON lines).")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="BLAS threads (default: NumPy's choice)")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--threads", type=int, default=None, dest="sub_threads", metavar="N",
                       help="BLAS threads (default: NumPy's choice)")
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])

    ts = sub.add_parser("train-step", help="time full training steps of a preset")
    ts.add_argument("--config", default="tiny", help="preset name(s), comma-separated")
    ts.add_argument("--steps", type=int, default=10, help="timed steps")
    ts.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ts.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset field (repeatable)")
    ts.add_argument("--seed", type=int, default=1337)
    ts.add_argument("--impl", default="auto", choices=["auto", "models", "ref"],
                    help="models.TransformerLM/LSTMLM, or the mg_ref networks")
    ts.add_argument("--amp", default="off", choices=["off", "float16", "bfloat16"],
                    help="forward under minigrad.amp.autocast (float16 with a GradScaler)")
    common(ts)

    op = sub.add_parser("op", help="time one operation")
    op.add_argument("--name", required=True, choices=sorted(OP_SIZES))
    op.add_argument("--size", default=None, help="comma-separated sizes")
    op.add_argument("--mode", default="fwd", choices=["fwd", "fwdbwd"])
    op.add_argument("--repeats", type=int, default=20, help="timed samples")
    op.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    op.add_argument("--number", type=int, default=None, help="calls per sample (default: auto)")
    op.add_argument("--no-grad", action="store_true", help="fwd under minigrad.no_grad()")
    common(op)

    batch = sub.add_parser("op-batch", help="time several ops in this process")
    batch.add_argument("--spec", action="append", required=True, metavar="NAME:SIZES:MODE")
    batch.add_argument("--repeats", type=int, default=20, help="timed samples")
    batch.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    batch.add_argument("--number", type=int, default=None,
                       help="calls per sample (default: auto)")
    common(batch)

    info = sub.add_parser("info", help="versions, BLAS and whether CUDA is usable")
    info.add_argument("--threads", type=int, default=None, dest="sub_threads", metavar="N")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    threads = args.sub_threads if args.sub_threads is not None else args.threads
    if threads is not None:
        if "numpy" in sys.modules:
            print("warning: NumPy already imported; --threads may not apply", file=sys.stderr)
        for var in THREAD_VARS:
            os.environ[var] = str(threads)
    from minigrad import backend  # after the thread variables: this imports NumPy
    backend.keep_freed_memory()  # as the trainer does (MINIGRAD_SYSTEM_MALLOC=1 measures without)
    commands = {"train-step": run_train_step, "op": run_op, "op-batch": run_op_batch,
                "info": run_info}
    commands[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
