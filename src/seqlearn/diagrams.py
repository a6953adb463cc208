"""Diagrams drawn with matplotlib: the pictures of the book that are not plots of data.

Each public function draws one diagram (an unrolled RNN, an LSTM cell, a Transformer
block, ...) on a fresh figure, or on ``ax`` when one is given, and returns the figure.
Book chapters and lecture decks call the same function, so a diagram is drawn once.
Nothing is read from disk or downloaded: boxes, circles, arrows and text only, in the
course's colours.

The private helpers below are the whole vocabulary: ``_canvas`` (an axis-free, equal-
aspect drawing area in data units), ``_box`` (a rounded rectangle with a label),
``_node`` (a circle with a label) and ``_arrow`` (a straight or bent arrow). A diagram
function lays its parts out on a grid of data units and returns ``ax.figure``.
"""

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

# The course's colours (matplotlib's tab10), by role.
STATE = "#1f77b4"    # hidden states, memory
INPUT = "#2ca02c"    # inputs x_t
OUTPUT = "#d62728"   # outputs y_t, losses
GATE = "#ff7f0e"     # gates and nonlinearities
OP = "#7f7f7f"       # pointwise operations, plain boxes
TEXT = "#222222"


def _axes(ax, size):
    """``ax`` itself, or the axes of a new figure of ``size`` (inches) when ``ax`` is None."""
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        return ax
    if not isinstance(ax, Axes):
        raise ValueError(f"ax: expected a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def _canvas(ax, size, xlim, ylim, title=None):
    """An axis-free drawing area with equal aspect over ``xlim`` x ``ylim`` (data units)."""
    ax = _axes(ax, size)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return ax


def _box(ax, xy, text, width=1.0, height=0.6, color=OP, fontsize=10, fill_alpha=0.15,
         text_color=TEXT):
    """A rounded box centred at ``xy`` with ``text`` in it; returns the patch."""
    x, y = xy
    patch = FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                           boxstyle="round,pad=0.02,rounding_size=0.08",
                           facecolor=(*_rgb(color), fill_alpha), edgecolor=color, lw=1.5)
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=text_color)
    return patch


def _node(ax, xy, text, radius=0.25, color=OP, fontsize=10, fill_alpha=0.15):
    """A circle centred at ``xy`` with ``text`` in it; returns the patch."""
    patch = Circle(xy, radius, facecolor=(*_rgb(color), fill_alpha), edgecolor=color, lw=1.5)
    ax.add_patch(patch)
    ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, color=TEXT)
    return patch


def _arrow(ax, start, end, color=TEXT, text=None, text_offset=(0.0, 0.12), bend=0.0,
           lw=1.3, fontsize=9, style="-|>"):
    """An arrow from ``start`` to ``end`` (data units), bent by ``bend`` (0: straight)."""
    arrow = FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color,
                            lw=lw, connectionstyle=f"arc3,rad={bend}", shrinkA=0, shrinkB=0)
    ax.add_patch(arrow)
    if text:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx + text_offset[0], my + text_offset[1], text, ha="center", va="bottom",
                fontsize=fontsize, color=color)
    return arrow


def _rgb(color):
    from matplotlib.colors import to_rgb
    return to_rgb(color)


# ------------------------------------------------------------- chapter 0 (how to use)

# (year, lane, label) of the milestones chapter 0's timeline shows; lanes: 0 recurrent,
# 1 attention, 2 state spaces. Years are those of the publications in references.bib.
MILESTONES = (
    (1990, 0, "Elman RNN"), (1994, 0, "vanishing\ngradients"), (1997, 0, "LSTM"),
    (2000, 0, "forget gate"), (2001, 0, "echo state\nnetworks"), (2014, 0, "GRU"),
    (2015, 1, "additive\nattention"), (2017, 1, "Transformer"), (2020, 1, "linear\nattention"),
    (2020, 2, "HiPPO"), (2021, 2, "LSSL"), (2022, 2, "S4, S4D"), (2023, 2, "S5, H3"),
    (2023.6, 2, "Mamba"), (2024.5, 2, "Mamba-2"),
)
_LANES = ("recurrent networks", "attention", "state space models")
_LANE_COLORS = (STATE, GATE, OUTPUT)


def _year_x(year):
    """Position of ``year`` on the timeline: 1988-2012 compressed, 2013 on stretched."""
    return (year - 1988) * 0.45 if year < 2013 else 11.25 + (year - 2013) * 1.35


