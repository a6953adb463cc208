"""Chapter 4's exercises: HiPPO (reconstruction from LegS, LagT from its measure, a LegT
matrix and an online LegS update to debug, an O(N) LegS step, LegS after a silence)."""

import numpy as np
from scipy.linalg import expm

from seqlearn import basis, hippo
from seqlearn.exercises._checker import Exercise, _register


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
        "the 1/theta is missing: d/dt of L_n((t - s)/theta) brings a factor 1/theta, and so "
        "does the measure's value at s = t.":
            lambda N, theta: tuple(M * theta for M in hippo.hippo_matrix("lagt", N, theta)),
        "this is the variant with I/2 on the diagonal (Laguerre functions exp(-x/2) L_n, as "
        "in S4's code); the measure (1/theta) exp(-(t-s)/theta) with the polynomials L_n "
        "gives A = -tril(ones) / theta.": _lagt_with_half,
        "A has the wrong sign: the derivative of the measure, -(1/theta) times itself, and "
        "L_n' = -sum_{k<n} L_k both enter with a minus (A stable, B positive).":
            lambda N, theta: (-hippo.hippo_matrix("lagt", N, theta)[0],
                              hippo.hippo_matrix("lagt", N, theta)[1]),
        "A is upper triangular: row n (the coefficient c_n being updated) reads c_0 .. c_n, "
        "so A is lower triangular.":
            lambda N, theta: (hippo.hippo_matrix("lagt", N, theta)[0].T,
                              hippo.hippo_matrix("lagt", N, theta)[1]),
        "the diagonal is missing: d/dt c_n gets -c_n / theta from the measure itself, "
        "besides -sum_{k<n} c_k / theta from L_n'.":
            lambda N, theta: (hippo.hippo_matrix("lagt", N, theta)[0] + np.eye(N) / theta,
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
        "the factor sqrt(2n + 1) is missing: int_{-1}^{1} P_n^2 = 2 / (2n + 1), so the "
        "orthonormal basis for ds / t is g_n(s; t) = sqrt(2n+1) P_n(2 s / t - 1).":
            lambda c, t, s: hippo.reconstruct(
                "legs", np.asarray(c) / np.sqrt(2 * np.arange(np.shape(c)[-1]) + 1), t, s),
    },
    also_refused=(basis.measure_basis,),
))


def _legt_hidden(rng):
    return [(int(rng.integers(3, 12)), float(rng.uniform(0.3, 4.0))) for _ in range(2)]


def _legt_transposed(N, theta):
    A, B = hippo.hippo_matrix("legt", N, theta)
    return A.T, B


_register(Exercise(
    name="hippo.legt",
    signature="legt(N, theta) -> (A (N, N), B (N,)), HiPPO-LegT, x' = A x + B u",
    reference=lambda N, theta: hippo.hippo_matrix("legt", N, theta),
    arg_names=("N", "theta"),
    cases=lambda rng: [(1, 1.0), (4, 1.0), (5, 2.5)],
    hidden=_legt_hidden,
    mistakes={
        "A is transposed: the alternating sign (-1)^(n-k) belongs ABOVE the diagonal "
        "(k > n), where it comes from f(t - theta) ~ sum_k (-1)^k r_k c_k times (-1)^n; "
        "below it the term of P_n' turns -1 into +1.": _legt_transposed,
        "the term of P_n' is missing: A_nk = -(-1)^(n-k) r_n r_k / theta everywhere comes "
        "from the window's two ends only; the basis moves too.":
            lambda N, theta: (-np.outer(np.sqrt(2 * np.arange(N) + 1.0),
                                        np.sqrt(2 * np.arange(N) + 1.0))
                              * (-1.0) ** np.add.outer(np.arange(N), np.arange(N)) / theta,
                              hippo.hippo_matrix("legt", N, theta)[1]),
        "the 1/theta is missing: the measure's density on the window is 1/theta, and "
        "d/dt of P_n(2 (s - t)/theta + 1) brings 2/theta.":
            lambda N, theta: tuple(M * theta for M in hippo.hippo_matrix("legt", N, theta)),
    },
))


def _legs_online_reference(f, N):
    return hippo.online_coefficients("legs", f, 1.0, N)


def _legs_online_latest(f, N):
    """The bug of the exercise's stub: u_k = f_k (first order), not (f_{k-1} + f_k) / 2."""
    f = np.asarray(f, float)
    n = np.arange(N)
    r = np.sqrt(2 * n + 1.0)
    A = -np.tril(np.outer(r, r), -1) - np.diag(n + 1.0)
    c = np.zeros((f.size, N))
    c[0, 0] = f[0]
    for k in range(1, f.size):
        s = k - 0.5
        c[k] = np.linalg.solve(s * np.eye(N) - A / 2, (s * np.eye(N) + A / 2) @ c[k - 1]
                               + r * f[k])
    return c


def _legs_online_cases(rng):
    return [(np.ones(4), 3), (np.sin(0.3 * np.arange(12)), 5), (rng.standard_normal(30), 8)]


def _legs_online_hidden(rng):
    return [(rng.standard_normal(int(rng.integers(5, 60))), int(rng.integers(2, 12)))
            for _ in range(2)]


