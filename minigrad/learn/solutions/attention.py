"""Lesson 6: the backward pass of causal attention O = softmax(scale * Q @ K.T) @ V."""


def solve(c):
    dV = c.P.T @ c.G
    dP = c.G @ c.V.T
    dS = c.P * (dP - (dP * c.P).sum(1, keepdims=True))
    return dict(dV=dV, dP=dP, dS=dS, dQ=c.scale * dS @ c.K, dK=c.scale * dS.T @ c.Q)
