"""The thesis (seed 002): its final model on Tiny Shakespeare with BPE 8,000, the 80/10/10
split, evaluated on val and test; the losses also in bits per character, the one measure
that compares across tokenizers (theirs is SentencePiece's BPE, ours byte-level BPE)."""
import json
from pathlib import Path

from models import checkpoint as ckpt
from models.corpus import find_corpus
from models.data import prepare
from models.evaluate import evaluate_split
from models.reproduce import seeds
from models.reproduce.runs import quick_corpus, train_preset

PRESETS = ["thesis"]
QUICK = dict(steps=3, eval_every=3, eval_batches=1, batch_size=4, context=32, vocab_size=300,
             warmup_steps=1)
TEST_FILE = "test_eval.json"


def run(out, quick=False, only=None, changes=None, say=print):
    extra = dict(QUICK, corpus=quick_corpus("shakespeare", out)) if quick else {}
    extra = dict(extra, sample_tokens=0, **(changes or {}))
    results = []
    for name in PRESETS:
        if only and name not in only:
            continue
        result = train_preset(name, out, extra, say)
        result.test = evaluate_test(Path(out) / name)
        results.append(result)
    return results


def evaluate_test(run_dir):
    """Loss, perplexity and bits per character of the last weights on the test split
    (kept in the run directory, so a finished run is not evaluated twice)."""
    path = Path(run_dir) / TEST_FILE
    if path.is_file():
        return json.loads(path.read_text())
    model, tokenizer, config, state = ckpt.load_trained(run_dir)
    splits = prepare(find_corpus(config.corpus or "shakespeare"), Path(run_dir) / ckpt.TOKENIZER,
                     Path(run_dir) / ckpt.CACHE, config.val_fraction,
                     test_fraction=config.test_fraction)
    result = evaluate_split(model, splits["test"], config.context, config.batch_size, tokenizer)
    result["step"] = state["step"]
    path.write_text(json.dumps(result))
    return result


def section(results, plot_path=None):
    t = seeds.THESIS
    lines = ["## The thesis (seed 002): its final model, Tiny Shakespeare, BPE 8,000", "",
             f"The thesis trained about 40 epochs of 4,146 batches of 64 (some 166,000 "
             f"steps) on a GPU; a CPU run here affords far fewer. A shorter run keeps the "
             f"schedule's shape in fewer steps (a run shorter than the 1,000-step warmup warms "
             f"up over all of it), so our numbers are those of a model trained for a few "
             f"minutes, not a reproduction of the thesis's end point. The thesis's val perplexity "
             f"{t['val_perplexity']} is a loss of 4.5154 per token (its printed val loss "
             f"{t['val_loss_printed']} is ln {t['train_perplexity']}, the train perplexity "
             f"beside it); its test loss {t['test_loss']} (perplexity "
             f"{t['test_perplexity']}) over {t['test_tokens']:,} tokens. In bits per "
             f"character: its test split is the last tenth of 1,115,394 characters, about "
             f"111,539, so 3.16 characters per token and {seeds.thesis_bits_per_char(4.5039):.3f}"
             f" bits per character on test ({seeds.thesis_bits_per_char(4.5154):.3f} for val, "
             f"taking the same characters per token).", "",
             "| | steps | val loss / token | val perplexity | val bits/char | test loss / token "
             "| test perplexity | test bits/char | wall time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| thesis (SentencePiece 8,000) | ~166,000 | 4.5154 | {t['val_perplexity']} | "
             f"{seeds.thesis_bits_per_char(4.5154):.3f} | {t['test_loss']} | "
             f"{t['test_perplexity']} | {seeds.thesis_bits_per_char(t['test_loss']):.3f} | – |"]
    for r in results:
        v, s = r.full or {}, r.test or {}
        lines.append(
            f"| ours (byte-level BPE {r.vocab:,}) | {r.steps:,} | {_f(v.get('full_val_loss'))} "
            f"| {_f(v.get('perplexity'), '.2f')} | {_f(v.get('bits_per_char'), '.3f')} | "
            f"{_f(s.get('loss'))} | {_f(s.get('perplexity'), '.2f')} | "
            f"{_f(s.get('bits_per_char'), '.3f')} | {r.seconds / 60:.1f} min |")
    if not results:
        lines.append("| ours | not run for this report (a step of this model takes seconds "
                     "on this machine; `minigrad reproduce thesis --steps N`) | | | | | | | |")
    if plot_path:
        lines += ["", f"![thesis curves]({plot_path})"]
    return lines


def curves(results):
    return [(r.name, ([e["step"] for e in r.evals], [e["train_loss"] for e in r.evals],
                      [e["val_loss"] for e in r.evals]), ([], [])) for r in results]


def _f(value, spec=".4f"):
    return "–" if value is None else format(value, spec)
