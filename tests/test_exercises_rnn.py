"""The GRU exercise of chapter 1: right answers pass, the known slips fail with their hint."""

import io
from contextlib import redirect_stdout

import numpy as np
import pytest

from seqlearn.exercises import check

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
