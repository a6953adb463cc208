"""seqlearn.diagrams of chapter 1: each returns a figure; the GRU cell draws every term of
its candidate, n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from seqlearn import diagrams  # noqa: E402


@pytest.mark.parametrize("name", ["unrolled_rnn", "lstm_cell", "gru_cell"])
def test_chapter_1_diagrams_return_their_figure_and_draw_on_a_given_axes(name):
    fig = getattr(diagrams, name)()
    assert isinstance(fig, matplotlib.figure.Figure)
    plt.close(fig)
    fig, ax = plt.subplots()
    assert getattr(diagrams, name)(ax=ax) is fig
    plt.close(fig)
    with pytest.raises(ValueError, match="ax"):
        getattr(diagrams, name)(ax="axes")


def _position(ax, text):
    hits = [t.get_position() for t in ax.texts if t.get_text() == text]
    assert len(hits) == 1, f"{text!r} drawn {len(hits)} times"
    return np.array(hits[0])


def _arrows(ax):
    return [tuple(np.array(p) for p in a._posA_posB)
            for a in ax.patches if isinstance(a, FancyArrowPatch)]


def _arrow_between(ax, start, end, tol):
    """An arrow that starts within tol of ``start`` and ends within tol of ``end``."""
    return any(np.linalg.norm(a - start) < tol and np.linalg.norm(b - end) < tol
               for a, b in _arrows(ax))


def test_gru_diagram_feeds_the_input_term_into_the_candidate_tanh():
    """Finding 28: a path W_in x_t + b_in -> (+) -> tanh -> n_t, next to the reset path
    r_t * (W_hn h_{t-1} + b_hn) -> (+)."""
    fig = diagrams.gru_cell()
    ax = fig.axes[0]
    w_in = _position(ax, r"$W_{in} x_t + b_{in}$")
    w_hn = _position(ax, r"$W_{hn} h_{t-1} + b_{hn}$")
    tanh = _position(ax, r"$\tanh$")
    plus = [np.array(t.get_position()) for t in ax.texts if t.get_text() == "$+$"]
    times = [np.array(t.get_position()) for t in ax.texts if t.get_text() == r"$\times$"]
    # the + that sums the two parts of the candidate: level with the tanh, left of it
    add = min(plus, key=lambda p: np.linalg.norm(p - tanh))
    # the same y coordinate written twice in the drawing code: exact up to float rounding
    assert abs(add[1] - tanh[1]) < 1e-9 and add[0] < tanh[0]
    # the x that applies r_t below the W_hn box, left of the +
    reset = min(times, key=lambda p: np.linalg.norm(p - w_hn))
    # geometry in data units: boxes are about 0.45 high, nodes have radius 0.22, so an
    # arrow touching a part starts or ends within 0.8 of its centre
    tol = 0.8
    assert _arrow_between(ax, w_in, add, tol)           # the input's part into the sum
    assert _arrow_between(ax, reset, add, tol)          # the reset part into the sum
    assert _arrow_between(ax, add, tanh, tol)           # the sum into the tanh
    assert _arrow_between(ax, w_hn, reset, tol)         # W_hn h_{t-1} + b_hn into the reset
    # the input box reads the line below it (x_t), not the candidate
    assert any(np.linalg.norm(b - w_in) < tol and a[1] < w_in[1] - 0.3 for a, b in _arrows(ax))
    plt.close(fig)