def timeline(ax=None):
    """Chapter 0's timeline: the milestones of ``MILESTONES`` in three lanes (recurrent
    networks, attention, state space models), on a time axis that is stretched after
    2013 where the milestones crowd. Returns the figure."""
    ax = _canvas(ax, (11, 3.4), (-5.2, _year_x(2025.4)), (-0.9, 3.2))
    ax.set_aspect("auto")
    for lane, (name, color) in enumerate(zip(_LANES, _LANE_COLORS)):
        y = 2.6 - 1.05 * lane
        ax.plot([0, _year_x(2025)], [y, y], color=color, lw=1, alpha=0.4)
        ax.text(-0.4, y, name, color=color, fontsize=9, ha="right", va="center",
                fontweight="bold")
        events = [(yr, label) for yr, ln, label in MILESTONES if ln == lane]
        for k, (yr, label) in enumerate(events):
            x = _year_x(yr)
            ax.plot([x], [y], "o", color=color, ms=6)
            up = k % 2 == 0 if lane != 2 else k % 2 == 1
            ax.text(x, y + (0.12 if up else -0.12), label, ha="center",
                    va="bottom" if up else "top", fontsize=8, color=TEXT)
    for year in (1990, 1995, 2000, 2005, 2010, 2014, 2016, 2018, 2020, 2022, 2024):
        x = _year_x(year)
        ax.plot([x, x], [-0.45, -0.35], color=OP, lw=1)
        ax.text(x, -0.5, str(year), ha="center", va="top", fontsize=8, color=OP)
    ax.plot([0, _year_x(2025)], [-0.4, -0.4], color=OP, lw=1)
    ax.text(_year_x(2012.5), -0.4, "//", ha="center", va="center", fontsize=9, color=OP,
            backgroundcolor="white")
    return ax.figure


def recurrence_and_convolution(ax=None):
    """The two views of ``h_t = alpha h_{t-1} + (1 - alpha) x_t`` over four steps: above,
    the recurrence (one state passed along, each input added as it arrives); below, the
    convolution (h_3 as a weighted sum of every input, weights K_k = (1 - alpha) alpha^k).
    Returns the figure."""
    ax = _canvas(ax, (9, 4.4), (-0.8, 8.6), (-0.6, 5.6))
    a = r"\alpha"
    xs = [1, 3, 5, 7]
    ax.text(-0.7, 5.3, "recurrent view: one step at a time, O(1) memory", fontsize=10,
            color=STATE, fontweight="bold")
    for t, x in enumerate(xs):
        _box(ax, (x, 4.3), f"$h_{t}$", width=0.9, height=0.6, color=STATE)
        _node(ax, (x, 3.0), f"$x_{t}$", radius=0.3, color=INPUT)
        _arrow(ax, (x, 3.3), (x, 3.98), color=INPUT)
        ax.text(x + 0.12, 3.55, f"$(1-{a})$", fontsize=8, color=INPUT, ha="left")
        if t:
            _arrow(ax, (xs[t - 1] + 0.47, 4.3), (x - 0.47, 4.3), color=STATE)
            ax.text((xs[t - 1] + x) / 2, 4.4, f"$\\times {a}$", fontsize=9, color=STATE,
                    ha="center", va="bottom")
    ax.text(-0.7, 2.05, "convolutional view: every output at once, in parallel",
            fontsize=10, color=GATE, fontweight="bold")
    for t, x in enumerate(xs):
        _node(ax, (x, 0.0), f"$x_{t}$", radius=0.3, color=INPUT)
    _box(ax, (7, 1.35), "$h_3$", width=0.9, height=0.6, color=STATE)
    for t, x in enumerate(xs):
        k = 3 - t
        end = (7 - 0.12 * k, 1.05)
        _arrow(ax, (x + (0.2 if k else 0), 0.3 if k else 0.3), end, color=GATE, lw=1.0)
        lx, ly = x + (end[0] - x) * 0.22, 0.3 + (1.05 - 0.3) * 0.22
        ax.text(lx - (0.05 if k else -0.12), ly + 0.08, f"$K_{k}$", fontsize=9, color=GATE,
                ha="right" if k else "left", va="bottom")
    ax.text(-0.7, 1.55, "$h_3 = K_0 x_3 + K_1 x_2 + K_2 x_1 + K_3 x_0$, "
            "$K_k=(1-" + a + ")\\," + a + "^k$", fontsize=10, ha="left", va="center",
            color=GATE)
    return ax.figure


