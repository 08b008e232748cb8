"""Mixed precision: matrix products in float16 (or bfloat16 on a GPU that has it) with
float32 master weights, and dynamic loss scaling so that float16 gradients neither
overflow nor flush to zero.

    scaler = minigrad.amp.GradScaler()
    with minigrad.amp.autocast("float16"):
        loss = F.cross_entropy(model(x), y)      # matmul and linear compute in float16
    scaler.scale(loss).backward()                # gradients of loss * scale
    scaler.unscale_(optimizer)                   # optional: to clip the true gradients
    clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)                       # skipped if any gradient is inf or NaN
    scaler.update()                              # back off after an overflow, grow when clean

Under ``autocast`` the matmul and linear ops round their float32 operands to the low
precision, multiply, round the product, and return float32; their backward products use
the precision of their forward. Everything else (softmax, LayerNorm, the loss, the
optimizer) stays float32, as on PyTorch's autocast lists. Float64 operands are never cast,
so gradchecks are unaffected. ``autocast`` is per thread, like grad mode.
"""
import contextlib
import math
import threading

import numpy as np

from minigrad import backend

LOW_PRECISION = ("float16", "bfloat16")


class _State(threading.local):
    dtype = None  # the autocast dtype's name, or None when autocast is off


_state = _State()


def _dtype_name(dtype):
    if isinstance(dtype, str):
        return dtype
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


#: PyTorch's default autocast dtype of each device type.
DEVICE_DEFAULT = {"cuda": "float16", "cpu": "bfloat16"}


class autocast(contextlib.ContextDecorator):
    """``with autocast('float16'):`` (or as a decorator) runs matmul and linear in the low
    precision. ``'float16'`` works on NumPy and CuPy; ``'bfloat16'`` only on a CuPy that
    computes in it (NumPy has no bfloat16). ``enabled=False`` switches autocast off inside
    an enclosing one.

    PyTorch's spellings work too: ``autocast(device_type='cuda', dtype=torch.float16)``,
    ``autocast('cpu', dtype=...)``; without a dtype, a device type gets PyTorch's default
    (float16 for 'cuda', bfloat16 for 'cpu'). The device type names no device here: the
    arrays' own device decides where the product runs."""

    def __init__(self, device_type=None, dtype=None, enabled=True, cache_enabled=None):
        if device_type in DEVICE_DEFAULT:
            dtype = DEVICE_DEFAULT[device_type] if dtype is None else dtype
        elif device_type is not None:          # minigrad's own autocast('float16')
            if dtype is not None:
                raise ValueError(f"autocast: device_type must be 'cuda' or 'cpu', got "
                                 f"{device_type!r}")
            dtype = device_type
        name = _dtype_name("float16" if dtype is None else dtype)
        if name not in LOW_PRECISION:
            raise ValueError(f"autocast: dtype must be 'float16' or 'bfloat16', got {dtype!r}")
        if enabled and name == "bfloat16":
            if backend.bfloat16_dtype() is None:
                raise ValueError("autocast: bfloat16 is not available: NumPy has no bfloat16 "
                                 "type, and it needs CuPy on a GPU with the ml_dtypes package "
                                 "and bfloat16 support; use dtype='float16'")
        self.name = name if enabled else None

    def __enter__(self):
        self.prev, _state.dtype = _state.dtype, self.name
        return self

    def __exit__(self, *exc):
        _state.dtype = self.prev


def get_autocast_dtype():
    """The name of the dtype autocast computes in on this thread, or None when it is off."""
    return _state.dtype


def is_autocast_enabled():
    return _state.dtype is not None


def compute_dtype(a, b):
    """The dtype in which autocast multiplies arrays ``a`` and ``b``, or None: autocast is
    off, or an operand is not float32 (float64 stays exact, integers are never cast). The
    backend says what the arrays' device computes in (TypeError for bfloat16 on the CPU)."""
    name = _state.dtype
    if name is None or a.dtype != np.float32 or b.dtype != np.float32:
        return None
    return backend.kernels(a).autocast_dtype(name)


def matmul(a, b, dtype):
    """``a @ b`` computed in ``dtype`` (float16 or bfloat16), returned in a's dtype.

    The product is rounded to ``dtype`` before it is widened again, so it overflows to inf
    exactly where a low-precision product would: that is what the loss scaler watches."""
    return backend.kernels(a).matmul_low(a, b, dtype)


# ---------------------------------------------------------------- loss scaling

