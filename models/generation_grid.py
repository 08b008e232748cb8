"""The thesis's generation grid (seed 002, Tabla 5.1 and Tabla A.1): one prompt, 17 sampling
settings, the text of each and its distinct-1/2/3, as a Markdown table.

    minigrad generate-grid --checkpoint runs/thesis        # -> runs/thesis/generation_grid.md

The rows, as the thesis lists them: temperature 0.5 / 1.0 / 1.5; top-k 10 / 90 / 200;
top-p 0.05 / 0.30 / 0.90; presence penalty 0.2 / 0.5 / 1.0; frequency penalty
0.2 / 0.5 / 1.0 (each at temperature 1.0, the others off); and the two combined settings it
tried last, (0.9, 100, 0.95, 0.3, 0.2) and (0.7, 80, 0.9, 0.2, 0.3). (Its text speaks of
three combinations; its tables hold these two.) Prompt "KING RICHARD:", 100 new tokens.

Sampling is models.generate's, whose formulas the module docstring there gives; the
penalties count the generated tokens only, not the prompt. Every row draws from the same
seed, so rows differ by their settings alone. Distinct-n (Li et al. 2016) is computed on the
generated token ids (of all samples of a row together): distinct n-grams / all n-grams.
"""
import sys
from pathlib import Path

from minigrad.serialization import write_atomically

from models.checkpoint import find_checkpoint, load_trained
from models.evaluate import distinct_n
from models.generate import OPTIONS, encode_prompt, generate
from models.rundir import RunDir

PROMPT, MAX_NEW_TOKENS = "KING RICHARD:", 100
FIELDS = ("temperature", "top_k", "top_p", "presence_penalty", "frequency_penalty")
GRID = [dict(zip(FIELDS, row)) for row in [
    (0.5, None, None, 0.0, 0.0),
    (1.0, None, None, 0.0, 0.0),
    (1.5, None, None, 0.0, 0.0),
    (1.0, 10, None, 0.0, 0.0),
    (1.0, 90, None, 0.0, 0.0),
    (1.0, 200, None, 0.0, 0.0),
    (1.0, None, 0.05, 0.0, 0.0),
    (1.0, None, 0.30, 0.0, 0.0),
    (1.0, None, 0.90, 0.0, 0.0),
    (1.0, None, None, 0.2, 0.0),
    (1.0, None, None, 0.5, 0.0),
    (1.0, None, None, 1.0, 0.0),
    (1.0, None, None, 0.0, 0.2),
    (1.0, None, None, 0.0, 0.5),
    (1.0, None, None, 0.0, 1.0),
    (0.9, 100, 0.95, 0.3, 0.2),
    (0.7, 80, 0.9, 0.2, 0.3),
]]
OUTPUT = "generation_grid.md"


def run_grid(model, tokenizer, prompt=PROMPT, max_new_tokens=MAX_NEW_TOKENS, seed=1,
             num_samples=1, grid=GRID):
    """One dict per setting of `grid`: the setting, "text" (the first sample, prompt
    included), "tokens" (new tokens of the first sample) and "distinct" (distinct-1/2/3)."""
    ids = encode_prompt(tokenizer, prompt)
    rows = []
    for setting in grid:
        outs = generate(model, [ids] * num_samples, max_new_tokens, seed=seed,
                        eos_id=tokenizer.eos_id, **setting)
        rows.append({**setting, "text": tokenizer.decode(ids + outs[0]), "tokens": len(outs[0]),
                     "distinct": [distinct_n(outs, n) for n in (1, 2, 3)]})
    return rows


def markdown_table(rows):
    """The rows as a Markdown table: settings, distinct-1/2/3, tokens, text."""
    lines = ["| # | temperature | top-k | top-p | presence | frequency | distinct-1 | "
             "distinct-2 | distinct-3 | tokens | text |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, r in enumerate(rows, 1):
        settings = [_number(r[f]) for f in FIELDS]
        distinct = [f"{d:.3f}" for d in r["distinct"]]
        lines.append("| " + " | ".join([str(n), *settings, *distinct, str(r["tokens"]),
                                        _cell(r["text"])]) + " |")
    return "\n".join(lines) + "\n"


def _number(value):
    return "–" if value is None else f"{value:g}"


def _cell(text):
    """Text in one table cell: | escaped, line breaks as <br>."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def report(rows, checkpoint, step, prompt, max_new_tokens, seed, num_samples):
    """The Markdown file: what was run, then the table."""
    return (f"# Generation grid\n\n"
            f"The 17 sampling settings of the thesis (seed 002, Tabla 5.1) on `{checkpoint}` "
            f"(step {step}): prompt {prompt!r}, {max_new_tokens} new tokens, seed {seed}, "
            f"{num_samples} sample(s) per row. Distinct-n over the generated token ids; the "
            f"penalties count generated tokens only. Written by `minigrad generate-grid`.\n\n"
            + markdown_table(rows))


# ---------------------------------------------------------------- the command

def add_arguments(parser):
    parser.add_argument("--checkpoint", required=True, help="run directory or checkpoint file")
    parser.add_argument("--prompt", default=PROMPT, help=f"default {PROMPT!r}")
    parser.add_argument("--max-new-tokens", type=OPTIONS["max_new_tokens"].parse,
                        default=MAX_NEW_TOKENS, help=f"per row (default {MAX_NEW_TOKENS})")
    parser.add_argument("--seed", type=OPTIONS["seed"].parse, default=1,
                        help="the sampler's seed, the same for every row (default 1)")
    parser.add_argument("--num-samples", type=OPTIONS["num_samples"].parse, default=1,
                        help="samples per row; distinct-n counts them all (default 1)")
    parser.add_argument("--out", help=f"the Markdown file (default RUN/{OUTPUT})")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def run(args):
    model, tokenizer, _, state = load_trained(args.checkpoint, args.device)
    out = Path(args.out) if args.out else RunDir(find_checkpoint(args.checkpoint).parent).check(
        OUTPUT)
    rows = run_grid(model, tokenizer, args.prompt, args.max_new_tokens, args.seed,
                    args.num_samples)
    text = report(rows, args.checkpoint, state["step"], args.prompt, args.max_new_tokens,
                  args.seed, args.num_samples)
    write_atomically(out, lambda f: f.write(text.encode("utf-8")))
    sys.stdout.write(markdown_table(rows))
    print(out, file=sys.stderr)
    return 0
