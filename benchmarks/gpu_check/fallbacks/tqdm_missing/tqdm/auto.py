"""tqdm.auto of the stand-in: the same plain bar (see __init__.py)."""
from tqdm.std import tqdm  # noqa: F401