# ------------------------------------------------------------- chapter 1 (recurrent networks)


def unrolled_rnn(ax=None):
    """The RNN folded (one cell with a loop) and unrolled over time (chapter 1).

    x_t -> h_t -> y_t -> L_t for t = 1 .. T, h_0 = 0, the same W_ih, W_hh, W_hy at every
    step, and the loss L = sum_t L_t. Returns the figure.
    """
    ax = _canvas(ax, (10, 3.9), (-0.2, 12.4), (-0.1, 4.7))
    # folded
    _box(ax, (1.0, 2.0), "$h_t$", 0.9, 0.6, STATE)
    _box(ax, (1.0, 0.55), "$x_t$", 0.9, 0.5, INPUT)
    _box(ax, (1.0, 3.35), "$y_t$", 0.9, 0.5, OUTPUT)
    _arrow(ax, (1.0, 0.8), (1.0, 1.7), text="$W_{ih}$", text_offset=(0.35, -0.1))
    _arrow(ax, (1.0, 2.3), (1.0, 3.1), text="$W_{hy}$", text_offset=(0.35, -0.1))
    _arrow(ax, (1.45, 1.85), (1.45, 2.15), bend=2.6, color=STATE)
    ax.text(2.0, 2.0, "$W_{hh}$", ha="left", va="center", fontsize=9, color=STATE)
    ax.text(3.05, 2.0, "=", ha="center", va="center", fontsize=16, color=TEXT)
    # unrolled
    _node(ax, (4.0, 2.0), "$h_0{=}0$", radius=0.42, color=STATE, fontsize=8)
    cols = [(5.6, "1"), (7.4, "2"), (9.2, "3"), (11.4, "T")]
    prev = (4.42, 2.0)
    for i, (cx, t) in enumerate(cols):
        _box(ax, (cx, 2.0), f"$h_{t}$", 0.9, 0.6, STATE)
        _box(ax, (cx, 0.55), f"$x_{t}$", 0.9, 0.5, INPUT)
        _box(ax, (cx, 3.35), f"$y_{t}$", 0.9, 0.5, OUTPUT)
        ax.text(cx, 4.3, f"$L_{t}$", ha="center", va="center", fontsize=10, color=OUTPUT)
        _arrow(ax, (cx, 0.8), (cx, 1.7))
        _arrow(ax, (cx, 2.3), (cx, 3.1))
        _arrow(ax, (cx, 3.6), (cx, 4.1), color=OUTPUT)
        if t == "T":
            ax.text(10.3, 2.0, r"$\cdots$", ha="center", va="center", fontsize=14)
            _arrow(ax, (10.6, 2.0), (cx - 0.45, 2.0), color=STATE)
        else:
            _arrow(ax, prev, (cx - 0.45, 2.0), color=STATE,
                   text="$W_{hh}$" if i == 0 else None, text_offset=(0.0, 0.05))
        prev = (cx + 0.45, 2.0)
    _arrow(ax, (9.65, 2.0), (10.05, 2.0), color=STATE)
    ax.text(4.0, 4.3, r"$\mathcal{L} = \sum_{t=1}^{T} L_t$", ha="center", va="center",
            fontsize=11, color=OUTPUT)
    ax.text(8.5, -0.05, "the same $W_{ih}$, $W_{hh}$, $W_{hy}$ at every step",
            ha="center", va="center", fontsize=9, color=TEXT)
    return ax.figure


