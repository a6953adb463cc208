"""The linear recurrence, the one equation the whole course keeps returning to.

    h_t = a_t * h_{t-1} + b_t,        t = 0, ..., L-1,   h_{-1} = h0

Every sequence model in the book is built on it: the exponential moving
average of chapter 0, the linear RNN of chapter 1, linear attention
(chapter 2), the discretised state space models of chapters 5-6, and, with
``a_t`` chosen from the input, Mamba's selective scan (chapter 7).
Time is the **last** axis throughout, as in the reference Mamba layout.
"""

import numpy as np

from seqlearn._checks import MAX_STEPS, affordable, integer, not_bool, number, numeric_array


def linear_recurrence(a, b, h0=None):
    """Run ``h_t = a_t * h_{t-1} + b_t`` along the last axis (a plain loop).

    a  : (..., L), or broadcastable to b's shape (e.g. a scalar decay)
    b  : (..., L), the input added at each step
    h0 : (...) or scalar, the state before the first step; 0 by default
    returns h : (..., L), the states h_0 ... h_{L-1} (float64 or complex)

    NaN or inf in a, b or h0 pass through to h from that step on; bools (True, or
    arrays of them) are refused: they are not numbers.
    """
    a, b, h = _recurrence_args(a, b, h0)
    out = np.zeros(b.shape, dtype=h.dtype)
    for t in range(b.shape[-1]):
        h = a[..., t] * h + b[..., t]
        out[..., t] = h
    return out


def _recurrence_args(a, b, h0):
    """Validated (a, b, h0) for ``linear_recurrence``, a broadcast to b's shape."""
    b = numeric_array("b", not_bool("b", b, "an array of numbers"), allow_complex=True)
    a = numeric_array("a", not_bool("a", a, "numbers (the decays)"), allow_complex=True)
    if b.ndim == 0:
        raise ValueError("b: expected an array with time as its last axis, "
                         "shape (..., L), got a scalar")
    affordable("b", b.shape[-1], MAX_STEPS, "steps")
    try:
        a = np.broadcast_to(a, b.shape)
    except ValueError:
        raise ValueError(f"a: expected a shape broadcastable to b's {b.shape}, "
                         f"got {a.shape}") from None
    h = np.zeros(b.shape[:-1], dtype=np.result_type(a, b))
    if h0 is not None:
        h0 = numeric_array("h0", not_bool("h0", h0, "numbers (the initial state)"),
                           allow_complex=True)
        try:
            h = h + np.broadcast_to(h0, h.shape)
        except ValueError:
            raise ValueError(f"h0: expected shape {h.shape} (b's shape without "
                             f"time), got {h0.shape}") from None
    return a, b, h


def ema(x, alpha):
    """Exponential moving average: ``h_t = alpha * h_{t-1} + (1 - alpha) * x_t``, ``h_{-1} = 0``.

    The smallest state space model: one number of state that summarises
    the whole past, each old input weighted by ``(1 - alpha) * alpha**k``
    after ``k`` steps. ``alpha`` near 1 remembers long and smooths much;
    ``alpha = 0`` remembers nothing (``h = x``).

    Parameters
    ----------
    x : array (..., L), time on the last axis (NaN or inf pass through).
    alpha : float in [0, 1), the decay.

    Returns
    -------
    h : array (..., L), float64.
    """
    x = numeric_array("x", x, allow_complex=True)
    if x.ndim == 0:
        raise ValueError("x: expected an array with time as its last axis, "
                         "shape (..., L), got a scalar")
    alpha = number("alpha", alpha, what="a real number in [0, 1)")
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha: expected a number in [0, 1) (a decay: at 1 the "
                         f"input weight 1 - alpha is zero, above 1 the state "
                         f"grows without bound), got {alpha}")
    return linear_recurrence(alpha, (1.0 - alpha) * x)


def ema_kernel(alpha, L):
    """The EMA's convolution kernel: ``K[k] = (1 - alpha) * alpha**k``, ``k = 0 .. L-1``.

    Unrolling ``ema`` gives ``h_t = sum_{k=0}^{t} K[k] x_{t-k}``: the same
    output as the recurrence, computed as a causal convolution, the
    "convolutional view" that chapter 5 derives for every linear SSM.

    Parameters
    ----------
    alpha : float in [0, 1).
    L : int >= 1, the kernel length.

    Returns
    -------
    K : array (L,), float64.
    """
    L = integer("L", L, maximum=MAX_STEPS)
    return ema(np.eye(1, L)[0], alpha)
