"""Recurrent networks (chapter 1): the Elman RNN, the LSTM, the GRU, backpropagation
through time for the linear RNN, and the echo state network.

    RNN   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    LSTM  i, f, g, o = sigma, sigma, tanh, sigma  of  (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
          c_t = f * c_{t-1} + i * g,      h_t = o * tanh(c_t)
    GRU   r = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
          z = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
          n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
          h_t = (1 - z) * n + z * h_{t-1}      (reset_after=False: Cho et al.'s W_hn (r * h_{t-1}))
    mixer        one torch.nn cell as a token mixer, with its field's initialisation
                 (RecurrentMixer: identity Elman RNN, chrono LSTM and GRU)
    linear RNN   h_t = W h_{t-1} + U x_t,   BPTT: delta_T = dL/dh_T,  delta_{t-1} = W^T delta_t
    ESN   x_t = (1 - alpha) x_{t-1} + alpha tanh(W_in [1; u_t] + W x_{t-1})
          y_t = W_out [1; u_t; x_t],      W_out = Y X^T (X X^T + beta I)^{-1}
          free-running forecast: u_{t+1} = y_t (esn_generate)

Layout: sequences are (batch, L, D), time on axis 1 ("batch_first"); states
are (batch, H). (The ESN works on one unbatched series: (L, D_in), states (L, N).)

NaN or inf in data (the inputs x, u and the states h, c) pass through to the outputs;
NaN or inf in a parameter given as an argument (weights, W, U, W_in, v) is refused. The
torch modules check their inputs (dtype = the parameters', L >= 1), not their own
parameters.
Weights have PyTorch's names and shapes, so they load into torch.nn.RNN,
torch.nn.LSTM and torch.nn.GRU: the G gate blocks of H rows each are stacked
in W_ih (G*H, D), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,), with G = 1 (RNN),
4 (LSTM, blocks i, f, g, o) or 3 (GRU, blocks r, z, n).

Glossary (code name -> symbol):
    x, x_t           -> the input sequence / the input x_t at step t; D its size
    h, h0            -> the hidden state h_{t-1}, the initial state h_0 (steps are t = 1 .. L); H their size
    c, c0            -> the LSTM cell c_{t-1}, the initial cell c_0
    W_ih, W_hh       -> the input and the recurrent weights (gate blocks stacked)
    b_ih, b_hh       -> the two biases (PyTorch keeps two; only their sum matters except
                        for the GRU's n gate, where b_hh is inside r * (...))
    sigmoid          -> sigma(a) = 1 / (1 + e^{-a})
    W, U, dL_dhT     -> the linear RNN's W, U and the gradient delta_T = dL/dh_T
    u, W_in, W, alpha, x -> ESN input u_t, input weights, reservoir W, leak rate alpha, state x_t
    ESN forecast     -> esn_generate feeds the outputs back as inputs (free-running)
    X, Y, beta       -> ridge regression features (N_features, T), targets (D_out, T), penalty
"""

import math
import warnings
from functools import partial

import numpy as np
import torch
from scipy.special import expit as sigmoid
from torch import nn

from seqlearn._checks import (MAX_EIG_SIZE, MAX_STEPS, affordable, finite, flag, integer, layer_input,
                               number, numeric_array, option, torch_tensor)

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
NAMES = ("W_ih", "W_hh", "b_ih", "b_hh")


def _expect_shape(name, arr, shape):
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")


def _weights(kind, D, H, W_ih, W_hh, b_ih, b_hh):
    """The four weights as float arrays, checked against G*H, D and H, and finite."""
    G = GATES[kind]
    arrays = [numeric_array(n, w) for n, w in zip(NAMES, (W_ih, W_hh, b_ih, b_hh))]
    shapes = [(G * H, D), (G * H, H), (G * H,), (G * H,)]
    for name, arr, shape in zip(NAMES, arrays, shapes):
        _expect_shape(name, arr, shape)
        finite(name, arr)
    return arrays


def _step_args(kind, x_t, h, c, weights, needs_c=False):
    """Validated x_t (batch, D) or (D,), h (and c for the LSTM) of shape (..., H), and the
    weights. NaN or inf in x_t, h, c (data) pass through to the result."""
    x_t = numeric_array("x_t", x_t)
    if x_t.ndim not in (1, 2) or x_t.shape[-1] == 0:
        raise ValueError(f"x_t: expected shape (batch, D) or (D,) with D >= 1, got {x_t.shape}")
    h = numeric_array("h", h)
    if h.ndim != x_t.ndim or h.shape[:-1] != x_t.shape[:-1] or h.shape[-1] == 0:
        want = "(H,)" if x_t.ndim == 1 else f"({x_t.shape[0]}, H)"
        raise ValueError(f"h: expected shape {want} with H >= 1 to match x_t {x_t.shape}, "
                         f"got {h.shape}")
    if needs_c:
        c = numeric_array("c", c, what="the previous cell c, an array of numbers")
        _expect_shape("c", c, h.shape)
    return (x_t, h, c, *_weights(kind, x_t.shape[-1], h.shape[-1], *weights))