def lstm_cell(ax=None):
    """The LSTM cell: the cell state c as a conveyor belt, the gates f, i, o and the
    candidate g (chapter 1). Returns the figure."""
    ax = _canvas(ax, (8.5, 4.6), (-0.6, 10.6), (-0.9, 5.3))
    ax.add_patch(FancyBboxPatch((0.6, 0.2), 8.3, 4.4, boxstyle="round,pad=0.05,rounding_size=0.3",
                                facecolor="none", edgecolor=OP, lw=1.0, ls="--"))
    belt = 4.0
    # the conveyor belt c_{t-1} -> c_t
    ax.text(-0.1, belt, "$c_{t-1}$", ha="center", va="center", fontsize=11, color=STATE)
    _arrow(ax, (0.3, belt), (2.25, belt), color=STATE, lw=2.2)
    _node(ax, (2.5, belt), r"$\times$", 0.25, GATE)
    _arrow(ax, (2.75, belt), (4.75, belt), color=STATE, lw=2.2)
    _node(ax, (5.0, belt), "$+$", 0.25, GATE)
    _arrow(ax, (5.25, belt), (9.7, belt), color=STATE, lw=2.2)
    ax.text(10.1, belt, "$c_t$", ha="center", va="center", fontsize=11, color=STATE)
    ax.text(3.75, belt + 0.4, "cell state: the conveyor belt", ha="center", va="center",
            fontsize=9, color=STATE)
    # input line [h_{t-1}, x_t]
    base = 0.6
    ax.text(-0.1, base, "$h_{t-1}$", ha="center", va="center", fontsize=11, color=STATE)
    ax.text(1.2, -0.55, "$x_t$", ha="center", va="center", fontsize=11, color=INPUT)
    _arrow(ax, (1.2, -0.35), (1.2, base - 0.03), color=INPUT)
    ax.plot([0.3, 6.6], [base, base], color=TEXT, lw=1.3)
    gates = [(2.5, "f", r"$\sigma$", "forget"), (3.75, "i", r"$\sigma$", "input"),
             (5.0, "g", r"$\tanh$", "candidate"), (6.6, "o", r"$\sigma$", "output")]
    for gx, name, fn, label in gates:
        _box(ax, (gx, 1.7), fn, 0.85, 0.55, GATE, fontsize=10)
        _arrow(ax, (gx, base), (gx, 1.42))
        ax.text(gx + 0.5, 1.15, f"${name}_t$", ha="left", va="center", fontsize=10, color=GATE)
    ax.text(4.4, 0.38, "every gate reads $[h_{t-1}; x_t]$", ha="center", va="center",
            fontsize=8, color=TEXT)
    _arrow(ax, (2.5, 1.98), (2.5, belt - 0.25), color=GATE)               # f -> x on belt
    _node(ax, (4.4, 2.95), r"$\times$", 0.22, GATE)                       # i * g
    _arrow(ax, (3.75, 1.98), (4.22, 2.82), color=GATE)
    _arrow(ax, (5.0, 1.98), (4.58, 2.82), color=GATE)
    _arrow(ax, (4.55, 3.15), (4.85, belt - 0.2), color=GATE)
    # output: h_t = o * tanh(c_t)
    _box(ax, (7.8, 3.05), r"$\tanh$", 0.8, 0.45, OP, fontsize=9)
    _arrow(ax, (7.8, belt), (7.8, 3.28), color=STATE)
    _node(ax, (7.8, 1.7), r"$\times$", 0.22, GATE)
    _arrow(ax, (7.8, 2.82), (7.8, 1.92))
    _arrow(ax, (7.03, 1.7), (7.58, 1.7), color=GATE)
    _arrow(ax, (8.02, 1.7), (9.7, 1.7), color=STATE)
    ax.text(10.1, 1.7, "$h_t$", ha="center", va="center", fontsize=11, color=STATE)
    ax.text(1.8, -0.55, r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t, \quad "
            r"h_t = o_t \odot \tanh(c_t)$", ha="left", va="center", fontsize=10)
    return ax.figure


