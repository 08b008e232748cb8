"""Lesson 5: LayerNorm's backward pass, line by line, then the whole in one line."""


def solve(c):
    d = c.x.shape[1]
    dw = (c.dy * c.xhat).sum(0)
    db = c.dy.sum(0)
    dxhat = c.dy * c.w
    drstd = (dxhat * c.xc).sum(1, keepdims=True)
    dvar = -0.5 * (c.var + c.eps) ** -1.5 * drstd
    dxc = dxhat * c.rstd + 2 * c.xc / d * dvar
    dmean = -dxc.sum(1, keepdims=True)
    dx = dxc + dmean / d
    return dict(dw=dw, db=db, dxhat=dxhat, drstd=drstd, dvar=dvar, dxc=dxc, dmean=dmean, dx=dx)


def fused(c):
    """dx in one line: rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = dy * w."""
    gh = c.dy * c.w
    return c.rstd * (gh - gh.mean(1, keepdims=True) - c.xhat * (gh * c.xhat).mean(1, keepdims=True))