def rnn_step(x_t, h, W_ih, W_hh, b_ih, b_hh):
    """One Elman RNN step: ``h_t = tanh(W_ih x_t + b_ih + W_hh h + b_hh)``.

    x_t : (batch, D) or (D,);  h : (batch, H) or (H,), the previous state h_{t-1}
    W_ih : (H, D);  W_hh : (H, H);  b_ih, b_hh : (H,)
    returns h_t : same shape as h, float64
    """
    x_t, h, _, W_ih, W_hh, b_ih, b_hh = _step_args("rnn", x_t, h, None, (W_ih, W_hh, b_ih, b_hh))
    return np.tanh(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def lstm_gates(x_t, h, W_ih, W_hh, b_ih, b_hh):
    """The LSTM's four gates at one step (PyTorch's order i, f, g, o in the stacked weights).

        i = sigma(W_ii x_t + b_ii + W_hi h + b_hi)      input gate
        f = sigma(W_if x_t + b_if + W_hf h + b_hf)      forget gate
        g = tanh(W_ig x_t + b_ig + W_hg h + b_hg)       candidate cell
        o = sigma(W_io x_t + b_io + W_ho h + b_ho)      output gate

    x_t : (batch, D) or (D,);  h : (batch, H) or (H,), the previous state h_{t-1}
    W_ih : (4H, D);  W_hh : (4H, H);  b_ih, b_hh : (4H,)
    returns (i, f, g, o) : each the shape of h, float64
    """
    x_t, h, _, W_ih, W_hh, b_ih, b_hh = _step_args("lstm", x_t, h, None, (W_ih, W_hh, b_ih, b_hh))
    H = h.shape[-1]
    a = x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (..., 4H): the four pre-activations
    return (sigmoid(a[..., 0 * H:1 * H]), sigmoid(a[..., 1 * H:2 * H]),
            np.tanh(a[..., 2 * H:3 * H]), sigmoid(a[..., 3 * H:4 * H]))


def lstm_step(x_t, h, c, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step: the gates of ``lstm_gates``, then

        c_t = f * c + i * g,    h_t = o * tanh(c_t)

    The cell update is the linear recurrence c_t = a_t * c_{t-1} + b_t of
    chapter 0 with a data-dependent decay a_t = f and input b_t = i * g.

    x_t : (batch, D) or (D,);  h, c : (batch, H) or (H,), the previous h_{t-1}, c_{t-1}
    W_ih : (4H, D);  W_hh : (4H, H);  b_ih, b_hh : (4H,)
    returns (h_t, c_t) : each the shape of h, float64
    """
    _, _, c, *_ = _step_args("lstm", x_t, h, c, (W_ih, W_hh, b_ih, b_hh), needs_c=True)
    i, f, g, o = lstm_gates(x_t, h, W_ih, W_hh, b_ih, b_hh)
    c_t = f * c + i * g
    h_t = o * np.tanh(c_t)
    return h_t, c_t


def gru_step(x_t, h, W_ih, W_hh, b_ih, b_hh, reset_after=True):
    """One GRU step (gate order r, z, n in the stacked weights).

        r = sigma(W_ir x_t + b_ir + W_hr h + b_hr)          reset gate
        z = sigma(W_iz x_t + b_iz + W_hz h + b_hz)          update gate
        n = tanh(W_in x_t + b_in + r * (W_hn h + b_hn))     candidate (reset_after=True)
        n = tanh(W_in x_t + b_in + W_hn (r * h) + b_hn)     candidate (reset_after=False)
        h_t = (1 - z) * n + z * h

    ``reset_after=True`` (the default) is PyTorch's and cuDNN's GRU: the reset
    gate multiplies W_hn h + b_hn, after the matrix. ``reset_after=False`` is
    the GRU of Cho et al. (2014) (and of d2l): the reset gate multiplies h
    before the matrix, n = tanh(W_in x_t + W_hn (r * h) + b). The two are
    different models (they agree when r = 1). Some texts (Chung et al. 2014,
    Wikipedia) swap z and 1 - z, writing h_t = z * n + (1 - z) * h: the same
    model with the z gate's weights and biases negated.

    x_t : (batch, D) or (D,);  h : (batch, H) or (H,), the previous state h_{t-1}
    W_ih : (3H, D);  W_hh : (3H, H);  b_ih, b_hh : (3H,);  reset_after : bool
    returns h_t : same shape as h, float64
    """
    x_t, h, _, W_ih, W_hh, b_ih, b_hh = _step_args("gru", x_t, h, None, (W_ih, W_hh, b_ih, b_hh))
    reset_after = flag("reset_after", reset_after)
    H = h.shape[-1]
    a_x = x_t @ W_ih.T + b_ih  # (..., 3H): the input's part of r, z, n
    a_h = h @ W_hh.T + b_hh  # (..., 3H): the state's part
    r = sigmoid(a_x[..., 0 * H:1 * H] + a_h[..., 0 * H:1 * H])
    z = sigmoid(a_x[..., 1 * H:2 * H] + a_h[..., 1 * H:2 * H])
    if reset_after:
        n = np.tanh(a_x[..., 2 * H:3 * H] + r * a_h[..., 2 * H:3 * H])
    else:  # Cho et al.: reset h, then the matrix
        n = np.tanh(a_x[..., 2 * H:3 * H] + (r * h) @ W_hh[2 * H:].T + b_hh[2 * H:])
    return (1.0 - z) * n + z * h


def _params_arg(params):
    if not isinstance(params, dict) or not set(NAMES) <= set(params):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"params: expected a dict with keys {list(NAMES)}, got {got}")
    return params


def _forward_args(kind, x, h0, c0, params):
    """Validated x (batch, L, D), h0 and c0 (batch, H) (zeros if None), and the weights.
    NaN or inf in x, h0, c0 (data) pass through to the result."""
    _params_arg(params)
    x = numeric_array("x", x)
    if x.ndim != 3 or x.shape[2] == 0:
        raise ValueError(f"x: expected shape (batch, L, D) with D >= 1, got {x.shape}")
    W_hh = numeric_array("W_hh", params["W_hh"])
    if W_hh.ndim != 2 or W_hh.shape[1] == 0 or W_hh.shape[0] != GATES[kind] * W_hh.shape[1]:
        raise ValueError(f"W_hh: expected shape ({GATES[kind]}*H, H) (kind {kind!r}), "
                         f"got {W_hh.shape}")
    batch, H = x.shape[0], W_hh.shape[1]
    states = []
    for name, s in (("h0", h0), ("c0", c0)):
        s = np.zeros((batch, H)) if s is None else numeric_array(name, s)
        _expect_shape(name, s, (batch, H))
        states.append(s)
    weights = _weights(kind, x.shape[2], H, *(params[n] for n in NAMES))
    return x, states[0], states[1], weights


def rnn_forward(x, h0, params):
    """The Elman RNN over a sequence: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    x : (batch, L, D);  h0 : (batch, H), the initial state h_0, or None for zeros
    params : dict with W_ih (H, D), W_hh (H, H), b_ih (H,), b_hh (H,)
    returns (hs, h_last) : hs (batch, L, H) the states h_1 ... h_L;
        h_last (batch, H) the final state (h0 when L = 0)
    """
    x, h, _, weights = _forward_args("rnn", x, h0, None, params)
    hs = np.zeros(x.shape[:2] + h.shape[1:])
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, *weights)
        hs[:, t] = h
    return hs, h


def lstm_forward(x, h0, c0, params):
    """The LSTM over a sequence (equations in ``lstm_step``), from (h_0, c_0) = (h0, c0).

    x : (batch, L, D);  h0, c0 : (batch, H) or None for zeros
    params : dict with W_ih (4H, D), W_hh (4H, H), b_ih (4H,), b_hh (4H,)
    returns (hs, (h_last, c_last)) : hs (batch, L, H); h_last, c_last (batch, H)
    """
    x, h, c, weights = _forward_args("lstm", x, h0, c0, params)
    hs = np.zeros(x.shape[:2] + h.shape[1:])
    for t in range(x.shape[1]):
        h, c = lstm_step(x[:, t], h, c, *weights)
        hs[:, t] = h
    return hs, (h, c)


def gru_forward(x, h0, params):
    """The GRU over a sequence (equations in ``gru_step``), from h_0 = h0.

    x : (batch, L, D);  h0 : (batch, H) or None for zeros
    params : dict with W_ih (3H, D), W_hh (3H, H), b_ih (3H,), b_hh (3H,)
    returns (hs, h_last) : hs (batch, L, H); h_last (batch, H)
    """
    x, h, _, weights = _forward_args("gru", x, h0, None, params)
    hs = np.zeros(x.shape[:2] + h.shape[1:])
    for t in range(x.shape[1]):
        h = gru_step(x[:, t], h, *weights)
        hs[:, t] = h
    return hs, h


def _kind_arg(kind):
    return option("kind", kind, sorted(GATES))


def _sizes(G, input_size, hidden_size):
    """input_size D and hidden_size H, refused if the G*H*(D+H+2) weights cannot fit."""
    D, H = integer("input_size", input_size), integer("hidden_size", hidden_size)
    affordable("hidden_size", G * H * (D + H + 2))
    return D, H


def _rng_arg(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy Generator (np.random.default_rng(seed)), "
                         f"got {type(rng).__name__}")
    return rng


def init_params(kind, input_size, hidden_size, rng):
    """PyTorch's default initialisation: every weight and bias ~ U(-k, k), ``k = 1 / sqrt(H)``.

    kind : "rnn", "lstm" or "gru" (G = 1, 4, 3 gate blocks)
    input_size : D;  hidden_size : H;  rng : numpy Generator
    returns params : dict with W_ih (G*H, D), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,), float64
    """
    G = GATES[_kind_arg(kind)]
    D, H = _sizes(G, input_size, hidden_size)
    rng = _rng_arg(rng)
    k = 1.0 / math.sqrt(H)
    shapes = [(G * H, D), (G * H, H), (G * H,), (G * H,)]
    return {name: rng.uniform(-k, k, size=shape) for name, shape in zip(NAMES, shapes)}


# ----------------------------------------------------------------- PyTorch


class _TorchRecurrent(nn.Module):
    """Shared by the three modules: the four parameters, their init, the input checks."""

    kind = None

    def __init__(self, input_size, hidden_size, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size = _sizes(GATES[self.kind], input_size, hidden_size)
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype: expected torch.float32, torch.float64 or None (the "
                             f"default dtype), got {dtype!r}")
        G, D, H = GATES[self.kind], self.input_size, self.hidden_size
        k = 1.0 / math.sqrt(H)
        shapes = [(G * H, D), (G * H, H), (G * H,), (G * H,)]
        for name, shape in zip(NAMES, shapes):
            p = nn.Parameter(torch.empty(shape, dtype=dtype))
            nn.init.uniform_(p, -k, k)
            setattr(self, name, p)

    def _tensor(self, name, value, shape, axes):
        """``value`` if a tensor of ``shape`` (None: any size on the axes named ``axes``)
        with the parameters' dtype and device, else refused."""
        W = self.W_ih
        torch_tensor(name, value, ndim=len(axes), dtype=W.dtype,
                     axes=f"of shape {axes}".replace("'", ""))
        if any(want is not None and got != want for got, want in zip(value.shape, shape)):
            shown = tuple(a if n is None else n for a, n in zip(axes, shape))
            raise ValueError(f"{name}: expected a tensor of shape {shown}".replace("'", "")
                             + f", got {tuple(value.shape)}")
        if value.device != W.device:
            raise ValueError(f"{name}: expected a tensor on {W.device} (the parameters' "
                             f"device), got one on {value.device}")
        return value

    def _check(self, x, states):
        """x (batch, L, D), L >= 1, and each state (batch, H) (zeros where None)."""
        self._tensor("x", x, (None, None, self.input_size), ("batch", "L", self.input_size))
        shape = (x.shape[0], self.hidden_size)
        return [x.new_zeros(shape) if s is None else self._tensor(name, s, shape, shape)
                for name, s in states]

    def _check_step(self, x_t, states):
        """x_t (batch, D) and each state (batch, H)."""
        self._tensor("x_t", x_t, (None, self.input_size), ("batch", self.input_size))
        shape = (x_t.shape[0], self.hidden_size)
        for name, s in states:
            self._tensor(name, s, shape, shape)

    def forward(self, x, state=None):
        """The loop over time for the one-state cells (RNN, GRU); the LSTM has its own.

        x (batch, L, D), state (batch, H) or None -> (hs (batch, L, H), h_last (batch, H))
        """
        (h,) = self._check(x, [("state", state)])
        hs = []
        for t in range(x.shape[1]):
            h = self._step(x[:, t], h)
            hs.append(h)
        return torch.stack(hs, dim=1), h

    def step(self, x_t, h):
        """x_t (batch, D), h (batch, H) -> h_t (batch, H)."""
        self._check_step(x_t, [("h", h)])
        return self._step(x_t, h)


class TorchRNN(_TorchRecurrent):
    """The Elman RNN as an nn.Module: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    TorchRNN(input_size D, hidden_size H, dtype=None); likewise TorchLSTM, TorchGRU.
    dtype : torch.float32, torch.float64 or None (torch's default dtype)

    Parameters W_ih (H, D), W_hh (H, H), b_ih (H,), b_hh (H,), init U(-1/sqrt(H), 1/sqrt(H)).
    forward(x (batch, L, D), state (batch, H) or None) -> (hs (batch, L, H), h_last (batch, H))
    Inputs must have the parameters' dtype and L >= 1; NaN or inf in them pass through.
    """

    kind = "rnn"

    def _step(self, x_t, h):
        return torch.tanh(x_t @ self.W_ih.T + self.b_ih + h @ self.W_hh.T + self.b_hh)


class TorchLSTM(_TorchRecurrent):
    """The LSTM as an nn.Module (equations in ``lstm_step``; gate blocks i, f, g, o).

    Parameters W_ih (4H, D), W_hh (4H, H), b_ih (4H,), b_hh (4H,).
    forward(x (batch, L, D), state (h0, c0) each (batch, H), or None)
        -> (hs (batch, L, H), (h_last, c_last) each (batch, H))
    """

    kind = "lstm"

    def _step(self, x_t, h, c):
        H = self.hidden_size
        a = x_t @ self.W_ih.T + self.b_ih + h @ self.W_hh.T + self.b_hh
        i = torch.sigmoid(a[:, 0 * H:1 * H])
        f = torch.sigmoid(a[:, 1 * H:2 * H])
        g = torch.tanh(a[:, 2 * H:3 * H])
        o = torch.sigmoid(a[:, 3 * H:4 * H])
        c_t = f * c + i * g
        return o * torch.tanh(c_t), c_t

    def step(self, x_t, h, c):
        """x_t (batch, D), h, c (batch, H) -> (h_t, c_t) (batch, H) each."""
        self._check_step(x_t, [("h", h), ("c", c)])
        return self._step(x_t, h, c)

    def forward(self, x, state=None):
        if state is not None and not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError(f"state: expected a pair (h0, c0) or None, got "
                             f"{type(state).__name__}")
        h0, c0 = (None, None) if state is None else state
        h, c = self._check(x, [("h0", h0), ("c0", c0)])
        hs = []
        for t in range(x.shape[1]):
            h, c = self._step(x[:, t], h, c)
            hs.append(h)
        return torch.stack(hs, dim=1), (h, c)


class TorchGRU(_TorchRecurrent):
    """The GRU as an nn.Module (equations in ``gru_step``; gate blocks r, z, n).

    Parameters W_ih (3H, D), W_hh (3H, H), b_ih (3H,), b_hh (3H,).
    forward(x (batch, L, D), state (batch, H) or None) -> (hs (batch, L, H), h_last (batch, H))
    """

    kind = "gru"

    def _step(self, x_t, h):
        H = self.hidden_size
        a_x = x_t @ self.W_ih.T + self.b_ih
        a_h = h @ self.W_hh.T + self.b_hh
        r = torch.sigmoid(a_x[:, 0 * H:1 * H] + a_h[:, 0 * H:1 * H])
        z = torch.sigmoid(a_x[:, 1 * H:2 * H] + a_h[:, 1 * H:2 * H])
        n = torch.tanh(a_x[:, 2 * H:3 * H] + r * a_h[:, 2 * H:3 * H])
        return (1 - z) * n + z * h


_TORCH_NN = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}
_OURS = {TorchRNN: "rnn", TorchLSTM: "lstm", TorchGRU: "gru"}


