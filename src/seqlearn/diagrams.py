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
                           facecolor=color, edgecolor=color, alpha=1.0, lw=1.5)
    patch.set_facecolor((*_rgb(color), fill_alpha))
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

# ------------------------------------------------------------- chapter 1 (recurrent networks)

# ------------------------------------------------------------- chapter 2 (attention)

# ------------------------------------------------------------- chapter 3 (signals and bases)
