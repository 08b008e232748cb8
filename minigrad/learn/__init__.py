"""Exercises that check themselves, for the lessons in docs/lessons/.

Each exercise names a computation whose lines the learner writes by hand (usually a backward
pass, in NumPy). ``check(name, fn)`` calls ``fn`` with the exercise's forward values and
compares what it returns with the reference solution, intermediate by intermediate:

    from minigrad.learn import check, inputs
    c = inputs("linear")          # x, W, b, y and the incoming gradient dy
    def linear_backward(c):
        return {"dx": c.dy @ c.W.T, "dW": c.x.T @ c.dy, "db": c.dy.sum(0)}
    check("linear", linear_backward)     # a table; names the first wrong one, with a hint

The reference solutions live in ``minigrad/learn/solutions/``, one file per exercise: look
there only when you choose to. The tests prove each of them against the engine's autograd.
"""
from minigrad.learn.checker import Report, check  # noqa: F401
from minigrad.learn.exercises import EXERCISES, inputs  # noqa: F401