def load_into(module, params):
    """Copy W_ih, W_hh, b_ih, b_hh into ``module`` (in place) and return it.

    module : one of ours (TorchRNN, TorchLSTM, TorchGRU; parameters W_ih ...)
        or a one-layer, unidirectional torch.nn.RNN (tanh), LSTM or GRU with
        biases (parameters weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0)
    params : dict of arrays or tensors, W_ih (G*H, D), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,)
        in the module's gate order (both use PyTorch's)
    returns module
    """
    if type(module) in _TORCH_NN:
        if (module.num_layers != 1 or module.bidirectional or not module.bias
                or getattr(module, "proj_size", 0) or getattr(module, "nonlinearity", "tanh")
                != "tanh"):
            raise ValueError(f"module: expected a one-layer, unidirectional {type(module).__name__}"
                             f" with biases (and tanh, no projection), got {module}")
        targets = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    elif type(module) in _OURS:
        targets = list(NAMES)
    else:
        raise ValueError(f"module: expected torch.nn.RNN/LSTM/GRU or TorchRNN/LSTM/GRU, "
                         f"got {type(module).__name__}")
    _params_arg(params)
    values = []
    for name, target in zip(NAMES, targets):
        value = params[name]
        if isinstance(value, torch.Tensor):
            value = value.detach()  # copied, not differentiated through
        value = finite(name, numeric_array(name, value))
        _expect_shape(name, value, tuple(getattr(module, target).shape))
        values.append(value)
    with torch.no_grad():
        for value, target in zip(values, targets):
            p = getattr(module, target)
            p.copy_(torch.as_tensor(value).to(dtype=p.dtype, device=p.device))
    return module


