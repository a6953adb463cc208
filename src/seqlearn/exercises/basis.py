"""Chapter 3's exercises: signals and bases (Legendre polynomials, projection, reconstruction)."""

import numpy as np

from seqlearn import basis
from seqlearn.exercises._checker import Exercise, _register


def _legendre_cases(rng):
    return [(3, np.linspace(0, 1, 5), (0.0, 1.0)),
            (6, np.sort(rng.uniform(2, 5, 9)), (2.0, 5.0)),
            (1, np.array([0.25]), (0.0, 1.0))]


def _legendre_hidden(rng):
    cases = []
    for _ in range(2):
        t0, T = float(rng.uniform(-3, 3)), float(rng.uniform(0.5, 4))
        s = np.sort(rng.uniform(t0, t0 + T, int(rng.integers(3, 20))))
        cases.append((int(rng.integers(2, 9)), s, (t0, t0 + T)))
    return cases


def _legendre_unscaled(N, s, window):
    return basis.legendre(N, s, window) / np.sqrt(2 * np.arange(N) + 1)[:, None] \
        * np.sqrt(window[1] - window[0])


_register(Exercise(
    name="basis.legendre",
    signature="legendre(N, s, window) -> (N, len(s)), orthonormal shifted Legendre on window",
    reference=basis.legendre,
    arg_names=("N", "s", "window"),
    cases=_legendre_cases,
    hidden=_legendre_hidden,
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


def _project_hidden(rng):
    cases = []
    for _ in range(2):
        t0, T, M = float(rng.uniform(-2, 2)), float(rng.uniform(0.5, 4)), int(rng.integers(20, 200))
        cases.append((rng.standard_normal(M), np.linspace(t0, t0 + T, M), int(rng.integers(2, 9))))
    return cases


def _project_riemann(f, t, N):
    t = np.asarray(t)
    return basis.legendre(N, t, (t[0], t[-1])) @ np.asarray(f) * (t[1] - t[0])


_register(Exercise(
    name="basis.project",
    signature="project(f, t, N) -> c (N,), Legendre coefficients of samples f on [t[0], t[-1]]",
    reference=lambda f, t, N: basis.project(f, t, "legendre", N),
    arg_names=("f", "t", "N"),
    cases=_project_cases,
    hidden=_project_hidden,
    mistakes={
        "a plain Riemann sum (every sample weighted dt): the trapezoid rule gives the two "
        "end samples half a step.": _project_riemann,
    },
))


def _reconstruct_cases(rng):
    return [(np.array([1.0, 0.0, 0.0]), np.linspace(0, 1, 5)),
            (rng.standard_normal(6), np.linspace(0, 2, 40)),
            (rng.standard_normal((2, 4)), np.linspace(-1, 3, 7))]


def _reconstruct_hidden(rng):
    t0, T = float(rng.uniform(-2, 2)), float(rng.uniform(0.5, 4))
    return [(rng.standard_normal(int(rng.integers(2, 9))),
             np.linspace(t0, t0 + T, int(rng.integers(3, 30)))),
            (rng.standard_normal((int(rng.integers(1, 4)), int(rng.integers(2, 9)))),
             np.linspace(-t0, -t0 + T, int(rng.integers(3, 30))))]


_register(Exercise(
    name="basis.reconstruct",
    signature="reconstruct(c, t) -> f_N(t) of shape (..., len(t)), Legendre on [t[0], t[-1]]",
    reference=lambda c, t: basis.reconstruct(c, t, "legendre"),
    arg_names=("c", "t"),
    cases=_reconstruct_cases,
    hidden=_reconstruct_hidden,
))
