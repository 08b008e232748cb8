"""Lesson 10: the backward pass of exact GELU, y = x * Phi(x)."""


def solve(c):
    dcdf = c.dy * c.x
    return dict(dcdf=dcdf, dx=c.dy * c.cdf + dcdf * c.pdf)
