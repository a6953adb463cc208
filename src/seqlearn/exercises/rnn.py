"""Chapter 1's exercises: recurrent networks (the Jacobian of an RNN step, an LSTM step to
repair, a ridge readout through a T x T system, a GRU step, BPTT by hand for the Elman RNN, a
bidirectional RNN)."""

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


def _step_jacobian(x_t, h, W_ih, W_hh, b_ih, b_hh):
    """dh_t/dh_{t-1} = diag(1 - h_t**2) W_hh of h_t = tanh(W_ih x_t + b_ih + W_hh h + b_hh).

    One sequence (x_t (D,), h (H,)) gives (H, H); a batch (x_t (batch, D), h (batch, H))
    gives (batch, H, H). ``rnn.rnn_step`` gives h_t; a student may use it too (the
    exercise lists it as a building block).
    """
    h_t = rnn.rnn_step(x_t, h, W_ih, W_hh, b_ih, b_hh)
    return (1 - h_t ** 2)[..., :, None] * np.asarray(W_hh)


def _jacobian_slip(slip):
    """A wrong Jacobian: tanh' taken at the old state, tanh' left out, W_hh transposed, or
    the columns of W_hh scaled instead of its rows."""
    def wrong(x_t, h, W_ih, W_hh, b_ih, b_hh):
        x_t, h, W_ih, W_hh, b_ih, b_hh = map(np.asarray, (x_t, h, W_ih, W_hh, b_ih, b_hh))
        d = 1 - rnn.rnn_step(x_t, h, W_ih, W_hh, b_ih, b_hh) ** 2
        if slip == "old state":
            return (1 - h ** 2)[..., :, None] * W_hh
        if slip == "no tanh'":
            return np.broadcast_to(W_hh, d.shape[:-1] + W_hh.shape).copy()
        if slip == "transposed":
            return d[..., :, None] * W_hh.T
        return W_hh * d[..., None, :]          # "columns"
    return wrong


def _step_jacobian_cases(rng):
    return [
        (rng.standard_normal(2), rng.standard_normal(3), *_weights(rng, 1, 2, 3)),  # one sequence
        (rng.standard_normal((4, 3)), rng.standard_normal((4, 5)),
         *_weights(rng, 1, 3, 5)),  # a batch
        (rng.standard_normal((2, 4)), rng.standard_normal((2, 4)),
         *(3 * w for w in _weights(rng, 1, 4, 4))),  # large weights: saturated units
    ]


def _step_jacobian_hidden(rng):
    cases = []
    for batch, D, H in (_sizes(rng), _sizes(rng)):
        cases.append((rng.standard_normal((batch, D)), rng.standard_normal((batch, H)),
                      *(2 * w for w in _weights(rng, 1, D, H))))
    return cases


_register(Exercise(
    name="rnn.step_jacobian",
    signature="step_jacobian(x_t, h, W_ih, W_hh, b_ih, b_hh) -> J = dh_t/dh; "
              "x_t (D,), h (H,) -> J (H, H); x_t (batch, D), h (batch, H) -> J (batch, H, H)",
    reference=_step_jacobian,
    building_blocks=(rnn.rnn_step,),   # the step is given; the exercise is what is built on it
    arg_names=("x_t", "h", "W_ih", "W_hh", "b_ih", "b_hh"),
    cases=_step_jacobian_cases,
    hidden=_step_jacobian_hidden,
    mistakes={
        "the derivative of tanh is taken at the old state h: it is tanh'(a_t) = 1 - h_t**2, "
        "at the new state h_t = tanh(a_t).":
            _jacobian_slip("old state"),
        "the tanh's derivative is missing: J = diag(1 - h_t**2) W_hh, not W_hh.":
            _jacobian_slip("no tanh'"),
        "W_hh is transposed: entry (i, j) is dh_t[i]/dh[j] = (1 - h_t[i]**2) W_hh[i, j].":
            _jacobian_slip("transposed"),
        "the columns are scaled instead of the rows: J = diag(1 - h_t**2) W_hh multiplies "
        "row i of W_hh by 1 - h_t[i]**2.":
            _jacobian_slip("columns"),
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
        # No hint for the forget and input gates swapped: that is the bug the Debug exercise
        # (ex-lstm-step) plants in its stub, for the student to find.
        "the result is (c_t, h_t); return (h_t, c_t).":
            lambda *args: rnn.lstm_step(*args)[::-1],
    },
    also_refused=(rnn.lstm_gates,),
))