def to_torch_nn(module):
    """The torch.nn.RNN / LSTM / GRU (batch_first=True, one layer) equal to our ``module``.

    module : TorchRNN, TorchLSTM or TorchGRU with W_ih (G*H, D) ...
    returns a new torch.nn module with the same weights, dtype and device
    """
    if type(module) not in _OURS:
        raise ValueError(f"module: expected TorchRNN, TorchLSTM or TorchGRU, "
                         f"got {type(module).__name__}")
    cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[_OURS[type(module)]]
    target = cls(module.input_size, module.hidden_size, batch_first=True,
                 dtype=module.W_ih.dtype, device=module.W_ih.device)
    return load_into(target, {name: getattr(module, name).detach() for name in NAMES})


# ------------------------------------------- a recurrent layer as a token mixer

RECURRENT_INITS = {"rnn": ("identity", "orthogonal", "pytorch"),
                   "lstm": ("chrono", "forget_bias_1", "pytorch"),
                   "gru": ("chrono", "pytorch")}
"""The initialisations ``RecurrentMixer`` knows per cell; the first is its default."""


def chrono_bias(hidden_size, t_max, generator=None):
    """The chrono initialisation of a gate bias (Tallec & Ollivier 2018, "Can recurrent
    neural networks warp time?", given there for the LSTM and the GRU):

        b_f = log(U(1, t_max - 1)),  so that 1 / (1 - sigma(b_f)) ~ U(2, t_max):

    the gate keeps its cell for between 2 and t_max steps at the start, spread over the
    units, the range of dependencies the task may need (t_max = its length).

    hidden_size : int >= 1;  t_max : int in [2, 10**7] (steps);  generator : a torch.Generator or None
    returns b_f (hidden_size,) float32, in [0, log(t_max - 1)]
    """
    hidden_size = integer("hidden_size", hidden_size, maximum=10**7)
    t_max = integer("t_max", t_max, 2, maximum=MAX_STEPS)
    u = torch.rand(hidden_size, generator=generator)
    return torch.log1p(u * (t_max - 2))        # log(1 + U(0, t_max - 2)) = log U(1, t_max - 1)


