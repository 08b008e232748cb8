"""``minigrad.utils``: ``minigrad.utils.data`` (Dataset, DataLoader), as ``torch.utils``."""
from minigrad.utils import data  # noqa: F401
