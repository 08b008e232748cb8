"""minigrad against PyTorch, side by side: `python -m benchmarks SUBCOMMAND [options]`.

    train-step   full training steps (forward, backward, optimizer step, zero_grad) of the
                 presets (`--preset tiny|gpt-384|nanogpt-char|lstm-word|quijote-lstm|
                 all`, comma-separated), minigrad vs PyTorch, with ms/step, tokens/s, GFLOP/s,
                 the fraction of the matmul peak measured in the same run, peak memory and
                 the ratio minigrad/PyTorch
    ops          forward and forward+backward of single ops over a sweep of sizes; Markdown
                 table, JSON lines and PNG plots of time vs size
    overhead     time per op on tiny tensors (add of 32 elements: no grad, recorded, + backward)
    scaling      step time vs context length (64 -> 1024) and width (128 -> 768), with the
                 exponent of each growth fitted
    tokenizers   our BPE against SentencePiece / HuggingFace (benchmarks.tokenizers_bench)
    distributed  data parallel on CPU ranks: minigrad over MPI vs PyTorch DDP over gloo,
                 scaling efficiency 1 -> 2 ranks, all-reduce time vs size
                 (benchmarks.distributed_bench)
    serve        `minigrad serve` under load: N streaming clients for M seconds, requests/s,
                 time to first token, tokens/s, errors (benchmarks.serve)

Every subcommand prints a Markdown table, or with `--json` one JSON object per line (per
configuration, op or point), and writes both under `--out` (default runs/bench). minigrad and
PyTorch always run in separate subprocesses (their BLAS thread pools slow each other down
inside one process), alternated within the run (minigrad, torch, minigrad, torch, ... for
`--rounds` rounds); each side's figure is the median of all its timed samples. Both sides use
`--threads` threads (default: every core). Without PyTorch the peer columns say "torch not
installed" and the minigrad numbers are still measured. When minigrad's CUDA backend is
available (CuPy and a GPU) every comparison is also run on the GPU (minigrad cupy vs torch
cuda) unless `--device cpu`.

Examples:
    python -m benchmarks train-step --preset tiny --steps 10
    python -m benchmarks train-step --preset all --json
    python -m benchmarks train-step --preset tiny --set n_layer=1 --set n_embd=16 --steps 2
    python -m benchmarks ops --op matmul --op gelu=8192,1536 --modes fwd,fwdbwd
    python -m benchmarks overhead
    python -m benchmarks scaling --contexts 64,128,256 --widths 128,256
"""

import argparse
import sys
import time

from benchmarks.configs import OP_SIZES, PRESETS
from benchmarks.op_sweeps import cmd_ops, cmd_overhead
from benchmarks.runner import DEFAULT_OUT, log
from benchmarks.scaling import cmd_scaling
from benchmarks.train_step import cmd_train_step


def cmd_tokenizers(args, rest):
    from benchmarks import tokenizers_bench
    argv = list(rest) + (["--json"] if args.json and "--json" not in rest else [])
    return tokenizers_bench.main(argv)


