"""The `minigrad` command: train, sample from and evaluate language models.

    minigrad train --preset tiny --out runs/tiny          # Tiny Shakespeare, the default corpus
    minigrad train --out runs/tiny --resume               # go on after Ctrl-C, or with more --steps
    minigrad train --preset hw4-bigram --corpus my.txt --steps 500 --lr 3e-3 --out runs/b
    minigrad generate --checkpoint runs/tiny --prompt "ROMEO:" --max-new-tokens 300 --seed 1
    minigrad evaluate --checkpoint runs/tiny --split val  # alias: eval
    minigrad presets                                      # list them; `presets tiny` shows one
    minigrad plot --checkpoint runs/tiny --attention "ROMEO:" --positions  # PNGs
    minigrad serve --checkpoint runs/tiny                 # HTTP API + playground, port 8011
    minigrad tokenize --checkpoint runs/tiny "ROMEO:"     # one token a line: id and piece
    minigrad generate-grid --checkpoint runs/tiny         # the thesis's 17 sampling settings
    minigrad reproduce hw4 --quick                        # the seeds' experiments, a report
    minigrad bench ...                                    # python -m benchmarks ...

`train` has a flag for every field of models.config.Config (`--batch-size`, `--context`,
`--n-layer`, `--dropout`, `--no-tie-weights`, ...): the preset gives the rest. Every number
is checked where it is parsed, by the spec of its field or option (models.validation: finite,
in range, positive where it must be), so an error names the flag. Bad input (a bad number, a
missing corpus or checkpoint, an unknown preset, a prompt the tokenizer cannot encode, a
damaged or crafted file, a configuration too large for the memory) prints one line
`minigrad: error: ...` and exits with status 2; a training run that diverges exits with
status 1, one stopped by Ctrl-C or SIGTERM with 130 or 143 after saving last.npz.
"""
import argparse
import dataclasses
import json
import sys
from pathlib import Path

from minigrad import backend
from models import distributed_launch, generation_grid, positional_figure, tokenize_text
from models.config import Config
from models.corpus import BUNDLED, find_corpus
from models.generate import MAX_NEW_TOKENS, OPTIONS
from models.presets import DEFAULT_PRESET, PRESETS, get_preset
from models.reproduce import command as reproduce
from models.serve import settings as serve_settings
from models.stopping import TrainingDiverged
from models.validation import Bool, Int, Maybe, Pair


