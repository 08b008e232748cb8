"""Recurrent layers: the cells (one time step) and the sequence layers built from them.

Weight layouts, gate orders and parameter names are PyTorch's, so state dicts load both
ways: a cell has ``weight_ih`` (G * hidden, input), ``weight_hh`` (G * hidden, hidden),
``bias_ih`` and ``bias_hh`` (G * hidden,), with G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or
3 (GRU: r, z, n); a sequence layer has the same four per layer k and direction,
``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, with the suffix
``_reverse`` for the backward direction of a bidirectional layer. All are initialised
U(-1/sqrt(hidden), 1/sqrt(hidden)).

(Before, a sequence layer kept one cell per layer, ``cells.{k}.weight_ih``; state dicts
saved under those names still load.)
"""
import math

from minigrad import functional as F
from minigrad.nn import init
from minigrad.nn.module import Module, Parameter
from minigrad.ops import cat, sigmoid, stack, tanh
from minigrad.creation import empty, zeros

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


# ---------------------------------------------------------------- one step of each kind

def _zeros(x, hidden):
    return zeros(x.shape[0], hidden, dtype=x.dtype, device=x.device)


def _projections(x, h, w_ih, w_hh, b_ih, b_hh):
    """(x W_ih^T + b_ih, h W_hh^T + b_hh), each (B, G * hidden)."""
    return F.linear(x, w_ih, b_ih), F.linear(h, w_hh, b_hh)


