# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 10: where the time goes
#
# [Course index](README.md) · previous: [lesson 9](09_bigram_to_gpt.ipynb)
#
# A correct engine is half the job; the other half is knowing what a training step spends
# its time on. This lesson profiles one step of a GPT, measures what fusing an op buys, and
# puts minigrad on NumPy next to PyTorch (and CuPy, where there is a GPU), with the
# project's benchmark figures.

# %%
import cProfile
import pstats
import time
from pathlib import Path

import minigrad as mg
import minigrad.functional as F
from minigrad.learn import check, inputs
from models import TransformerLM

mg.manual_seed(0)


def best_of(fn, repeats=5):
    """The fastest of a few runs, in milliseconds: the least disturbed by other work."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return 1000 * min(times)


# %% [markdown]
# ## 1. Profile one training step
#
# A GPT of the `tiny` preset's shape (4 layers, 4 heads, 128 wide, context 64, batch 32)
# and one complete step: forward, loss, backward, AdamW. `cProfile` counts the time spent
# inside each Python function ("tottime"), including the NumPy calls made from it.

# %%
model = TransformerLM(vocab_size=65, block_size=64)
opt = mg.optim.AdamW(model.parameters(), lr=1e-3)
ids = mg.randint(0, 65, (32, 64))
targets = mg.randint(0, 65, (32, 64))


def train_step():
    loss = F.cross_entropy(model(ids).reshape(-1, 65), targets.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()


train_step()  # the first step allocates; profile the second
profiler = cProfile.Profile()
profiler.runcall(train_step)
pstats.Stats(profiler).strip_dirs().sort_stats("tottime").print_stats(10);  # ";": no repr after it

# %% [markdown]
# Matrix products lead by far: `_mm`, called by the forward and by the backward of
# [`MatMul`](../../minigrad/ops/linalg.py#L18) and `linear`. After them come the fused
# kernels (attention, GELU, LayerNorm), the embedding's gradient (`add_rows`) and the Adam
# update; the exact order depends on the machine. The graph bookkeeping (`apply`, the
# backward walk) costs little next to them at this size; at toy sizes it would dominate,
# which is why minigrad keeps the number of recorded ops per layer small.
#
# ## 2. Fused versus composed
#
# A fused op computes in one step what a chain of primitives would, with a hand-derived
# backward. It saves the intermediate arrays (memory traffic, the real cost on a CPU) and
# the per-op overhead. GELU, exactly: $y = x\,\Phi(x)$, composed from five primitives or
# fused:

# %%
x = mg.randn(32 * 64, 512, requires_grad=True)


def gelu_composed(x):
    return x * 0.5 * (mg.erf(x * 0.7071067811865476) + 1.0)


for name, fn in (("composed", gelu_composed), ("fused", F.gelu)):
    print(f"gelu {name:9s} forward + backward: {best_of(lambda: fn(x).sum().backward()):.1f} ms")

# %% [markdown]
# ### Your turn
#
# The fused op's backward by hand: with `cdf` $= \Phi(x)$ and `pdf` $= \varphi(x)$ (the
# normal density) from the forward, and the incoming `dy`.

# %%
c = inputs("gelu")


def gelu_backward(c):
    dcdf = None  # your code
    dx = None
    return dict(dcdf=dcdf, dx=dx)


check("gelu", gelu_backward)

# %% [markdown]
# The same comparison for LayerNorm, whose composed form is seven ops
# (stop 5 of [the reading tour](../reading.md) shows the fused ops' common shape):

# %%
w = mg.ones(512, requires_grad=True)
b = mg.zeros(512, requires_grad=True)


def layer_norm_composed(x):
    xc = x - x.mean(-1, keepdim=True)
    rstd = 1.0 / ((xc * xc).mean(-1, keepdim=True) + 1e-5).sqrt()
    return xc * rstd * w + b


def layer_norm_fused(x):
    return F.layer_norm(x, (512,), w, b)


for name, fn in (("composed", layer_norm_composed), ("fused", layer_norm_fused)):
    print(f"layer_norm {name:9s} forward + backward: "
          f"{best_of(lambda: fn(x).sum().backward()):.1f} ms")

# %% [markdown]
# ## 3. NumPy, CuPy, PyTorch
#
# The project's benchmarks (`python -m benchmarks`, results in
# [`benchmarks/RESULTS.md`](../../benchmarks/RESULTS.md)) time whole training steps of the
# same models in minigrad and in PyTorch, each in its own process, alternating, with PyTorch
# at its best (its manual attention and its fused one, the faster as the peer). The newest
# two-thread CPU table, as measured there:

# %%
results = Path("../../benchmarks/RESULTS.md").read_text().splitlines()
start = next(i for i, line in enumerate(results) if line.startswith("| config | minigrad ms"))
for line in results[start:start + 6]:
    cells = [cell.strip().strip("*") for cell in line.strip("|").split("|")]
    if cells[0].startswith("---"):
        continue
    print(f"{cells[0]:26s} {cells[1]:>12s} {cells[2]:>18s} {cells[3]:>16s} {cells[4]:>14s}")

# %% [markdown]
# A ratio below 1 means minigrad's step is faster. At `tiny` size the per-op overhead of a
# Python engine shows most; at `gpt-384` and `nanogpt-char` size the matrix products dominate
# and minigrad's fused kernels win. `lstm-word` is bound by one large output layer's matrix
# products, where PyTorch's BLAS is ahead on this machine.
#
# The step timed below is one plain step on whatever else this machine is doing, not the
# median of alternated runs on a quiet machine, and without the trainer's split of the
# batch over two threads (`minigrad/parallel.py`): expect it above the table's `tiny`.
#
# On a GPU the same engine runs on CuPy: `model.to("cuda")` and tensors with
# `device="cuda"`. With one here, the step is timed on it; `make gpu-check` runs the full
# comparison against PyTorch on the GPU.

# %%
cpu_ms = best_of(train_step, repeats=3)
print(f"this machine, CPU: {cpu_ms:.0f} ms per tiny step")
if mg.cuda.is_available():
    model.to("cuda")
    opt = mg.optim.AdamW(model.parameters(), lr=1e-3)
    ids, targets = ids.to("cuda"), targets.to("cuda")

    def gpu_step():
        train_step()
        mg.cuda.synchronize()

    gpu_step()
    print(f"this machine, GPU: {best_of(gpu_step, repeats=3):.1f} ms per tiny step")
else:
    print("no GPU here (CuPy or an NVIDIA GPU missing): the CuPy path is not timed")

# %% [markdown]
# ## 4. Gradient check
#
# The fused GELU you wrote the backward of, first and second order:

# %%
xs = mg.randn(4, 5, dtype=mg.float64, requires_grad=True)
mg.gradgradcheck(F.gelu, (xs,))
