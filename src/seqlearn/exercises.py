"""Self-checking exercises: ``check("chapter.exercise", your_function)``.

A checker runs the student's function on a few generated cases (small and
hand-picked ones first: an impulse, a constant, a batch), compares each
result with the package's reference implementation, and prints a verdict:

    ✅ intro.ema: all 5 cases match the reference.

or what is wrong, in the first case that fails: the inputs, then a wrong
shape, a missing ``return``, a NaN, the exception the function raised (with
the line of the student's code), or the entry that differs most and by how
much. Where the wrong answer matches a slip we know (a swapped coefficient,
the wrong time axis), it names the slip.

Besides the fixed cases (the same every run, so a failure can be reproduced),
each check runs one more case drawn afresh, so that no table of the printed
cases passes. The course's own functions are refused (the exercise is to
write them), and a name that is almost right gets a "did you mean".

``check`` returns True or False and never raises on a wrong, crashing or
hanging student function. Each exercise is one ``Exercise`` entry in
``EXERCISES``; its ``reference`` is imported from the chapter's module, so
the checker and the book share one definition of each formula.
"""

import copy
import difflib
import signal
import textwrap
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from seqlearn import attention, basis, discretize, hippo, mamba, recurrence, rnn, s4, ssm

TIME_LIMIT_S = 10.0
"""Seconds one case may take before the checker calls it a hang."""


@dataclass
class Exercise:
    """One checkable exercise.

    name: "chapter.topic", the key students pass to ``check``.
    signature: how the student's function is called, e.g. "ema(x, alpha) -> h".
    reference: the package's implementation (the expected answers).
    arg_names: the names of the positional arguments, for messages.
    cases: rng -> list of argument tuples (seeded: the same cases every run).
    rtol, atol: tolerance of ``np.allclose(got, expected)``.
    mistakes: description -> a deliberately wrong implementation; a wrong
        answer that matches one of them is explained by its description.
    """

    name: str
    signature: str
    reference: Callable
    arg_names: tuple
    cases: Callable
    rtol: float = 1e-6
    atol: float = 1e-9
    mistakes: dict = field(default_factory=dict)


# --------------------------------------------------------------------------
# Chapter 0: the exponential moving average, the smallest state space model.

def _ema_cases(rng):
    return [
        (np.array([1.0, 0.0, 0.0, 0.0, 0.0]), 0.5),  # impulse: (1-a) a^k
        (np.ones(6), 0.9),  # step: 1 - a^(t+1)
        (rng.standard_normal(12), 0.0),  # no memory: h = x
        (rng.standard_normal(40), 0.95),  # long memory
        (rng.standard_normal((3, 16)), 0.7),  # a batch: time is the last axis
    ]


def _ema_starts_at_x0(x, alpha):
    x = np.asarray(x, dtype=float)
    b = (1 - alpha) * x
    b[..., 0] = x[..., 0]  # h_0 = x_0
    return recurrence.linear_recurrence(alpha, b)


def _ema_swapped(x, alpha):
    return recurrence.linear_recurrence(1 - alpha, alpha * np.asarray(x, dtype=float))


def _ema_no_input_weight(x, alpha):
    return recurrence.linear_recurrence(alpha, np.asarray(x, dtype=float))


def _ema_first_axis(x, alpha):
    x = np.asarray(x, dtype=float)
    return np.moveaxis(recurrence.ema(np.moveaxis(x, 0, -1), alpha), -1, 0)


EXERCISES = {}


def _register(exercise):
    EXERCISES[exercise.name] = exercise


_register(Exercise(
    name="intro.ema",
    signature="ema(x, alpha) -> h, x and h of shape (..., L)",
    reference=recurrence.ema,
    arg_names=("x", "alpha"),
    cases=_ema_cases,
    mistakes={
        "h_0 came out as x_0: the state before the first step is h_{-1} = 0, "
        "so h_0 = (1 - alpha) * x_0.": _ema_starts_at_x0,
        "alpha and 1 - alpha are swapped: alpha multiplies the old state, "
        "1 - alpha the new input.": _ema_swapped,
        "the input is added without its weight 1 - alpha.": _ema_no_input_weight,
        "the recurrence ran along the first axis; time is the LAST axis "
        "(x[..., t]).": _ema_first_axis,
    },
))


def _kernel_cases(rng):
    return [(0.5, 5), (0.9, 8), (0.0, 3), (0.99, 60), (float(rng.uniform(0.1, 0.9)), 1)]


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
    mistakes={
        "the weight 1 - alpha of the input is missing: K[k] = (1 - alpha) * alpha**k.":
            _kernel_no_input_weight,
        "the powers start at alpha**1; K[0] weights the newest input x_t, "
        "which has not decayed yet (alpha**0).": _kernel_shifted,
    },
))


# --------------------------------------------------------------------------
# Chapter 1: recurrent networks.

def _weights(rng, gates, D, H):
    k = 1 / np.sqrt(H)
    return (rng.uniform(-k, k, (gates * H, D)), rng.uniform(-k, k, (gates * H, H)),
            rng.uniform(-k, k, gates * H), rng.uniform(-k, k, gates * H))


def _rnn_step_cases(rng):
    return [
        (rng.standard_normal(2), rng.standard_normal(3), *_weights(rng, 1, 2, 3)),  # one sequence
        (rng.standard_normal((4, 3)), rng.standard_normal((4, 5)),
         *_weights(rng, 1, 3, 5)),  # a batch
        (rng.standard_normal((2, 6)), np.zeros((2, 6)), *_weights(rng, 1, 6, 6)),  # square, h = 0
    ]


