"""Chapter 1's checked exercises: right answers (written independently of the references)
pass, the known slips fail with their hint, and the Debug stub fails without one."""

import io
from contextlib import redirect_stdout

import numpy as np
import pytest

from seqlearn import rnn
from seqlearn.exercises import EXERCISES, check

sig = lambda a: 1 / (1 + np.exp(-a))


def _gru(x_t, h, W_ih, W_hh, b_ih, b_hh, cho=False, swap=False, order=(0, 1, 2),
         b_hn_inside=True, candidate=False):
    H = h.shape[-1]
    blocks = lambda a: [a[..., k * H:(k + 1) * H] for k in order]
    (xr, xz, xn), (hr, hz, hn) = blocks(x_t @ W_ih.T + b_ih), blocks(h @ W_hh.T + b_hh)
    r, z = sig(xr + hr), sig(xz + hz)
    if cho:
        n = np.tanh(xn + (r * h) @ W_hh[2 * H:].T + b_hh[2 * H:])
    elif not b_hn_inside:
        n = np.tanh(xn + b_hh[2 * H:] + r * (hn - b_hh[2 * H:]))
    else:
        n = np.tanh(xn + r * hn)
    if candidate:
        return n
    return z * n + (1 - z) * h if swap else (1 - z) * n + z * h


def _run(fn):
    out = io.StringIO()
    with redirect_stdout(out):
        ok = check("rnn.gru_step", fn)
    return ok, out.getvalue()


def test_a_right_answer_passes():
    assert _run(_gru)[0]


@pytest.mark.parametrize("kwargs, hint", [
    ({"cho": True}, "Cho et al."),
    ({"swap": True}, "z and 1 - z are swapped"),
    ({"order": (1, 0, 2)}, "read as z, r, n"),
    ({"b_hn_inside": False}, "but not b_hn"),
    ({"candidate": True}, "the candidate n, not the new state"),
])
def test_each_slip_fails_with_its_hint(kwargs, hint):
    ok, text = _run(lambda *args: _gru(*args, **kwargs))
    assert not ok
    assert hint in " ".join(text.split())


# --- the step Jacobian, BPTT by hand, the T x T ridge readout, the bidirectional RNN --------

def _check(name, fn):
    out = io.StringIO()
    with redirect_stdout(out):
        ok = check(name, fn)
    return ok, " ".join(out.getvalue().split())


