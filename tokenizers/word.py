"""Word tokenizer: one id per word, punctuation mark or line break.

Splitting: the regex `\\w+|[^\\w\\s]|\\n` (the `regex` package's Unicode \\w, which includes
accents and combining marks, so Spanish words stay whole). A token is a run of word
characters, one punctuation character, or a newline. Newlines are tokens so that the line
structure of a play or a novel survives; all other whitespace (spaces, tabs, \\r) only
separates tokens and is dropped.

With `split="spaces"` (the Cervantes notebook's tokenizer) the text is instead cut by
whitespace alone, after a space is put on each side of `. ! ? , : ;`: other punctuation stays
inside its word ("¿quién", "mancha»") and newlines are not tokens.

Vocabulary and ids (with `lower=True` the text is lowercased first, in training and encoding):
    0 <pad>   1 <unk>   2 <bos>   3 <eos>
    4...      tokens seen at least `min_freq` times, most frequent first; ties keep the order
              of first occurrence in the training text. `max_vocab` caps the whole vocabulary,
              the four specials included, by keeping the most frequent.
Words outside the vocabulary encode to <unk>.

Decoding joins tokens with single spaces, except:
    no space before  , . ; : ! ? ) ] } » ” ’ %
    no space after   ( [ { ¿ ¡ « “ ‘
    none around      ' and -  (apostrophes and hyphens sit inside words: don't, to-morrow)
    none around      a newline
    straight double quotes " alternate: an opening one has no space after it, a closing one
    none before it.
So `decode(encode(s))` is `normalize(s)`: s with its whitespace rewritten by these rules
(and lowercased with `lower=True`), unknown words replaced by "<unk>".
"""

from collections import Counter

import regex

from .base import Tokenizer, require

SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
UNK_ID = 1
TOKEN_PATTERN = regex.compile(r"\w+|[^\w\s]|\n")
SEED_PUNCTUATION = regex.compile(r"([.!?,:;])")
SPLITS = ("regex", "spaces")
NO_SPACE_AROUND = {"'", "-", "\n"}
NO_SPACE_BEFORE = set(",.;:!?)]}»”’%") | NO_SPACE_AROUND
NO_SPACE_AFTER = set("([{¿¡«“‘") | NO_SPACE_AROUND


class WordTokenizer(Tokenizer):
    type = "word"

    def __init__(self, words, lower=False, split="regex"):
        """`words`: the vocabulary in id order, after the four specials."""
        if split not in SPLITS:
            raise ValueError(f"word tokenizer: split must be one of {', '.join(SPLITS)}, "
                             f"got {split!r}")
        self.lower, self.split = lower, split
        self.tokens = SPECIALS + list(words)
        self.token_to_id = {t: i for i, t in enumerate(self.tokens)}
        if len(self.token_to_id) != len(self.tokens):
            raise ValueError("vocabulary words must be distinct and differ from the specials")

    @classmethod
    def train(cls, text, lower=False, min_freq=1, max_vocab=None, split="regex"):
        """Count tokens; keep those seen >= min_freq times, at most max_vocab ids in all."""
        if not text:
            raise ValueError("cannot train a word tokenizer on empty text")
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_vocab is not None and max_vocab <= len(SPECIALS):
            raise ValueError(f"max_vocab must exceed the {len(SPECIALS)} special tokens, "
                             f"got {max_vocab}")
        counts = Counter(split_words(text, lower, split))  # keys in order of first occurrence
        if not counts:
            raise ValueError("training text holds no words, punctuation or newlines")
        # sorted() is stable, so equal counts keep the order of first occurrence.
        words = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: -counts[w])
        if max_vocab is not None:
            words = words[:max_vocab - len(SPECIALS)]
        return cls(words, lower=lower, split=split)

    @property
    def vocab_size(self):
        return len(self.tokens)

    @property
    def special_tokens(self):
        return {t: i for i, t in enumerate(SPECIALS)}

    def encode(self, text):
        token_to_id = self.token_to_id
        return [token_to_id.get(t, UNK_ID) for t in split_words(text, self.lower, self.split)]

    def decode(self, ids):
        self._check_ids(ids)
        return join_words([self.tokens[i] for i in ids])

    def normalize(self, text):
        """What decode(encode(text)) gives when every word of `text` is in the vocabulary."""
        return join_words(split_words(text, self.lower, self.split))

    def to_dict(self):
        return {"lower": self.lower, "split": self.split, "words": self.tokens[len(SPECIALS):]}

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        words = require(data, "words", list, source)
        if not all(isinstance(w, str) and w for w in words):
            raise ValueError(f"{source}: field 'words' should hold non-empty strings")
        try:
            return cls(words, lower=require(data, "lower", bool, source),
                       split=data.get("split", "regex"))  # files before "split": regex
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


def split_words(text, lower=False, split="regex"):
    """The tokens of `text`, as strings: words, punctuation and newlines (split "regex"), or
    the whitespace-separated pieces once `.!?,:;` stand apart (split "spaces")."""
    text = text.lower() if lower else text
    if split == "spaces":
        return SEED_PUNCTUATION.sub(r" \1 ", text).split()
    return TOKEN_PATTERN.findall(text)


def join_words(tokens):
    """Join tokens into text with the spacing rules of the module docstring."""
    parts = []
    quote_open = False  # inside a straight double quote
    after_opening_quote = False
    previous = None
    for token in tokens:
        closing_quote = token == '"' and quote_open
        space = not (previous is None or previous in NO_SPACE_AFTER or token in NO_SPACE_BEFORE
                     or after_opening_quote or closing_quote)
        if space:
            parts.append(" ")
        parts.append(token)
        if token == '"':
            quote_open = not quote_open
        after_opening_quote = token == '"' and quote_open
        previous = token
    return "".join(parts)
