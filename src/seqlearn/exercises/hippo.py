"""Chapter 4's exercises: HiPPO (the LegS and LagT matrices, reconstruction from LegS)."""

import numpy as np

from seqlearn import hippo
from seqlearn.exercises._checker import Exercise, _register


def _legs_hidden(rng):
    return [(int(N),) for N in rng.choice(np.arange(9, 25), 2, replace=False)]


_register(Exercise(
    name="hippo.legs",
    signature="legs(N) -> (A (N, N), B (N,)), HiPPO-LegS in the convention x' = A x + B u",
    reference=lambda N: hippo.hippo_matrix("legs", N),
    arg_names=("N",),
    cases=lambda rng: [(1,), (3,), (8,)],
    hidden=_legs_hidden,
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


def _lagt_hidden(rng):
    return [(int(rng.integers(2, 12)), float(rng.uniform(0.3, 4.0))) for _ in range(2)]


def _lagt_with_half(N, theta):
    A, B = hippo.hippo_matrix("lagt", N, theta)
    return A + np.eye(N) / (2 * theta), B


_register(Exercise(
    name="hippo.lagt",
    signature="lagt(N, theta) -> (A (N, N), B (N,)), HiPPO-LagT, x' = A x + B u",
    reference=lambda N, theta: hippo.hippo_matrix("lagt", N, theta),
    arg_names=("N", "theta"),
    cases=lambda rng: [(1, 1.0), (4, 1.0), (6, 2.5)],
    hidden=_lagt_hidden,
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


def _legs_reconstruct_hidden(rng):
    cases = []
    for shape in ((int(rng.integers(2, 9)),), (int(rng.integers(1, 4)), int(rng.integers(2, 9)))):
        t = float(rng.uniform(0.5, 5))
        cases.append((rng.standard_normal(shape), t,
                      np.sort(rng.uniform(0, t, int(rng.integers(3, 20))))))
    return cases


_register(Exercise(
    name="hippo.legs_reconstruct",
    signature="legs_reconstruct(c, t, s) -> f(s) for s in [0, t], from LegS coefficients c(t)",
    reference=lambda c, t, s: hippo.reconstruct("legs", c, t, s),
    arg_names=("c", "t", "s"),
    cases=_legs_reconstruct_cases,
    hidden=_legs_reconstruct_hidden,
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