def rnn_step(x, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu); h=None means zeros."""
    h = _zeros(x, w_hh.shape[1]) if h is None else h
    a, b = _projections(x, h, w_ih, w_hh, b_ih, b_hh)
    return tanh(a + b) if nonlinearity == "tanh" else F.relu(a + b)


def lstm_step(x, state, w_ih, w_hh, b_ih=None, b_hh=None):
    """(h', c') from x and state (h, c) (None means zeros):

        i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)      (in that order)
        c' = sigmoid(f) c + sigmoid(i) tanh(g),   h' = sigmoid(o) tanh(c')"""
    h, c = (None, None) if state is None else state
    h = _zeros(x, w_hh.shape[1]) if h is None else h
    c = _zeros(x, w_hh.shape[1]) if c is None else c
    a, b = _projections(x, h, w_ih, w_hh, b_ih, b_hh)
    i, f, g, o = (a + b).chunk(4, dim=-1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def gru_step(x, h, w_ih, w_hh, b_ih=None, b_hh=None):
    """h' from x and h (None means zeros):

        r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
        z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))
        h' = (1 - z) n + z h"""
    h = _zeros(x, w_hh.shape[1]) if h is None else h
    a, b = _projections(x, h, w_ih, w_hh, b_ih, b_hh)
    a_r, a_z, a_n = a.chunk(3, dim=-1)
    b_r, b_z, b_n = b.chunk(3, dim=-1)
    r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z)
    n = tanh(a_n + r * b_n)
    return n + z * (h - n)


# ---------------------------------------------------------------- cells

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

    def _weights(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _check(self, x, *states):
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"{self.describe()}: input of shape {x.shape}, expected "
                             f"(batch, {self.input_size})")
        for s in states:
            if s is not None and s.shape != (x.shape[0], self.hidden_size):
                raise ValueError(f"{self.describe()}: state of shape {s.shape}, expected "
                                 f"(batch, hidden) = {(x.shape[0], self.hidden_size)}")

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
        return rnn_step(x, h, *self._weights(), nonlinearity=self.nonlinearity)


class LSTMCell(_Cell):
    """Long short-term memory, one step (``lstm_step``): x (B, input_size), state (h, c),
    each (B, hidden_size), defaulting to zeros -> (h', c')."""

    gates = 4

    def forward(self, x, state=None):
        self._check(x, *(state or ()))
        return lstm_step(x, state, *self._weights())


class GRUCell(_Cell):
    """Gated recurrent unit, one step (``gru_step``): x (B, input_size), h (B, hidden_size)
    (default zeros) -> h'."""

    gates = 3

    def forward(self, x, h=None):
        self._check(x, h)
        return gru_step(x, h, *self._weights())


# ---------------------------------------------------------------- sequence layers

class _Recurrent(Module):
    """``num_layers`` layers of one kind of step run over a sequence, as PyTorch's
    RNN/LSTM/GRU.

    x (T, B, input_size), or (B, T, input_size) with ``batch_first``, or unbatched
    (T, input_size) -> (output, h_n): output (T, B, D * hidden) (or (B, T, D * hidden))
    holds the last layer's h at every step, h_n (num_layers * D, B, hidden) every layer's
    last h, with D = 2 directions when ``bidirectional`` (the backward direction reads
    the sequence from its end; its outputs follow the forward ones in the last dimension,
    its states follow the forward state of each layer), else 1. The initial state has the
    shape of h_n (zeros when not given). ``dropout`` applies to the outputs of every layer
    but the last, while training."""

    gates = 1

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__()
        if not 0 <= dropout <= 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1], got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        rows = self.gates * hidden_size
        for k in range(num_layers):
            width = input_size if k == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes(k):
                shapes = ((rows, width), (rows, hidden_size), (rows,), (rows,))
                for name, shape in zip(NAMES if bias else NAMES[:2], shapes):
                    self.register_parameter(name + suffix, Parameter(empty(*shape)))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def _suffixes(self, k):
        return [f"_l{k}", f"_l{k}_reverse"][:self.num_directions]

    def _weights(self, k, direction):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of layer k in one direction (biases
        None without bias)."""
        suffix = self._suffixes(k)[direction]
        return tuple(self._parameters.get(name + suffix) for name in NAMES)

    @property
    def all_weights(self):
        """The parameters of each layer and direction, as PyTorch's ``all_weights``."""
        return [[p for p in self._weights(k, d) if p is not None]
                for k in range(self.num_layers) for d in range(self.num_directions)]

    def _renamed_state_keys(self):
        """The names of the earlier layout (one cell per layer), for old checkpoints."""
        return {f"cells.{k}.{name}": f"{name}_l{k}" for k in range(self.num_layers)
                for name in NAMES}

    def _step(self, x, state, weights):
        raise NotImplementedError

    def forward(self, x, state=None):
        x, state, unbatched = self._batched(x, state)
        time_dim = 1 if self.batch_first else 0
        steps = [x[:, t] if self.batch_first else x[t] for t in range(x.shape[time_dim])]
        initial = self._layer_states(state, x.shape[1 - time_dim])
        finals = []
        for k in range(self.num_layers):
            if k:
                steps = [F.dropout(s, self.dropout, self.training) for s in steps]
            outputs = []
            for d in range(self.num_directions):
                s, outs = initial[k * self.num_directions + d], []
                for x_t in (steps if d == 0 else steps[::-1]):
                    s = self._step(x_t, s, self._weights(k, d))
                    outs.append(s[0] if isinstance(s, tuple) else s)
                outputs.append(outs if d == 0 else outs[::-1])
                finals.append(s)
            steps = outputs[0] if len(outputs) == 1 else [cat(o, -1) for o in zip(*outputs)]
        return self._result(stack(steps, dim=time_dim), self._stack_states(finals), unbatched)

    def _batched(self, x, state):
        """x (and the state) with a batch dimension, and whether the caller gave none."""
        if x.ndim == 2 and x.shape[-1] == self.input_size and 0 not in x.shape:
            x = x.unsqueeze(0 if self.batch_first else 1)
            return x, _map_state(state, lambda s: s.unsqueeze(1)), True
        if x.ndim != 3 or x.shape[-1] != self.input_size or 0 in x.shape:
            layout = "(batch, time, " if self.batch_first else "(time, batch, "
            raise ValueError(f"{self.describe()}: input of shape {x.shape}, expected "
                             f"{layout}{self.input_size}) with time and batch > 0")
        return x, state, False

    def _result(self, output, final, unbatched):
        if not unbatched:
            return output, final
        return output.squeeze(0 if self.batch_first else 1), _map_state(final,
                                                                         lambda s: s.squeeze(1))

    def _layer_states(self, h0, batch):
        """The initial state (num_layers * D, B, hidden) as one (B, hidden) per layer and
        direction."""
        if h0 is None:
            return [None] * (self.num_layers * self.num_directions)
        self._check_state(h0, batch, "h0")
        return [h0[i] for i in range(self.num_layers * self.num_directions)]

    def _stack_states(self, finals):
        return stack(finals, dim=0)

    def _check_state(self, s, batch, name):
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if s.shape != expected:
            what = "num_layers * 2" if self.bidirectional else "num_layers"
            raise ValueError(f"{self.describe()}: {name} has shape {s.shape}, expected "
                             f"({what}, batch, hidden) = {expected}")

    def describe(self):
        both = ", bidirectional=True" if self.bidirectional else ""
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}, " \
               f"num_layers={self.num_layers}{both})"

    def extra_repr(self):
        """As PyTorch's: the sizes, then the options that differ from their defaults."""
        options = [("num_layers", self.num_layers, 1), ("bias", self.bias, True),
                   ("batch_first", self.batch_first, False), ("dropout", self.dropout, 0),
                   ("bidirectional", self.bidirectional, False)]
        return ", ".join([f"{self.input_size}, {self.hidden_size}"] +
                         [f"{name}={value}" for name, value, default in options
                          if value != default])


