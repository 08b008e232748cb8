"""Lesson 1: the backward pass of o = tanh(x1*w1 + x2*w2 + b), one scalar at a time."""


def solve(c):
    dn = (1 - c.o ** 2) * c.do
    return dict(dn=dn, dw1=c.x1 * dn, dx1=c.w1 * dn, dw2=c.x2 * dn, dx2=c.w2 * dn, db=dn)