_register(Exercise(
    name="rnn.step",
    signature="rnn_step(x_t, h, W_ih, W_hh, b_ih, b_hh) -> h_t; "
              "x_t (batch, D) or (D,), h (batch, H)",
    reference=rnn.rnn_step,
    arg_names=("x_t", "h", "W_ih", "W_hh", "b_ih", "b_hh"),
    cases=_rnn_step_cases,
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


def _blocks(order, *arrays):
    """The gate blocks of each array, re-stacked in ``order`` (0=i, 1=f, 2=g, 3=o)."""
    return [np.concatenate([np.split(np.asarray(a), 4)[k] for k in order]) for a in arrays]


_register(Exercise(
    name="rnn.lstm_step",
    signature="lstm_step(x_t, h, c, W_ih, W_hh, b_ih, b_hh) -> (h_t, c_t)",
    reference=rnn.lstm_step,
    arg_names=("x_t", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh"),
    cases=_lstm_step_cases,
    mistakes={
        "the gate blocks are read as i, f, o, g; PyTorch stacks them as i, f, g, o.":
            lambda x, h, c, *w: rnn.lstm_step(x, h, c, *_blocks([0, 1, 3, 2], *w)),
        "the forget and input gates are swapped: blocks are i, f, g, o (input gate first).":
            lambda x, h, c, *w: rnn.lstm_step(x, h, c, *_blocks([1, 0, 2, 3], *w)),
        "the result is (c_t, h_t); return (h_t, c_t).":
            lambda *args: rnn.lstm_step(*args)[::-1],
    },
))


def _ridge_cases(rng):
    def case(n_features, T, d_out, beta):
        return rng.standard_normal((n_features, T)), rng.standard_normal((d_out, T)), beta
    return [case(2, 5, 1, 1.0), case(4, 30, 2, 0.5), case(10, 50, 3, 2.0)]


_register(Exercise(
    name="rnn.ridge_readout",
    signature="ridge_readout(X, Y, beta) -> W_out (D_out, N); X (N, T), Y (D_out, T)",
    reference=rnn.ridge_readout,
    arg_names=("X", "Y", "beta"),
    cases=_ridge_cases,
    rtol=1e-6, atol=1e-9,
    mistakes={
        "beta is missing: the penalty adds beta * I to X X^T before inverting.":
            lambda X, Y, beta: np.asarray(Y) @ np.linalg.pinv(np.asarray(X)),
    },
))


# --------------------------------------------------------------------------
# Chapter 2: attention.

def _mask_cases(rng):
    return [(1,), (4,), (7,)]


_register(Exercise(
    name="attention.causal_mask",
    signature="causal_mask(L) -> (L, L) bool, True where query i may attend to key j",
    reference=attention.causal_mask,
    arg_names=("L",),
    cases=_mask_cases,
    mistakes={
        "the diagonal is missing: token i may (and must) attend to itself, j <= i.":
            lambda L: np.tril(np.ones((L, L), dtype=bool), -1),
        "the mask looks at the future: True should be where j <= i (lower triangle).":
            lambda L: np.triu(np.ones((L, L), dtype=bool)),
        "True and False are swapped: True means 'may attend'.":
            lambda L: ~attention.causal_mask(L),
    },
))


def _sdpa_cases(rng):
    def qkv(*shape_q, L_k=None):
        *batch, L_q, d = shape_q
        L_k = L_k or L_q
        return (rng.standard_normal((*batch, L_q, d)), rng.standard_normal((*batch, L_k, d)),
                rng.standard_normal((*batch, L_k, 3)))
    return [
        (*qkv(3, 2), None),  # tiny, no mask
        (*qkv(5, 4), attention.causal_mask(5)),  # causal
        (*qkv(6, 8, L_k=9), None),  # more keys than queries
        (*qkv(2, 7, 16), attention.causal_mask(7)),  # a batch, causal
    ]


def _sdpa_unscaled(Q, K, V, mask):
    return attention.scaled_dot_product_attention(np.asarray(Q) * np.sqrt(np.shape(Q)[-1]), K, V,
                                                  mask=mask)


def _sdpa_wrong_axis(Q, K, V, mask):
    scores = np.asarray(Q) @ np.swapaxes(K, -1, -2) / np.sqrt(np.shape(Q)[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return attention.softmax(scores, axis=-2) @ V


_register(Exercise(
    name="attention.sdpa",
    signature="attention(Q, K, V, mask) -> (..., L_q, d_v); mask (L_q, L_k) bool or None",
    reference=lambda Q, K, V, mask: attention.scaled_dot_product_attention(Q, K, V, mask=mask),
    arg_names=("Q", "K", "V", "mask"),
    cases=_sdpa_cases,
    rtol=1e-6, atol=1e-9,
    mistakes={
        "the scores are not divided by sqrt(d_k).": _sdpa_unscaled,
        "the mask is not applied: masked scores must become -inf before the softmax.":
            lambda Q, K, V, mask: attention.scaled_dot_product_attention(Q, K, V),
        "the softmax runs over the queries (axis -2); each query's weights over the keys "
        "(axis -1) must sum to 1.": _sdpa_wrong_axis,
    },
))


def _linear_step_cases(rng):
    def case(d_k, d_v, fresh):
        d_phi = d_k
        S = np.zeros((d_phi, d_v)) if fresh else rng.uniform(0, 1, (d_phi, d_v))
        z = np.zeros(d_phi) if fresh else rng.uniform(0.5, 2, d_phi)
        q, k, v = rng.standard_normal(d_k), rng.standard_normal(d_k), rng.standard_normal(d_v)
        return ((S, z), q, k, v)
    return [case(2, 1, True), case(3, 2, False), case(4, 4, False), case(8, 3, False)]


def _linear_step_no_normaliser(state, q, k, v):
    y, (S, z) = attention.linear_attention_step(state, q, k, v)
    return attention.elu_feature_map(np.asarray(q)) @ S, (S, z)


def _linear_step_old_state(state, q, k, v):
    _, (S, z) = attention.linear_attention_step(state, q, k, v)
    phi_q = attention.elu_feature_map(np.asarray(q))
    S0, z0 = state
    return phi_q @ S0 / (phi_q @ z0 + 1e-300), (S, z)


_register(Exercise(
    name="attention.linear_step",
    signature="linear_step(state, q_t, k_t, v_t) -> (y_t, (S_t, z_t)), state = (S, z)",
    reference=lambda state, q, k, v: attention.linear_attention_step(state, q, k, v),
    arg_names=("state", "q_t", "k_t", "v_t"),
    cases=_linear_step_cases,
    mistakes={
        "y_t is not normalised: divide by phi(q_t) . z_t.": _linear_step_no_normaliser,
        "y_t uses the old state: update S and z with k_t, v_t first, then read them "
        "with q_t.": _linear_step_old_state,
    },
))


# --------------------------------------------------------------------------
# Chapter 3: signals and bases.

def _legendre_cases(rng):
    return [(3, np.linspace(0, 1, 5), (0.0, 1.0)),
            (6, np.sort(rng.uniform(2, 5, 9)), (2.0, 5.0)),
            (1, np.array([0.25]), (0.0, 1.0))]


def _legendre_unscaled(N, s, window):
    return basis.legendre(N, s, window) / np.sqrt(2 * np.arange(N) + 1)[:, None] \
        * np.sqrt(window[1] - window[0])


_register(Exercise(
    name="basis.legendre",
    signature="legendre(N, s, window) -> (N, len(s)), orthonormal shifted Legendre on window",
    reference=basis.legendre,
    arg_names=("N", "s", "window"),
    cases=_legendre_cases,
    mistakes={
        "the factor sqrt((2n + 1) / T) is missing: plain P_n are orthogonal, not orthonormal.":
            _legendre_unscaled,
        "the window is not mapped to [-1, 1]: evaluate P_n at x = 2 (s - t0) / T - 1.":
            lambda N, s, window: basis.legendre(N, s, (-1.0, 1.0))  # sqrt((2n+1)/T) P_n(s)
            * np.sqrt(2 / (window[1] - window[0])),
    },
))


def _project_cases(rng):
    t1 = np.linspace(0, 1, 11)
    t2 = np.linspace(0, 3, 301)
    return [(t1 ** 2, t1, 3), (np.sin(3 * t2) + 0.5 * t2, t2, 8),
            (rng.standard_normal(50), np.linspace(-1, 1, 50), 5)]


def _project_riemann(f, t, N):
    t = np.asarray(t)
    return basis.legendre(N, t, (t[0], t[-1])) @ np.asarray(f) * (t[1] - t[0])


_register(Exercise(
    name="basis.project",
    signature="project(f, t, N) -> c (N,), Legendre coefficients of samples f on [t[0], t[-1]]",
    reference=lambda f, t, N: basis.project(f, t, "legendre", N),
    arg_names=("f", "t", "N"),
    cases=_project_cases,
    mistakes={
        "a plain Riemann sum (every sample weighted dt): the trapezoid rule gives the two "
        "end samples half a step.": _project_riemann,
    },
))


def _reconstruct_cases(rng):
    return [(np.array([1.0, 0.0, 0.0]), np.linspace(0, 1, 5)),
            (rng.standard_normal(6), np.linspace(0, 2, 40)),
            (rng.standard_normal((2, 4)), np.linspace(-1, 3, 7))]


_register(Exercise(
    name="basis.reconstruct",
    signature="reconstruct(c, t) -> f_N(t) of shape (..., len(t)), Legendre on [t[0], t[-1]]",
    reference=lambda c, t: basis.reconstruct(c, t, "legendre"),
    arg_names=("c", "t"),
    cases=_reconstruct_cases,
))


# --------------------------------------------------------------------------
# Chapter 4: HiPPO.

_register(Exercise(
    name="hippo.legs",
    signature="legs(N) -> (A (N, N), B (N,)), HiPPO-LegS in the convention x' = A x + B u",
    reference=lambda N: hippo.hippo_matrix("legs", N),
    arg_names=("N",),
    cases=lambda rng: [(1,), (3,), (8,)],
    mistakes={
        "A has the paper's sign: the paper writes c' = -(1/t) A c + ...; in the state-space "
        "convention x' = A x + B u the matrix is negative (stable).":
            lambda N: (-hippo.hippo_matrix("legs", N)[0], hippo.hippo_matrix("legs", N)[1]),
        "the diagonal is -n; it is -(n + 1) (n counted from 0).":
            lambda N: (hippo.hippo_matrix("legs", N)[0] + np.eye(N),
                       hippo.hippo_matrix("legs", N)[1]),
        "A is transposed: LegS is lower triangular, A[n, k] = -sqrt(2n+1) sqrt(2k+1) for "
        "n > k (row n, the coefficient being updated; column k, the one it reads).":
            lambda N: (hippo.hippo_matrix("legs", N)[0].T, hippo.hippo_matrix("legs", N)[1]),
    },
))


def _lagt_with_half(N, theta):
    A, B = hippo.hippo_matrix("lagt", N, theta)
    return A + np.eye(N) / (2 * theta), B


_register(Exercise(
    name="hippo.lagt",
    signature="lagt(N, theta) -> (A (N, N), B (N,)), HiPPO-LagT, x' = A x + B u",
    reference=lambda N, theta: hippo.hippo_matrix("lagt", N, theta),
    arg_names=("N", "theta"),
    cases=lambda rng: [(1, 1.0), (4, 1.0), (6, 2.5)],
    mistakes={
        "the 1/theta is missing: the time scale theta divides both A and B.":
            lambda N, theta: tuple(M * theta for M in hippo.hippo_matrix("lagt", N, theta)),
        "this is the variant with I/2 on the diagonal (Laguerre functions, as in S4's code); "
        "this course's LagT is A = -tril(ones) / theta.": _lagt_with_half,
        "A has the wrong sign: A = -tril(ones) / theta is negative (stable), B = ones / theta "
        "positive.":
            lambda N, theta: (-hippo.hippo_matrix("lagt", N, theta)[0],
                              hippo.hippo_matrix("lagt", N, theta)[1]),
    },
))


def _legs_reconstruct_cases(rng):
    return [(np.array([1.0, 0.0, 0.0]), 1.0, np.linspace(0, 1, 5)),
            (rng.standard_normal(5), 4.0, np.linspace(0, 4, 9)),
            (rng.standard_normal((2, 7)), 2.5, np.linspace(0.5, 2.5, 6))]


_register(Exercise(
    name="hippo.legs_reconstruct",
    signature="legs_reconstruct(c, t, s) -> f(s) for s in [0, t], from LegS coefficients c(t)",
    reference=lambda c, t, s: hippo.reconstruct("legs", c, t, s),
    arg_names=("c", "t", "s"),
    cases=_legs_reconstruct_cases,
    mistakes={
        "the basis is normalised for ds on [0, t] (sqrt((2n+1)/t)); LegS uses the probability "
        "measure ds / t, so g_n(s; t) = sqrt(2n+1) P_n(2 s / t - 1).":
            lambda c, t, s: hippo.reconstruct("legs", c, t, s) / np.sqrt(t),
        "the factor sqrt(2n + 1) is missing: g_n(s; t) = sqrt(2n+1) P_n(2 s / t - 1), so "
        "f(s) = sum_n c_n sqrt(2n+1) P_n(2 s / t - 1).":
            lambda c, t, s: hippo.reconstruct(
                "legs", np.asarray(c) / np.sqrt(2 * np.arange(np.shape(c)[-1]) + 1), t, s),
    },
))


# --------------------------------------------------------------------------
# Chapter 5: discretization.

def _stable(rng, N):
    """A random stable A (N, N): eigenvalues shifted to real parts <= -0.1."""
    A = rng.standard_normal((N, N))
    return A - (np.linalg.eigvals(A).real.max() + 0.1 + rng.uniform(0, 1)) * np.eye(N)


def _bilinear_cases(rng):
    oscillator = np.array([[0.0, 1.0], [-4.0, -0.4]])  # x'' + 0.4 x' + 4 x = u
    return [(np.array([[-1.0]]), np.array([1.0]), 0.1),
            (oscillator, np.array([0.0, 1.0]), 0.05),
            (_stable(rng, 4), rng.standard_normal(4), 0.3)]


_register(Exercise(
    name="discretize.bilinear",
    signature="bilinear(A, B, dt) -> (Ab, Bb); A (N, N), B (N,)",
    reference=lambda A, B, dt: discretize.discretize(A, B, dt, "bilinear"),
    arg_names=("A", "B", "dt"),
    cases=_bilinear_cases,
    mistakes={
        "Bb is missing the factor (I - dt/2 A)^{-1}: Bb = (I - dt/2 A)^{-1} dt B.":
            lambda A, B, dt: (discretize.discretize(A, B, dt, "bilinear")[0], dt * np.asarray(B)),
        "Bb uses dt/2; the trapezoid gives (I - dt/2 A)^{-1} dt B (the whole step).":
            lambda A, B, dt: tuple(M * f for M, f in zip(
                discretize.discretize(A, B, dt, "bilinear"), (1.0, 0.5))),
        "this is forward Euler (Ab = I + dt A), not the bilinear transform.":
            lambda A, B, dt: discretize.discretize(A, B, dt, "forward_euler"),
        "this is backward Euler (Ab = (I - dt A)^{-1}); the bilinear transform averages the "
        "two ends: Ab = (I - dt/2 A)^{-1} (I + dt/2 A).":
            lambda A, B, dt: discretize.discretize(A, B, dt, "backward_euler"),
        "this is the zero-order hold (Ab = expm(dt A)), not the bilinear transform: "
        "Ab = (I - dt/2 A)^{-1} (I + dt/2 A), a rational approximation of expm(dt A).":
            lambda A, B, dt: discretize.discretize(A, B, dt, "zoh"),
    },
))


def _kernel_K_cases(rng):
    Ab, Bb = discretize.discretize(_stable(rng, 3), rng.standard_normal(3), 0.2, "zoh")
    return [(np.array([[0.5]]), np.array([1.0]), np.array([1.0]), 5),
            (Ab, Bb, rng.standard_normal(3), 12),
            (np.array([[0.9, 0.1], [0.0, 0.8]]), np.array([1.0, 1.0]), np.array([1.0, -1.0]), 1)]


_register(Exercise(
    name="ssm.kernel",
    signature="kernel(Ab, Bb, C, L) -> K of shape (L,), K[k] = C Ab^k Bb",
    reference=ssm.ssm_kernel,
    arg_names=("Ab", "Bb", "C", "L"),
    cases=_kernel_K_cases,
    mistakes={
        "the powers start at Ab^1; K[0] = C Bb (the newest input, not yet multiplied by Ab).":
            lambda Ab, Bb, C, L: ssm.ssm_kernel(Ab, np.asarray(Ab) @ Bb, C, L),
        "Ab is transposed: K[k] = C Ab^k Bb applies Ab to the column Bb (Ab @ x), "
        "not x @ Ab.":
            lambda Ab, Bb, C, L: ssm.ssm_kernel(np.asarray(Ab).T, Bb, C, L),
    },
))


def _zoh_diag_cases(rng):
    return [(np.array([-1.0]), np.array([1.0]), 0.1),
            (-rng.uniform(0.1, 2, 5), rng.standard_normal(5), 0.5),
            (-rng.uniform(0.1, 1, 4) + 1j * rng.uniform(-3, 3, 4), np.ones(4), 0.2)]


_register(Exercise(
    name="discretize.zoh_diag",
    signature="zoh_diag(A_diag, B, dt) -> (Ab, Bb), elementwise, A_diag (N,) real or complex",
    reference=lambda A, B, dt: discretize.discretize_diag(A, B, dt, "zoh"),
    arg_names=("A_diag", "B", "dt"),
    cases=_zoh_diag_cases,
    mistakes={
        "Bb = dt * B is Euler's input matrix; ZOH integrates the input over the step: "
        "Bb = (exp(dt A) - 1) / A * B.":
            lambda A, B, dt: (np.exp(dt * np.asarray(A)), dt * np.asarray(B)),
        "the division by A is missing: Bb = (exp(dt A) - 1) / A * B.":
            lambda A, B, dt: (np.exp(dt * np.asarray(A)),
                              (np.exp(dt * np.asarray(A)) - 1) * np.asarray(B)),
        "this is the bilinear transform, Ab = (1 + dt A / 2) / (1 - dt A / 2); the zero-order "
        "hold is exact for a piecewise-constant input: Ab = exp(dt A).":
            lambda A, B, dt: discretize.discretize_diag(A, B, dt, "bilinear"),
        "the sign of A is flipped (exp(-dt A) grows): A is already negative, Ab = exp(dt A).":
            lambda A, B, dt: discretize.discretize_diag(-np.asarray(A), B, dt, "zoh"),
    },
))


# --------------------------------------------------------------------------
# Chapter 6: S4.

def _s4d_cases(rng):
    return [(np.array([-0.5]), np.array([1.0]), np.array([1.0]), 0.1, 5),
            (-rng.uniform(0.1, 1, 4), rng.standard_normal(4), rng.standard_normal(4), 0.05, 20),
            (s4.s4d_lin_init(6), np.ones(6), rng.standard_normal(6) + 1j * rng.standard_normal(6),
             0.01, 64)]


def _s4d_euler_b(A, B, C, dt, L):
    A, B, C = np.asarray(A), np.asarray(B), np.asarray(C)
    return (C * dt * B) @ (np.exp(dt * A)[:, None] ** np.arange(L))


_register(Exercise(
    name="s4.s4d_kernel",
    signature="s4d_kernel(A_diag, B, C, dt, L) -> K (L,), K[k] = sum_n C_n Bb_n Ab_n^k (ZOH)",
    reference=lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L),
    arg_names=("A_diag", "B", "C", "dt", "L"),
    cases=_s4d_cases,
    mistakes={
        "Bb = dt * B is Euler's; the ZOH gives Bb = (exp(dt A) - 1) / A * B.": _s4d_euler_b,
        "the powers start at Ab^1: K[0] = sum_n C_n Bb_n has Ab^0 = 1 (k = 0 .. L-1).":
            lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L + 1)[1:],
        "2 Re(...) is the conjugate-pair form (S4D's conj_pairs=True); this exercise "
        "sums the modes as given, complex if they are.":
            lambda A, B, C, dt, L: 2 * s4.s4d_kernel(A, B, C, dt, L).real,
    },
))


def _cauchy_cases(rng):
    lam = -0.5 + 1j * np.pi * np.arange(5)
    return [(np.ones(1), np.array([1.0 + 0j]), np.array([-1.0 + 0j])),
            (rng.standard_normal(5) + 0j, np.exp(2j * np.pi * np.arange(8) / 8), lam),
            (rng.standard_normal(3) + 1j, 1j * rng.standard_normal(4), lam[:3])]


_register(Exercise(
    name="s4.cauchy",
    signature="cauchy(v, omega, Lambda) -> (len(omega),), sum_n v_n / (omega_j - Lambda_n)",
    reference=s4.cauchy,
    arg_names=("v", "omega", "Lambda"),
    cases=_cauchy_cases,
    mistakes={
        "the sign is flipped: the Cauchy kernel is v_n / (omega_j - Lambda_n).":
            lambda v, omega, Lam: -s4.cauchy(v, omega, Lam),
    },
))


def _nplr_cases(rng):
    """LegS's own (Lambda, P, V), and random ones: a random real normal matrix
    -1/2 I + S (S skew-symmetric) diagonalised the way ``s4.nplr`` does, with a random P,
    so that an answer which ignores its inputs cannot pass."""
    cases = [tuple(s4.nplr("legs", N)[i] for i in (0, 1, 3)) for N in (2, 5, 8)]
    for N in (3, 6):
        S = rng.standard_normal((N, N))
        w, V = np.linalg.eigh(1j * (S - S.T))  # i S' = V diag(w) V^*  ->  S' = V diag(-i w) V^*
        cases.append((-0.5 - 1j * w, rng.standard_normal(N), V))
    return cases


_register(Exercise(
    name="s4.nplr_rebuild",
    signature="rebuild(Lambda, P, V) -> A (N, N) = V diag(Lambda) V^* - P P^T (LegS)",
    # on LegS's own factors this is the HiPPO-LegS matrix (tests/test_exercises.py checks it)
    reference=lambda Lam, P, V: ((V * Lam) @ V.conj().T - np.outer(P, P)).real,
    arg_names=("Lambda", "P", "V"),
    cases=_nplr_cases,
    mistakes={
        "the low-rank term is missing: A = V diag(Lambda) V^* - P P^T.":
            lambda Lam, P, V: (V * Lam) @ V.conj().T,
        "V^T was used instead of the conjugate transpose V^* = V.conj().T.":
            lambda Lam, P, V: (V * Lam) @ V.T - np.outer(P, P),
    },
))


# --------------------------------------------------------------------------
# Chapter 7: Mamba. One sequence (no batch axis): u, delta (d, L); A (d, n); B, C (n, L).

def _selective_inputs(rng, d, n, L):
    return (rng.standard_normal((d, L)), rng.uniform(0.05, 1.0, (d, L)),
            -rng.uniform(0.5, 4.0, (d, n)), rng.standard_normal((n, L)),
            rng.standard_normal((n, L)))


def _step_cases(rng):
    cases = [(np.zeros((1, 1)), np.ones(1), np.full(1, 0.5), -np.ones((1, 1)), np.ones(1),
              np.ones(1))]
    for d, n in ((2, 3), (4, 1), (3, 5)):
        u, delta, A, B, C = _selective_inputs(rng, d, n, 1)
        cases.append((rng.standard_normal((d, n)), u[:, 0], delta[:, 0], A, B[:, 0], C[:, 0]))
    return cases


def _step_reference(h, u_t, delta_t, A, B_t, C_t):
    y, h = mamba.selective_scan_step(h[None], u_t[None], delta_t[None], A, B_t[None],
                                     C_t[None])
    return y[0], h[0]


def _step_old_state(h, u_t, delta_t, A, B_t, C_t):
    y, h_new = _step_reference(h, u_t, delta_t, A, B_t, C_t)
    return (C_t * h).sum(-1), h_new


def _step_no_dt_in_B(h, u_t, delta_t, A, B_t, C_t):
    return _step_reference(h, u_t / delta_t, delta_t, A, B_t, C_t)


def _step_zoh(h, u_t, delta_t, A, B_t, C_t):
    h = np.exp(delta_t[:, None] * A) * h + np.expm1(delta_t[:, None] * A) / A * B_t * u_t[:, None]
    return (C_t * h).sum(-1), h


_register(Exercise(
    name="mamba.step",
    signature="step(h, u_t, delta_t, A, B_t, C_t) -> (y_t (d,), h (d, n)): "
              "h = exp(delta A) h + delta B_t u_t, y_t = C_t . h",
    reference=_step_reference,
    arg_names=("h", "u_t", "delta_t", "A", "B_t", "C_t"),
    cases=_step_cases,
    mistakes={
        "y_t was read from the old state: update h first, then y_t = C_t . h (the new h).":
            _step_old_state,
        "Bb_t u_t lacks delta: the input enters as delta_t B_t u_t.": _step_no_dt_in_B,
        "the results are in the other order: return (y_t, h), as in the signature.":
            lambda *args: _step_reference(*args)[::-1],
        "Bb_t is the exact zero-order hold (exp(delta A) - 1) / A B_t; Mamba uses the Euler "
        "rule delta_t B_t (ZOH only for A).": _step_zoh,
    },
))


def _discretize_cases(rng):
    cases = [(np.zeros((1, 1)), -np.ones((1, 1)), np.ones((1, 1)), np.zeros(1))]
    for d, n, L in ((2, 3, 4), (3, 1, 6), (4, 5, 3)):
        _, delta, A, B, _ = _selective_inputs(rng, d, n, L)
        cases.append((rng.standard_normal((d, L)), A, B, rng.standard_normal(d)))
    return cases


def _discretize_reference(delta, A, B, delta_bias):
    """Ab, Bb (d, L, n) read off the package's step: Ab from h = 1, u = 0; Bb from h = 0, u = 1."""
    d, L = delta.shape
    n = A.shape[1]
    Ab, Bb = np.empty((d, L, n)), np.empty((d, L, n))
    for t in range(L):
        step = lambda h, u: mamba.selective_scan_step(  # noqa: E731
            h, u, delta[None, :, t], A, B[None, :, t], np.zeros((1, n)),
            delta_bias=delta_bias, delta_softplus=True)[1][0]
        Ab[:, t] = step(np.ones((1, d, n)), np.zeros((1, d)))
        Bb[:, t] = step(np.zeros((1, d, n)), np.ones((1, d)))
    return Ab, Bb


def _discretize_raw(Delta, A, B):
    """(exp(Delta A), Delta B) for a given Delta (d, L): for the known slips."""
    return np.exp(Delta[..., None] * A[:, None, :]), Delta[..., None] * B.T[None]


_register(Exercise(
    name="mamba.discretize",
    signature="discretize(delta, A, B, delta_bias) -> (Ab, Bb), each (d, L, n): "
              "Delta = softplus(delta + delta_bias), Ab = exp(Delta A), Bb = Delta B",
    reference=_discretize_reference,
    arg_names=("delta", "A", "B", "delta_bias"),
    cases=_discretize_cases,
    mistakes={
        "softplus is missing: Delta = softplus(delta + delta_bias) keeps the step positive.":
            lambda delta, A, B, b: _discretize_raw(delta + b[:, None], A, B),
        "the bias was added after the softplus: Delta = softplus(delta + delta_bias).":
            lambda delta, A, B, b: _discretize_raw(mamba.softplus_numpy(delta) + b[:, None],
                                                   A, B),
        "Bb is the exact zero-order hold (exp(Delta A) - 1) / A B; Mamba's kernel uses the "
        "simpler Euler rule Bb = Delta B (ZOH only for A).":
            lambda delta, A, B, b: (
                _discretize_reference(delta, A, B, b)[0],
                np.expm1(mamba.softplus_numpy(delta + b[:, None])[..., None] * A[:, None, :])
                / A[:, None, :] * B.T[None]),
    },
))


def _combine_cases(rng):
    return [((0.5, 1.0), (0.5, 2.0)),
            ((rng.uniform(0, 1, 4), rng.standard_normal(4)),
             (rng.uniform(0, 1, 4), rng.standard_normal(4))),
            ((rng.uniform(0, 1, (2, 3)), rng.standard_normal((2, 3))),
             (rng.uniform(0, 1, (2, 3)), rng.standard_normal((2, 3))))]


_register(Exercise(
    name="mamba.combine",
    signature="combine(left, right) -> (a, b): left = (a1, b1) applied first, then "
              "right = (a2, b2), to h -> a h + b",
    reference=lambda left, right: tuple(np.asarray(v, float) for v in mamba.combine(left, right)),
    arg_names=("left", "right"),
    cases=_combine_cases,
    mistakes={
        "the steps are applied in the wrong order: left (a1, b1) comes first, so "
        "h -> a2 (a1 h + b1) + b2 = (a1 a2) h + (a2 b1 + b2).":
            lambda left, right: mamba.combine(right, left),
        "b2 must not be scaled: a2 (a1 h + b1) + b2 gives b = a2 b1 + b2.":
            lambda left, right: (left[0] * right[0], right[0] * (left[1] + right[1])),
    },
))


def _scan_cases(rng):
    cases = [(np.array([[1.0, 0, 0, 0]]), np.full((1, 4), 0.5), -np.ones((1, 1)),
              np.ones((1, 4)), np.ones((1, 4)))]
    cases += [_selective_inputs(rng, d, n, L) for d, n, L in ((2, 3, 5), (3, 2, 16), (1, 4, 9))]
    return cases


def _scan_reference(u, delta, A, B, C):
    return mamba.selective_scan(u[None], delta[None], A, B[None], C[None])[0]


def _shifted(u, delta, A, B, C):
    """y_t = C_t . h_{t-1}: the output read before the update."""
    d, L = u.shape
    h, y = np.zeros((d, A.shape[1])), np.zeros((d, L))
    for t in range(L):
        y[:, t] = (C[:, t] * h).sum(-1)
        h = np.exp(delta[:, t, None] * A) * h + delta[:, t, None] * B[:, t] * u[:, t, None]
    return y


def _scan_zoh(u, delta, A, B, C):
    """B-bar by the exact zero-order hold instead of Mamba's delta B."""
    d, L = u.shape
    h, y = np.zeros((d, A.shape[1])), np.zeros((d, L))
    for t in range(L):
        dA = delta[:, t, None] * A
        h = np.exp(dA) * h + np.expm1(dA) / A * B[:, t] * u[:, t, None]
        y[:, t] = (C[:, t] * h).sum(-1)
    return y


_register(Exercise(
    name="mamba.scan",
    signature="scan(u, delta, A, B, C) -> y (d, L): h_t = exp(delta_t A) h_{t-1} + "
              "delta_t B_t u_t, y_t = C_t . h_t",
    reference=_scan_reference,
    arg_names=("u", "delta", "A", "B", "C"),
    cases=_scan_cases,
    mistakes={
        "y_t was read before the update (C_t . h_{t-1}); the input u_t is already in h_t.":
            _shifted,
        "Bb_t u_t lacks delta: the input enters as delta_t B_t u_t.":
            lambda u, delta, A, B, C: _scan_reference(u / delta, delta, A, B, C),
        "Bb_t is the exact zero-order hold (exp(delta A) - 1) / A B_t; Mamba uses the Euler "
        "rule delta_t B_t (ZOH only for A).": _scan_zoh,
    },
))


# --------------------------------------------------------------------------
# The checker.

def check(name, fn, verbose=True):
    """Check ``fn`` against the reference of exercise ``name``; print a verdict.

    Returns True when every case matches, else False. Never raises for a
    wrong, crashing or hanging ``fn`` (a KeyboardInterrupt still stops it).
    """
    exercise = EXERCISES.get(name) if isinstance(name, str) else None
    if exercise is None:
        close = difflib.get_close_matches(str(name), EXERCISES, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(EXERCISES))
        return _verdict(verbose, False, f"❌ there is no exercise called {name!r}.{hint} "
                                        f"Known exercises: {known}.")
    if not callable(fn):
        return _verdict(verbose, False, f"❌ {name}: expected a function {exercise.signature}, "
                                        f"got {type(fn).__name__} {fn!r:.60}.")
    module = str(getattr(fn, "__module__", ""))
    if module.startswith("seqlearn.") and module != __name__:
        return _verdict(verbose, False, f"❌ {name}: this is the course's own function "
                                        f"({fn.__module__}.{getattr(fn, '__name__', '?')}); "
                                        "the exercise is to write it yourself.")
    # The fixed cases (the same every run, shown when they fail), then the random ones
    # again from a fresh seed, so that an answer cannot be a table of the fixed cases.
    cases = exercise.cases(np.random.default_rng(0))
    n_fixed = len(cases)
    cases += exercise.cases(np.random.default_rng())[-1:]
    for i, args in enumerate(cases):
        problem = _check_case(exercise, fn, args)
        if problem is not None:
            label = getattr(fn, "__name__", "fn")
            first = (f"❌ {name}: case {i + 1} of {n_fixed} fails." if i < n_fixed else
                     f"❌ {name}: the {n_fixed} fixed cases pass, but a random one (new "
                     f"every run) fails.")
            lines = [first,
                     f"   called: {label}({_describe_args(exercise.arg_names, args)})"]
            lines += ["   " + line for line in problem]
            if not problem[0].startswith(_HANG):  # a hang is not run a second time
                slip = _known_mistake(exercise, fn, cases)
                if slip:
                    lines.append(f"   hint: {slip}")
            return _verdict(verbose, False, "\n".join(_wrap(lines)))
    return _verdict(verbose, True, f"✅ {name}: all {n_fixed} cases match the reference.")


def _wrap(lines, width=76):
    """Lines folded to ``width`` characters, continuations indented (notebook-friendly)."""
    out = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(line, width=width, subsequent_indent=indent,
                             break_on_hyphens=False) or [""]
    return out


def _verdict(verbose, ok, message):
    if verbose:
        print(message)
    return ok


def _check_case(exercise, fn, args):
    """None when ``fn(*args)`` matches the reference, else lines saying why not."""
    try:
        expected = exercise.reference(*copy.deepcopy(args))
    except Exception as exc:  # a bug of ours, not the student's
        return [f"internal error: the reference raised {type(exc).__name__}: {exc}. "
                "Please report this."]
    student_args = copy.deepcopy(args)
    try:
        with _time_limit(TIME_LIMIT_S):
            got = fn(*student_args)
    except _Timeout:
        return [f"{_HANG} {TIME_LIMIT_S:g} s: an endless loop?"]
    except NotImplementedError:
        return ["problem: not implemented yet: replace `raise NotImplementedError` with your code."]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit and the student's own BaseException classes too
        return [f"problem: your function raised {type(exc).__name__}: {exc}"] + _where(exc)
    return _compare(expected, got, exercise.rtol, exercise.atol, "the result")


_HANG = "problem: no answer after"


def _known_mistake(exercise, fn, cases):
    """The description of the known mistake that reproduces ``fn`` on every case, or None.

    Matching all cases, not only the failing one, keeps two slips that agree
    on one input (an impulse, say) from being confused.
    """
    answers = []
    for args in cases:
        try:
            with _time_limit(TIME_LIMIT_S):
                answers.append((args, fn(*copy.deepcopy(args))))
        except KeyboardInterrupt:
            raise
        except BaseException:
            return None
    for description, wrong in exercise.mistakes.items():
        try:
            tol = exercise.rtol, exercise.atol
            with warnings.catch_warnings():   # a known slip may be an unstable system
                warnings.simplefilter("ignore")
                matched = all(_compare(wrong(*copy.deepcopy(args)), got, *tol, "") is None
                              for args, got in answers)
        except Exception:
            continue
        if matched:
            return description
    return None


def _compare(expected, got, rtol, atol, what):
    """None when ``got`` equals ``expected`` within tolerance, else lines saying how not."""
    if isinstance(expected, tuple):
        arr = None if isinstance(got, (tuple, list)) else _to_array(got)
        if arr is not None and arr.ndim >= 1 and len(arr) == len(expected):
            got = list(arr)                  # np.array([a, b]) holds the same pair
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return [f"problem: {what} should be a tuple of {len(expected)} arrays, "
                    f"got {_kind(got)}."]
        flat = not any(isinstance(e, tuple) for e in expected)
        shapes = [np.shape(e) for e in expected] if flat else []
        got_shapes = [np.shape(_to_array(g)) if _to_array(g) is not None else None
                      for g in got] if flat else []
        if flat and len(set(map(str, shapes))) == len(shapes) and got_shapes != shapes \
                and sorted(map(str, got_shapes)) == sorted(map(str, shapes)):
            return [f"problem: the entries of {what} have shapes {got_shapes}, expected "
                    f"{shapes}.", "hint: the entries look swapped: return them in the order "
                    "of the signature."]
        for k, (e, g) in enumerate(zip(expected, got)):
            problem = _compare(e, g, rtol, atol, f"{what}[{k}]")
            if problem is not None:
                return problem
        return None
    if got is None:
        return [f"problem: {what} is None: did the function forget to `return`?"]
    g = _to_array(got)
    if g is None:
        return [f"problem: {what} should be an array of numbers, got {_kind(got)}."]
    e = np.asarray(expected)
    if g.shape != e.shape:
        lines = [f"problem: {what} has shape {g.shape}, expected {e.shape}."]
        if g.ndim == e.ndim and g.shape == e.shape[::-1]:
            lines.append("hint: the axes look swapped (a transpose?).")
        elif g.ndim == e.ndim and sorted(g.shape) == sorted(e.shape):
            lines.append("hint: the same axes in another order (np.transpose or "
                         "np.moveaxis?).")
        elif g.size == e.size:
            lines.append("hint: the right number of entries in the wrong shape (a reshape?).")
        return lines
    if e.dtype == bool:
        if g.dtype != bool:
            return [f"problem: {what} should be a boolean array (True/False), got dtype {g.dtype}."]
        if np.array_equal(g, e):
            return None
        index = tuple(int(i) for i in np.argwhere(g != e)[0])
        return [f"problem: {what} differs at index {index}: expected {e[index]}, got {g[index]}; "
                f"{int((g != e).sum())} of {e.size} entries differ."]
    if not np.isfinite(g).all() and np.isfinite(e).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        return [f"problem: {what} contains {g[index]} at index {index}; expected {e[index]:.6g}."]
    if np.allclose(g, e, rtol=rtol, atol=atol):
        return None
    excess = np.abs(g - e) - (atol + rtol * np.abs(e))
    index = np.unravel_index(int(np.argmax(excess)), e.shape) if e.ndim else ()
    index = tuple(int(i) for i in index)
    n_bad = int((excess > 0).sum())
    at = f" at index {index}" if index else ""
    return [f"problem: {what} differs{at}: expected {e[index]:.6g}, got {g[index]:.6g} "
            f"(off by {abs(g[index] - e[index]):.3g}; tolerance {atol:g} + {rtol:g}·|expected|).",
            f"{n_bad} of {e.size} entries are off."]


def _to_array(value):
    """``value`` as a numeric ndarray (torch tensors included), or None."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        return None
    return arr


def _kind(value):
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__} {value!r:.60}"


def _describe_args(names, args):
    parts = []
    for name, value in zip(names, args):
        arr = np.asarray(value) if isinstance(value, (np.ndarray, list)) else None
        if arr is not None and arr.ndim > 0:
            text = f"{name}=array of shape {arr.shape}"
            if arr.size <= 8:
                text += " " + np.array2string(arr, precision=3, separator=", ")
        else:
            text = f"{name}={value!r}"
        parts.append(text)
    return ", ".join(parts)


def _where(exc):
    """The line of the student's code where ``exc`` was raised, if it is theirs."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    if not frames:
        return []
    last = frames[-1]
    return [f"   at line {last.lineno} of {last.name}: {last.line}"] if last.line else []


class _Timeout(Exception):
    pass


class _time_limit:
    """Raise _Timeout in the main thread after ``seconds`` (POSIX only; elsewhere no limit)."""

    def __init__(self, seconds):
        self.seconds = seconds
        main_thread = threading.current_thread() is threading.main_thread()
        self.active = hasattr(signal, "setitimer") and main_thread

    def _alarm(self, signum, frame):
        raise _Timeout()

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc_info):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False
