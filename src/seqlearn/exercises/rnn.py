"""Chapter 1's exercises: recurrent networks (an RNN step, an LSTM step, a ridge readout,
a GRU step)."""

import numpy as np

from seqlearn import rnn
from seqlearn.exercises._checker import Exercise, _register


def _weights(rng, gates, D, H):
    k = 1 / np.sqrt(H)
    return (rng.uniform(-k, k, (gates * H, D)), rng.uniform(-k, k, (gates * H, H)),
            rng.uniform(-k, k, gates * H), rng.uniform(-k, k, gates * H))


def _sizes(rng):
    """Random (batch, D, H) for a hidden case."""
    return tuple(int(n) for n in rng.integers(1, 7, 3))


def _rnn_step_cases(rng):
    return [
        (rng.standard_normal(2), rng.standard_normal(3), *_weights(rng, 1, 2, 3)),  # one sequence
        (rng.standard_normal((4, 3)), rng.standard_normal((4, 5)),
         *_weights(rng, 1, 3, 5)),  # a batch
        (rng.standard_normal((2, 6)), np.zeros((2, 6)), *_weights(rng, 1, 6, 6)),  # square, h = 0
    ]


def _rnn_step_hidden(rng):
    cases = []
    for batch, D, H in (_sizes(rng), _sizes(rng)):
        cases.append((rng.standard_normal((batch, D)), rng.standard_normal((batch, H)),
                      *_weights(rng, 1, D, H)))
    return cases


_register(Exercise(
    name="rnn.step",
    signature="rnn_step(x_t, h, W_ih, W_hh, b_ih, b_hh) -> h_t; "
              "x_t (batch, D) or (D,), h (batch, H)",
    reference=rnn.rnn_step,
    arg_names=("x_t", "h", "W_ih", "W_hh", "b_ih", "b_hh"),
    cases=_rnn_step_cases,
    hidden=_rnn_step_hidden,
    mistakes={
        "b_hh is missing: PyTorch's RNN adds both biases, b_ih + b_hh.":
            lambda x, h, Wi, Wh, bi, bh: rnn.rnn_step(x, h, Wi, Wh, bi, np.zeros_like(bh)),
        "W_hh is transposed: the recurrent term is W_hh h, i.e. h @ W_hh.T for a batch of rows.":
            lambda x, h, Wi, Wh, bi, bh: rnn.rnn_step(x, h, Wi, np.asarray(Wh).T, bi, bh),
    },
))


def _lstm_step_cases(rng):
    return [
        (rng.standard_normal(2), rng.standard_normal(3), rng.standard_normal(3),
         *_weights(rng, 4, 2, 3)),
        (rng.standard_normal((3, 4)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5)),
         *_weights(rng, 4, 4, 5)),
    ]


def _lstm_step_hidden(rng):
    cases = []
    for batch, D, H in (_sizes(rng), _sizes(rng)):
        cases.append((rng.standard_normal((batch, D)), rng.standard_normal((batch, H)),
                      rng.standard_normal((batch, H)), *_weights(rng, 4, D, H)))
    return cases


def _blocks(order, *arrays):
    """The gate blocks of each array, re-stacked in ``order`` (0=i, 1=f, 2=g, 3=o)."""
    return [np.concatenate([np.split(np.asarray(a), 4)[k] for k in order]) for a in arrays]


