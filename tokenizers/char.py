"""Character tokenizer: one id per Unicode character (code point).

The vocabulary is the sorted set of characters of the training text (Tiny Shakespeare has 65).
Ids follow that sorted order. With `unk=True` id 0 is `<unk>` and the characters take ids
1, 2, ...; every character the vocabulary lacks encodes to `<unk>`, which decodes to the
string "<unk>". Without it (the default) an unknown character is an error, so nothing is
ever lost silently.
"""

from .base import Tokenizer, require

UNK = "<unk>"


class CharTokenizer(Tokenizer):
    type = "char"

    def __init__(self, chars, unk=False):
        """`chars`: the vocabulary characters in id order (after `<unk>` when `unk`)."""
        self.unk = unk
        self.tokens = [UNK] * unk + list(chars)
        self.char_to_id = {c: i for i, c in enumerate(self.tokens) if not (unk and i == 0)}
        if len(self.char_to_id) != len(chars):
            raise ValueError("vocabulary characters must be distinct")

    @classmethod
    def train(cls, text, unk=False):
        """The vocabulary is every distinct character of `text`, sorted by code point."""
        if not text:
            raise ValueError("cannot train a char tokenizer on empty text")
        return cls(sorted(set(text)), unk=unk)

    @property
    def vocab_size(self):
        return len(self.tokens)

    @property
    def special_tokens(self):
        return {UNK: 0} if self.unk else {}

    def encode(self, text):
        char_to_id = self.char_to_id
        try:
            return [char_to_id[c] for c in text]
        except KeyError:
            if self.unk:
                return [char_to_id.get(c, 0) for c in text]
            position = next(i for i, c in enumerate(text) if c not in char_to_id)
            raise ValueError(
                f"character {text[position]!r} at position {position} is not in the vocabulary "
                f"({len(char_to_id)} characters); train on text that contains it, "
                f"or build the tokenizer with unk=True") from None

    def decode(self, ids):
        self._check_ids(ids)
        return "".join([self.tokens[i] for i in ids])

    def to_dict(self):
        return {"unk": self.unk, "chars": self.tokens[self.unk:]}

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        chars = require(data, "chars", list, source)
        if not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise ValueError(f"{source}: field 'chars' should hold single characters")
        try:
            return cls(chars, unk=require(data, "unk", bool, source))
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
