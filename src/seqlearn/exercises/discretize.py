"""Chapter 5's exercises on discretization: the bilinear transform (a debugging exercise),
the diagonal ZOH at lambda = 0 and tiny steps, the ZOH of a full (possibly singular) A (a
debugging exercise), and the first-order hold, which the chapter does not show.

(The chapter's kernel exercise, K = (C Bb, C Ab Bb, ...), is in ``ssm``.)
"""

import numpy as np
from scipy.linalg import expm
from scipy.signal import cont2discrete

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
    also_refused=(cont2discrete,),
))


# ------------------------------------------------------------------ ZOH, diagonal A

def _zoh_diag_cases(rng):
    # lambda = 0 (an integrator: Bb = dt B) and |dt lambda| ~ 2e-13, where
    # (exp(z) - 1) / lambda keeps only about 3 digits: the cases a naive formula fails
    return [(np.array([-1.0, 0.0]), np.array([1.0, 2.0]), 0.1),
            (-rng.uniform(0.1, 2, 5), rng.standard_normal(5), 0.5),
            (np.array([-1e-12, -0.5 + 3j, 1e-12j, -2.0]), np.ones(4), 0.2)]


def _zoh_diag_hidden(rng):
    N, M = (int(n) for n in rng.integers(2, 9, 2))
    tiny = -10.0 ** rng.uniform(-14, -12, M) * np.exp(1j * rng.uniform(-1.4, 1.4, M))
    return [(np.append(-rng.uniform(0.1, 2, N), 0.0), rng.standard_normal(N + 1),
             float(rng.uniform(0.01, 1))),
            (np.concatenate([-rng.uniform(0.1, 1, M) + 1j * rng.uniform(-3, 3, M), tiny]),
             rng.standard_normal(2 * M), float(rng.uniform(0.01, 1)))]


def _zoh_diag_naive(A, B, dt):
    A = np.asarray(A)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(dt * A), (np.exp(dt * A) - 1) / A * np.asarray(B)


_register(Exercise(
    name="discretize.zoh_diag",
    signature="zoh_diag(A_diag, B, dt) -> (Ab, Bb), elementwise, A_diag (N,) real or complex, "
              "entries 0 allowed",
    reference=lambda A, B, dt: discretize.discretize_diag(A, B, dt, "zoh"),
    arg_names=("A_diag", "B", "dt"),
    cases=_zoh_diag_cases,
    hidden=_zoh_diag_hidden,
    mistakes={
        "Bb = dt * B is Euler's input matrix; ZOH integrates the input over the step: "
        "Bb = int_0^dt exp(s lambda) ds B.":
            lambda A, B, dt: (np.exp(dt * np.asarray(A)), dt * np.asarray(B)),
        "the division by lambda is missing: Bb = (exp(dt lambda) - 1) / lambda * B.":
            lambda A, B, dt: (np.exp(dt * np.asarray(A)),
                              (np.exp(dt * np.asarray(A)) - 1) * np.asarray(B)),
        "(exp(z) - 1) / lambda is right in exact arithmetic but not in floating point: at "
        "lambda = 0 it is 0/0, and for |z| = |dt lambda| << 1 exp(z) - 1 cancels most "
        "digits. Write Bb = dt * (exp(z) - 1) / z * B with np.expm1, and its limit dt * B "
        "at z = 0.": _zoh_diag_naive,
        "this is the bilinear transform, Ab = (1 + dt A / 2) / (1 - dt A / 2); the zero-order "
        "hold is exact for a piecewise-constant input: Ab = exp(dt A).":
            lambda A, B, dt: discretize.discretize_diag(A, B, dt, "bilinear"),
        "the sign of A is flipped (exp(-dt A) grows): A is already negative, Ab = exp(dt A).":
            lambda A, B, dt: discretize.discretize_diag(-np.asarray(A), B, dt, "zoh"),
    },
    also_refused=(discretize.discretize,),
))


# ------------------------------------------------------------------ ZOH, any A

def _zoh_cases(rng):
    integrator = np.array([[0.0, 1.0], [0.0, -1.0]])   # position, damped velocity: singular
    return [(np.array([[-2.0]]), np.array([1.0]), 0.1),
            (integrator, np.array([0.0, 1.0]), 0.5),
            (stable(rng, 4), rng.standard_normal(4), 0.3)]


def _zoh_hidden(rng):
    N = int(rng.integers(2, 7))
    chain = np.diag(np.ones(N - 1), 1)                  # a chain of integrators: nilpotent
    chain[-1, -1] = -float(rng.uniform(0.1, 2))
    return [(stable(rng, N), rng.standard_normal(N), float(rng.uniform(0.01, 1))),
            (chain, rng.standard_normal(N), float(rng.uniform(0.05, 1)))]