def _ridge_case(rng, n_features, T, d_out, beta):
    return rng.standard_normal((n_features, T)), rng.standard_normal((d_out, T)), beta


def _ridge_cases(rng):
    # fewer steps than features (the case the exercise is about), then the other way round
    return [_ridge_case(rng, 5, 2, 1, 1.0), _ridge_case(rng, 40, 12, 2, 0.5),
            _ridge_case(rng, 4, 30, 2, 0.5)]


def _ridge_hidden(rng):
    return [_ridge_case(rng, int(rng.integers(20, 200)), int(rng.integers(2, 20)),
                        int(rng.integers(1, 4)), float(rng.uniform(0.1, 3.0))),
            _ridge_case(rng, int(rng.integers(2, 9)), int(rng.integers(12, 60)),
                        int(rng.integers(1, 4)), float(rng.uniform(0.1, 3.0)))]


_register(Exercise(
    name="rnn.ridge_readout",
    signature="ridge_readout(X, Y, beta) -> W_out (D_out, N); X (N, T), Y (D_out, T), "
              "solving a T x T system",
    reference=rnn.ridge_readout,
    arg_names=("X", "Y", "beta"),
    cases=_ridge_cases,
    hidden=_ridge_hidden,
    # The N x N and the T x T forms differ by rounding: the condition number of X X^T + beta I
    # (or X^T X + beta I) is at most (sigma_max(X)**2 + beta) / beta < 1e4 for these cases
    # (N, T <= 200, beta >= 0.1), so both are within 1e4 * 1e-16 relative of the exact W_out.
    rtol=1e-6, atol=1e-9,
    mistakes={
        "beta is missing: the penalty adds beta * I to the matrix before it is inverted.":
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



# ------------------------------------------------ BPTT by hand for the Elman RNN


def _elman_bptt(x, W_ih, W_hh, W_hy, y, slip=None):
    """(dL/dW_ih, dL/dW_hh) of L = 1/2 sum_t ||W_hy h_t - y_t||^2, h_t = tanh(W_ih x_t + W_hh
    h_{t-1}), h_0 = 0, t = 1 .. T; x (T, D), y (T, K). ``slip`` plants a known mistake."""
    x, W_ih, W_hh, W_hy, y = map(np.asarray, (x, W_ih, W_hh, W_hy, y))
    T, H = x.shape[0], W_hh.shape[0]
    hs = [np.zeros(H)]                                   # h_0 .. h_T
    for t in range(T):
        hs.append(rnn.rnn_step(x[t], hs[-1], W_ih, W_hh, np.zeros(H), np.zeros(H)))
    dW_ih, dW_hh = np.zeros_like(W_ih, dtype=float), np.zeros_like(W_hh, dtype=float)
    delta = np.zeros(H)                                  # dL/dh_{t+1} reaching back to h_t
    for t in range(T, 0, -1):
        own = W_hy.T @ (W_hy @ hs[t] - y[t - 1])
        if slip == "last loss only" and t < T:
            own = np.zeros(H)
        back = (W_hh if slip == "W_hh not transposed" else W_hh.T) @ delta
        delta = own + back                               # dL/dh_t
        d_pre = delta if slip == "no tanh'" else (1 - hs[t] ** 2) * delta   # dL/da_t
        dW_hh += np.outer(d_pre, hs[t] if slip == "h_t not h_{t-1}" else hs[t - 1])
        dW_ih += np.outer(d_pre, x[t - 1])
        delta = d_pre                                    # W_hh^T is applied at the next t
    return dW_ih, dW_hh


def _bptt_case(rng, T, D, H, K, scale=1.0):
    W_ih, W_hh, _, _ = _weights(rng, 1, D, H)
    return (rng.standard_normal((T, D)), scale * W_ih, scale * W_hh,
            rng.standard_normal((K, H)) / np.sqrt(H), rng.standard_normal((T, K)))


def _bptt_cases(rng):
    return [_bptt_case(rng, 1, 2, 3, 1), _bptt_case(rng, 4, 2, 3, 2),
            _bptt_case(rng, 12, 3, 5, 2, scale=2.0)]   # larger weights: saturated units


def _bptt_hidden(rng):
    return [_bptt_case(rng, int(rng.integers(2, 15)), int(rng.integers(1, 5)),
                       int(rng.integers(2, 7)), int(rng.integers(1, 4)),
                       float(rng.uniform(0.5, 2.5))) for _ in range(2)]


_register(Exercise(
    name="rnn.bptt",
    signature="bptt(x, W_ih, W_hh, W_hy, y) -> (dL_dW_ih, dL_dW_hh); x (T, D), y (T, K), "
              "L = 1/2 sum_t ||W_hy h_t - y_t||^2, h_t = tanh(W_ih x_t + W_hh h_{t-1}), h_0 = 0",
    reference=_elman_bptt,
    building_blocks=(rnn.rnn_step,),   # the step is given; the exercise is what is built on it
    arg_names=("x", "W_ih", "W_hh", "W_hy", "y"),
    cases=_bptt_cases,
    hidden=_bptt_hidden,
    outputs=("dL_dW_ih", "dL_dW_hh"),
    mistakes={
        "the outer product for W_hh uses h_t; the step a_t = W_ih x_t + W_hh h_{t-1} "
        "reads h_{t-1}, so dL/dW_hh gets (dL/da_t) h_{t-1}^T.":
            lambda *a: _elman_bptt(*a, slip="h_t not h_{t-1}"),
        "the tanh's derivative is missing: dL/da_t = (1 - h_t**2) * dL/dh_t before the outer "
        "products and before going back to h_{t-1}.":
            lambda *a: _elman_bptt(*a, slip="no tanh'"),
        "the gradient goes back through W_hh instead of its transpose: "
        "dL/dh_{t-1} gets W_hh^T (dL/da_t).":
            lambda *a: _elman_bptt(*a, slip="W_hh not transposed"),
        "only the last step's loss is counted: every L_t sends W_hy^T (W_hy h_t - y_t) to "
        "its own state h_t.":
            lambda *a: _elman_bptt(*a, slip="last loss only"),
    },
))


# ------------------------------------------------------ a bidirectional RNN


def _birnn(x, forward_weights, backward_weights, slip=None):
    """A bidirectional Elman layer as torch.nn.RNN(bidirectional=True, batch_first=True).

    x (batch, L, D); each weights a tuple (W_ih, W_hh, b_ih, b_hh); returns (batch, L, 2H):
    [..., :H] the forward states h_t (from x_1 .. x_t), [..., H:] the backward states
    (from x_L .. x_t), both at position t. ``slip`` plants a known mistake.
    """
    x = np.asarray(x)

    def run(x, W_ih, W_hh, b_ih, b_hh):
        h, out = np.zeros(x.shape[:-2] + (np.shape(W_hh)[0],)), []
        for t in range(x.shape[-2]):
            h = rnn.rnn_step(x[..., t, :], h, W_ih, W_hh, b_ih, b_hh)
            out.append(h)
        return np.stack(out, axis=-2)

    forward = run(x, *forward_weights)
    weights = forward_weights if slip == "same weights" else backward_weights
    backward = run(x[..., ::-1, :], *weights)
    if slip != "not flipped back":
        backward = backward[..., ::-1, :]
    parts = (backward, forward) if slip == "backward first" else (forward, backward)
    return np.concatenate(parts, axis=-1)


def _birnn_case(rng, batch, L, D, H):
    return (rng.standard_normal((batch, L, D)), _weights(rng, 1, D, H), _weights(rng, 1, D, H))


def _birnn_cases(rng):
    return [_birnn_case(rng, 1, 1, 2, 3), _birnn_case(rng, 2, 5, 3, 4),
            _birnn_case(rng, 3, 8, 1, 2)]


def _birnn_hidden(rng):
    return [_birnn_case(rng, int(rng.integers(1, 4)), int(rng.integers(2, 10)),
                        int(rng.integers(1, 5)), int(rng.integers(1, 6))) for _ in range(2)]


_register(Exercise(
    name="rnn.bidirectional",
    signature="bidirectional(x, forward_weights, backward_weights) -> (batch, L, 2H); "
              "x (batch, L, D), weights (W_ih, W_hh, b_ih, b_hh) each",
    reference=_birnn,
    building_blocks=(rnn.rnn_step,),   # the step is given; the exercise is what is built on it
    arg_names=("x", "forward_weights", "backward_weights"),
    cases=_birnn_cases,
    hidden=_birnn_hidden,
    mistakes={
        "the backward states are in the order they were computed (position L first): flip "
        "them back, so that [..., t, H:] is the state after reading x_L .. x_t.":
            lambda *a: _birnn(*a, slip="not flipped back"),
        "the backward direction runs with the forward weights: it has its own.":
            lambda *a: _birnn(*a, slip="same weights"),
        "the halves are swapped: the forward states come first, [..., :H].":
            lambda *a: _birnn(*a, slip="backward first"),
    },
))