_register(Exercise(
    name="hippo.legs_online",
    signature="legs_online(f, N) -> c (L, N), LegS coefficients of the samples f (L,), "
              "bilinear steps",
    reference=_legs_online_reference,
    arg_names=("f", "N"),
    cases=_legs_online_cases,
    hidden=_legs_online_hidden,
    # two float64 solvers of the same well-conditioned triangular systems (LAPACK's LU and a
    # triangular solve): 7.5e-16 of max|f| measured over 200 random (L <= 200, N <= 20)
    # cases; the bilinear LegS steps are contractive, so rounding does not grow with L.
    # rtol 1e-9 and atol 1e-10 leave a margin of 1e5, far below the bug's O(1) change
    rtol=1e-9, atol=1e-10,
    mistakes={
        "step k feeds the newest sample f_k alone (S4's convention): the bilinear (trapezoid) "
        "rule needs the average u_k = (f_{k-1} + f_k) / 2, else the update is first order.":
            _legs_online_latest,
    },
))


def _legs_step_reference(c, f, h):
    N = np.shape(c)[-1]
    A, B = hippo.hippo_matrix("legs", N)
    return np.linalg.solve(np.eye(N) - h * A, np.asarray(c, float) + h * B * f)


def _legs_step_cases(rng):
    return [(np.array([1.0, 0.0, 0.0]), 0.0, 0.5), (np.zeros(4), 1.0, 0.1),
            (rng.standard_normal(7), 0.3, 2.0)]


def _legs_step_hidden(rng):
    return [(rng.standard_normal(int(rng.integers(2, 25))), float(rng.standard_normal()),
             float(rng.uniform(0.01, 3.0))) for _ in range(2)]


def _legs_step_old_sum(c, f, h):
    c = np.asarray(c, float)
    n = np.arange(c.shape[-1])
    r = np.sqrt(2 * n + 1.0)
    below = np.cumsum(r * c) - r * c   # sum_{k<n} r_k c_k of the OLD state
    return (c + h * r * (f - below)) / (1 + h * (n + 1))


_register(Exercise(
    name="hippo.legs_step",
    signature="legs_step(c, f, h) -> c_next (N,), the backward-Euler LegS step "
              "(I - h A) c_next = c + h B f",
    reference=_legs_step_reference,
    arg_names=("c", "f", "h"),
    cases=_legs_step_cases,
    hidden=_legs_step_hidden,
    # forward substitution against LAPACK's LU of the same lower-triangular system, whose
    # diagonal 1 + h (n + 1) >= 1 keeps it well conditioned: 2.9e-15 of max(|c_next|, |f|)
    # measured over 2,000 random cases (N <= 24, h <= 3); rtol 1e-10, atol 1e-12 leave 1e3
    rtol=1e-10, atol=1e-12,
    mistakes={
        "the step is forward Euler, c + h (A c + B f): the exercise asks for the implicit "
        "step (I - h A) c_next = c + h B f, one forward substitution.":
            lambda c, f, h: np.asarray(c, float) + h * (
                hippo.hippo_matrix("legs", np.shape(c)[-1])[0] @ c
                + hippo.hippo_matrix("legs", np.shape(c)[-1])[1] * f),
        "the running sum reads the old coefficients c_k: the implicit step reads the new "
        "ones, sum_{k<n} r_k c_next_k, so compute c_next_0, c_next_1, ... in order "
        "(forward substitution).": _legs_step_old_sum,
    },
    also_refused=(hippo.online_coefficients,),
))


def _legs_silence_reference(c, rho):
    A, _ = hippo.hippo_matrix("legs", np.shape(c)[-1])
    return expm(np.log(rho) * A) @ np.asarray(c, float)


def _legs_silence_cases(rng):
    return [(np.array([1.0, 0.0, 0.0]), 2.0), (np.array([0.0, 1.0, 0.0, 0.0]), 1.5),
            (rng.standard_normal(6), 3.0)]


def _legs_silence_hidden(rng):
    return [(rng.standard_normal(int(rng.integers(2, 13))), float(rng.uniform(1.05, 5.0)))
            for _ in range(2)]


_register(Exercise(
    name="hippo.legs_silence",
    signature="legs_silence(c, rho) -> c(rho t) (N,), LegS coefficients after f = 0 on "
              "(t, rho t], from c(t)",
    reference=_legs_silence_reference,
    arg_names=("c", "rho"),
    cases=_legs_silence_cases,
    hidden=_legs_silence_hidden,
    # the two exact routes (expm of ln(rho) A; re-projecting the reconstruction with an
    # N-node Gauss rule, exact for these degree-(2N - 2) integrands) agree to 5.9e-14 of
    # max|c| over 500 random cases (N <= 15, rho <= 5); atol 1e-10 (and rtol 1e-8) leave
    # 1e3, while every slip changes the answer by O(1)
    rtol=1e-8, atol=1e-10,
    mistakes={
        "the measure's own decay is missing: c(rho t) = (1 / rho) times the projection of "
        "the old reconstruction; the weight ds / (rho t) spreads over the longer window.":
            lambda c, rho: rho * _legs_silence_reference(c, rho),
        "the coefficients were only scaled, c / rho: the basis changes too (its argument "
        "becomes 2 s / (rho t) - 1), so the old history is re-expanded in the new basis.":
            lambda c, rho: np.asarray(c, float) / rho,
        "exp(-ln(rho) A) grows: with f = 0, LegS reads dc/d(ln t) = A c, so c(rho t) = "
        "exp(ln(rho) A) c(t), and A's eigenvalues are negative.":
            lambda c, rho: _legs_silence_reference(c, 1.0 / rho),
    },
    also_refused=(hippo.online_coefficients,),
))
