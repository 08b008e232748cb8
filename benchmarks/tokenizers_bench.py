"""Benchmark: our byte-level BPE against SentencePiece, HuggingFace and the textbook loop.

    python -m benchmarks.tokenizers_bench [--vocab-size 8000] [--data PATH] [--json]
                                          [--skip-peers] [--textbook-merges 300]

Each tokenizer is trained on the whole text (Tiny Shakespeare by default) and then encodes
the whole text once, with a fresh cache. Reported: training seconds, encode throughput
(MB of UTF-8 per second), characters per token, and whether decode(encode(text)) == text.

Peers:
  - SentencePiece (BPE mode, otherwise defaults), in this process when installed
    (`pip install sentencepiece`, part of the `bench` extra).
  - HuggingFace `tokenizers` (byte-level BPE, GPT-2 pre-tokenizer). Its import name is also
    our package's, so it runs in a subprocess with its own virtual environment, created on
    first use at .bench-venvs/hf-tokenizers, from a temporary working directory.
  - The textbook algorithm (recount every pair after every merge), run for the first
    --textbook-merges merges only and timed against ours over the same merges; its full
    training time is extrapolated linearly and labelled so.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenizers import BPETokenizer
from tokenizers.bpe import compile_pattern, count_chunks, to_bytes
from tokenizers.bpe_train import learn_merges, learn_merges_textbook

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / "models" / "corpora" / "tinyshakespeare.txt"
HF_VENV = REPO / ".bench-venvs" / "hf-tokenizers"

HF_SCRIPT = r"""
import json, sys, time
import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

path, vocab_size = sys.argv[1], int(sys.argv[2])
text = open(path, encoding="utf-8").read()
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
start = time.perf_counter()
tok.train([path], trainer)
train_s = time.perf_counter() - start
start = time.perf_counter()
ids = tok.encode(text).ids
encode_s = time.perf_counter() - start
print(json.dumps({"version": tokenizers.__version__, "train_s": train_s, "encode_s": encode_s,
                  "tokens": len(ids), "lossless": tok.decode(ids) == text}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tokenizers_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="UTF-8 text file")
    parser.add_argument("--json", action="store_true", help="print JSON lines, not a table")
    parser.add_argument("--skip-peers", action="store_true",
                        help="only ours and the textbook loop")
    parser.add_argument("--textbook-merges", type=int, default=300,
                        help="merges to time for the textbook loop and ours")
    args = parser.parse_args(argv)

    text = args.data.read_text(encoding="utf-8")
    rows = [bench_ours(text, args.vocab_size, "gpt4"), bench_ours(text, args.vocab_size, "gpt2")]
    if not args.skip_peers:
        rows.append(bench_sentencepiece(args.data, text, args.vocab_size))
        rows.append(bench_huggingface(args.data, text, args.vocab_size))
    comparison = bench_textbook(text, args.vocab_size, args.textbook_merges)
    rows.append(comparison["row"])

    if args.json:
        for row in rows:
            print(json.dumps(row))
        print(json.dumps({key: value for key, value in comparison.items() if key != "row"}))
    else:
        print(f"Tokenizers on {args.data.name} ({len(text):,} characters), "
              f"vocabulary {args.vocab_size:,}\n")
        print(markdown_table(rows))
        print("\n" + comparison_text(comparison))
    return 0


def measure(text, train, encode, decode):
    """A result row from callables that train, encode the whole text and decode."""
    start = time.perf_counter()
    train()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    ids = encode(text)
    encode_s = time.perf_counter() - start
    return row_from(train_s, encode_s, len(ids), text, decode(ids) == text)


def row_from(train_s, encode_s, tokens, text, lossless):
    return {"train_s": round(train_s, 3),
            "encode_mb_s": round(len(text.encode("utf-8")) / 1e6 / encode_s, 2),
            "chars_per_token": round(len(text) / tokens, 3),
            "lossless": lossless}


def bench_ours(text, vocab_size, pattern):
    trained = {}

    def train():
        trained["tok"] = BPETokenizer.train(text, vocab_size, pattern=pattern)

    row = measure(text, train, lambda t: trained["tok"].encode(t),
                  lambda ids: trained["tok"].decode(ids))
    return {"name": f"minigrad BPE ({pattern} pattern)", **row}


def bench_sentencepiece(path, text, vocab_size):
    name = "SentencePiece BPE"
    try:
        import sentencepiece as spm
    except ImportError:
        return {"name": name, "skipped": "sentencepiece is not installed "
                                         "(pip install sentencepiece)"}
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "sp")
        model = {}

        def train():
            spm.SentencePieceTrainer.train(input=str(path), model_prefix=prefix,
                                           vocab_size=vocab_size, model_type="bpe",
                                           minloglevel=2)
            model["sp"] = spm.SentencePieceProcessor(model_file=prefix + ".model")

        row = measure(text, train, lambda t: model["sp"].encode(t),
                      lambda ids: model["sp"].decode(ids))
    return {"name": f"{name} {spm.__version__}", **row}


