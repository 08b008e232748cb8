"""The interface every tokenizer shares, and its file format.

A tokenizer maps text to a list of integer ids and back:

    tok = SomeTokenizer.train(text, ...)    # learn a vocabulary from a corpus
    ids = tok.encode("Hello")               # str -> list[int], each id in range(tok.vocab_size)
    tok.decode(ids)                         # list[int] -> str
    tok.save("tok.json"); SomeTokenizer.load("tok.json")

Special tokens have fixed ids, listed by `special_tokens` (string -> id):
    char   none; with unk=True, <unk> = 0 and the characters follow
    word   <pad> = 0, <unk> = 1, <bos> = 2, <eos> = 3, then the words
    bpe    none by default; those given to train() take the ids after the merges, in order
`pad_id`, `unk_id`, `bos_id` and `eos_id` give the id of each of the four usual ones, or None
where the tokenizer has no such token. `encode` never adds <bos>/<eos> by itself; `decode`
writes a special token as its string ("<eos>").

Files are JSON with two fields every type shares: `type` ("char", "word", "bpe") and
`version` (an integer, raised whenever the format of that type changes). The rest of the
file is the tokenizer's own state, written by `to_dict` and read by `from_dict`.
"""

import json
import numbers
import re


class Tokenizer:
    """Base class: subclasses set `type` and implement train, encode, decode, vocab_size,
    special_tokens, to_dict and from_dict."""

    type = None  # the name written to files: "char", "word" or "bpe"
    version = 1  # the newest file format this class reads and the one it writes

    @classmethod
    def train(cls, text, **options):
        raise NotImplementedError

    def encode(self, text):
        raise NotImplementedError

    def decode(self, ids):
        raise NotImplementedError

    @property
    def vocab_size(self):
        raise NotImplementedError

    @property
    def special_tokens(self):
        """Special token string -> id."""
        raise NotImplementedError

    def to_dict(self):
        """The state to save, without `type` and `version`."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        """Rebuild a tokenizer from `to_dict`'s output; `source` names the file in errors."""
        raise NotImplementedError

    @property
    def pad_id(self):
        return self.special_tokens.get("<pad>")

    @property
    def unk_id(self):
        return self.special_tokens.get("<unk>")

    @property
    def bos_id(self):
        return self.special_tokens.get("<bos>")

    @property
    def eos_id(self):
        return self.special_tokens.get("<eos>")

    def encode_batch(self, texts):
        return [self.encode(text) for text in texts]

    def decode_batch(self, batch):
        return [self.decode(ids) for ids in batch]

    def to_json(self):
        """The text of the tokenizer's file (what `save` writes and `tokenizers.loads` reads)."""
        return dumps({"type": self.type, "version": self.version, **self.to_dict()})

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path):
        return cls.from_file_data(read_file(path), path)

    @classmethod
    def from_file_data(cls, data, path):
        """Check the `type` and `version` that `read_file` returned, then build the tokenizer."""
        if data["type"] != cls.type:
            raise ValueError(f"{path}: holds a {data['type']!r} tokenizer, expected {cls.type!r} "
                             f"(tokenizers.load reads any type)")
        version = data["version"]
        if (not isinstance(version, int) or isinstance(version, bool)
                or not 1 <= version <= cls.version):
            raise ValueError(f"{path}: {cls.type!r} tokenizer format version {version!r}; "
                             f"this code reads versions 1..{cls.version} "
                             f"(a file from a newer minigrad?)")
        return cls.from_dict(data, source=str(path))

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def _check_ids(self, ids):
        """Raise a ValueError naming the first id outside range(vocab_size)."""
        size = self.vocab_size
        try:
            if min(ids, default=0) >= 0 and max(ids, default=0) < size:
                return
        except TypeError:
            pass  # a non-number among the ids: the scan below names it
        for position, i in enumerate(ids):
            if not (isinstance(i, numbers.Integral) and 0 <= i < size):
                raise ValueError(
                    f"id {i!r} at position {position} is not in the vocabulary (ids 0..{size - 1})")


MAX_FILE_BYTES = 64 << 20  # a tokenizer file larger than this is refused unread


def read_file(path):
    """The JSON object in a tokenizer file, checked to have `type` and `version` fields.

    Every problem is a ValueError that names the file and what was expected.
    """
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB: not a tokenizer file")
    return parse(data, path)


def parse(text, source):
    """The JSON object of a tokenizer file's text (str, or bytes in UTF-8); `source` names
    the file in errors."""
    try:
        data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (ValueError, RecursionError) as e:  # JSON and UTF-8 errors
        raise ValueError(f"{source}: not a tokenizer file (expected JSON: {e})") from None
    if not isinstance(data, dict) or "type" not in data or "version" not in data:
        raise ValueError(f"{source}: not a tokenizer file (expected a JSON object with "
                         f"fields 'type' and 'version')")
    return data


def require(data, field, kind, source):
    """data[field] checked to be an instance of `kind`; a ValueError naming the file if not."""
    if field not in data:
        raise ValueError(f"{source}: tokenizer file is missing the field {field!r}")
    value = data[field]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{source}: field {field!r} should be {_kind_name(kind)}, "
                         f"got {type(value).__name__}")
    return value


def _kind_name(kind):
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(data):
    """JSON text with one list item per line, so a vocabulary or merge list reads top to bottom.

    Non-ASCII characters are written as themselves (readable Spanish, emoji); lone surrogates,
    which a Python str may hold but UTF-8 cannot, are written as \\uXXXX escapes, which JSON
    reads back to the same lone surrogate.
    """
    lines = ["{"]
    for n, (key, value) in enumerate(data.items()):
        comma = "," if n < len(data) - 1 else ""
        if isinstance(value, list) and value:
            items = [json.dumps(item, ensure_ascii=False) for item in value]
            lines.append(f"  {json.dumps(key)}: [")
            lines.append(",\n".join("    " + item for item in items))
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