def _zoh_pinv(A, B, dt):
    A = np.asarray(A)
    Ab = expm(dt * A)
    return Ab, np.linalg.pinv(A) @ (Ab - np.eye(len(A))) @ np.asarray(B)


_register(Exercise(
    name="discretize.zoh",
    signature="zoh(A, B, dt) -> (Ab, Bb); A (N, N) (possibly singular), B (N,)",
    reference=lambda A, B, dt: discretize.discretize(A, B, dt, "zoh"),
    arg_names=("A", "B", "dt"),
    cases=_zoh_cases,
    hidden=_zoh_hidden,
    mistakes={
        "the pseudo-inverse is not an inverse: on a singular A, pinv(A) (e^{dt A} - I) B "
        "drops the part of the input that A does not move (an integrator's dt B). "
        "Bb = int_0^dt e^{sA} ds B exists for every A: take it from the exponential of the "
        "block matrix [[A, B], [0, 0]] dt.": _zoh_pinv,
        "this is the bilinear transform, a rational approximation of e^{dt A}; the ZOH "
        "is exact for a held input: Ab = e^{dt A}.":
            lambda A, B, dt: discretize.discretize(A, B, dt, "bilinear"),
        "the block exponential needs the step: its top-right block is int_0^dt e^{sA} ds B "
        "only for expm(dt * [[A, B], [0, 0]]), not expm([[A, B], [0, 0]]).":
            lambda A, B, dt: (expm(dt * np.asarray(A)),
                              discretize.discretize(A, B, 1.0, "zoh")[1]),
    },
    also_refused=(cont2discrete,),
))


# ------------------------------------------------------------------ first-order hold

def _foh(A, B, dt):
    """The first-order hold: u linear between u_{k-1} and u_k over the step, so
    x_k = Ab x_{k-1} + B0 u_{k-1} + B1 u_k with Ab = e^{dt A} and
        B1 = int_0^dt e^{(dt - s) A} B (s / dt) ds,   B0 = int_0^dt e^{s A} ds B - B1,
    both read off the exponential of dt [[A, B, 0], [0, 0, 1/dt], [0, 0, 0]]."""
    A = np.asarray(A, dtype=float)
    B = np.asarray(B, dtype=float)
    N = len(A)
    M = np.zeros((N + 2, N + 2))
    M[:N, :N], M[:N, N], M[N, N + 1] = A, B, 1.0 / dt
    E = expm(dt * M)
    return E[:N, :N], E[:N, N] - E[:N, N + 1], E[:N, N + 1]


def _foh_cases(rng):
    oscillator = np.array([[0.0, 1.0], [-4.0, -0.4]])
    return [(np.array([[-1.0]]), np.array([1.0]), 0.5),
            (oscillator, np.array([0.0, 1.0]), 0.2),
            (np.array([[0.0, 1.0], [0.0, -1.0]]), np.array([0.0, 1.0]), 1.0)]


def _foh_hidden(rng):
    cases = []
    for _ in range(2):
        N = int(rng.integers(2, 6))
        cases.append((stable(rng, N), rng.standard_normal(N), float(rng.uniform(0.05, 1))))
    return cases


_register(Exercise(
    name="discretize.foh",
    signature="foh(A, B, dt) -> (Ab, B0, B1): x_k = Ab x_{k-1} + B0 u_{k-1} + B1 u_k for an "
              "input linear between the samples; A (N, N), B (N,)",
    reference=_foh,
    arg_names=("A", "B", "dt"),
    cases=_foh_cases,
    hidden=_foh_hidden,
    outputs=("Ab", "B0", "B1"),
    mistakes={
        "B0 and B1 are swapped: the newest sample u_k weighs the end of the step, where "
        "e^{(dt - s) A} is closest to I, so B1 = int_0^dt e^{(dt - s) A} B (s / dt) ds.":
            lambda A, B, dt: (lambda r: (r[0], r[2], r[1]))(_foh(A, B, dt)),
        "this splits the ZOH's Bb in halves (the trapezoid's average of u_{k-1} and u_k): "
        "the weight s/dt of u_k changes along the step, inside the integral with "
        "e^{(dt - s) A}.":
            lambda A, B, dt: (lambda Ab, Bb: (Ab, Bb / 2, Bb / 2))(
                *discretize.discretize(A, B, dt, "zoh")),
        "this is the ZOH (B0 = 0, B1 = Bb): a first-order hold interpolates the input "
        "between u_{k-1} and u_k, so both samples enter.":
            lambda A, B, dt: (lambda Ab, Bb: (Ab, 0 * Bb, Bb))(
                *discretize.discretize(A, B, dt, "zoh")),
    },
))
