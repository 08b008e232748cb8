"""The GPU check: everything a lent GPU should tell us, in one command of at most 8 minutes.

    make gpu-check                           # = python3 -m benchmarks.gpu_check
    python3 -m benchmarks.gpu_check [--out DIR] [--budget SECONDS] [--quick] [--standin]

Needs only what the GPU machine's image has (Python 3.12, CuPy, NumPy, PyTorch, pytest,
hypothesis) and runs from the repository root without an install. It stops at once, with one
line on stderr and exit status 2, where CuPy or a GPU is missing; otherwise it runs these
phases, each in subprocesses with a time budget of its own (a phase that runs out is killed
and recorded as such, and the later phases still run):

    preflight   GPU name, driver, CUDA and CuPy versions; a first kernel of each kind
    tests       python3 -m pytest -m cuda, each test limited (tests/per_test_timeout.py);
                a run killed by a hung kernel restarts after the test that hung
    train-step  nanogpt-char and gpt-384 training steps, minigrad on CuPy against
                PyTorch eager with and without its fused attention, in float32, then under
                float16 autocast (and bfloat16 where minigrad has it)
    train       nanogpt-char trained on the GPU for up to 500 steps (or its time): the loss
                curve, validation loss before and after, ms per step, peak GPU memory
    compare     the first steps of nanogpt-char (dropout off) on the GPU and on the CPU from
                the same weights and batches: the losses should agree closely
    ops         the op sweep of `python -m benchmarks ops` on the GPU against PyTorch

Everything lands in one folder, $OUT when set, else runs/gpu-check (at most 8 files):
summary.md and summary.json (pass/fail counts, ratios, losses, peak memory, versions, each
phase's time), pytest.log, bench.md and bench.jsonl (the benchmark tables and rows),
train.jsonl (per-step losses of both runs), loss.svg and gpu_check.log (the progress and
each phase's own output). The exit status is 0 when every phase ran and every test
passed, 1 otherwise, 2 when nothing could run.

``--standin`` rehearses the whole check on a machine without a GPU, with the NumPy stand-in
for CuPy (tests/cupy_standin/) and PyTorch on the CPU; every output then says REHEARSAL.
``--quick`` makes every phase small (the fast tests only, small models, few steps), for a
rehearsal of a few minutes on two cores.
"""
import argparse
import signal
import sys

from benchmarks.gpu_check.check import Check
from benchmarks.gpu_check.common import EXIT_FAILED, PHASES, end_children
from benchmarks.gpu_check.phases import run_phase

# ---------------------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(
        prog="python3 -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None,
                        help="output folder (default: $OUT when set, else runs/gpu-check)")
    parser.add_argument("--budget", type=float, default=450.0,
                        help="seconds for the whole check (default 450: under 8 minutes)")
    parser.add_argument("--quick", action="store_true",
                        help="small phases: the fast tests, small models, few steps")
    parser.add_argument("--standin", action="store_true",
                        help="rehearsal without a GPU: the NumPy stand-in for CuPy, PyTorch "
                             "on the CPU; every output says REHEARSAL")
    parser.add_argument("--only", default=None, type=lambda v: [p for p in v.split(",") if p],
                        help=f"comma-separated phases after the preflight "
                             f"({', '.join(PHASES[1:])}); default all")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_phase":
        return run_phase(argv[1:])
    args = build_parser().parse_args(argv)
    if args.only:
        unknown = sorted(set(args.only) - set(PHASES[1:]))
        if unknown:
            raise SystemExit(f"gpu-check: unknown phase(s) {', '.join(unknown)}; choose from "
                             f"{', '.join(PHASES[1:])}")
    check = Check(args)

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        return check.run()
    except KeyboardInterrupt:
        end_children()
        check.summary["status"] = "interrupted"
        check.finish()
        print("gpu-check: interrupted; partial results written", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
