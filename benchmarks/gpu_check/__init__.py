"""The GPU check: `python3 -m benchmarks.gpu_check` (its phases and outputs are described in
__main__.py)."""
