"""Chapter 6's exercises: S4 (the S4D kernel, the Cauchy kernel, rebuilding A from NPLR factors)."""

import numpy as np

from seqlearn import s4
from seqlearn.exercises._checker import Exercise, _register


def _s4d_cases(rng):
    return [(np.array([-0.5]), np.array([1.0]), np.array([1.0]), 0.1, 5),
            (-rng.uniform(0.1, 1, 4), rng.standard_normal(4), rng.standard_normal(4), 0.05, 20),
            (s4.s4d_lin_init(6), np.ones(6), rng.standard_normal(6) + 1j * rng.standard_normal(6),
             0.01, 64)]


def _s4d_hidden(rng):
    N, M = (int(n) for n in rng.integers(2, 9, 2))
    return [(-rng.uniform(0.1, 1, N), rng.standard_normal(N), rng.standard_normal(N),
             float(rng.uniform(0.01, 0.2)), int(rng.integers(2, 40))),
            (-rng.uniform(0.1, 1, M) + 1j * rng.uniform(-5, 5, M), rng.standard_normal(M),
             rng.standard_normal(M) + 1j * rng.standard_normal(M),
             float(rng.uniform(0.01, 0.2)), int(rng.integers(2, 40)))]


def _s4d_euler_b(A, B, C, dt, L):
    A, B, C = np.asarray(A), np.asarray(B), np.asarray(C)
    return (C * dt * B) @ (np.exp(dt * A)[:, None] ** np.arange(L))


_register(Exercise(
    name="s4.s4d_kernel",
    signature="s4d_kernel(A_diag, B, C, dt, L) -> K (L,), K[k] = sum_n C_n Bb_n Ab_n^k (ZOH)",
    reference=lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L),
    arg_names=("A_diag", "B", "C", "dt", "L"),
    cases=_s4d_cases,
    hidden=_s4d_hidden,
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


def _cauchy_hidden(rng):
    cases = []
    for _ in range(2):
        N, M = (int(n) for n in rng.integers(1, 10, 2))
        cases.append((rng.standard_normal(N) + 1j * rng.standard_normal(N),
                      np.exp(2j * np.pi * rng.uniform(0, 1, M)),
                      -rng.uniform(0.1, 1, N) + 1j * rng.uniform(-5, 5, N)))
    return cases


_register(Exercise(
    name="s4.cauchy",
    signature="cauchy(v, omega, Lambda) -> (len(omega),), sum_n v_n / (omega_j - Lambda_n)",
    reference=s4.cauchy,
    arg_names=("v", "omega", "Lambda"),
    cases=_cauchy_cases,
    hidden=_cauchy_hidden,
    mistakes={
        "the sign is flipped: the Cauchy kernel is v_n / (omega_j - Lambda_n).":
            lambda v, omega, Lam: -s4.cauchy(v, omega, Lam),
    },
))


def _random_factors(rng, N):
    """Random (Lambda, P, V), not LegS's: a random real normal matrix -1/2 I + S'
    (S' skew-symmetric) diagonalised the way ``s4.nplr`` does, and a random P."""
    S = rng.standard_normal((N, N))
    w, V = np.linalg.eigh(1j * (S - S.T))  # i S' = V diag(w) V^*  ->  S' = V diag(-i w) V^*
    return -0.5 - 1j * w, rng.standard_normal(N), V


def _nplr_cases(rng):
    """LegS's own (Lambda, P, V), and random ones, so that an answer which ignores its
    inputs (returns the LegS matrix, say) cannot pass."""
    cases = [tuple(s4.nplr("legs", N)[i] for i in (0, 1, 3)) for N in (2, 5, 8)]
    return cases + [_random_factors(rng, N) for N in (3, 6)]


def _nplr_hidden(rng):
    return [_random_factors(rng, int(N)) for N in rng.integers(2, 10, 2)]


_register(Exercise(
    name="s4.nplr_rebuild",
    signature="rebuild(Lambda, P, V) -> A (N, N) = V diag(Lambda) V^* - P P^T (LegS)",
    # the formula itself, from the given factors; on LegS's own factors it is the
    # HiPPO-LegS matrix (tests/test_exercises.py checks it)
    reference=lambda Lam, P, V: ((V * Lam) @ V.conj().T - np.outer(P, P)).real,
    arg_names=("Lambda", "P", "V"),
    cases=_nplr_cases,
    hidden=_nplr_hidden,
    mistakes={
        "the low-rank term is missing: A = V diag(Lambda) V^* - P P^T.":
            lambda Lam, P, V: (V * Lam) @ V.conj().T,
        "V^T was used instead of the conjugate transpose V^* = V.conj().T.":
            lambda Lam, P, V: (V * Lam) @ V.T - np.outer(P, P),
    },
))
