"""PyTorch side of the benchmarks, run as its own process; prints one JSON object per line.

    python -m benchmarks.torch_worker train-step --config tiny[,quijote-lstm,...]
        [--steps 10] [--warmup 2] [--sdpa] [--cell-loop] [--set KEY=VALUE ...]
        [--threads 2] [--seed 1337] [--device cpu|cuda] [--amp off|float16|bfloat16]
    -> {"config", "backend": "torch", "ms_median", "ms_samples", "tokens_per_s", "gflops",
        "peak_mem_mb", "threads", ...}

    python -m benchmarks.torch_worker op --name NAME [--size A,B,...] [--mode fwd|fwdbwd]
        [--repeats 20] [--warmup 3] [--number N] [--no-grad] [--threads 2] [--device cpu|cuda]
    -> {"op", "size", "mode", "backend": "torch", "ms_median", "ms_samples", "gflops", ...}

    python -m benchmarks.torch_worker op-batch --spec NAME:A,B,..:MODE [--spec ...]
        [--repeats 20] [--warmup 3] [--device cpu|cuda]
    -> one `op` row per spec, all in this process; MODE is fwd, fwd-nograd or fwdbwd

    python -m benchmarks.torch_worker info
    -> {"backend": "torch", "torch_version", "threads", "cuda": bool, "cuda_device", ...}

train-step times whole steps (zero_grad, forward, cross-entropy, backward, optimizer step) on
random token ids; `--steps` is the number of timed steps, after `--warmup` untimed ones. gflops
uses the formulas of benchmarks/flops.py. `--set` overrides a preset field (n_layer=2,
batch_size=8, gelu=tanh, ...); `--sdpa` / `--cell-loop` are the same as --set sdpa=true /
cell_loop=true.

op times one call of a single operation (float32; sizes default to the tiny GPT's shapes):
    matmul          M,K,N         (2048,128,512)   (M,K) @ (K,N)
    bmm             B,M,K,N       (128,64,32,64)   batched matmul
    softmax         R,C           (8192,64)        softmax over the last dim
    log_softmax_ce  N,V           (2048,65)        F.cross_entropy(logits (N,V), targets)
    layer_norm      N,C           (2048,128)       F.layer_norm with weight and bias
    gelu            N,C           (2048,512)       F.gelu (erf)
    embedding       V,C,N         (65,128,2048)    F.embedding of N ids into a (V,C) table
    attention       B,H,T,D       (32,4,64,32)     explicit causal attention, q k^T/sqrt(D),
                                                   mask, softmax, @ v
    sdpa            B,H,T,D       (32,4,64,32)     F.scaled_dot_product_attention, causal
    lstm_cell       B,E,H         (20,256,512)     one nn.LSTMCell step
    lstm            T,B,E,H       (35,20,256,512)  nn.LSTM(E, H) over a (T,B,E) sequence
    add_small       N             (32)             a + b
mode fwd records the graph (inputs require grad) unless --no-grad; fwdbwd adds backward from
a fixed upstream gradient (for the loss of log_softmax_ce, from the scalar). `--number` calls
are timed per sample (default: enough for about 2 ms), and ms_median is per call.

torch uses 2 threads unless --threads. `--device cuda` runs on the GPU (torch.cuda.synchronize
before each clock reading). benchmarks/minigrad_worker.py is the minigrad mirror of this
worker: same subcommands, same keys. Without torch installed the worker prints
{"error": "torch not installed: pip install torch==2.13.0"} and exits with status 3.
"""

import argparse
import contextlib
import json
import sys

from benchmarks import flops
from benchmarks.configs import OP_SIZES, parse_op_spec
from benchmarks.harness import median_time, peak_memory_mb

TORCH_MISSING = "torch not installed: pip install torch==2.13.0"


def emit(obj):
    print(json.dumps(obj), flush=True)


def _parse_value(text, like):
    """Turn '--set' text into the type of the preset's current value."""
    from benchmarks.configs import parse_value
    return parse_value(text, like)


def _device(args, torch):
    """(device string, sync function or None) for --device."""
    device = getattr(args, "device", "cpu") or "cpu"
    if device == "cpu":
        return device, None
    if not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: torch finds no CUDA GPU "
                         f"(torch {torch.__version__})")
    return device, torch.cuda.synchronize