class RecurrentMixer(nn.Module):
    """One torch RNN, LSTM or GRU layer as a token mixer, x (batch, L, d) -> h (batch, L, d),
    with its field's standard initialisation (``RECURRENT_INITS``, the first by default):

      rnn  "identity": W_hh = I, biases 0, ReLU (Le, Jaitly & Hinton 2015, the IRNN);
           "orthogonal": W_hh orthogonal (``torch.nn.init.orthogonal_``), biases 0, tanh
           (Saxe et al. 2014; Henaff et al. 2016); "pytorch": U(-1/sqrt(d), 1/sqrt(d)), tanh
      lstm "chrono": forget bias b_f = ``chrono_bias``(d, max_len), input bias b_i = -b_f
           (Tallec & Ollivier 2018), needs max_len; "forget_bias_1": b_f = 1 (Gers et al.
           2000; Jozefowicz et al. 2015); "pytorch"
      gru  "chrono": b_z = ``chrono_bias``(d, max_len) on the update gate z, which keeps
           the state as the LSTM's forget gate does (h' = (1 - z) n + z h, PyTorch's
           convention; Tallec & Ollivier 2018); "pytorch"

    The bias of a gate is split over PyTorch's b_ih and b_hh: the value goes in b_ih, b_hh
    is 0 for that gate. Input weights keep PyTorch's U(-1/sqrt(d), 1/sqrt(d)).
    kind : "rnn", "lstm" or "gru";  d_model : d >= 1;  init : one of RECURRENT_INITS[kind]
    (None: its default);  max_len : the longest dependency in steps (chrono's t_max), or None
    (then an LSTM takes "forget_bias_1" and a GRU "pytorch" by default)
    """

    def __init__(self, kind, d_model, init=None, max_len=None):
        super().__init__()
        option("kind", kind, tuple(RECURRENT_INITS))
        self.d_model = d = integer("d_model", d_model, maximum=10**5)
        affordable("d_model", 4 * d * (2 * d + 2), what="parameters")
        if max_len is not None:
            max_len = integer("max_len", max_len, 2, maximum=MAX_STEPS)
        if init is None:
            init = RECURRENT_INITS[kind][0]
            if init == "chrono" and max_len is None:
                init = "forget_bias_1" if kind == "lstm" else "pytorch"
        option("init", init, RECURRENT_INITS[kind])
        if init == "chrono" and max_len is None:
            raise ValueError("max_len: expected the longest dependency in steps (chrono's "
                             "t_max, e.g. the sequence length) for init='chrono', got None")
        self.kind, self.init = kind, init
        relu = kind == "rnn" and init == "identity"
        self.cell = ({"rnn": partial(nn.RNN, nonlinearity="relu" if relu else "tanh"),
                      "lstm": nn.LSTM, "gru": nn.GRU}[kind])(d, d, batch_first=True)
        with torch.no_grad():
            b_ih, b_hh, W_hh = self.cell.bias_ih_l0, self.cell.bias_hh_l0, self.cell.weight_hh_l0
            if init == "identity":
                W_hh.copy_(torch.eye(d))
                b_ih.zero_(), b_hh.zero_()
            elif init == "orthogonal":
                nn.init.orthogonal_(W_hh)
                b_ih.zero_(), b_hh.zero_()
            elif init == "forget_bias_1":            # gates i, f, g, o
                b_ih[d:2 * d].fill_(1.0), b_hh[d:2 * d].zero_()
            elif init == "chrono" and kind == "lstm":
                b_f = chrono_bias(d, max_len)
                b_ih[d:2 * d].copy_(b_f), b_hh[d:2 * d].zero_()
                b_ih[:d].copy_(-b_f), b_hh[:d].zero_()
            elif init == "chrono":                   # gru, gates r, z, n
                b_ih[d:2 * d].copy_(chrono_bias(d, max_len)), b_hh[d:2 * d].zero_()

    def forward(self, x):
        """x (batch, L, d_model) -> the hidden states h (batch, L, d_model), h_0 = 0."""
        layer_input("x", x, "(batch, L, d_model)", self.d_model, self.cell.weight_hh_l0)
        return self.cell(x)[0]


# ------------------------------------------- the linear RNN and its gradients


def _square(name, W):
    """W as a finite square float matrix (H, H), H >= 1."""
    W = numeric_array(name, W)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] == 0:
        raise ValueError(f"{name}: expected a square matrix (H, H), H >= 1, got shape "
                         f"{W.shape}")
    return finite(name, W)


