"""`minigrad tokenize`: the tokens of a text, one a line, as a run's tokenizer (or any
tokenizer file, or a tiktoken ranks file) cuts it.

    minigrad tokenize --checkpoint runs/tiny "ROMEO: what, ho!"
    minigrad tokenize --tokenizer cl100k_base.tiktoken "bookkeepers keep the books"
         31596  "book"
         ...
Each line is the id, then the piece it decodes to (as a JSON string, so that spaces,
newlines and the U+FFFD of a piece that is part of a UTF-8 character show); the count goes
to stderr.
"""
import json
import sys
from pathlib import Path

import tokenizers
from tokenizers import BPETokenizer

from models.rundir import TOKENIZER


def add_arguments(parser):
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="run directory (or a checkpoint file in one): "
                        "its tokenizer.json")
    source.add_argument("--tokenizer", help="a tokenizer file (tokenizer.json) or a tiktoken "
                        "ranks file (cl100k_base.tiktoken, ...)")
    parser.add_argument("--encoding", help="for a ranks file: cl100k_base, r50k_base or gpt2 "
                        "(split pattern and special tokens; default: from the file's name)")
    parser.add_argument("--allowed-special", default="all", metavar="all|none|TOKEN,...",
                        help="special tokens encoded as such (default all); any other in "
                        "the text is an error, as in tiktoken")
    parser.add_argument("text", help="the text to tokenize ('-': read standard input)")


def load_tokenizer(args):
    """The tokenizer that --checkpoint or --tokenizer names."""
    if args.checkpoint is not None:
        path = Path(args.checkpoint)
        path = (path if path.is_dir() else path.parent) / TOKENIZER
        if not path.is_file():
            raise FileNotFoundError(f"{args.checkpoint}: no {TOKENIZER} (not a run directory?)")
        return tokenizers.load(path)
    path = Path(args.tokenizer)
    with open(path, "rb") as f:
        looks_like_json = f.read(64).lstrip().startswith(b"{")
    if looks_like_json:
        return tokenizers.load(path)
    return BPETokenizer.from_tiktoken(path, encoding=args.encoding)


def encode(tokenizer, text, allowed):
    """The ids of `text`; `allowed` is "all", "none" or comma-separated special tokens."""
    if allowed == "all":
        return tokenizer.encode(text)
    if not isinstance(tokenizer, BPETokenizer):
        raise ValueError(f"--allowed-special: only BPE tokenizers choose special tokens; "
                         f"this one is {tokenizer.type!r}")
    chosen = set() if allowed == "none" else set(allowed.split(","))
    return tokenizer.encode(text, allowed_special=chosen)


def run(args):
    tokenizer = load_tokenizer(args)
    text = sys.stdin.read() if args.text == "-" else args.text
    ids = encode(tokenizer, text, args.allowed_special)
    lines = [f"{i:>8}  {json.dumps(tokenizer.decode([i]), ensure_ascii=False)}" for i in ids]
    if lines:
        print("\n".join(lines))
    print(f"{len(ids):,} tokens for {len(text):,} characters", file=sys.stderr)
    return 0
