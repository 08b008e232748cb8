"""``install_as_torch``: an unchanged PyTorch model file runs on minigrad.

The scripts run in subprocesses (the binding is process-wide) with PYTHONPATH set to this
checkout, so that they import this minigrad whatever the environment has installed."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(*args):
    """stdout of ``python *args`` in a process that imports minigrad from this checkout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=True,
                          env=env, cwd=ROOT).stdout

MODEL_FILE = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
model = nn.Sequential(nn.Embedding(10, 8), nn.Flatten(), nn.Linear(16, 10))
data = TensorDataset(torch.randint(0, 10, (32, 2)), torch.randint(0, 10, (32,)))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
for epoch in range(3):
    for x, y in DataLoader(data, batch_size=8, shuffle=True):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
with torch.no_grad():
    probs = F.softmax(model(torch.tensor([[1, 2]])), dim=-1)
    top = torch.topk(probs, 3, dim=-1)
print(type(loss).__module__, round(float(loss), 4), "x".join(map(str, top.indices.shape)))
"""


def test_an_unchanged_pytorch_file_runs_after_install_as_torch(tmp_path):
    script = tmp_path / "model.py"
    script.write_text("import minigrad.compat\nminigrad.compat.install_as_torch()\n"
                      + textwrap.dedent(MODEL_FILE))
    out = run_python(str(script)).split()
    assert out[0] == "minigrad.tensor" and float(out[1]) > 0 and out[2] == "1x3"


def test_install_refuses_next_to_the_real_pytorch():
    code = ("import sys, types\nsys.modules['torch'] = types.ModuleType('torch')\n"
            "import minigrad.compat\ntry:\n    minigrad.compat.install_as_torch()\n"
            "except RuntimeError as e:\n    print('refused' if 'already imported' in str(e) else e)\n")
    assert run_python("-c", code).strip() == "refused"


GPT_RUN = """
import runpy
import minigrad.compat
minigrad.compat.install_as_torch()
import torch
gpt = runpy.run_path("tests/seed_style/gpt.py")
torch.manual_seed(0)
model = gpt["GPT"](gpt["GPTConfig"]())
opt = model.configure_optimizers(0.1, 1e-2, (0.9, 0.95))
x = torch.randint(0, 40, (2, 16))
losses = []
for _ in range(3):
    logits, loss = model(x[:, :-1], x[:, 1:])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    losses.append(loss.item())
out = model.generate(x[:, :2], 20, temperature=0.8, top_k=5)
print(type(model).__mro__[-2].__module__, losses[-1] < losses[0], tuple(out.shape))
"""


def test_a_model_file_written_for_pytorch_trains_and_generates_after_install_as_torch():
    """tests/seed_style/gpt.py, a nanoGPT-style file, imported by path under the real binding
    (the seed-style tests compare the same file with PyTorch through a per-namespace one)."""
    assert run_python("-c", GPT_RUN).split() == ["minigrad.nn.module", "True", "(2,", "22)"]