def _map_state(state, fn):
    if state is None:
        return None
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


class RNN(_Recurrent):
    """Elman RNN over a sequence (tanh or relu); see ``_Recurrent`` for shapes.
    forward(x, h0=None) -> (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)
        self.nonlinearity = nonlinearity

    def _step(self, x, h, weights):
        return rnn_step(x, h, *weights, nonlinearity=self.nonlinearity)


class GRU(_Recurrent):
    """GRU over a sequence; see ``_Recurrent`` for shapes. forward(x, h0=None) ->
    (output, h_n)."""

    gates = 3

    def _step(self, x, h, weights):
        return gru_step(x, h, *weights)


class LSTM(_Recurrent):
    """LSTM over a sequence; see ``_Recurrent`` for shapes. forward(x, (h0, c0)=None) ->
    (output, (h_n, c_n)), h0, c0, h_n, c_n each (num_layers * D, B, hidden)."""

    gates = 4

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        if proj_size:
            raise NotImplementedError("LSTM: proj_size is not supported by minigrad")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)

    def forward(self, x, state=None):
        """Each layer and direction as one input projection of all steps and one
        ``lstm_sequence`` op, instead of a loop of steps: the same numbers, far fewer ops
        and gradient sums."""
        x, state, unbatched = self._batched(x, state)
        steps = x.transpose(0, 1) if self.batch_first else x          # (T, B, input)
        batch, n = steps.shape[1], self.hidden_size
        initial = self._layer_states(state, batch)
        finals = []
        for k in range(self.num_layers):
            if k:
                steps = F.dropout(steps, self.dropout, self.training)
            outputs = []
            for d in range(self.num_directions):
                w_ih, w_hh, b_ih, b_hh = self._weights(k, d)
                s = initial[k * self.num_directions + d]
                h0, c0 = (_zeros(steps[0], n),) * 2 if s is None else s
                bias = None if b_ih is None else b_ih + b_hh
                seq = steps if d == 0 else steps[::-1]
                hc = F.lstm_sequence(F.linear(seq, w_ih, bias), h0, c0, w_hh)
                outputs.append(hc[:, :, :n] if d == 0 else hc[::-1, :, :n])
                finals.append((hc[-1, :, :n], hc[-1, :, n:]))
            steps = outputs[0] if len(outputs) == 1 else cat(outputs, -1)
        output = steps.transpose(0, 1) if self.batch_first else steps
        return self._result(output, self._stack_states(finals), unbatched)

    def _step(self, x, state, weights):
        return lstm_step(x, state, *weights)

    def _layer_states(self, state, batch):
        if state is None:
            return [None] * (self.num_layers * self.num_directions)
        h0, c0 = state
        self._check_state(h0, batch, "h0")
        self._check_state(c0, batch, "c0")
        return [(h0[i], c0[i]) for i in range(self.num_layers * self.num_directions)]

    def _stack_states(self, finals):
        return stack([h for h, _ in finals], dim=0), stack([c for _, c in finals], dim=0)
