"""The LSTM recurrence over a whole sequence as one op (what cuDNN does for PyTorch's
``nn.LSTM``). Run as a loop of cell ops, every time step adds its own gradient to the
recurrent weight, T full-size additions per step of training; here the forward loop keeps
the gate activations, the backward loop runs over (batch, hidden) arrays only, and the
recurrent weight's gradient is one matrix product over all steps. The input projection of
all steps, x W_ih^T + b, is left to one ``linear`` before this op."""
from minigrad import backend
from minigrad.autograd import Function, register
from minigrad.ops.arithmetic import add, mul
from minigrad.ops.base import as_tensor
from minigrad.ops.elementwise import sigmoid, tanh
from minigrad.ops.linalg import matmul
from minigrad.ops.shape import cat, chunk, stack, swapaxes


@register("lstm_sequence",
          "per step a = xproj_t + h W^T, (i, f, g, o) = (sig, sig, tanh, sig)(a), "
          "c' = f c + i g, h' = o tanh(c'); backward through time: dc += dh o (1 - tanh(c')^2), "
          "da = (dc g i(1-i), dc c f(1-f), dc i (1-g^2), dh tanh(c') o(1-o)), "
          "dh_prev = da W, dc_prev = dc f, dW = sum_t da_t^T h_{t-1}", kind="fused")
class LSTMSequence(Function):
    """xproj (T, B, 4H) (gates i, f, g, o), h0 and c0 (B, H), weight_hh (4H, H) ->
    (T, B, 2H): [h_t, c_t] after each step t."""

    def forward(self, xproj, h0, c0, w_hh):
        xp = backend.get_array_module(xproj)
        steps, batch, gates = xproj.shape
        n = gates // 4
        out = xp.empty((steps, batch, 2 * n), dtype=xproj.dtype)
        acts = xp.empty_like(xproj)  # the gates after their nonlinearities
        tanh_c = xp.empty((steps, batch, n), dtype=xproj.dtype)
        # A contiguous W^T: OpenBLAS runs these short (B x H) products 1.5x faster than
        # with a transposed operand, and the copy is paid once for all T steps.
        h, c, w_t = h0, c0, xp.ascontiguousarray(w_hh.T)  # h, c: the state entering step t
        for t in range(steps):
            a = acts[t]
            xp.matmul(h, w_t, out=a)
            a += xproj[t]
            _sigmoid_(xp, a[:, :2 * n])
            xp.tanh(a[:, 2 * n:3 * n], out=a[:, 2 * n:3 * n])
            _sigmoid_(xp, a[:, 3 * n:])
            i, f, g, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
            h, c_prev, c = out[t, :, :n], c, out[t, :, n:]
            xp.multiply(f, c_prev, out=c)
            c += i * g
            xp.tanh(c, out=tanh_c[t])
            xp.multiply(o, tanh_c[t], out=h)
        self.acts, self.tanh_c = acts, tanh_c
        return out

    def backward(self, grad, out):
        # Backpropagation through time, written out below on arrays; with engine ops it is
        # the gradient of the cell-by-cell reference, through the ops it is made of.
        return self.backward_by_reference(grad, out)

    def backward_arrays(self, grad, out):
        xproj, h0, c0, w_hh = (t.data for t in out._inputs)
        d, dh, dc = self._through_time(grad, out.data, c0, w_hh)
        n = h0.shape[-1]
        dw = None
        if out._inputs[3].requires_grad:
            xp = backend.get_array_module(d)
            h_prev = xp.concatenate([h0[None], out.data[:-1, :, :n]], axis=0)
            dw = d.reshape(-1, d.shape[-1]).T @ h_prev.reshape(-1, n)
        return d, dh, dc, dw

    def reference(self, xproj, h0, c0, w_hh):
        """The same recurrence composed from engine ops, one cell at a time."""
        h, c, steps = h0, c0, []
        for t in range(xproj.shape[0]):
            i, f, g, o = chunk(add(xproj[t], matmul(h, swapaxes(w_hh, 0, 1))), 4, -1)
            c = add(mul(sigmoid(f), c), mul(sigmoid(i), tanh(g)))
            h = mul(sigmoid(o), tanh(c))
            steps.append(cat([h, c], -1))
        return stack(steps, 0)

    def _through_time(self, g, out, c0, w_hh):
        """Gradients of the gate pre-activations (T, B, 4H), of h0 and of c0."""
        xp = backend.get_array_module(g)
        acts, tanh_c = self.acts, self.tanh_c
        n = tanh_c.shape[-1]
        d = xp.empty_like(acts)
        dh = xp.zeros_like(c0)
        dc = xp.zeros_like(c0)
        for t in range(g.shape[0] - 1, -1, -1):
            a, tc = acts[t], tanh_c[t]
            i, f, gg, o = a[:, :n], a[:, n:2 * n], a[:, 2 * n:3 * n], a[:, 3 * n:]
            c_prev = c0 if t == 0 else out[t - 1, :, n:]
            dh += g[t, :, :n]
            dc += g[t, :, n:]
            dc += dh * o * (1.0 - tc * tc)
            di, df, dg, do = d[t, :, :n], d[t, :, n:2 * n], d[t, :, 2 * n:3 * n], d[t, :, 3 * n:]
            xp.multiply(dc, gg * i * (1.0 - i), out=di)
            xp.multiply(dc, c_prev * f * (1.0 - f), out=df)
            xp.multiply(dc, i * (1.0 - gg * gg), out=dg)
            xp.multiply(dh, tc * o * (1.0 - o), out=do)
            dh = d[t] @ w_hh
            dc = dc * f
        return d, dh, dc


def _sigmoid_(xp, a):
    """sigmoid(a) in place, as (1 + tanh(a/2)) / 2: no exp to overflow."""
    a *= 0.5
    xp.tanh(a, out=a)
    a += 1.0
    a *= 0.5


def lstm_sequence(xproj, h0, c0, weight_hh):
    """Run the LSTM recurrence over xproj (T, B, 4H), the input projections of all steps
    with both biases, from state (h0, c0), each (B, H), with recurrent weight (4H, H);
    returns (T, B, 2H), h_t and c_t of every step side by side."""
    if xproj.ndim != 3 or xproj.shape[-1] % 4:
        raise ValueError(f"lstm_sequence: xproj of shape {xproj.shape}, expected "
                         "(time, batch, 4 * hidden)")
    steps, batch, gates = xproj.shape
    n = gates // 4
    h0, c0, weight_hh = (as_tensor(v, xproj, "lstm_sequence") for v in (h0, c0, weight_hh))
    for name, t, shape in (("h0", h0, (batch, n)), ("c0", c0, (batch, n)),
                           ("weight_hh", weight_hh, (gates, n))):
        if t.shape != shape:
            raise ValueError(f"lstm_sequence: {name} has shape {t.shape}, expected {shape} "
                             f"for xproj {xproj.shape}")
        if t.dtype != xproj.dtype:
            raise TypeError(f"lstm_sequence: {name} is {t.dtype} but xproj is {xproj.dtype}")
    return LSTMSequence.apply(xproj, h0, c0, weight_hh)
