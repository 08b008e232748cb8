"""Checking what comes from outside: command-line numbers, config.json, checkpoints.

One place says what a value may be, and every boundary asks it:

    Int(1)                          an integer >= 1
    Float(0, 1, high_open=True)     a finite number in [0, 1)
    Choice(("pre", "post")), Bool(), Text(), Pair(Float(0, 1)), Maybe(Int(1))

`spec.parse` is the argparse type of a flag (argparse then names the flag in the error),
`spec.validate(name, value)` checks a value from a file or from Python code, and
`conform(value, template, where)` checks that a structure read from a checkpoint has the
shape of the one the code would write (same keys, lengths, array shapes, kinds of number).
A bad value is an `InputError`: a ValueError whose message is one line naming the flag,
field or file, the value and what was expected, which the CLI prints as it is.
"""
import argparse
import math
import numbers


class InputError(ValueError):
    """A value or file that cannot be used; the message is one line naming it."""


class Spec:
    """What a value may be: subclasses define `accepts`, `convert` and `description`."""

    description = "a value"

    def accepts(self, value):
        raise NotImplementedError

    def convert(self, text):
        """The value a command-line string stands for (ValueError if none)."""
        return text

    def validate(self, name, value):
        """`value` if acceptable, else an InputError naming `name`."""
        if not self.accepts(value):
            raise InputError(f"{name} must be {self.description}, got {value!r}")
        return value

    def parse(self, text):
        """argparse's type: the converted value, or an error argparse prefixes with the flag."""
        try:
            value = self.convert(text)
        except ValueError:
            value = None
        if value is None or not self.accepts(value):
            raise argparse.ArgumentTypeError(f"must be {self.description}, got {text!r}")
        return value


MAX_INT = 2 ** 63 - 1  # the largest integer any setting may take (it fits an int64)


class Int(Spec):
    def __init__(self, low=None, high=MAX_INT):
        self.low, self.high = low, high
        if low is not None and high != MAX_INT:
            self.description = f"an integer in {low}..{high}"
        elif low is not None:
            self.description = f"an integer >= {low}"
        else:
            self.description = "an integer"

    def accepts(self, value):
        low = -MAX_INT if self.low is None else self.low
        return _is_int(value) and low <= value <= self.high

    def convert(self, text):
        return int(text)