class UsageError(Exception):
    """Bad input on the command line: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


# ---------------------------------------------------------------- parsers

def build_parser():
    parser = _Parser(prog="minigrad", description="Train, sample from and evaluate language "
                     "models on the minigrad engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a model (default preset: tiny)",
                           description="Train a language model into a run directory. Every "
                           "preset field has a flag; the flags override the preset.")
    train.add_argument("--preset", default=DEFAULT_PRESET,
                       help=f"named configuration (default {DEFAULT_PRESET}; see `minigrad "
                       f"presets`)")
    train.add_argument("--out", help="run directory (default runs/PRESET)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last.npz")
    _add_config_flags(train)
    distributed_launch.add_flags(train)

    gen = sub.add_parser("generate", help="sample text from a trained model")
    gen.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    gen.add_argument("--prompt", default="", help="text to continue (default: a newline)")
    option = {name: spec.parse for name, spec in OPTIONS.items()}  # generate()'s own checks
    gen.add_argument("--max-new-tokens", type=option["max_new_tokens"], default=200,
                     help=f"at most {MAX_NEW_TOKENS:,}; the text is printed as it comes")
    gen.add_argument("--temperature", type=option["temperature"], default=1.0,
                     help="0 means greedy")
    gen.add_argument("--top-k", type=option["top_k"], help="sample among the k most likely "
                     "tokens")
    gen.add_argument("--top-p", type=option["top_p"],
                     help="sample among the most likely tokens that reach probability p")
    gen.add_argument("--repetition-penalty", type=option["repetition_penalty"], default=1.0)
    gen.add_argument("--presence-penalty", type=option["presence_penalty"], default=0.0)
    gen.add_argument("--frequency-penalty", type=option["frequency_penalty"], default=0.0)
    gen.add_argument("--seed", type=option["seed"],
                     help="seed of the sampler (default: fresh randomness)")
    gen.add_argument("--num-samples", type=option["num_samples"], default=1,
                     help="samples of the same prompt")
    gen.add_argument("--greedy", action="store_true", help="always the most likely token")
    gen.add_argument("--no-cache", action="store_true",
                     help="recompute the whole context each step (no key/value cache)")
    gen.add_argument("--device", default="cpu", help="cpu or cuda")
    gen.add_argument("--stats", action="store_true",
                     help="also print distinct-1/2/3 of the generated tokens (to stderr)")

    for name in ("evaluate", "eval"):
        ev = sub.add_parser(name, help="loss, perplexity, bits per character and next-token "
                            "accuracy on a split"
                            if name == "evaluate" else "same as evaluate")
        ev.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
        ev.add_argument("--split", default="val", choices=("train", "val", "test"))
        ev.add_argument("--corpus", "--data", help="corpus to evaluate on (default: the run's)")
        ev.add_argument("--batch-size", type=Maybe(Int(1)).parse,
                        help="windows per batch (default: the run's)")
        ev.add_argument("--estimate-batches", type=Int(0).parse, default=0,
                        help="also HW4's estimate: mean loss of this many random batches")
        ev.add_argument("--device", default="cpu", help="cpu or cuda")

    pre = sub.add_parser("presets", help="list the presets, or show one")
    pre.add_argument("name", nargs="?", help="show this preset's full configuration")

    plot = sub.add_parser("plot", help="draw a run's loss curve, attention or positions",
                          description="Draw loss.png from the run's log.jsonl; with --attention "
                          "also attention.png (every layer and head, for a prompt), with "
                          "--positions also positions.png (the positional encoding). "
                          "--positional draws seed 001's figures of the sinusoidal encoding "
                          "and needs no run.")
    plot.add_argument("--checkpoint", help="run directory (required unless --positional)")
    plot.add_argument("--attention", metavar="PROMPT", help="attention heatmaps for this prompt")
    plot.add_argument("--positions", action="store_true", help="positional-encoding heatmap")
    positional_figure.add_arguments(plot)

    generation_grid.add_arguments(sub.add_parser(
        "generate-grid", help="the thesis's 17 sampling settings on one prompt: a Markdown "
        "table with distinct-1/2/3"))
    tokenize_text.add_arguments(sub.add_parser(
        "tokenize", help="print a text's tokens, one a line (id and piece)"))

    srv = sub.add_parser("serve", help="serve a model over HTTP, with a playground page",
                         description="Serve a trained model: an HTTP API (POST /generate, "
                         "OpenAI's /v1/completions, ...) and a playground page at /. Needs "
                         "pip install -e '.[serve]'.")
    serve_settings.add_arguments(srv)

    reproduce.add_parser(sub)

    sub.add_parser("bench", help="run the benchmarks (python -m benchmarks ...)", add_help=False)
    return parser


def _add_config_flags(parser):
    """One flag per Config field, defaulting to 'not given' so only given flags override."""
    group = parser.add_argument_group("settings (override the preset)")
    for f in dataclasses.fields(Config):
        if not f.metadata.get("cli", True):
            continue
        flags = [f"--{f.name.replace('_', '-')}"] + (["--data"] if f.name == "corpus" else [])
        spec = f.metadata["spec"]
        options = dict(dest=f.name, default=argparse.SUPPRESS,
                       help=f.metadata["help"].replace("%", "%%"))
        if isinstance(spec, Bool) or isinstance(getattr(spec, "inner", None), Bool):
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **options)
        elif isinstance(spec, Pair):
            group.add_argument(*flags, type=spec.item.parse, nargs=2, metavar=("B1", "B2"),
                               **options)
        else:
            choices = f.metadata.get("choices")  # argparse checks these itself
            group.add_argument(*flags, type=str if choices else spec.parse, choices=choices,
                               metavar=None if choices else f.name.upper(), **options)


# ---------------------------------------------------------------- commands

def cmd_train(args):
    from models.train import Trainer
    overrides = {k: v for k, v in vars(args).items()
                 if k in {f.name for f in dataclasses.fields(Config)}}
    if "steps" in overrides and "epochs" not in overrides:
        overrides["epochs"] = None  # a --steps given counts steps, not the preset's epochs
    out = Path(args.out or f"runs/{args.preset}")
    if args.resume:
        from models.checkpoint import CONFIG
        if not (out / CONFIG).is_file():
            raise UsageError(f"{out}: nothing to resume (no {CONFIG}); train into it first")
        config = Config.load(out / CONFIG).replace(**overrides)
    else:
        config = get_preset(args.preset).replace(**overrides)
    if config.corpus is not None and not Path(find_corpus(config.corpus)).exists():
        raise UsageError(f"{config.corpus}: no such corpus file or directory (nor a bundled "
                         f"corpus: {', '.join(BUNDLED)})")
    if distributed_launch.requested(args):
        summary = distributed_launch.train(args, config, out)
        if not isinstance(summary, dict):
            return summary  # the launcher's exit status, or 0 on ranks other than 0
    else:
        summary = Trainer(config, out, resume=args.resume).run()
    lines = [f"run: {summary['run_dir']}  step {summary['step']}  best val loss (estimate) "
             f"{summary['best_val']:.4f}"]
    if summary.get("signal"):  # stopped by Ctrl-C or SIGTERM, last.npz saved
        print("\n".join(lines))
        return 128 + summary["signal"]
    if summary.get("seconds_per_step"):
        lines.append(f"median step time {summary['seconds_per_step']:.3f} s")
    if "full_val" in summary:
        lines.append(f"full val loss {summary['full_val']['loss']:.4f}")
    if summary.get("sample"):
        lines.append("sample:\n" + summary["sample"])
    print("\n".join(lines))
    return 0


def cmd_generate(args):
    from models.checkpoint import load_trained
    from models.generate import TextStream, encode_prompt, generate
    model, tokenizer, _, _ = load_trained(args.checkpoint, args.device)
    prompt = encode_prompt(tokenizer, args.prompt)
    # One sample is printed as it comes; several are printed together at the end.
    stream = TextStream(tokenizer, prompt, _write_out) if args.num_samples == 1 else None
    outputs = generate(model, [prompt] * args.num_samples, args.max_new_tokens,
                       temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                       repetition_penalty=args.repetition_penalty,
                       frequency_penalty=args.frequency_penalty,
                       presence_penalty=args.presence_penalty, seed=args.seed,
                       eos_id=tokenizer.eos_id, greedy=args.greedy, use_cache=not args.no_cache,
                       on_step=stream and stream.step)
    if stream is not None:
        stream.finish()
        print()
    else:
        print("\n---\n".join(tokenizer.decode(prompt + out) for out in outputs))
    if args.stats:
        from models.evaluate import distinct_n
        print("distinct-1/2/3: " + " ".join(f"{distinct_n(outputs, n):.3f}" for n in (1, 2, 3)),
              file=sys.stderr)
    return 0


def cmd_evaluate(args):
    import numpy as np

    from models.checkpoint import CACHE, TOKENIZER, find_checkpoint, load_trained
    from models.corpus import default_corpus_path
    from models.data import prepare
    from models.evaluate import estimate_loss, evaluate_split
    from models.rundir import RunDir
    model, tokenizer, config, state = load_trained(args.checkpoint, args.device)
    run = RunDir(find_checkpoint(args.checkpoint).parent)  # to check the cache's path
    corpus = find_corpus(args.corpus or config.corpus or default_corpus_path())
    if not Path(corpus).exists():
        raise UsageError(f"{corpus}: no such corpus file or directory")
    splits = prepare(corpus, run.path / TOKENIZER, run.check(CACHE, directory=True),
                     config.val_fraction, test_fraction=config.test_fraction)
    if args.split not in splits:
        raise UsageError(f"{corpus}: no {args.split} split (a single file splits into train "
                         f"and val; a directory with test.txt gives a test split)")
    batch_size = args.batch_size or config.batch_size
    result = evaluate_split(model, splits[args.split], config.context, batch_size, tokenizer)
    print(f"{args.split} (step {state['step']}): loss {result['loss']:.4f}  perplexity "
          f"{result['perplexity']:.2f}  bits/char {result['bits_per_char']:.4f}  bits/byte "
          f"{result['bits_per_byte']:.4f}  accuracy {result['accuracy']:.2%}  over "
          f"{result['targets']:,} targets")
    if args.estimate_batches:
        rng = np.random.default_rng(config.seed + 1)
        est = estimate_loss(model, {args.split: splits[args.split]}, config.context, batch_size,
                            args.estimate_batches, rng)
        print(f"{args.split} estimate (mean of {args.estimate_batches} random batches): "
              f"{est[args.split]:.4f}")
    return 0


def cmd_presets(args):
    if args.name:
        print(json.dumps(get_preset(args.name).to_dict(), indent=2))
        return 0
    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset['description']}")
    return 0


def cmd_plot(args):
    if args.checkpoint is None:
        if not args.positional:
            raise UsageError("plot: --checkpoint RUN is required (except with --positional)")
        print(positional_figure.run(args))
        return 0
    if args.positional:
        print(positional_figure.run(args))
    from models import plot
    from models.checkpoint import LOG, PLOT, load_trained
    from models.generate import encode_prompt
    from models.rundir import RunDir
    run = RunDir(args.checkpoint)  # only to check the names written (no symbolic links)
    if not (run.path / LOG).is_file():
        raise UsageError(f"{run.path}: no {LOG} (not a run directory?)")
    paths = [plot.plot_loss_curve(run.path / LOG, run.check(PLOT),
                                  lambda m: print(m, file=sys.stderr))]
    if args.attention or args.positions:
        model, tokenizer, _, _ = load_trained(run.path)
        if args.attention:
            ids = encode_prompt(tokenizer, args.attention)
            labels = [tokenizer.decode([i]) for i in ids]
            paths.append(plot.plot_attention(plot.attention_weights(model, ids), labels,
                                             run.check("attention.png")))
        if args.positions:
            paths.append(plot.plot_positions(*plot.position_table(model),
                                             run.check("positions.png")))
    for path in filter(None, paths):
        print(path)
    return 0 if all(paths) else 1


def cmd_serve(args):
    try:
        from models.serve.server import serve
    except ImportError as e:
        raise UsageError(f"serve needs FastAPI and uvicorn ({e}): pip install -e "
                         f"'.[serve]'") from None
    return serve(args)


def cmd_bench(argv):
    """``minigrad bench ...`` runs ``python -m benchmarks ...`` (a process of its own: the
    benchmarks start their own workers, and nothing imports from benchmarks/)."""
    import importlib.util
    import subprocess
    import sys
    if importlib.util.find_spec("benchmarks") is None:
        raise UsageError("bench: the benchmarks package is not available; run it from a "
                         "checkout of the project (pip install -e '.[bench]')")
    return subprocess.call([sys.executable, "-m", "benchmarks", *argv])


COMMANDS = {"train": cmd_train, "generate": cmd_generate, "evaluate": cmd_evaluate,
            "eval": cmd_evaluate, "presets": cmd_presets, "plot": cmd_plot, "serve": cmd_serve,
            "tokenize": tokenize_text.run, "generate-grid": generation_grid.run,
            "reproduce": reproduce.cmd_reproduce}


def main(argv=None):
    """Entry point of the `minigrad` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    backend.keep_freed_memory()  # the command owns its process: see backend.keep_freed_memory
    try:
        if argv and argv[0] == "bench":
            return cmd_bench(argv[1:])
        args = build_parser().parse_args(argv)
        args.argv = argv  # `train --nproc N` hands the same arguments to its ranks
        if args.command is None:
            build_parser().print_help()
            return 2
        return COMMANDS[args.command](args)
    except UsageError as e:
        return _fail(str(e))
    except TrainingDiverged as e:
        return _fail(str(e), status=1)
    except MemoryError as e:  # what the up-front estimates (models/resources.py) missed
        return _fail(f"out of memory: {e}")
    except (ValueError, OSError, RuntimeError, IndexError, KeyError) as e:
        return _fail(f"{type(e).__name__}: {e}" if isinstance(e, KeyError) else str(e))
    except KeyboardInterrupt:
        print("minigrad: interrupted", file=sys.stderr)
        return 130


def _fail(message, status=2):
    print("minigrad: error: " + " ".join(message.split()), file=sys.stderr)
    return status


def _write_out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