# ---------------------------------------------------------------------------------- train-step
def run_train_step(args, torch):
    from benchmarks import torch_ref

    results = []
    for name in [c for c in args.config.split(",") if c]:
        if name not in torch_ref.CONFIGS:
            raise SystemExit(f"unknown config {name!r}; choose from "
                             f"{', '.join(torch_ref.CONFIGS)}")
        base = torch_ref.CONFIGS[name]
        overrides = {}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
            overrides[key] = _parse_value(value, base.get(key))
        if args.sdpa:
            overrides["sdpa"] = True
        if args.cell_loop:
            overrides["cell_loop"] = True
        if base["kind"] == "gpt":
            overrides.pop("cell_loop", None)
        else:
            overrides.pop("sdpa", None)

        device, sync = _device(args, torch)
        model, optimizer, cfg = torch_ref.build(name, seed=args.seed, **overrides)
        model.to(device)
        gen = torch.Generator().manual_seed(args.seed)
        idx, targets = (t.to(device) for t in torch_ref.make_batch(cfg, gen))
        losses = []
        amp = None if args.amp == "off" else args.amp
        scaler = torch.amp.GradScaler(device) if amp == "float16" else None

        def step():
            losses.append(torch_ref.train_step(model, optimizer, idx, targets, amp=amp,
                                               scaler=scaler).item())

        median_s, samples = median_time(step, repeats=args.steps, warmup=args.warmup,
                                        sync=sync)
        tokens = flops.tokens_per_step(cfg)
        step_flops = flops.train_step_flops(cfg)
        n_params = sum(p.numel() for p in model.parameters())
        row = {
            "config": name,
            "backend": "torch",
            "ms_median": median_s * 1e3,
            "ms_samples": [s * 1e3 for s in samples],
            "tokens_per_s": tokens / median_s,
            "gflops": step_flops / median_s / 1e9,
            "peak_mem_mb": peak_memory_mb(),
            "peak_gpu_mem_mb": (torch.cuda.max_memory_allocated() / 2**20
                                if device != "cpu" else None),
            "device": device,
            "threads": torch.get_num_threads(),
            "steps": args.steps,
            "warmup": args.warmup,
            "tokens_per_step": tokens,
            "flops_per_step": step_flops,
            "params": n_params,
            "loss_first": losses[0],
            "loss_last": losses[-1],
            "overrides": overrides,
            "amp": args.amp,
            "torch_version": torch.__version__,
        }
        emit(row)
        results.append(row)
    return results


# ---------------------------------------------------------------------------------- op
def make_op(name, size, mode, grad, torch, device="cpu"):
    """A no-argument callable doing one op call in `mode`; inputs are built once, here."""
    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)
    rg = grad or mode == "fwdbwd"

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(device).requires_grad_(rg)

    def randint(high, shape):
        return torch.randint(high, shape, generator=g).to(device)

    if name == "matmul":
        m, k, n = size
        a, b = randn(m, k), randn(k, n)
        forward = lambda: a @ b                                      # noqa: E731
    elif name == "bmm":
        bsz, m, k, n = size
        a, b = randn(bsz, m, k), randn(bsz, k, n)
        forward = lambda: torch.bmm(a, b)                            # noqa: E731
    elif name == "softmax":
        r, c = size
        x = randn(r, c)
        forward = lambda: F.softmax(x, dim=-1)                       # noqa: E731
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
        mask = torch.tril(torch.ones(t, t, dtype=torch.bool)).to(device)
        scale = d ** -0.5

        def forward():
            att = (q @ k.transpose(-2, -1)) * scale
            att = att.masked_fill(~mask, float("-inf"))
            return F.softmax(att, dim=-1) @ v
    elif name == "sdpa":
        bsz, h, t, d = size
        q, k, v = randn(bsz, h, t, d), randn(bsz, h, t, d), randn(bsz, h, t, d)

        def forward():
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    elif name == "lstm":
        t, bsz, e, hid = size
        lstm = torch.nn.LSTM(e, hid).to(device)
        lstm.requires_grad_(rg)
        x = randn(t, bsz, e)

        def forward():
            return lstm(x)[0]
    elif name == "lstm_cell":
        bsz, e, hid = size
        cell = torch.nn.LSTMCell(e, hid).to(device)
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
    upstream = torch.randn(forward().shape, generator=g).to(device)

    def fwdbwd():
        out = forward()
        out.backward(upstream)

    return fwdbwd


def run_op(args, torch):
    size = tuple(int(s) for s in args.size.split(",")) if args.size else OP_SIZES[args.name]
    if args.name in OP_SIZES and len(size) != len(OP_SIZES[args.name]):
        raise SystemExit(f"op {args.name} takes {len(OP_SIZES[args.name])} sizes, got {size}")
    if args.no_grad and args.mode != "fwd":
        raise SystemExit("--no-grad goes with --mode fwd only")
    return time_op(args.name, size, args.mode, args.no_grad, args, torch)


def run_op_batch(args, torch):
    """One `op` row per --spec NAME:SIZES:MODE, in order, in this process."""
    try:
        specs = [parse_op_spec(text) for text in args.spec]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return [time_op(name, size, mode, no_grad, args, torch)
            for name, size, mode, no_grad in specs]