_register(Exercise(
    name="rnn.lstm_step",
    signature="lstm_step(x_t, h, c, W_ih, W_hh, b_ih, b_hh) -> (h_t, c_t)",
    reference=rnn.lstm_step,
    arg_names=("x_t", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh"),
    cases=_lstm_step_cases,
    hidden=_lstm_step_hidden,
    mistakes={
        "the gate blocks are read as i, f, o, g; PyTorch stacks them as i, f, g, o.":
            lambda x, h, c, *w: rnn.lstm_step(x, h, c, *_blocks([0, 1, 3, 2], *w)),
        "the forget and input gates are swapped: blocks are i, f, g, o (input gate first).":
            lambda x, h, c, *w: rnn.lstm_step(x, h, c, *_blocks([1, 0, 2, 3], *w)),
        "the result is (c_t, h_t); return (h_t, c_t).":
            lambda *args: rnn.lstm_step(*args)[::-1],
    },
    also_refused=(rnn.lstm_gates,),
))


def _ridge_case(rng, n_features, T, d_out, beta):
    return rng.standard_normal((n_features, T)), rng.standard_normal((d_out, T)), beta


def _ridge_cases(rng):
    return [_ridge_case(rng, 2, 5, 1, 1.0), _ridge_case(rng, 4, 30, 2, 0.5),
            _ridge_case(rng, 10, 50, 3, 2.0)]


def _ridge_hidden(rng):
    return [_ridge_case(rng, int(rng.integers(2, 9)), int(rng.integers(12, 60)),
                        int(rng.integers(1, 4)), float(rng.uniform(0.1, 3.0)))
            for _ in range(2)]


_register(Exercise(
    name="rnn.ridge_readout",
    signature="ridge_readout(X, Y, beta) -> W_out (D_out, N); X (N, T), Y (D_out, T)",
    reference=rnn.ridge_readout,
    arg_names=("X", "Y", "beta"),
    cases=_ridge_cases,
    hidden=_ridge_hidden,
    rtol=1e-6, atol=1e-9,
    mistakes={
        "beta is missing: the penalty adds beta * I to X X^T before inverting.":
            lambda X, Y, beta: np.asarray(Y) @ np.linalg.pinv(np.asarray(X)),
    },
))


def _gru_step_cases(rng):
    return [
        (rng.standard_normal(2), rng.standard_normal(3), *_weights(rng, 3, 2, 3)),
        (rng.standard_normal((3, 4)), rng.standard_normal((3, 5)), *_weights(rng, 3, 4, 5)),
        (rng.standard_normal((2, 3)), 2 * rng.standard_normal((2, 3)),
         *(3 * w for w in _weights(rng, 3, 3, 3))),  # large weights: r far from 1
    ]


def _gru_step_hidden(rng):
    cases = []
    for batch, D, H in (_sizes(rng), _sizes(rng)):
        cases.append((rng.standard_normal((batch, D)), rng.standard_normal((batch, H)),
                      *(2 * w for w in _weights(rng, 3, D, H))))
    return cases


def _gru_blocks(order, *arrays):
    """The gate blocks of each array, re-stacked in ``order`` (0=r, 1=z, 2=n)."""
    return [np.concatenate([np.split(np.asarray(a), 3)[k] for k in order]) for a in arrays]


def _gru_z_swapped(x, h, Wi, Wh, bi, bh):
    """h_t = z n + (1 - z) h: the reference with the z block negated."""
    flip = [np.concatenate([a[: len(a) // 3], -a[len(a) // 3: 2 * len(a) // 3],
                            a[2 * len(a) // 3:]]) for a in map(np.asarray, (Wi, Wh, bi, bh))]
    return rnn.gru_step(x, h, *flip)


_register(Exercise(
    name="rnn.gru_step",
    signature="gru_step(x_t, h, W_ih, W_hh, b_ih, b_hh) -> h_t; "
              "x_t (batch, D) or (D,), h (batch, H), blocks r, z, n",
    reference=rnn.gru_step,
    arg_names=("x_t", "h", "W_ih", "W_hh", "b_ih", "b_hh"),
    cases=_gru_step_cases,
    hidden=_gru_step_hidden,
    mistakes={
        "the reset gate is applied before W_hn, as in Cho et al. (2014): "
        "W_hn (r * h) + b_hn. PyTorch's GRU applies it after the matrix: "
        "r * (W_hn h + b_hn), b_hn included.":
            lambda *args: rnn.gru_step(*args, reset_after=False),
        "the reset gate multiplies W_hn h but not b_hn: PyTorch's candidate is "
        "tanh(W_in x + b_in + r * (W_hn h + b_hn)), b_hn inside the product.":
            lambda x, h, Wi, Wh, bi, bh: rnn.gru_step(x, h, Wi, Wh, _bias_out(bi, bh),
                                                      _bias_in(bh)),
        "z and 1 - z are swapped: PyTorch keeps the old state with z, "
        "h_t = (1 - z) * n + z * h.":
            _gru_z_swapped,
        "the gate blocks are read as z, r, n; PyTorch stacks them as r, z, n.":
            lambda x, h, *w: rnn.gru_step(x, h, *_gru_blocks([1, 0, 2], *w)),
        "the result is the candidate n, not the new state: finish with "
        "h_t = (1 - z) * n + z * h.":
            lambda x, h, Wi, Wh, bi, bh: _gru_candidate(x, h, Wi, Wh, bi, bh),
    },
))


def _bias_out(bi, bh):
    """b_ih with b_hn moved into it (so it is outside the reset product)."""
    bi, bh = np.asarray(bi, float).copy(), np.asarray(bh, float)
    bi[2 * len(bi) // 3:] += bh[2 * len(bh) // 3:]
    return bi


def _bias_in(bh):
    bh = np.asarray(bh, float).copy()
    bh[2 * len(bh) // 3:] = 0.0
    return bh


def _gru_candidate(x, h, Wi, Wh, bi, bh):
    x, h, Wi, Wh, bi, bh = map(np.asarray, (x, h, Wi, Wh, bi, bh))
    H = h.shape[-1]
    a_x, a_h = x @ Wi.T + bi, h @ Wh.T + bh
    r = 1 / (1 + np.exp(-(a_x[..., :H] + a_h[..., :H])))
    return np.tanh(a_x[..., 2 * H:] + r * a_h[..., 2 * H:])