def linear_rnn_bptt(W, U, x, h0, dL_dhT):
    """Backpropagation through time, by hand, for ``h_t = W h_{t-1} + U x_t``, t = 1 .. T.

    The loss L depends on the last state only, through ``delta_T = dL/dh_T``
    (given). Going back in time,
        dL/dW += delta_t h_{t-1}^T,   dL/dU += delta_t x_t^T,   delta_{t-1} = W^T delta_t,
    and ``dL/dh_0 = delta_0 = (W^T)**T delta_T``: T multiplications by W^T.

    W : (H, H);  U : (H, D);  x : (T, D), row t-1 is x_t;  h0 : (H,);  dL_dhT : (H,)
    (W and U finite; NaN or inf in x, h0, dL_dhT pass through)
    returns (dL_dh0 (H,), dL_dW (H, H), dL_dU (H, D))
    """
    W = _square("W", W)
    H = W.shape[0]
    U = numeric_array("U", U)
    if U.ndim != 2 or U.shape[0] != H:
        raise ValueError(f"U: expected shape ({H}, D), got {U.shape}")
    finite("U", U)
    x = numeric_array("x", x)
    if x.ndim != 2 or x.shape[1] != U.shape[1]:
        raise ValueError(f"x: expected shape (T, {U.shape[1]}), got {x.shape}")
    affordable("x", x.shape[0], MAX_STEPS, "steps")
    h0 = numeric_array("h0", h0)
    _expect_shape("h0", h0, (H,))
    delta = numeric_array("dL_dhT", dL_dhT)
    _expect_shape("dL_dhT", delta, (H,))
    T = x.shape[0]
    hs = [h0]  # forward: h_0 ... h_T
    for t in range(1, T + 1):
        hs.append(W @ hs[t - 1] + U @ x[t - 1])
    dW, dU = np.zeros_like(W), np.zeros_like(U)
    for t in range(T, 0, -1):  # backward: delta holds delta_t
        dW += np.outer(delta, hs[t - 1])
        dU += np.outer(delta, x[t - 1])
        delta = W.T @ delta
    return delta, dW, dU


def _lengths_arg(lengths):
    """lengths as a 1-D integer ndarray of entries >= 0."""
    numeric_array("lengths", lengths, what="a 1-D array of integers >= 0")
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.cpu().numpy()
    lengths = np.asarray(lengths)
    if (lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer)
            or (lengths.size and lengths.min() < 0)):
        raise ValueError(f"lengths: expected a 1-D array of integers >= 0, got {lengths!r}")
    return lengths


def grad_norm_vs_length(W, lengths, v=None):
    """``||dL/dh_0||_2 = ||(W^T)**T v||_2`` for each T, the loss being ``L = v . h_T``.

    (W^T is the transpose, **T the T-th matrix power.) For the linear RNN
    ``dh_T/dh_0 = W**T``, so this is the size of the gradient that reaches
    the first step after T steps of BPTT (``delta_{t-1} = W^T delta_t``,
    ``delta_T = v``). It is the norm of one vector, not the spectral norm
    of the matrix: it equals ``rho**T`` exactly for ``W = rho Q``, Q
    orthogonal, and grows like ``C rho(W)**T`` (times a polynomial in T if
    W is defective) for any W and almost any v: vanishing for rho < 1,
    exploding for rho > 1.

    W : (H, H), finite;  lengths : ints >= 0, (K,), at most ``MAX_STEPS``;
        v : (H,) finite and nonzero, or None for the unit vector ``(1, ..., 1) / sqrt(H)``
        (v is normalised to length 1)
    returns norms : (K,), float64
    """
    W = _square("W", W)
    lengths = _lengths_arg(lengths)
    if lengths.size:
        affordable("lengths", int(lengths.max()), MAX_STEPS, "steps")
    H = W.shape[0]
    v = np.ones(H) if v is None else finite("v", numeric_array("v", v))
    _expect_shape("v", v, (H,))
    if not np.linalg.norm(v) > 0:
        raise ValueError("v: expected a nonzero vector, got zeros")
    delta = v / np.linalg.norm(v)
    norms = {}
    for T in range(int(lengths.max()) + 1 if lengths.size else 0):
        norms[T] = np.linalg.norm(delta)
        delta = W.T @ delta
    return np.array([norms[int(T)] for T in lengths])


def orthogonal(n, rng):
    """A random orthogonal matrix Q (Q^T Q = I), uniform (Haar) over O(n).

    QR of a Gaussian matrix, the signs of R's diagonal moved into Q.
    n : int >= 1 (n^2 at most ``MAX_ELEMENTS``);  rng : numpy Generator
    returns Q : (n, n), float64
    """
    n = integer("n", n)
    affordable("n", n * n)
    rng = _rng_arg(rng)
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def spectral_radius(W):
    """``rho(W) = max_i |lambda_i(W)|``, the largest eigenvalue modulus.

    W : (H, H), finite (NaN or inf refused);  returns float
    """
    return float(np.max(np.abs(np.linalg.eigvals(_square("W", W)))))


# ------------------------------------------------------ the echo state network


def _esn_numbers(spectral_radius, density, leak_rate=1.0, input_scale=1.0, beta=0.0):
    """The ESN's number arguments as floats, each refused by name if out of range."""
    return (number("spectral_radius", spectral_radius, 0, strict=True),
            number("density", density, 0, 1, strict=True, what="a number in (0, 1]"),
            number("leak_rate", leak_rate, 0, 1, strict=True, what="a number in (0, 1]"),
            number("input_scale", input_scale, 0, strict=True),
            number("beta", beta, 0))