def gru_cell(ax=None):
    """The GRU cell: the update gate z mixes h_{t-1} with the candidate n, the reset gate r
    acts inside n, placed where PyTorch places it, and the input's part W_in x_t + b_in
    enters n's tanh (chapter 1). Returns the figure."""
    ax = _canvas(ax, (8.5, 4.8), (-0.6, 10.6), (-1.05, 5.1))
    ax.add_patch(FancyBboxPatch((0.6, 0.2), 8.3, 4.4, boxstyle="round,pad=0.05,rounding_size=0.3",
                                facecolor="none", edgecolor=OP, lw=1.0, ls="--"))
    top = 4.0
    ax.text(-0.1, top, "$h_{t-1}$", ha="center", va="center", fontsize=11, color=STATE)
    _arrow(ax, (0.3, top), (6.35, top), color=STATE, lw=2.2)
    _node(ax, (6.6, top), r"$\times$", 0.25, GATE)
    _arrow(ax, (6.85, top), (7.75, top), color=STATE, lw=2.2)
    _node(ax, (8.0, top), "$+$", 0.25, GATE)
    _arrow(ax, (8.25, top), (9.7, top), color=STATE, lw=2.2)
    ax.text(10.1, top, "$h_t$", ha="center", va="center", fontsize=11, color=STATE)
    base = 0.6
    ax.text(-0.1, base, "$h_{t-1}$", ha="center", va="center", fontsize=11, color=STATE)
    ax.text(1.2, -0.3, "$x_t$", ha="center", va="center", fontsize=11, color=INPUT)
    _arrow(ax, (1.2, -0.12), (1.2, base - 0.03), color=INPUT)
    ax.plot([0.3, 6.6], [base, base], color=TEXT, lw=1.3)
    _box(ax, (2.3, 1.4), r"$\sigma$", 0.85, 0.5, GATE)
    ax.text(2.8, 1.0, "$r_t$", ha="left", va="center", fontsize=10, color=GATE)
    _box(ax, (6.6, 1.4), r"$\sigma$", 0.85, 0.5, GATE)
    ax.text(6.15, 1.0, "$z_t$", ha="right", va="center", fontsize=10, color=GATE)
    for gx in (2.3, 6.6):
        _arrow(ax, (gx, base), (gx, 1.15))
    _arrow(ax, (6.6, 1.65), (6.6, top - 0.25), color=GATE)                # z keeps h_{t-1}
    _node(ax, (8.0, 1.4), "$1-$", 0.25, GATE, fontsize=8)
    _arrow(ax, (7.03, 1.4), (7.75, 1.4), color=GATE)
    _node(ax, (8.0, 2.5), r"$\times$", 0.22, GATE)
    _arrow(ax, (8.0, 1.65), (8.0, 2.28), color=GATE)
    _arrow(ax, (8.0, 2.72), (8.0, top - 0.25), color=GATE)
    # the candidate n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn)): r applied after
    # W_hn (PyTorch), the input's part added before the tanh
    _box(ax, (3.9, 3.2), r"$W_{hn} h_{t-1} + b_{hn}$", 1.9, 0.5, OP, fontsize=8)
    _arrow(ax, (3.3, base), (3.3, 2.95))
    _node(ax, (3.9, 2.5), r"$\times$", 0.22, GATE)
    _arrow(ax, (2.3, 1.65), (3.7, 2.4), color=GATE)
    _arrow(ax, (3.9, 2.95), (3.9, 2.72))
    _box(ax, (4.75, 1.45), r"$W_{in} x_t + b_{in}$", 1.45, 0.45, INPUT, fontsize=8)
    _arrow(ax, (4.75, base), (4.75, 1.22), color=INPUT)
    _node(ax, (4.75, 2.5), "$+$", 0.22, GATE)
    _arrow(ax, (4.12, 2.5), (4.53, 2.5))
    _arrow(ax, (4.75, 1.68), (4.75, 2.28), color=INPUT)
    _box(ax, (5.7, 2.5), r"$\tanh$", 0.7, 0.45, GATE, fontsize=9)
    _arrow(ax, (4.97, 2.5), (5.35, 2.5))
    ax.text(5.7, 2.95, "$n_t$", ha="center", va="center", fontsize=10, color=GATE)
    _arrow(ax, (6.05, 2.5), (7.78, 2.5), color=GATE)
    ax.text(4.0, 0.38, "the line carries $h_{t-1}$ and $x_t$", ha="center", va="center",
            fontsize=8, color=TEXT)
    ax.text(1.8, -0.55, r"$h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$", ha="left",
            va="center", fontsize=10)
    ax.text(1.8, -0.92, r"PyTorch: $n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} "
            r"h_{t-1} + b_{hn}))$;  Cho et al.: $W_{hn}(r_t \odot h_{t-1})$", ha="left",
            va="center", fontsize=8)
    return ax.figure


# ------------------------------------------------------------- chapter 2 (attention)


