"""Chapter 0's exercises: the exponential moving average, the smallest state space model,
and its time-varying (gated) form, the preview of selection."""

import numpy as np

from seqlearn import recurrence
from seqlearn.exercises._checker import Exercise, _register


def _ema_cases(rng):
    return [
        (np.array([1.0, 0.0, 0.0, 0.0, 0.0]), 0.5),  # impulse: (1-a) a^k
        (np.ones(6), 0.9),  # step: 1 - a^(t+1)
        (rng.standard_normal(12), 0.0),  # no memory: h = x
        (rng.standard_normal(40), 0.95),  # long memory
        (rng.standard_normal((3, 16)), 0.7),  # a batch: time is the last axis
        (rng.standard_normal(400), 0.99),  # very long memory: a truncated kernel fails
    ]


def _ema_hidden(rng):
    # The long case keeps a kernel truncated at any fixed length below L from passing:
    # the weight alpha^n it drops is far above the tolerance for alpha >= 0.97.
    return [(rng.standard_normal(int(rng.integers(41, 80))), float(rng.uniform(0.05, 0.95))),
            (rng.standard_normal((int(rng.integers(2, 5)), int(rng.integers(17, 40)))),
             float(rng.uniform(0.05, 0.95))),
            (rng.standard_normal(int(rng.integers(401, 700))), float(rng.uniform(0.97, 0.995)))]


def _ema_starts_at_x0(x, alpha):
    x = np.asarray(x, dtype=float)
    b = (1 - alpha) * x
    b[..., 0] = x[..., 0]  # h_0 = x_0
    return recurrence.linear_recurrence(alpha, b)


def _ema_swapped(x, alpha):
    return recurrence.linear_recurrence(1 - alpha, alpha * np.asarray(x, dtype=float))


def _ema_no_input_weight(x, alpha):
    return recurrence.linear_recurrence(alpha, np.asarray(x, dtype=float))


def _ema_one_step_late(x, alpha):
    h = recurrence.ema(x, alpha)
    return np.concatenate([np.zeros_like(h[..., :1]), h[..., :-1]], axis=-1)


def _ema_first_axis(x, alpha):
    x = np.asarray(x, dtype=float)
    return np.moveaxis(recurrence.ema(np.moveaxis(x, 0, -1), alpha), -1, 0)


_register(Exercise(
    name="intro.ema",
    signature="ema(x, alpha) -> h, x and h of shape (..., L)",
    reference=recurrence.ema,
    arg_names=("x", "alpha"),
    cases=_ema_cases,
    hidden=_ema_hidden,
    mistakes={
        "h_0 came out as x_0: the state before the first step is h_{-1} = 0, "
        "so h_0 = (1 - alpha) * x_0.": _ema_starts_at_x0,
        "alpha and 1 - alpha are swapped: alpha multiplies the old state, "
        "1 - alpha the new input.": _ema_swapped,
        "the input is added without its weight 1 - alpha.": _ema_no_input_weight,
        "the recurrence ran along the first axis; time is the LAST axis "
        "(x[..., t]).": _ema_first_axis,
        "each h_t is one step late: h[t] holds the state before x_t arrived. Update "
        "the state first, then store it (h_t includes x_t).": _ema_one_step_late,
    },
    also_refused=(recurrence.linear_recurrence,),
))


def _kernel_cases(rng):
    return [(0.5, 5), (0.9, 8), (0.0, 3), (0.99, 60), (float(rng.uniform(0.1, 0.9)), 1)]


def _kernel_hidden(rng):
    return [(float(rng.uniform(0.05, 0.95)), int(rng.integers(2, 50))) for _ in range(2)]


def _kernel_no_input_weight(alpha, L):
    return alpha ** np.arange(L)


def _kernel_shifted(alpha, L):
    return (1 - alpha) * alpha ** np.arange(1, L + 1)


_register(Exercise(
    name="intro.ema_kernel",
    signature="ema_kernel(alpha, L) -> K of shape (L,)",
    reference=recurrence.ema_kernel,
    arg_names=("alpha", "L"),
    cases=_kernel_cases,
    hidden=_kernel_hidden,
    mistakes={
        "the weight 1 - alpha of the input is missing: K[k] = (1 - alpha) * alpha**k.":
            _kernel_no_input_weight,
        "the powers start at alpha**1; K[0] weights the newest input x_t, "
        "which has not decayed yet (alpha**0).": _kernel_shifted,
    },
    also_refused=(recurrence.ema, recurrence.linear_recurrence),
))


def _gated_cases(rng):
    return [
        (np.ones(5), np.full(5, 0.5)),  # a fixed decay: the EMA of a step
        (np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.9, 0.0, 0.9, 0.9])),  # a_1 = 0 resets
        (rng.standard_normal(12), rng.uniform(0, 1, 12)),
        (rng.standard_normal((3, 10)), rng.uniform(0, 1, (3, 10))),  # a batch
    ]


def _gated_hidden(rng):
    shape = (int(rng.integers(2, 4)), int(rng.integers(13, 40)))
    L = int(rng.integers(13, 60))
    return [(rng.standard_normal(L), rng.uniform(0, 1, L)),
            (rng.standard_normal(shape), rng.uniform(0, 1, shape))]


def _gated_reference(x, a):
    """h_t = a_t h_{t-1} + (1 - a_t) x_t: the EMA whose decay changes with t."""
    x, a = np.asarray(x, dtype=float), np.asarray(a, dtype=float)
    return recurrence.linear_recurrence(a, (1 - a) * x)


def _gated_first_decay(x, a):
    a0 = np.asarray(a, dtype=float)[..., :1]
    return recurrence.linear_recurrence(a0, (1 - a0) * np.asarray(x, dtype=float))


def _gated_previous_decay(x, a):
    a = np.asarray(a, dtype=float)
    prev = np.concatenate([np.zeros_like(a[..., :1]), a[..., :-1]], axis=-1)
    return recurrence.linear_recurrence(prev, (1 - a) * np.asarray(x, float))


_register(Exercise(
    name="intro.gated_ema",
    signature="gated_ema(x, a) -> h, all of shape (..., L)",
    reference=_gated_reference,
    arg_names=("x", "a"),
    cases=_gated_cases,
    hidden=_gated_hidden,
    mistakes={
        "every step used the first decay a[..., 0]; the decay of step t is a[..., t].":
            _gated_first_decay,
        "the old state was scaled by the previous step's decay a_{t-1}; step t uses a_t "
        "for both the old state and the input weight 1 - a_t.": _gated_previous_decay,
    },
))
