"""Word-level next-token models in the style of the Cervantes notebook (seed 000): a window
dataset, and an MLP, an RNN, an LSTM and a Transformer encoder that each read a window of
tokens and score the next one. Written for PyTorch; the tests import it with ``torch``
bound to PyTorch and to minigrad."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class Windows(Dataset):
    """Item i: the ``width`` tokens from i on, and the token after them."""

    def __init__(self, ids, width):
        self.ids, self.width = ids, width

    def __len__(self):
        return len(self.ids) - self.width

    def __getitem__(self, i):
        window = self.ids[i:i + self.width + 1]
        return torch.tensor(window[:-1], dtype=torch.long), torch.tensor(window[-1])


class WindowMLP(nn.Module):
    def __init__(self, vocab, width, embed=16, hidden=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.hidden = nn.Linear(width * embed, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x):                              # x: (B, width)
        e = self.embed(x).view(x.size(0), -1)          # (B, width * embed)
        return self.out(F.relu(self.hidden(e)))


class Recurrent(nn.Module):
    """``kind`` is "RNN" or "LSTM"; the last step's output scores the next token."""

    def __init__(self, vocab, kind, embed=16, hidden=32, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = getattr(nn, kind)(embed, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        seq, state = self.rnn(self.embed(x), state)    # seq: (B, T, hidden)
        return self.out(seq[:, -1]), state


class Encoder(nn.Module):
    """Learned positions and a causally masked ``nn.TransformerEncoder``."""

    def __init__(self, vocab, width, embed=16, heads=2, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.pos = nn.Embedding(width, embed)
        layer = nn.TransformerEncoderLayer(embed, heads, dim_feedforward=2 * embed,
                                           dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.out = nn.Linear(embed, vocab)

    def forward(self, x):
        B, T = x.size()
        pos = torch.arange(T, device=x.device).unsqueeze(0).expand(B, T)
        future = torch.triu(torch.ones(T, T, device=x.device), diagonal=1).bool()
        h = self.encoder(self.embed(x) + self.pos(pos), mask=future)    # (B, T, D)
        return self.out(h[:, -1, :])


def logits_of(model, x):
    out = model(x)
    return out[0] if isinstance(out, tuple) else out


def train(model, ids, width, epochs=2, batch_size=8, lr=1e-2, shuffle=False):
    """The notebook's loop: Adam, cross-entropy, the mean loss of each epoch."""
    loader = DataLoader(Windows(ids, width), batch_size=batch_size, shuffle=shuffle)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    means = []
    for _ in range(epochs):
        total = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(logits_of(model, x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        means.append(total / len(loader))
    return means


def continue_text(model, ids, width, length):
    """Sample ``length`` more tokens, each from the window before it."""
    model.eval()
    out = list(ids)
    for _ in range(length):
        with torch.no_grad():
            probs = F.softmax(logits_of(model, torch.tensor([out[-width:]])), dim=-1)
        out.append(torch.multinomial(probs, num_samples=1).item())
    return out