# ---------------------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `python -m benchmarks SUBCOMMAND --help` for each subcommand's options.")
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true",
                        help="print one JSON object per line instead of a Markdown table")
    common.add_argument("--out", default=str(DEFAULT_OUT),
                        help="folder for the .jsonl / .md / .png results (default runs/bench)")
    common.add_argument("--threads", type=int, default=None,
                        help="threads of each side (default: every core)")
    common.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="auto: the CPU, and the GPU too when minigrad's CUDA backend "
                             "is available")
    common.add_argument("--no-torch", action="store_true", help="minigrad only")
    common.add_argument("--timeout", type=float, default=7200.0,
                        help="seconds allowed to each worker process")
    common.add_argument("--quiet", action="store_true", help="no progress on stderr")
    common.add_argument("--torch-on-cpu", action="store_true",
                        help="PyTorch's side on the CPU whatever --device says (the GPU "
                             "check's rehearsal, where the GPU is a stand-in)")

    def step_options(steps, warmup):
        # A parser of its own per subcommand: parents share their actions, so one parent's
        # defaults changed for `scaling` would change them for `train-step` too.
        step = argparse.ArgumentParser(add_help=False)
        step.add_argument("--steps", type=int, default=steps, help="timed steps per process")
        step.add_argument("--warmup", type=int, default=warmup, help="untimed steps first")
        step.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="override a preset field, both sides (repeatable)")
        step.add_argument("--seed", type=int, default=1337)
        step.add_argument("--impl", default="auto", choices=["auto", "models", "ref"],
                          help="minigrad model: models.TransformerLM/LSTMLM or "
                               "benchmarks.mg_ref")
        step.add_argument("--sdpa", action="store_true",
                          help="torch GPT with fused scaled_dot_product_attention")
        step.add_argument("--one-attention", action="store_true",
                          help="torch GPT timed with one attention only (manual, or fused "
                               "with --sdpa); by default both are timed (columns torch ms, "
                               "torch sdpa ms) and the faster is the peer (ratio vs best)")
        step.add_argument("--amp", default="off", choices=["off", "float16", "bfloat16"],
                          help="both sides' forward under autocast (float16 with a loss "
                               "scaler); bfloat16 needs a GPU on minigrad's side")
        step.add_argument("--no-cell-loop", action="store_true",
                          help="LSTM: skip torch's Python loop of nn.LSTMCell")
        step.add_argument("--peak-sizes", default="1024,2048",
                          help="square sizes of the matmul-peak measurement")
        return step

    ts = sub.add_parser("train-step", parents=[common, step_options(10, 2)],
                        help="training step, minigrad vs PyTorch")
    ts.add_argument("--preset", default="tiny",
                    help=f"{', '.join(PRESETS)}, or all (comma-separated)")
    ts.add_argument("--rounds", type=int, default=3, help="alternated rounds per side")
    ts.set_defaults(func=cmd_train_step)

    ops = sub.add_parser("ops", parents=[common], help="single ops over a sweep of sizes")
    ops.add_argument("--op", action="append", default=[], metavar="NAME[=A,B,..]",
                     help=f"op (and size) to run, repeatable; default every op: "
                          f"{', '.join(OP_SIZES)}")
    ops.add_argument("--modes", default="fwd,fwdbwd", help="fwd, fwd-nograd, fwdbwd")
    ops.add_argument("--quick", action="store_true", help="the first size of each sweep only")
    ops.add_argument("--rounds", type=int, default=2, help="alternated rounds per side")
    ops.add_argument("--repeats", type=int, default=10, help="timed samples per op")
    ops.add_argument("--op-warmup", type=int, default=3, help="untimed calls per op")
    ops.set_defaults(func=cmd_ops)

    ov = sub.add_parser("overhead", parents=[common], help="per-op time on tiny tensors")
    ov.add_argument("--rounds", type=int, default=3, help="alternated rounds per side")
    ov.add_argument("--repeats", type=int, default=30, help="timed samples per case")
    ov.add_argument("--op-warmup", type=int, default=100, help="untimed calls per case")
    ov.set_defaults(func=cmd_overhead)

    sc = sub.add_parser("scaling", parents=[common, step_options(3, 1)],
                        help="step time vs context length and width")
    sc.add_argument("--preset", default="tiny", help="GPT preset to scale (default tiny)")
    sc.add_argument("--contexts", default="64,128,256,512,1024")
    sc.add_argument("--widths", default="128,256,384,512,768")
    sc.add_argument("--batch-size", type=int, default=8)
    sc.add_argument("--rounds", type=int, default=1, help="alternated rounds per side")
    sc.set_defaults(func=cmd_scaling)

    tok = sub.add_parser("tokenizers", help="tokenizer training and encoding speed "
                                            "(options: python -m benchmarks.tokenizers_bench -h)")
    tok.add_argument("--json", action="store_true", help="print JSON lines, not a table")
    tok.set_defaults(func=None)

    sub.add_parser("distributed", help="data parallel on 2 CPU ranks: minigrad over MPI vs "
                                       "PyTorch DDP over gloo (options: python -m benchmarks "
                                       "distributed -h)", add_help=False)
    sv = sub.add_parser("serve", help="minigrad serve under load (options: python -m "
                                      "benchmarks serve -h)", add_help=False)
    sv.set_defaults(func=None)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "serve":
        from benchmarks import serve
        return serve.main(argv[1:])
    if argv and argv[0] == "distributed":
        from benchmarks import distributed_bench
        return distributed_bench.main(argv[1:])
    if argv and argv[0] == "tokenizers":
        args, rest = parser.parse_known_args(argv)
        return cmd_tokenizers(args, rest) or 0
    args = parser.parse_args(argv)
    if getattr(args, "rounds", 1) < 1:
        parser.error("--rounds must be >= 1")
    start = time.perf_counter()
    rows = args.func(args)
    log(args, f"done in {time.perf_counter() - start:.0f} s; results under {args.out}")
    # exit status 1 when a worker failed (a missing PyTorch is not a failure)
    return 1 if any(row.get("errors") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
