"""``install_as_torch``: an unchanged PyTorch model file runs on minigrad."""
import subprocess
import sys
import textwrap

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
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "minigrad.tensor" and float(out[1]) > 0 and out[2] == "1x3"


def test_install_refuses_next_to_the_real_pytorch():
    code = ("import sys, types\nsys.modules['torch'] = types.ModuleType('torch')\n"
            "import minigrad.compat\ntry:\n    minigrad.compat.install_as_torch()\n"
            "except RuntimeError as e:\n    print('refused' if 'already imported' in str(e) else e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "refused"