class GradScaler:
    """Dynamic loss scaling, with PyTorch's ``torch.amp.GradScaler`` API and rule.

    ``scale(loss)`` multiplies the loss by S, so every gradient is S times too large: small
    float16 gradients stay above float16's underflow. ``unscale_(optimizer)`` divides the
    gradients by S in place and records whether any is inf or NaN (an overflow);
    ``step(optimizer)`` then skips the update after an overflow. ``update()`` sets

        S = S * backoff_factor               after a step with an overflow
        S = S * growth_factor                after growth_interval clean steps in a row

    With ``enabled=False`` every method is a pass-through (``scale`` returns the loss,
    ``step`` calls ``optimizer.step()``), so a training loop can call them always."""

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        # ``device`` is PyTorch's first argument (torch.amp.GradScaler("cuda")); scaling
        # works the same on every device, so it is only checked.
        backend.parse_device(device)
        if not init_scale > 0 or not growth_factor > 1 or not 0 < backoff_factor < 1:
            raise ValueError(f"GradScaler: need init_scale > 0, growth_factor > 1 and "
                             f"0 < backoff_factor < 1, got {init_scale}, {growth_factor}, "
                             f"{backoff_factor}")
        if int(growth_interval) < 1:
            raise ValueError(f"GradScaler: growth_interval must be at least 1, got "
                             f"{growth_interval}")
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0  # clean steps since the last change of scale
        self._optimizers = {}     # id(optimizer) -> {"stage": ..., "found_inf": bool}

    def is_enabled(self):
        return self._enabled

    def get_scale(self):
        """The current scale S (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """``outputs * S``: a tensor, or a list or tuple of them."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def _stage(self, optimizer):
        return self._optimizers.setdefault(id(optimizer), {"stage": "ready", "found_inf": False})

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by S, in place, and note
        whether any holds inf or NaN. At most once per optimizer between updates."""
        if not self._enabled:
            return
        state = self._stage(optimizer)
        if state["stage"] == "unscaled":
            raise RuntimeError("unscale_() has already been called on this optimizer since "
                               "the last update()")
        if state["stage"] == "stepped":
            raise RuntimeError("unscale_() is being called after step()")
        grads = [p.grad.data for group in optimizer.param_groups for p in group["params"]
                 if p.grad is not None]
        state["found_inf"] = _unscale(grads, 1.0 / self._scale)
        state["stage"] = "unscaled"

    def step(self, optimizer):
        """``optimizer.step()`` on the unscaled gradients, unless one is inf or NaN (then
        nothing changes and None is returned)."""
        if not self._enabled:
            return optimizer.step()
        state = self._stage(optimizer)
        if state["stage"] == "stepped":
            raise RuntimeError("step() has already been called since the last update()")
        if state["stage"] == "ready":
            self.unscale_(optimizer)
        state["stage"] = "stepped"
        if state["found_inf"]:
            return None
        return optimizer.step()

    def update(self, new_scale=None):
        """Back the scale off after an overflow, or grow it after ``growth_interval``
        clean steps; or set it to ``new_scale``. Call once per iteration, after step()."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
        else:
            checked = [s["found_inf"] for s in self._optimizers.values() if s["stage"] != "ready"]
            if not checked:
                raise RuntimeError("update(): no inf checks were recorded since the last "
                                   "update(); call step() (or unscale_()) first")
            self._update_scale(any(checked))
        self._optimizers = {}

    def _update_scale(self, found_inf):
        if found_inf:
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
            return
        self._growth_tracker += 1
        if self._growth_tracker == self._growth_interval:
            grown = self._scale * self._growth_factor
            # PyTorch keeps the scale in float32 and refuses to grow it to inf.
            if math.isfinite(float(np.float32(grown))):
                self._scale = grown
            self._growth_tracker = 0

    def state_dict(self):
        """The scale and its schedule (empty when disabled, as in PyTorch)."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        if not self._enabled:
            return
        if not state_dict:
            raise RuntimeError("GradScaler.load_state_dict: the state is empty, probably saved "
                               "from a disabled GradScaler")
        self._scale = float(state_dict["scale"])
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._growth_tracker = int(state_dict["_growth_tracker"])


def _unscale(grads, inv_scale):
    """Multiply every gradient array by ``inv_scale`` in place; True if any holds inf or
    NaN. The finiteness flags are read only after every check is queued, so a GPU runs
    them all before the first wait."""
    flags = []
    for g in grads:
        g *= inv_scale
        flags.append(backend.get_array_module(g).isfinite(g).all())
    return not all(bool(f) for f in flags)
