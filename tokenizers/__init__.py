"""Tokenizers: text <-> lists of integer ids, with one interface for all three schemes.

    CharTokenizer   one id per character            (char.py)
    WordTokenizer   one id per word or punctuation  (word.py)
    BPETokenizer    byte-level byte-pair encoding   (bpe.py, training in bpe_train.py;
                    from_tiktoken reads tiktoken's ranks files into a RankedBPETokenizer,
                    whose ids are the ranks: bpe_ranks.py)

Each has `train(text, ...)`, `encode`, `decode`, `encode_batch`, `vocab_size`,
`special_tokens`, `save(path)`, `to_json()` and `load(path)` (see base.py). `load(path)` and
`loads(text)` below read a file of any type; `get_tokenizer_class("bpe")` gives the class for
a name.

This package needs only the standard library and `regex`; it knows nothing of tensors.
(Its name is also that of HuggingFace's library: the two never share an environment.)
"""

from .base import Tokenizer, parse, read_file
from .bpe import BPETokenizer
from .bpe_ranks import RankedBPETokenizer, from_tiktoken
from .char import CharTokenizer
from .word import WordTokenizer

TOKENIZER_CLASSES = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}

__all__ = ["Tokenizer", "CharTokenizer", "WordTokenizer", "BPETokenizer", "RankedBPETokenizer",
           "TOKENIZER_CLASSES", "from_tiktoken", "get_tokenizer_class", "load", "loads"]


def get_tokenizer_class(name):
    """The tokenizer class for "char", "word" or "bpe"."""
    try:
        return TOKENIZER_CLASSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown tokenizer {name!r}; choose one of "
                         f"{', '.join(map(repr, TOKENIZER_CLASSES))}") from None


def load(path):
    """Load a tokenizer saved by any tokenizer's `save`, choosing the class by its `type`."""
    return _from_data(read_file(path), path)


def loads(text, source="<text>"):
    """The tokenizer of a file's text (`Tokenizer.to_json`); `source` names it in errors."""
    return _from_data(parse(text, source), source)


def _from_data(data, source):
    kind = data["type"]
    if not (isinstance(kind, str) and kind in TOKENIZER_CLASSES):
        raise ValueError(f"{source}: unknown tokenizer type {kind!r}; expected one of "
                         f"{', '.join(map(repr, TOKENIZER_CLASSES))}")
    if kind == "bpe" and "ranks" in data:  # a version 2 file: tokens by rank
        return RankedBPETokenizer.from_file_data(data, source)
    return TOKENIZER_CLASSES[kind].from_file_data(data, source)
