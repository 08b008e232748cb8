"""Recurrent layers: the cells (one time step) and the sequence layers built from them.

Weight layouts and gate orders are PyTorch's, so weights copy across one to one:
``weight_ih`` (G * hidden, input), ``weight_hh`` (G * hidden, hidden), ``bias_ih`` and
``bias_hh`` (G * hidden,), with G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n).
All are initialised U(-1/sqrt(hidden), 1/sqrt(hidden)).

A sequence layer ``RNN`` / ``LSTM`` / ``GRU`` keeps one cell per layer in ``self.cells``;
PyTorch's ``weight_ih_l{k}`` is our ``cells.{k}.weight_ih``.
"""
import math

from minigrad import functional as F
from minigrad.nn import init
from minigrad.nn.container import ModuleList
from minigrad.nn.module import Module, Parameter
from minigrad.ops import sigmoid, stack, tanh
from minigrad.creation import empty, zeros


class _Cell(Module):
    """Parameters, init and input checks shared by the three cells."""

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        rows = self.gates * hidden_size
        self.weight_ih = Parameter(empty(rows, input_size))
        self.weight_hh = Parameter(empty(rows, hidden_size))
        self.bias_ih = Parameter(empty(rows)) if bias else None
        self.bias_hh = Parameter(empty(rows)) if bias else None
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _projections(self, x, h):
        """(x W_ih^T + b_ih, h W_hh^T + b_hh), each (B, G * hidden)."""
        return (F.linear(x, self.weight_ih, self.bias_ih),
                F.linear(h, self.weight_hh, self.bias_hh))

    def _check(self, x, *states):
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{self.describe()}: input of shape {x.shape}, expected "
                             f"(batch, {self.input_size})")
        for s in states:
            if s is not None and s.shape != (x.shape[0], self.hidden_size):
                raise ValueError(f"{self.describe()}: state of shape {s.shape}, expected "
                                 f"(batch, hidden) = {(x.shape[0], self.hidden_size)}")

    def _zeros(self, x):
        return zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)

    def describe(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size})"

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu with
    ``nonlinearity='relu'``). x (B, input_size), h (B, hidden_size) -> h' (B, hidden_size);
    h defaults to zeros."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', "
                             f"got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x, h=None):
        self._check(x, h)
        h = self._zeros(x) if h is None else h
        a, b = self._projections(x, h)
        return tanh(a + b) if self.nonlinearity == "tanh" else F.relu(a + b)


class LSTMCell(_Cell):
    """Long short-term memory, one step: x (B, input_size), state (h, c), each
    (B, hidden_size), defaulting to zeros -> (h', c').

        i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)      (in that order)
        c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')"""

    gates = 4

    def forward(self, x, state=None):
        h, c = (None, None) if state is None else state
        self._check(x, h, c)
        h = self._zeros(x) if h is None else h
        c = self._zeros(x) if c is None else c
        a, b = self._projections(x, h)
        i, f, g, o = (a + b).chunk(4, dim=-1)
        c = sigmoid(f) * c + sigmoid(i) * tanh(g)
        return sigmoid(o) * tanh(c), c


class GRUCell(_Cell):
    """Gated recurrent unit, one step: x (B, input_size), h (B, hidden_size) (default
    zeros) -> h'.

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
        z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))
        h' = (1 - z) n + z h"""

    gates = 3

    def forward(self, x, h=None):
        self._check(x, h)
        h = self._zeros(x) if h is None else h
        a, b = self._projections(x, h)
        a_r, a_z, a_n = a.chunk(3, dim=-1)
        b_r, b_z, b_n = b.chunk(3, dim=-1)
        r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
        n = tanh(a_n + r * b_n)
        return n + z * (h - n)