def bench_huggingface(path, text, vocab_size):
    name = "HuggingFace byte-level BPE"
    python, problem = hf_python()
    if problem:
        return {"name": name, "skipped": problem}
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    with tempfile.TemporaryDirectory() as tmp:  # cwd away from our `tokenizers` package
        result = subprocess.run([str(python), "-c", HF_SCRIPT, str(Path(path).resolve()),
                                 str(vocab_size)], cwd=tmp, env=env, capture_output=True,
                                text=True)
    if result.returncode != 0:
        return {"name": name, "skipped": "its run failed: " + result.stderr.strip()[-300:]}
    out = json.loads(result.stdout.strip().splitlines()[-1])
    row = row_from(out["train_s"], out["encode_s"], out["tokens"], text, out["lossless"])
    return {"name": f"{name} {out['version']}", **row}


def hf_python():
    """(python of the HuggingFace venv, None), creating the venv if needed; or (None, why)."""
    python = HF_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if python.exists():
        check = subprocess.run([str(python), "-c", "import tokenizers"], cwd=tempfile.gettempdir(),
                               capture_output=True)
        if check.returncode == 0:
            return python, None
    print(f"creating {HF_VENV} and installing HuggingFace tokenizers ...", file=sys.stderr)
    for command in ([sys.executable, "-m", "venv", str(HF_VENV)],
                    [str(python), "-m", "pip", "install", "--quiet", "tokenizers"]):
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"could not set up {HF_VENV}: {e}"
        if result.returncode != 0:
            return None, (f"could not set up {HF_VENV} ({' '.join(command[-3:])}): "
                          + (result.stderr.strip().splitlines() or ["no message"])[-1])
    return python, None


def bench_textbook(text, vocab_size, num_merges):
    """Time the first num_merges merges of ours and of the textbook loop on the same chunk
    table, check they agree, and extrapolate the textbook's full training time."""
    start = time.perf_counter()
    chunk_counts = count_chunks(text, compile_pattern("gpt4"))
    split_s = time.perf_counter() - start
    chunks = [to_bytes(chunk) for chunk, _ in chunk_counts]
    counts = [count for _, count in chunk_counts]

    start = time.perf_counter()
    ours = learn_merges(chunks, counts, num_merges)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    textbook = learn_merges_textbook(chunks, counts, num_merges)
    textbook_s = time.perf_counter() - start

    total_merges = vocab_size - 256
    extrapolated_s = split_s + textbook_s / num_merges * total_merges
    row = {"name": f"textbook recount (gpt4 pattern), extrapolated from {num_merges} merges",
           "train_s": round(extrapolated_s, 1), "encode_mb_s": None, "chars_per_token": None,
           "lossless": None, "extrapolated": True}
    return {"merges": num_merges, "ours_s": round(ours_s, 3), "textbook_s": round(textbook_s, 3),
            "ours_ms_per_merge": round(1e3 * ours_s / num_merges, 3),
            "textbook_ms_per_merge": round(1e3 * textbook_s / num_merges, 3),
            "speedup": round(textbook_s / ours_s, 1), "same_merges": ours == textbook,
            "unique_chunks": len(chunks), "row": row}


def markdown_table(rows):
    lines = ["| tokenizer | train s | encode MB/s (whole text) | chars/token | lossless |",
             "|---|---|---|---|---|"]
    for row in rows:
        if "skipped" in row:
            lines.append(f"| {row['name']} | skipped: {row['skipped']} | | | |")
            continue
        cells = [row["name"], row["train_s"], row["encode_mb_s"], row["chars_per_token"],
                 {True: "yes", False: "no", None: "as ours"}[row["lossless"]]]
        if row.get("extrapolated"):
            cells[1] = f"{row['train_s']} (extrapolated)"
            cells[2] = cells[3] = "as ours"
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def comparison_text(c):
    return (f"First {c['merges']} merges over the same {c['unique_chunks']:,} unique chunks: "
            f"ours {c['ours_s']} s (initial count included), textbook {c['textbook_s']} s "
            f"({c['textbook_ms_per_merge']} ms/merge); speedup {c['speedup']}x; "
            f"same merges: {'yes' if c['same_merges'] else 'NO'}.")


if __name__ == "__main__":
    sys.exit(main())