def transformer_block(ax=None):
    """Chapter 2's pre-norm causal Transformer block (``seqlearn.attention.TransformerBlock``),
    drawn bottom to top: x -> LayerNorm -> causal self-attention -> + (residual) ->
    LayerNorm -> MLP -> + (residual) -> out; the residual paths go around each sublayer.
    Returns the figure."""
    ax = _canvas(ax, (5.0, 6.4), (-3.0, 2.6), (-0.4, 7.4))
    x0 = 0.0
    _box(ax, (x0, 0.0), "$x$  (batch, L, $d$)", 2.2, 0.5, INPUT)
    _box(ax, (x0, 1.2), "LayerNorm", 2.0, 0.5, OP)
    _box(ax, (x0, 2.3), "causal self-attention\n(mixes positions $j \\leq i$)", 2.6, 0.8,
         STATE, fontsize=9)
    _node(ax, (x0, 3.3), "+", 0.2, TEXT)
    _box(ax, (x0, 4.2), "LayerNorm", 2.0, 0.5, OP)
    _box(ax, (x0, 5.3), "MLP  $W_2\\,\\mathrm{gelu}(W_1 u)$\n(each position alone)", 2.6,
         0.8, GATE, fontsize=9)
    _node(ax, (x0, 6.3), "+", 0.2, TEXT)
    _box(ax, (x0, 7.1), "out  (batch, L, $d$)", 2.2, 0.45, OUTPUT)
    for a, b in [(0.25, 0.95), (1.45, 1.9), (2.7, 3.1), (3.5, 3.95), (4.45, 4.9),
                 (5.7, 6.1), (6.5, 6.87)]:
        _arrow(ax, (x0, a), (x0, b))
    # residual paths: from below each LayerNorm, around the sublayer, into the +
    for y_from, y_to in [(0.6, 3.3), (3.7, 6.3)]:
        ax.plot([x0, 1.75, 1.75], [y_from, y_from, y_to], color=STATE, lw=1.3)
        _arrow(ax, (1.75, y_to), (x0 + 0.2, y_to), color=STATE)
        ax.text(1.85, (y_from + y_to) / 2, "residual", rotation=90, ha="left",
                va="center", fontsize=8, color=STATE)
    ax.text(-1.45, 2.3, "sublayer 1", fontsize=8, color=OP, va="center", ha="right")
    ax.text(-1.45, 5.3, "sublayer 2", fontsize=8, color=OP, va="center", ha="right")
    return ax.figure


def attention_lookup(ax=None):
    """Attention as a soft database lookup: a query q is compared with every key k_j
    (scores q . k_j / sqrt(d)), the softmax turns the scores into weights a_j that sum
    to 1, and the answer is the weighted sum of the values, y = sum_j a_j v_j. Drawn for
    four keys with one large weight. Returns the figure."""
    ax = _canvas(ax, (8.4, 3.8), (-0.6, 10.6), (-0.6, 4.4))
    weights = [0.05, 0.80, 0.10, 0.05]
    _box(ax, (0.6, 2.0), "query $q$", 1.3, 0.6, OUTPUT)
    ax.text(0.6, 1.35, "what position $i$\nlooks for", ha="center", va="top", fontsize=8)
    for j, w in enumerate(weights):
        y = 3.6 - 1.05 * j
        _box(ax, (3.6, y), f"key $k_{j + 1}$", 1.3, 0.55, STATE)
        _box(ax, (7.2, y), f"value $v_{j + 1}$", 1.4, 0.55, INPUT)
        _arrow(ax, (1.3, 2.0), (2.9, y), color=OP, lw=0.8)
        ax.text(5.4, y + 0.08, f"$a_{j + 1}$ = {w:.2f}", ha="center", va="bottom",
                fontsize=9, color=TEXT)
        _arrow(ax, (4.3, y), (6.45, y), color=GATE, lw=0.6 + 4 * w)
        _arrow(ax, (7.95, y), (9.15, 1.95), color=GATE, lw=0.6 + 4 * w)
    _box(ax, (9.7, 1.95), "$y$", 0.8, 0.6, OUTPUT)
    ax.text(5.4, -0.45, r"$a_j = \mathrm{softmax}_j(q \cdot k_j / \sqrt{d})$,   "
            r"$y = \sum_j a_j v_j$", ha="center", va="center", fontsize=10)
    ax.text(1.9, 4.15, "compare", fontsize=8, color=OP, ha="center")
    ax.text(8.6, 4.15, "blend", fontsize=8, color=GATE, ha="center")
    return ax.figure


# ------------------------------------------------------------- chapter 3 (signals and bases)