class _Recurrent(Module):
    """A stack of ``num_layers`` cells run over a sequence, as PyTorch's RNN/LSTM/GRU.

    x (T, B, input_size), or (B, T, input_size) with ``batch_first`` ->
    (output, h_n): output (T, B, hidden) (or (B, T, hidden)) holds the last layer's h at
    every step, h_n (num_layers, B, hidden) every layer's last h. The initial state has
    the shape of h_n (zeros when not given). ``dropout`` applies to the outputs of every
    layer but the last, while training."""

    cell = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, **cell_options):
        super().__init__()
        if not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout = batch_first, dropout
        self.cells = ModuleList(
            self.cell(input_size if k == 0 else hidden_size, hidden_size, bias, **cell_options)
            for k in range(num_layers))

    def forward(self, x, state=None):
        self._check_input(x)
        time_dim = 1 if self.batch_first else 0
        steps = [x[:, t] if self.batch_first else x[t] for t in range(x.shape[time_dim])]
        initial = self._layer_states(state, x.shape[1 - time_dim])
        finals = []
        for k, cell in enumerate(self.cells):
            if k:
                steps = [F.dropout(s, self.dropout, self.training) for s in steps]
            s, outs = initial[k], []
            for x_t in steps:
                s = cell(x_t, s)
                outs.append(s[0] if isinstance(s, tuple) else s)
            steps = outs
            finals.append(s)
        return stack(steps, dim=time_dim), self._stack_states(finals)

    def _check_input(self, x):
        if x.ndim != 3 or x.shape[-1] != self.input_size or 0 in x.shape:
            layout = "(batch, time, " if self.batch_first else "(time, batch, "
            raise ValueError(f"{self.describe()}: input of shape {x.shape}, expected "
                             f"{layout}{self.input_size}) with time and batch > 0")

    def _layer_states(self, h0, batch):
        """The initial state (num_layers, B, hidden) as one (B, hidden) per layer."""
        if h0 is None:
            return [None] * self.num_layers
        self._check_state(h0, batch, "h0")
        return [h0[k] for k in range(self.num_layers)]

    def _stack_states(self, finals):
        return stack(finals, dim=0)

    def _check_state(self, s, batch, name):
        expected = (self.num_layers, batch, self.hidden_size)
        if s.shape != expected:
            raise ValueError(f"{self.describe()}: {name} has shape {s.shape}, expected "
                             f"(num_layers, batch, hidden) = {expected}")

    def describe(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}, " \
               f"num_layers={self.num_layers})"

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, " \
               f"batch_first={self.batch_first}, dropout={self.dropout}"


class RNN(_Recurrent):
    """Elman RNN over a sequence (tanh or relu); see ``_Recurrent`` for shapes.
    forward(x, h0=None) -> (output, h_n)."""

    cell = RNNCell

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         nonlinearity=nonlinearity)


class GRU(_Recurrent):
    """GRU over a sequence; see ``_Recurrent`` for shapes. forward(x, h0=None) ->
    (output, h_n)."""

    cell = GRUCell


class LSTM(_Recurrent):
    """LSTM over a sequence; see ``_Recurrent`` for shapes. forward(x, (h0, c0)=None) ->
    (output, (h_n, c_n)), h0, c0, h_n, c_n each (num_layers, B, hidden)."""

    cell = LSTMCell

    def forward(self, x, state=None):
        """Each layer as one input projection of all steps and one ``lstm_sequence`` op,
        instead of a loop of cells: the same numbers, far fewer ops and gradient sums."""
        self._check_input(x)
        steps = x.transpose(0, 1) if self.batch_first else x
        batch, n = steps.shape[1], self.hidden_size
        finals = []
        for k, (cell, s) in enumerate(zip(self.cells, self._layer_states(state, batch))):
            if k:
                steps = F.dropout(steps, self.dropout, self.training)
            h0, c0 = (cell._zeros(steps[0]),) * 2 if s is None else s
            bias = None if cell.bias_ih is None else cell.bias_ih + cell.bias_hh
            hc = F.lstm_sequence(F.linear(steps, cell.weight_ih, bias), h0, c0, cell.weight_hh)
            steps = hc[:, :, :n]
            finals.append((hc[-1, :, :n], hc[-1, :, n:]))
        output = steps.transpose(0, 1) if self.batch_first else steps
        return output, self._stack_states(finals)

    def _layer_states(self, state, batch):
        if state is None:
            return [None] * self.num_layers
        h0, c0 = state
        self._check_state(h0, batch, "h0")
        self._check_state(c0, batch, "c0")
        return [(h0[k], c0[k]) for k in range(self.num_layers)]

    def _stack_states(self, finals):
        return stack([h for h, _ in finals], dim=0), stack([c for _, c in finals], dim=0)
