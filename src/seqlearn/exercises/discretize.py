"""Chapter 5's exercises on discretization: the bilinear transform, the diagonal ZOH.

(The chapter's third exercise, the SSM convolution kernel, is in ``ssm``.)
"""

import numpy as np

from seqlearn import discretize
from seqlearn.exercises._checker import Exercise, _register
from seqlearn.exercises._random import stable


def _bilinear_cases(rng):
    oscillator = np.array([[0.0, 1.0], [-4.0, -0.4]])  # x'' + 0.4 x' + 4 x = u
    return [(np.array([[-1.0]]), np.array([1.0]), 0.1),
            (oscillator, np.array([0.0, 1.0]), 0.05),
            (stable(rng, 4), rng.standard_normal(4), 0.3)]


def _bilinear_hidden(rng):
    cases = []
    for _ in range(2):
        N = int(rng.integers(2, 7))
        cases.append((stable(rng, N), rng.standard_normal(N), float(rng.uniform(0.01, 0.1))))
    return cases


_register(Exercise(
    name="discretize.bilinear",
    signature="bilinear(A, B, dt) -> (Ab, Bb); A (N, N), B (N,)",
    reference=lambda A, B, dt: discretize.discretize(A, B, dt, "bilinear"),
    arg_names=("A", "B", "dt"),
    cases=_bilinear_cases,
    hidden=_bilinear_hidden,
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


def _zoh_diag_cases(rng):
    return [(np.array([-1.0]), np.array([1.0]), 0.1),
            (-rng.uniform(0.1, 2, 5), rng.standard_normal(5), 0.5),
            (-rng.uniform(0.1, 1, 4) + 1j * rng.uniform(-3, 3, 4), np.ones(4), 0.2)]


def _zoh_diag_hidden(rng):
    N, M = (int(n) for n in rng.integers(2, 9, 2))
    return [(-rng.uniform(0.1, 2, N), rng.standard_normal(N), float(rng.uniform(0.01, 1))),
            (-rng.uniform(0.1, 1, M) + 1j * rng.uniform(-3, 3, M), rng.standard_normal(M),
             float(rng.uniform(0.01, 1)))]


_register(Exercise(
    name="discretize.zoh_diag",
    signature="zoh_diag(A_diag, B, dt) -> (Ab, Bb), elementwise, A_diag (N,) real or complex",
    reference=lambda A, B, dt: discretize.discretize_diag(A, B, dt, "zoh"),
    arg_names=("A_diag", "B", "dt"),
    cases=_zoh_diag_cases,
    hidden=_zoh_diag_hidden,
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