def esn_reservoir(n, spectral_radius, density, rng):
    """A sparse random reservoir W (n, n) scaled to a given spectral radius (Jaeger 2001).

    Each entry is nonzero with probability ``density``, drawn from U(-1, 1);
    then ``W <- W * spectral_radius / rho(W)``. With rho < 1 (and leak rate
    1) the reservoir forgets its initial state, the echo state property
    for the inputs of practice; rho >= 1 can break it, and warns.

    n : int in [1, ``MAX_EIG_SIZE``], the number of units N
    spectral_radius : finite float > 0;  density : float in (0, 1];  rng : numpy Generator
    (numbers may be Python or NumPy scalars; bools are refused)
    returns W : (n, n), float64, a dense array with about density * n^2 nonzeros
    """
    n = integer("n", n, maximum=MAX_EIG_SIZE)
    target, density = _esn_numbers(spectral_radius, density)[:2]
    rng = _rng_arg(rng)
    if target >= 1:
        warnings.warn(f"spectral_radius = {target} >= 1: the reservoir may not forget its "
                      f"initial state (no echo state property)", stacklevel=2)
    W = rng.uniform(-1, 1, size=(n, n)) * (rng.random((n, n)) < density)
    rho = np.max(np.abs(np.linalg.eigvals(W)))
    if rho < 1e-12:
        raise ValueError(f"density: expected enough nonzeros for a reservoir with cycles "
                         f"(this draw has spectral radius 0), got {density}")
    return W * (target / rho)


def _series(name, u, what="D_in"):
    """u as float (L, D) from (L,) or (L, D), L >= 1, D >= 1 (NaN or inf pass through)."""
    u = numeric_array(name, u)
    if u.ndim not in (1, 2) or u.shape[0] == 0 or (u.ndim == 2 and u.shape[1] == 0):
        raise ValueError(f"{name}: expected shape (L,) or (L, {what}) with L, {what} >= 1, "
                         f"got {u.shape}")
    return u[:, None] if u.ndim == 1 else u


def esn_states(u, W_in, W, leak_rate, x0=None):
    """The reservoir driven by u (Jaeger 2001; the leak rate is from Jaeger et al. 2007).

        x_t = (1 - alpha) x_{t-1} + alpha tanh(W_in [1; u_t] + W x_{t-1})

    u : (L,) or (L, D_in), L >= 1, the input (a 1-D u is one input channel; NaN or inf in
        it pass through)
    W_in : (N, 1 + D_in), column 0 multiplies the constant 1 (a bias);  W : (N, N) (both
        finite);  leak_rate : alpha in (0, 1];  x0 : (N,), the initial state x_0, zeros if None
    returns X : (L, N), float64, row t is x_t
    """
    u = _series("u", u)
    W = _square("W", W)
    N = W.shape[0]
    W_in = numeric_array("W_in", W_in)
    _expect_shape("W_in", W_in, (N, 1 + u.shape[1]))
    finite("W_in", W_in)
    alpha = _esn_numbers(1.0, 1.0, leak_rate)[2]
    x = np.zeros(N) if x0 is None else numeric_array("x0", x0)
    _expect_shape("x0", x, (N,))
    affordable("u", u.shape[0] * N)
    X = np.zeros((u.shape[0], N))
    for t in range(u.shape[0]):
        x = (1 - alpha) * x + alpha * np.tanh(W_in @ np.concatenate(([1.0], u[t])) + W @ x)
        X[t] = x
    return X


def ridge_readout(X, Y, beta):
    """Ridge regression as in the ESN literature: ``W_out = Y X^T (X X^T + beta I)^{-1}``.

    It minimises ``||W_out X - Y||^2 + beta ||W_out||^2`` (Frobenius norms).
    The inverse is applied by solving the symmetric system
    ``(X X^T + beta I) W_out^T = X Y^T`` rather than formed.

    X : (N_features, T), one column per time step;  Y : (D_out, T), both finite
    beta : float >= 0 (beta = 0 is ordinary least squares and warns: X X^T may be
        singular, and a singular one is refused)
    returns W_out : (D_out, N_features), float64
    """
    X = numeric_array("X", X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X: expected shape (N_features, T) with N_features >= 1, "
                         f"got {X.shape}")
    finite("X", X)
    Y = numeric_array("Y", Y)
    if Y.ndim != 2 or Y.shape[1] != X.shape[1]:
        raise ValueError(f"Y: expected shape (D_out, {X.shape[1]}), got {Y.shape}")
    finite("Y", Y)
    beta = _esn_numbers(1.0, 1.0, beta=beta)[4]
    if beta == 0:
        warnings.warn("beta = 0: plain least squares, X X^T may be singular", stacklevel=2)
    A = X @ X.T + beta * np.eye(X.shape[0])
    try:
        return np.linalg.solve(A, X @ Y.T).T
    except np.linalg.LinAlgError:
        raise ValueError(f"X: expected features with X X^T + beta I invertible, got a "
                         f"singular one at beta = {beta} (use beta > 0)") from None


