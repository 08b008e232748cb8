"""``check(name, fn)``: compare a learner's intermediates with the reference, one by one.

The report is a table (as in backprop exercises that compare each gradient with the
framework's: exact, approximately, max difference) and, when something is wrong, the first
wrong intermediate with its shape, its largest difference, what the mistake looks like
(transposed, a sum over an axis missing, the sign, a constant factor) and the exercise's hint.
Later intermediates are usually computed from earlier ones, so fix the first one first.
"""
import importlib
from types import SimpleNamespace

import numpy as np

from minigrad.learn.exercises import EXERCISES, inputs

RTOL, ATOL = 1e-6, 1e-9


def reference(name):
    """The reference solution's values for exercise ``name`` (a dict)."""
    module = importlib.import_module(f"minigrad.learn.solutions.{name}")
    return module.solve(inputs(name))


def check(name, fn):
    """Run ``fn(c)`` on the forward values ``c`` of exercise ``name`` (a namespace:
    ``c.x``, ``c.dy``...) and compare the dict it returns with the reference solution.
    Returns a ``Report``: true when everything matches; shown as a table in a notebook."""
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r}; there are: {', '.join(EXERCISES)}")
    exercise = EXERCISES[name]
    got = fn(inputs(name))
    if not isinstance(got, dict):
        raise TypeError(f"check({name!r}): the function returned a {type(got).__name__}; "
                        f"return a dict with the keys {', '.join(exercise.names)}")
    expected = reference(name)
    rows = [_compare(key, got.get(key), np.asarray(expected[key], dtype=np.float64))
            for key in exercise.names]
    return Report(exercise, rows)


def _compare(key, value, expected):
    row = SimpleNamespace(name=key, shape=expected.shape, status="ok", maxdiff=0.0, why="")
    if value is None:
        row.status, row.why = "missing", "not written yet"
        return row
    got = np.asarray(value, dtype=np.float64)
    if got.shape != expected.shape:
        row.status = "wrong"
        row.why = f"shape {got.shape}, expected {expected.shape}; " + _shape_diagnosis(got, expected)
        return row
    # A NaN where the reference has none counts as infinitely far; NaNs in both agree.
    diff = np.where(np.isnan(got) != np.isnan(expected), np.inf, np.abs(got - expected))
    row.maxdiff = float(np.nan_to_num(diff, nan=0.0).max()) if diff.size else 0.0
    if np.array_equal(got, expected, equal_nan=True):
        row.status = "exact"
    elif np.allclose(got, expected, rtol=RTOL, atol=ATOL, equal_nan=True):
        row.status = "approx"
    else:
        row.status = "wrong"
        row.why = _value_diagnosis(got, expected)
    return row


def _close(a, b):
    return a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=ATOL)


def _shape_diagnosis(got, expected):
    if got.ndim == 2 and _close(got.T, expected):
        return "it is the transpose of the right answer: a transpose is missing or extra"
    for axis in range(got.ndim):
        for keep in (False, True):
            if _close(got.sum(axis, keepdims=keep), expected):
                return (f"summed over axis {axis} it would be right: the sum over that axis "
                        "is missing (an input broadcast along it, e.g. over the batch, "
                        "collects the gradient of every copy)")
    if got.size == expected.size and _close(got.reshape(expected.shape), expected):
        return f"the values are right: reshape to {expected.shape} (or keepdims=True)"
    return "check which axes the operation reduced or broadcast"


def _value_diagnosis(got, expected):
    if _close(-got, expected):
        return "the sign is flipped"
    if got.ndim == 2 and _close(got.T, expected):
        return "it is the transpose of the right answer: a transpose is missing or extra"
    big = np.abs(expected) > 1e-6
    if big.any():
        ratio = got[big] / expected[big]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-6) and _close(got, ratio.flat[0] * expected):
            return f"off by a constant factor: {ratio.flat[0]:.6g} times the right answer"
    return "the values differ"


class Report:
    """The outcome of ``check``: ``ok``, the rows (one per intermediate) and ``first_wrong``
    (the row of the first intermediate that is missing or wrong, or None)."""

    def __init__(self, exercise, rows):
        self.exercise, self.rows = exercise, rows
        self.first_wrong = next((r for r in rows if r.status in ("wrong", "missing")), None)
        self.ok = self.first_wrong is None

    def __bool__(self):
        return self.ok

    def __str__(self):
        width = max(len(r.name) for r in self.rows)
        lines = [f"{'':{width}}  {'shape':<14} {'exact':<6} {'approx':<7} max diff"]
        for r in self.rows:
            if r.status == "missing":
                lines.append(f"{r.name:{width}}  {str(r.shape):<14} (not written yet)")
                continue
            exact, approx = r.status == "exact", r.status in ("exact", "approx")
            diff = "shape differs" if "shape" in r.why else f"{r.maxdiff:.2e}"
            lines.append(f"{r.name:{width}}  {str(r.shape):<14} {str(exact):<6} "
                         f"{str(approx):<7} {diff}")
        lines.append(self.verdict())
        return "\n".join(lines)

    __repr__ = __str__

    def verdict(self):
        name = self.exercise.name
        if self.ok:
            return f"{name}: all {len(self.rows)} match the reference."
        r = self.first_wrong
        where = "" if r.status == "missing" or "shape" in r.why else (
            f", shape {r.shape}, max difference {r.maxdiff:.3g}")
        return (f"{name}: first wrong: {r.name}{where}: {r.why}.\n"
                f"hint: {self.exercise.hints[r.name]}")
