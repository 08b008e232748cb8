"""What the tests of minigrad.nn share: float64 inputs that require grad, token ids, and a
layer's nested outputs flattened."""
import minigrad as mg


def randn(*shape, away_from_zero=False):
    x = mg.randn(*shape, dtype=mg.float64)
    if away_from_zero:  # keep relu-like kinks out of the finite differences
        x = x + (x > 0).to(mg.float64) * 0.2 - (x <= 0).to(mg.float64) * 0.2
    return x.requires_grad_()


def ids(*shape, high):
    return mg.randint(0, high, shape)


def flat(result):
    """(output, h_n) or (output, (h_n, c_n)) as one flat tuple of tensors."""
    out = []
    for r in result if isinstance(result, tuple) else (result,):
        out.extend(flat(r) if isinstance(r, tuple) else [r])
    return tuple(out)