def fit_esn(u, y, n_reservoir=200, spectral_radius=0.9, density=0.1, leak_rate=1.0,
            input_scale=1.0, beta=1e-8, washout=100, rng=None):
    """Train an echo state network: a random reservoir, a ridge readout on ``[1; u_t; x_t]``.

        x_t = (1 - alpha) x_{t-1} + alpha tanh(W_in [1; u_t] + W x_{t-1}),   x_0 = 0
        y_t ~ W_out [1; u_t; x_t],    W_out = Y X^T (X X^T + beta I)^{-1} over t >= washout

    For one-step prediction of a series s, take u = s[:-1] and y = s[1:].

    u : (L,) or (L, D_in);  y : (L,) or (L, D_out), the targets, aligned with u (both
        finite: the fit needs every row)
    n_reservoir : N, int in [1, ``MAX_EIG_SIZE``];  spectral_radius, density : of W
    (``esn_reservoir``);  leak_rate : alpha in (0, 1];  input_scale : > 0,
    W_in ~ U(-input_scale, input_scale);  beta : ridge penalty >= 0;  washout : int in
    [0, L), first steps left out of the fit (the reservoir still remembers x_0 = 0
    there);  rng : numpy Generator (default seed 0)
    returns model : dict with W_in (N, 1 + D_in), W (N, N), W_out (D_out, 1 + D_in + N),
        leak_rate, and squeeze (True when y was 1-D)
    """
    rng = np.random.default_rng(0) if rng is None else _rng_arg(rng)
    n_reservoir = integer("n_reservoir", n_reservoir, maximum=MAX_EIG_SIZE)
    spectral_radius, density, leak_rate, input_scale, beta = _esn_numbers(
        spectral_radius, density, leak_rate, input_scale, beta)
    u2 = finite("u", _series("u", u))
    y = finite("y", numeric_array("y", y))
    if y.ndim not in (1, 2) or y.shape[0] != u2.shape[0] or (y.ndim == 2 and y.shape[1] == 0):
        raise ValueError(f"y: expected shape ({u2.shape[0]},) or ({u2.shape[0]}, D_out), "
                         f"got {y.shape}")
    if isinstance(washout, (bool, np.bool_)) or not isinstance(washout, (int, np.integer)) \
            or washout < 0 or washout >= u2.shape[0]:
        raise ValueError(f"washout: expected an integer in [0, {u2.shape[0]}), got {washout!r}")
    Y = (y[:, None] if y.ndim == 1 else y)[washout:].T
    W = esn_reservoir(n_reservoir, spectral_radius, density, rng)
    W_in = rng.uniform(-input_scale, input_scale, size=(W.shape[0], 1 + u2.shape[1]))
    states = esn_states(u2, W_in, W, leak_rate)
    features = np.hstack([np.ones((u2.shape[0], 1)), u2, states])[washout:].T
    W_out = ridge_readout(features, Y, beta)
    return {"W_in": W_in, "W": W, "W_out": W_out, "leak_rate": leak_rate,
            "squeeze": y.ndim == 1}


def esn_predict(model, u):
    """The trained ESN's outputs ``y_t = W_out [1; u_t; x_t]``, from ``x_0 = 0``.

    model : dict from ``fit_esn``;  u : (L,) or (L, D_in), L >= 1 (NaN or inf pass through)
    returns y : (L,) if the model was fit on a 1-D y, else (L, D_out)
    """
    if not isinstance(model, dict) or not {"W_in", "W", "W_out", "leak_rate"} <= set(model):
        raise ValueError(f"model: expected the dict returned by fit_esn, got "
                         f"{type(model).__name__}")
    u2 = _series("u", u)
    W_in = numeric_array("W_in", model["W_in"])
    if W_in.ndim == 2 and u2.shape[1] != W_in.shape[1] - 1:
        raise ValueError(f"u: expected shape (L,) or (L, {W_in.shape[1] - 1}) (the model's "
                         f"D_in), got {np.shape(u)}")
    states = esn_states(u2, W_in, model["W"], model["leak_rate"])
    W_out = finite("W_out", numeric_array("W_out", model["W_out"]))
    width = 1 + u2.shape[1] + states.shape[1]
    if W_out.ndim != 2 or W_out.shape[1] != width:
        raise ValueError(f"W_out: expected shape (D_out, {width}) in model, got {W_out.shape}")
    y = np.hstack([np.ones((u2.shape[0], 1)), u2, states]) @ W_out.T
    return y[:, 0] if model.get("squeeze") else y


def esn_generate(model, u, n_steps):
    """Free-running ESN forecast: drive the reservoir with ``u``, then feed its outputs back.

        x_t = (1 - alpha) x_{t-1} + alpha tanh(W_in [1; u_t] + W x_{t-1}),   t < L (teacher
        forcing: the true inputs);  then for k = 1 .. n_steps the input is the last output,
        u_{L-1+k} = y_{L-2+k},  y_t = W_out [1; u_t; x_t]

    For a model fit on one-step prediction (u = s[:-1], y = s[1:]), ``u`` = s[:L] and the
    result estimates s[L], ..., s[L + n_steps - 1]: a k-step-ahead forecast whose errors
    compound, unlike the one-step prediction where every input is the true one.

    model : dict from ``fit_esn`` with D_in = D_out;  u : (L,) or (L, D), L >= 1, the
        warm-up inputs, finite;  n_steps : int in [1, ``MAX_STEPS``]
    returns y : (n_steps,) if the model was fit on a 1-D y, else (n_steps, D)
    """
    if not isinstance(model, dict) or not {"W_in", "W", "W_out", "leak_rate"} <= set(model):
        raise ValueError(f"model: expected the dict returned by fit_esn, got "
                         f"{type(model).__name__}")
    u2 = finite("u", _series("u", u))
    n_steps = integer("n_steps", n_steps, maximum=MAX_STEPS)
    W_in = finite("W_in", numeric_array("W_in", model["W_in"]))
    W = _square("W", model["W"])
    W_out = finite("W_out", numeric_array("W_out", model["W_out"]))
    D = u2.shape[1]
    N = W.shape[0]
    if W_in.ndim == 2 and D != W_in.shape[1] - 1:
        raise ValueError(f"u: expected shape (L,) or (L, {W_in.shape[1] - 1}) (the model's "
                         f"D_in), got {np.shape(u)}")
    _expect_shape("W_in", W_in, (N, 1 + D))
    if W_out.shape != (D, 1 + D + N):
        raise ValueError(f"model: expected W_out of shape ({D}, {1 + D + N}) (outputs that "
                         f"can be fed back as inputs), got {W_out.shape}")
    alpha = _esn_numbers(1.0, 1.0, model["leak_rate"])[2]
    affordable("n_steps", (u2.shape[0] + n_steps) * N)
    X = esn_states(u2, W_in, W, alpha)
    x, u_t = X[-1], u2[-1]
    out = np.zeros((n_steps, D))
    for k in range(n_steps):
        y = W_out @ np.concatenate(([1.0], u_t, x))
        out[k] = y
        u_t = y
        x = esn_states(u_t[None], W_in, W, alpha, x0=x)[0]    # one step of the same update
    return out[:, 0] if model.get("squeeze") else out