def projection_pipeline(ax=None):
    """Chapter 3's picture of memory as projection: the history f(s), s <= t, is
    projected on functions g_n(s; t) weighted by the measure mu^(t); the N coefficients
    c(t) are the state; the sum of c_n g_n rebuilds the past. Below, the online loop of
    chapter 4: a new sample updates c through the HiPPO ODE, without the old samples.

    ax : a matplotlib Axes to draw on, or None for a new figure
    returns the Figure
    """
    ax = _canvas(ax, (10.5, 3.9), (-0.2, 12.2), (-0.75, 3.05),
                 title="Memory as projection: the coefficients are the state")
    _box(ax, (1.45, 2.2), "history\n$f(s),\\ s \\leq t$\n(grows with $t$)", width=2.5,
         height=1.25, color=INPUT)
    _box(ax, (6.0, 2.2), "coefficients\n$c(t) = (c_0, \\dots, c_{N-1})$\nthe state: "
         "$N$ numbers", width=3.1, height=1.25, color=STATE)
    _box(ax, (10.55, 2.2), "reconstruction\nof the whole past\n"
         "$f_N(s) = \\sum_{n<N} c_n(t)\\, g_n(s;t)$", width=3.0, height=1.25, color=OUTPUT)
    _arrow(ax, (2.75, 2.2), (4.4, 2.2))
    ax.text(3.575, 2.3, "project", ha="center", va="bottom", fontsize=9, color=TEXT)
    ax.text(3.575, 2.08, "$c_n = \\int f\\, g_n\\, d\\mu^{(t)}$", ha="center",
            va="top", fontsize=9, color=TEXT)
    _arrow(ax, (7.6, 2.2), (9.0, 2.2))
    ax.text(8.3, 2.3, "sum", ha="center", va="bottom", fontsize=9, color=TEXT)
    _box(ax, (1.45, -0.15), "new sample\n$f(t + \\Delta t)$", width=2.5, height=0.9,
         color=INPUT)
    _box(ax, (6.0, -0.15), "update $c$ online (chapter 4)\n"
         "$\\dot c = A(t)\\, c + B(t)\\, f$", width=3.7, height=0.9, color=GATE)
    _arrow(ax, (2.75, -0.15), (4.1, -0.15))
    _arrow(ax, (6.9, 0.33), (6.9, 1.55), text=None)
    _arrow(ax, (5.1, 1.55), (5.1, 0.33), text=None)
    ax.text(4.95, 0.95, "$c(t)$", ha="right", va="center", fontsize=9, color=TEXT)
    ax.text(7.05, 0.95, "$c(t + \\Delta t)$", ha="left", va="center", fontsize=9,
            color=TEXT)
    return ax.figure


# ------------------------------------------------------------- chapter 8 (what an LTI system remembers)


# ------------------------------------------------------------- chapter 9 (Mamba-2 and the family)


def semiseparable_blocks(L=12, chunk=4, ax=None):
    """Chapter 9's picture of the 1-semiseparable matrix M = L o C B^T (L x L, causal) cut
    into chunks: the diagonal blocks (small masked matmuls, step 1 of the chunked SSD),
    the blocks below them (low rank: through the chunk states, steps 2-4), zeros above.

    L : int in [2, 64], the sequence length drawn;  chunk : int in [1, L], the block length
    ax : a matplotlib Axes to draw on, or None for a new figure
    returns the Figure
    """
    import numpy as np
    from matplotlib.patches import Rectangle

    from seqlearn._checks import integer

    L = integer("L", L, minimum=2, maximum=64)
    chunk = integer("chunk", chunk, maximum=L)
    ax = _canvas(ax, (5.2, 5.4), (-0.5, L + 0.5), (-1.6, L + 0.5),
                 title="SSD: the semiseparable matrix in chunks")
    for t in range(L):
        for s_ in range(L):
            if s_ > t:
                continue
            same = t // chunk == s_ // chunk
            ax.add_patch(Rectangle((s_, L - 1 - t), 1, 1, facecolor=STATE if same else GATE,
                                   alpha=0.55 if same else 0.3, edgecolor="white"))
    for k in np.arange(0, L + 1, chunk):
        ax.plot([k, k], [0, L], color=TEXT, lw=0.8)
        ax.plot([0, L], [L - k, L - k], color=TEXT, lw=0.8)
    ax.text(L / 2, -0.6, "diagonal blocks: $(L \\circ C B^T)$ within a chunk (matmuls)",
            ha="center", fontsize=9, color=STATE)
    ax.text(L / 2, -1.3, "below: low rank, through the chunk states $h$ (state passing)",
            ha="center", fontsize=9, color=GATE)
    return ax.figure