def _jacobian(x_t, h, W_ih, W_hh, b_ih, b_hh, at_old=False, transpose=False, columns=False,
              no_derivative=False):
    """Entry by entry, as the chain rule writes it; the flags plant the slips."""
    single = np.ndim(h) == 1
    x_t, h = np.atleast_2d(x_t), np.atleast_2d(h)
    h_t = np.tanh(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    d = np.ones_like(h_t) if no_derivative else 1 - (h if at_old else h_t) ** 2
    W = W_hh.T if transpose else W_hh
    H = W.shape[0]
    J = np.empty((len(h), H, H))
    for b in range(len(h)):
        for i in range(H):
            for j in range(H):
                J[b, i, j] = (d[b, j] if columns else d[b, i]) * W[i, j]
    return J[0] if single else J


def test_the_step_jacobian_by_the_chain_rule_passes():
    assert _check("rnn.step_jacobian", _jacobian)[0]


@pytest.mark.parametrize("kwargs, hint", [
    ({"at_old": True}, "taken at the old state"),
    ({"no_derivative": True}, "derivative is missing"),
    ({"transpose": True}, "W_hh is transposed"),
    ({"columns": True}, "columns are scaled"),
])
def test_each_jacobian_slip_fails_with_its_hint(kwargs, hint):
    ok, text = _check("rnn.step_jacobian", lambda *a: _jacobian(*a, **kwargs))
    assert not ok and hint in text, text


def _bptt_by_torch(x, W_ih, W_hh, W_hy, y):
    """The gradients by autograd in float64 (an independent answer)."""
    import torch
    Wi, Wh = (torch.tensor(np.asarray(w, float), requires_grad=True) for w in (W_ih, W_hh))
    Wy, xt, yt = (torch.tensor(np.asarray(a, float)) for a in (W_hy, x, y))
    h, loss = torch.zeros(Wh.shape[0], dtype=torch.float64), 0.0
    for t in range(len(xt)):
        h = torch.tanh(Wi @ xt[t] + Wh @ h)
        loss = loss + 0.5 * ((Wy @ h - yt[t]) ** 2).sum()
    gi, gh = torch.autograd.grad(loss, (Wi, Wh))
    return gi.numpy(), gh.numpy()


def test_bptt_by_autograd_passes():
    assert _check("rnn.bptt", _bptt_by_torch)[0]


def _bptt(x, W_ih, W_hh, W_hy, y, slip=None):
    """BPTT written independently of the reference; ``slip`` plants one mistake."""
    hs = [np.zeros(W_hh.shape[0])]
    for t in range(len(x)):
        hs.append(np.tanh(W_ih @ x[t] + W_hh @ hs[-1]))
    dWi, dWh, eps = np.zeros(W_ih.shape), np.zeros(W_hh.shape), np.zeros(W_hh.shape[0])
    for t in range(len(x), 0, -1):
        back = (W_hh if slip == "W_hh" else W_hh.T) @ eps
        own = W_hy.T @ (W_hy @ hs[t] - y[t - 1])
        if slip == "last" and t < len(x):
            own = 0 * own
        eps = (1 if slip == "linear" else 1 - hs[t] ** 2) * (own + back)
        dWh += np.outer(eps, hs[t] if slip == "h_t" else hs[t - 1])
        dWi += np.outer(eps, x[t - 1])
    return dWi, dWh


@pytest.mark.parametrize("slip, hint", [
    ("linear", "tanh's derivative is missing"),   # the chapter's linear formula as it stands
    ("h_t", "reads h_{t-1}"),
    ("W_hh", "instead of its transpose"),
    ("last", "only the last step's loss"),
])
def test_each_bptt_slip_fails_with_its_hint(slip, hint):
    assert _check("rnn.bptt", _bptt)[0]
    ok, text = _check("rnn.bptt", lambda *a: _bptt(*a, slip=slip))
    assert not ok and hint in text, text


def test_the_primal_ridge_formula_passes_the_dual_exercise():
    """The checker compares values: the N x N form of eq-ridge gives the same W_out."""
    def primal(X, Y, beta):
        return np.linalg.solve(X @ X.T + beta * np.eye(len(X)), X @ Y.T).T
    assert _check("rnn.ridge_readout", primal)[0]


def _bidirectional_torch(x, fw, bw):
    import torch
    x = np.asarray(x, float)
    m = torch.nn.RNN(x.shape[-1], fw[1].shape[0], batch_first=True, bidirectional=True).double()
    with torch.no_grad():
        for suffix, weights in (("", fw), ("_reverse", bw)):
            for name, w in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               weights):
                getattr(m, name + suffix).copy_(torch.tensor(np.asarray(w, float)))
        return m(torch.tensor(x))[0].numpy()


def test_torchs_bidirectional_rnn_passes():
    assert _check("rnn.bidirectional", _bidirectional_torch)[0]


def test_backward_states_not_flipped_back_are_named():
    def unflipped(x, fw, bw):
        both = _bidirectional_torch(x, fw, bw)
        H = np.asarray(fw[1]).shape[0]
        return np.concatenate([both[..., :H], both[:, ::-1, H:]], axis=-1)
    ok, text = _check("rnn.bidirectional", unflipped)
    assert not ok and "flip them back" in text, text


def test_the_lstm_debug_stub_fails_without_naming_its_bug():
    """The Debug exercise's stub (forget and input gates swapped) fails, and the checker
    does not give the bug away."""
    def stub(x_t, h, c, W_ih, W_hh, b_ih, b_hh):
        a = x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        a_f, a_i, a_g, a_o = np.split(a, 4, axis=-1)
        c_t = sig(a_f) * c + sig(a_i) * np.tanh(a_g)
        return sig(a_o) * np.tanh(c_t), c_t
    ok, text = _check("rnn.lstm_step", stub)
    assert not ok and "hint" not in text, text


def test_the_rnn_step_is_a_building_block_not_a_refused_call():
    """The references import the step from ``rnn`` (one definition of the formula); a
    student's answer may call it too, while the reference itself stays refused."""
    from seqlearn.exercises._checker import _refused
    for name in ("rnn.step_jacobian", "rnn.bptt", "rnn.bidirectional"):
        refused = _refused(EXERCISES[name])
        assert rnn.rnn_step.__code__ not in refused, name
        assert EXERCISES[name].reference.__code__ in refused, name
