"""Running PyTorch model files unchanged: ``install_as_torch()`` makes ``import torch``
give minigrad in this process (docs/compat.md says what that covers)."""
import sys

import minigrad

#: torch's module names and the minigrad modules that stand in for them.
TORCH_MODULES = {
    "torch": "minigrad", "torch.nn": "minigrad.nn", "torch.nn.functional": "minigrad.nn.functional",
    "torch.nn.init": "minigrad.nn.init", "torch.nn.utils": "minigrad.nn.utils",
    "torch.optim": "minigrad.optim", "torch.optim.lr_scheduler": "minigrad.optim.lr_scheduler",
    "torch.utils": "minigrad.utils", "torch.utils.data": "minigrad.utils.data",
    "torch.amp": "minigrad.amp",
}


def install_as_torch():
    """From now on, in this process, ``import torch`` (and ``torch.nn``,
    ``torch.nn.functional``, ``torch.optim``, ``torch.utils.data``, ...) gives minigrad's
    modules. An explicit, process-wide choice: it refuses when the real PyTorch is already
    imported, since two libraries under one name would mix their tensors."""
    present = sys.modules.get("torch")
    if present is not None and present is not minigrad:
        raise RuntimeError("install_as_torch: the real PyTorch is already imported in this "
                           "process; call it before anything imports torch")
    for torch_name, ours in TORCH_MODULES.items():
        __import__(ours)
        sys.modules[torch_name] = sys.modules[ours]