def time_op(name, size, mode, no_grad, args, torch):
    device, sync = _device(args, torch)
    fn = make_op(name, size, mode, not no_grad, torch, device)
    # The whole timing runs under no_grad (not each call: entering it costs ~1 us).
    with torch.no_grad() if no_grad else contextlib.nullcontext():
        number = args.number
        if number is None:          # enough calls per sample for about 2 ms
            for _ in range(3):
                fn()
            _, calib = median_time(fn, repeats=3, warmup=0, sync=sync)
            once = min(calib)
            number = max(1, min(100_000, int(2e-3 / max(once, 1e-9))))
        median_s, samples = median_time(fn, repeats=args.repeats, warmup=args.warmup,
                                        number=number, sync=sync)
    op_flops = flops.op_flops(name, size, mode)
    row = {
        "op": name,
        "size": list(size),
        "mode": mode,
        "grad": not no_grad,
        "backend": "torch",
        "device": device,
        "ms_median": median_s * 1e3,
        "ms_samples": [s * 1e3 for s in samples],
        "us_median": median_s * 1e6,
        "gflops": None if op_flops is None else op_flops / median_s / 1e9,
        "number": number,
        "peak_mem_mb": peak_memory_mb(),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }
    emit(row)
    return row


# ---------------------------------------------------------------------------------- info
def run_info(args, torch):
    cuda = bool(torch.cuda.is_available())
    row = {"backend": "torch", "torch_version": torch.__version__,
           "threads": torch.get_num_threads(), "cuda": cuda,
           "cuda_device": torch.cuda.get_device_name(0) if cuda else None}
    emit(row)
    return row


# ---------------------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(prog="python -m benchmarks.torch_worker",
                                     description="PyTorch benchmark worker (JSON lines).")
    parser.add_argument("--threads", type=int, default=2, metavar="N",
                        help="torch.set_num_threads (default 2)")
    sub = parser.add_subparsers(dest="command", required=True)

    ts = sub.add_parser("train-step", help="time full training steps of a preset")
    ts.add_argument("--config", default="tiny", help="preset name(s), comma-separated")
    ts.add_argument("--steps", type=int, default=10, help="timed steps")
    ts.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ts.add_argument("--sdpa", action="store_true", help="GPT: fused scaled_dot_product_attention")
    ts.add_argument("--cell-loop", action="store_true", help="LSTM: Python loop of nn.LSTMCell")
    ts.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset field (repeatable)")
    ts.add_argument("--seed", type=int, default=1337)
    ts.add_argument("--threads", type=int, default=None, dest="sub_threads", metavar="N",
                    help="torch threads (default 2)")
    ts.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ts.add_argument("--amp", default="off", choices=["off", "float16", "bfloat16"],
                    help="forward under torch.autocast (float16 with a GradScaler)")

    op = sub.add_parser("op", help="time one operation")
    op.add_argument("--name", required=True, choices=sorted(OP_SIZES))
    op.add_argument("--size", default=None, help="comma-separated sizes (see module doc)")
    op.add_argument("--mode", default="fwd", choices=["fwd", "fwdbwd"])
    op.add_argument("--repeats", type=int, default=20, help="timed samples")
    op.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    op.add_argument("--number", type=int, default=None, help="calls per sample (default: auto)")
    op.add_argument("--no-grad", action="store_true", help="fwd under torch.no_grad()")
    op.add_argument("--threads", type=int, default=None, dest="sub_threads", metavar="N",
                    help="torch threads (default 2)")
    op.add_argument("--device", default="cpu", choices=["cpu", "cuda"])

    batch = sub.add_parser("op-batch", help="time several ops in this process")
    batch.add_argument("--spec", action="append", required=True, metavar="NAME:SIZES:MODE",
                       help="e.g. matmul:256,256,256:fwdbwd or add_small:32:fwd-nograd")
    batch.add_argument("--repeats", type=int, default=20, help="timed samples")
    batch.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    batch.add_argument("--number", type=int, default=None,
                       help="calls per sample (default: auto)")
    batch.add_argument("--threads", type=int, default=None, dest="sub_threads", metavar="N",
                       help="torch threads (default 2)")
    batch.add_argument("--device", default="cpu", choices=["cpu", "cuda"])

    info = sub.add_parser("info", help="versions, threads and whether CUDA is usable")
    info.add_argument("--threads", type=int, default=None, dest="sub_threads", metavar="N")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        import torch
    except ImportError:
        emit({"error": TORCH_MISSING})
        return 3
    threads = args.sub_threads if args.sub_threads is not None else args.threads
    torch.set_num_threads(threads)
    commands = {"train-step": run_train_step, "op": run_op, "op-batch": run_op_batch,
                "info": run_info}
    commands[args.command](args, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
