"""The stand-in's device: device count and properties, Device, streams, events, memory pools."""
import os
import time


DEVICE_NAME = "CuPy stand-in (NumPy on the CPU)"

# ---------------------------------------------------------------- the device

class CUDARuntimeError(RuntimeError):
    pass


def device_count():
    count = int(os.environ.get("MINIGRAD_STANDIN_GPUS", "1"))
    if count < 1:
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected "
                               "(cupy stand-in, MINIGRAD_STANDIN_GPUS=0)")
    return count


TOTAL_MEMORY = 16 << 30


def device_properties(device):
    _check_device(device)
    return {"name": DEVICE_NAME.encode(), "totalGlobalMem": TOTAL_MEMORY, "major": 0,
            "minor": 0, "multiProcessorCount": os.cpu_count() or 1, "warpSize": 32,
            "maxThreadsPerBlock": 1024, "sharedMemPerBlock": 48 << 10}


def _check_device(device):
    if not 0 <= int(device) < device_count():
        raise CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {device} "
                               f"(cupy stand-in)")


CURRENT_DEVICES = [0]


class Device:
    def __init__(self, device=None):
        self.id = CURRENT_DEVICES[-1] if device is None else int(device)
        _check_device(self.id)

    def __enter__(self):
        CURRENT_DEVICES.append(self.id)
        return self

    def __exit__(self, *exc):
        CURRENT_DEVICES.pop()

    def use(self):
        CURRENT_DEVICES[-1] = self.id

    def synchronize(self):
        pass

    @property
    def compute_capability(self):
        return "00"

    @property
    def mem_info(self):
        return TOTAL_MEMORY, TOTAL_MEMORY

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("cuda", self.id))

    def __int__(self):
        return self.id

    def __repr__(self):
        return f"<CUDA Device {self.id} (stand-in)>"


class Stream:
    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        pass

    def synchronize(self):
        pass

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


Stream.null = Stream(null=True)


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = time.perf_counter()

    def synchronize(self):
        pass

    @property
    def done(self):
        return True


def elapsed_ms(start, end):
    return (end.time - start.time) * 1e3


class MemoryPool:
    """CuPy's pool API; the stand-in does not count its memory (every figure is 0)."""

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_bytes(self):
        return 0

    def n_free_blocks(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        pass

    def get_limit(self):
        return 0


POOL, PINNED_POOL = MemoryPool(), MemoryPool()


def cuda_is_available():
    try:
        return device_count() > 0
    except CUDARuntimeError:
        return False