class Float(Spec):
    """A finite number (int or float) in a range; `infinite=True` also accepts +inf."""

    def __init__(self, low=None, high=None, low_open=False, high_open=False, infinite=False):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.infinite = infinite
        kind = "a number" if infinite else "a finite number"
        if low is not None and high is not None:
            self.description = (f"{kind} in {'(' if low_open else '['}{low}, "
                                f"{high}{')' if high_open else ']'}")
        elif low is not None:
            self.description = f"{kind} {'>' if low_open else '>='} {low}"
        else:
            self.description = kind

    def accepts(self, value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        if isinstance(value, numbers.Integral) and abs(value) > MAX_INT:
            return False  # (a float could not hold it)
        if not math.isfinite(value) and (math.isnan(value) or not (self.infinite and value > 0)):
            return False
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = (self.high is None
                   or (value < self.high if self.high_open else value <= self.high))
        return low_ok and high_ok

    def convert(self, text):
        return float(text)


class Choice(Spec):
    def __init__(self, values):
        self.values = tuple(values)
        self.description = "one of " + ", ".join(self.values)

    def accepts(self, value):
        return isinstance(value, str) and value in self.values


class Bool(Spec):
    description = "true or false"

    def accepts(self, value):
        return isinstance(value, bool)


class Text(Spec):
    description = "a string"

    def accepts(self, value):
        return isinstance(value, str)


class Pair(Spec):
    """Two values of one spec (a list or a tuple)."""

    def __init__(self, item):
        self.item = item
        self.description = f"two numbers, each {item.description}"

    def accepts(self, value):
        return (isinstance(value, (list, tuple)) and len(value) == 2
                and all(self.item.accepts(v) for v in value))


class Maybe(Spec):
    """None (null in JSON; 'not given' on the command line) or a value of `inner`."""

    def __init__(self, inner):
        self.inner = inner
        self.description = f"{inner.description} (or null)"

    def accepts(self, value):
        return value is None or self.inner.accepts(value)

    def convert(self, text):
        return self.inner.convert(text)

    def parse(self, text):
        return self.inner.parse(text)


# ---------------------------------------------------------------- structures

ANY = object()  # in a template: accept whatever is there (checked elsewhere)


def conform(value, template, where):
    """An InputError naming `where` (a file and a dotted field) unless `value` has the
    structure of `template`: dicts with the same keys, lists or tuples of the same length,
    arrays or tensors of the same shape and kind of dtype, numbers of the same kind (an
    int where a float is expected is fine; NaN and -inf never are), strings, booleans, None."""
    if template is ANY:
        return
    if isinstance(template, dict):
        _conform_dict(value, template, where)
    elif isinstance(template, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(template):
            _fail(where, f"a list of {len(template)}", value)
        for i, (v, t) in enumerate(zip(value, template)):
            conform(v, t, f"{where}[{i}]")
    elif hasattr(template, "shape"):
        _conform_array(value, template, where)
    elif isinstance(template, bool) or template is None or isinstance(template, str):
        if type(value) is not type(template):
            _fail(where, type(template).__name__.replace("NoneType", "null"), value)
    elif isinstance(template, numbers.Integral):
        if not _is_int(value):  # any size (a generator's state is 128 bits): ranges elsewhere
            _fail(where, "an integer", value)
    elif isinstance(template, numbers.Real):
        if not Float(infinite=True).accepts(value):
            _fail(where, "a number", value)
    else:
        raise TypeError(f"conform: no rule for a template {type(template).__name__}")


def check_ranges(tree, ranges, where):
    """Check the numbers of a structure (already conformed) against `ranges`: {dotted path
    ("optimizer.param_groups.*.lr", "*" for any key or index): spec}; InputError if not."""
    for pattern, spec in ranges.items():
        for dotted, value in _matches(tree, pattern.split("."), ""):
            spec.validate(f"{where}: {dotted}", value)


def _matches(node, parts, prefix):
    if not parts:
        yield prefix, node
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        items = node.items() if head == "*" else ([(head, node[head])] if head in node else [])
    elif isinstance(node, (list, tuple)) and head == "*":
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield from _matches(child, rest, f"{prefix}.{key}" if prefix else str(key))


def _conform_dict(value, template, where):
    if not isinstance(value, dict):
        _fail(where, "a mapping", value)
    missing = [str(k) for k in template if k not in value]
    unexpected = [str(k) for k in value if k not in template]
    if missing or unexpected:
        raise InputError(f"{where}: " + "; ".join(
            part for part in (missing and f"missing {', '.join(missing)}",
                              unexpected and f"unexpected {', '.join(unexpected)}") if part))
    for key, item in template.items():
        conform(value[key], item, f"{where}.{key}")


def _conform_array(value, template, where):
    shape, kind = tuple(template.shape), _dtype_kind(template)
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        _fail(where, f"an array of shape {shape}", value)
    if tuple(value.shape) != shape or _dtype_kind(value) != kind:
        raise InputError(f"{where} has shape {tuple(value.shape)} ({value.dtype}); expected "
                         f"{shape} ({'floating point' if kind == 'f' else 'integer'})")


def _dtype_kind(array):
    kind = getattr(array.dtype, "kind", None) or str(array.dtype)[0]
    return "f" if kind in "fc" else "i"


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _fail(where, expected, value):
    shown = repr(value) if not hasattr(value, "shape") else f"an array {tuple(value.shape)}"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise InputError(f"{where} should be {expected}, got {shown}")
