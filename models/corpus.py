"""Corpus files: where a corpus's text is, split by split, and reading it.

Corpora. `corpus` is one of:
    a UTF-8 text file      split by token position: the first 90% train, the rest val
                           (as nanoGPT's shakespeare_char; `val_fraction` sets the share;
                           with `test_fraction`, a test split follows val).
    a directory            holding given splits, WikiText-2 style: wiki.train.tokens /
                           wiki.valid.tokens / wiki.test.tokens, or train.txt / valid.txt
                           (or val.txt) / test.txt. Train and valid are required, test is optional.
    a mapping              {"train": path, "val" (or "valid"): path, "test": path (optional)},
                           for splits that live in different places.
    a bundled corpus's name  "shakespeare" (Tiny Shakespeare, the default) or "quijote"
                           (Don Quijote, both parts, from Project Gutenberg eBook #2000
                           with its header and licence removed: 2,110,705 characters,
                           stored gzip-compressed). A file or directory of that name wins.
A file ending in .gz is decompressed when read.
"""
import gzip
import io
from collections.abc import Mapping
from pathlib import Path

from models.resources import MAX_CORPUS_BYTES, check_corpus_file

SPLIT_FILES = {  # names looked for in a corpus directory, first match wins
    "train": ("wiki.train.tokens", "train.txt"),
    "val": ("wiki.valid.tokens", "valid.txt", "val.txt"),
    "test": ("wiki.test.tokens", "test.txt"),
}
SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "test": "test"}
BUNDLED = {"shakespeare": "tinyshakespeare.txt", "quijote": "quijote.txt.gz"}


def default_corpus_path():
    """The bundled Tiny Shakespeare text (1,115,394 characters)."""
    return Path(__file__).parent / "corpora" / "tinyshakespeare.txt"


def find_corpus(corpus):
    """`corpus` as a path: the bundled file of a corpus name (BUNDLED) unless a file or
    directory of that name exists; any other string or mapping unchanged."""
    if isinstance(corpus, str) and corpus in BUNDLED and not Path(corpus).exists():
        return Path(__file__).parent / "corpora" / BUNDLED[corpus]
    return corpus


def corpus_files(corpus):
    """The files of a corpus by split: {"train", "val"[, "test"]} for given splits, or
    {"all": path} for a single file that `prepare` splits by position.

    Raises FileNotFoundError naming the path and the file names expected.
    """
    if isinstance(corpus, Mapping):
        return _mapping_files(corpus)
    path = Path(find_corpus(corpus))
    if path.is_dir():
        return _directory_files(path)
    if path.is_file():
        return {"all": path}
    raise FileNotFoundError(
        f"{path}: no such corpus file or directory (expected a UTF-8 text file, or a directory "
        f"with {' / '.join(SPLIT_FILES['train'])} and {' / '.join(SPLIT_FILES['val'])})")


def _directory_files(directory):
    files = {}
    for split, names in SPLIT_FILES.items():
        found = [directory / name for name in names if (directory / name).is_file()]
        if found:
            files[split] = found[0]
        elif split != "test":
            present = sorted(p.name for p in directory.iterdir()) or ["nothing"]
            raise FileNotFoundError(
                f"{directory}: no {split} split (expected one of {', '.join(names)}; "
                f"found {', '.join(present)})")
    return files


def _mapping_files(corpus):
    files = {}
    for name, path in corpus.items():
        if name not in SPLIT_ALIASES:
            raise ValueError(f"unknown split {name!r}; expected train, val (or valid) and "
                             f"optionally test")
        files[SPLIT_ALIASES[name]] = Path(path)
    missing = [split for split in ("train", "val") if split not in files]
    if missing:
        raise ValueError(f"corpus splits given without {' and '.join(missing)}: "
                         f"pass both train and val files (test is optional)")
    return files


def read_bytes(path):
    """The bytes of a corpus file; FileNotFoundError or ValueError naming it if missing, empty
    or too large to encode in memory (models.resources.check_corpus_file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such corpus file (expected a UTF-8 text file)")
    check_corpus_file(path)
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = _gunzip(data, path)
    if not data:
        raise ValueError(f"{path}: corpus file is empty (expected UTF-8 text)")
    return data


def _gunzip(data, path):
    """The decompressed bytes of a gzip file, refused past the corpus size limit."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
        try:
            out = f.read(MAX_CORPUS_BYTES + 1)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: not a readable gzip file ({e})") from None
    if len(out) > MAX_CORPUS_BYTES:
        raise ValueError(f"{path}: decompresses to more than the corpus limit of "
                         f"{MAX_CORPUS_BYTES:,} bytes; train on a part of it")
    return out


def decode_utf8(data, path):
    """`data` decoded as UTF-8; a ValueError naming `path` and the first bad byte if it is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}: {e.reason}); "
            f"convert it first, e.g. from Latin-1 with `iconv -f latin1 -t utf-8`") from None


def read_text(path):
    """The text of a UTF-8 corpus file, with clear errors for missing, empty or non-UTF-8 files."""
    return decode_utf8(read_bytes(path), path)


def training_text(corpus):
    """The text a tokenizer should learn from: the train file of given splits, else the whole
    file (like nanoGPT, whose character vocabulary comes from all of Tiny Shakespeare)."""
    files = corpus_files(corpus)
    return read_text(files.get("train", files.get("all")))
