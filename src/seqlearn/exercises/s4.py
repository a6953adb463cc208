"""Chapter 6's exercises: S4 (rebuilding A from NPLR factors, a Cauchy kernel to debug, the
S4D kernel under the bilinear rule, a conjugate-pair kernel to debug, the low-rank term of
LegT)."""

import numpy as np

from seqlearn import discretize, s4
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


def _s4d_zoh(A, B, C, dt, L):
    return s4.s4d_kernel(A, B, C, dt, L)


def _s4d_bilinear_no_solve_b(A, B, C, dt, L):
    A, B, C = np.asarray(A), np.asarray(B), np.asarray(C)
    Ab = (1 + dt * A / 2) / (1 - dt * A / 2)
    return (C * dt * B) @ (Ab[:, None] ** np.arange(L))


_register(Exercise(
    name="s4.s4d_kernel",
    signature="s4d_kernel(A_diag, B, C, dt, L) -> K (L,), K[k] = sum_n C_n Bb_n Ab_n^k "
              "(bilinear)",
    reference=lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L, method="bilinear"),
    arg_names=("A_diag", "B", "C", "dt", "L"),
    cases=_s4d_cases,
    hidden=_s4d_hidden,
    mistakes={
        "this is the ZOH kernel of the chapter (Ab = exp(dt A)); the exercise asks for "
        "the bilinear rule of chapter 5, specialised to a diagonal A.": _s4d_zoh,
        "Bb = dt * B leaves out the bilinear factor: Bb = dt B / (1 - dt A / 2), the "
        "same denominator as Ab.": _s4d_bilinear_no_solve_b,
        "the powers start at Ab^1: K[0] = sum_n C_n Bb_n has Ab^0 = 1 (k = 0 .. L-1).":
            lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L + 1, method="bilinear")[1:],
    },
    also_refused=(discretize.discretize, discretize.discretize_diag),
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


# ---- Debug: a kernel over conjugate pairs (S4D keeps one mode of each pair)
def _pairs_cases(rng):
    return [(np.array([-0.5 + 1j]), np.array([1.0 + 0j]), np.array([1.0 + 0j]), 0.1, 6),
            (s4.s4d_lin_init(4), np.ones(4, complex),
             rng.standard_normal(4) + 1j * rng.standard_normal(4), 0.05, 30),
            (s4.s4d_inv_init(3), rng.standard_normal(3) + 1j * rng.standard_normal(3),
             rng.standard_normal(3) + 1j * rng.standard_normal(3), 0.01, 50)]


def _pairs_hidden(rng):
    cases = []
    for _ in range(2):
        N = int(rng.integers(1, 8))
        cases.append((-rng.uniform(0.1, 1, N) + 1j * rng.uniform(-5, 5, N),
                      rng.standard_normal(N) + 1j * rng.standard_normal(N),
                      rng.standard_normal(N) + 1j * rng.standard_normal(N),
                      float(rng.uniform(0.01, 0.2)), int(rng.integers(2, 40))))
    return cases


def _pairs_unconjugated(A, B, C, dt, L):
    """The stub's bug: the partner mode reuses Ab and Bb; only C is conjugated."""
    A, B, C = (np.asarray(x, complex) for x in (A, B, C))
    Ab = np.exp(dt * A)
    Bb = (Ab - 1) / A * B
    V = Ab[:, None] ** np.arange(L)
    return ((C * Bb) @ V + (C.conj() * Bb) @ V).real


_register(Exercise(
    name="s4.s4d_pairs_kernel",
    signature="pairs_kernel(A_half, B, C, dt, L) -> K (L,) real: the ZOH kernel of the "
              "modes A_half and conj(A_half)",
    reference=lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L, conj_pairs=True),
    arg_names=("A_half", "B", "C", "dt", "L"),
    cases=_pairs_cases,
    hidden=_pairs_hidden,
    mistakes={
        "the partner of mode n is conj(lambda_n) with conj(B_n) and conj(C_n): its Ab, "
        "Bb and C are all conjugated, so its term is the conjugate of mode n's.":
            _pairs_unconjugated,
        "Re(...) alone keeps half of the pair: the two conjugate terms add to 2 Re(...).":
            lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L, conj_pairs=True) / 2,
    },
    also_refused=(discretize.discretize, discretize.discretize_diag),
))


# ---- Implement: the low-rank term of LegT (rank 2), the NPLR of a new measure
def _legt_low_rank(N):
    P = s4.nplr("legt", N)[1]
    return P.T @ P


_register(Exercise(
    name="s4.legt_low_rank",
    signature="legt_low_rank(N) -> X (N, N), symmetric, rank <= 2, with "
              "hippo_matrix('legt', N)[0] + X skew-symmetric",
    reference=_legt_low_rank,
    arg_names=("N",),
    cases=lambda rng: [(1,), (2,), (3,), (6,)],
    hidden=lambda rng: [(int(n),) for n in rng.integers(4, 16, 2)],
    mistakes={
        "LegS's low-rank term P P^T (P_n = sqrt(n + 1/2)) is not LegT's: LegT's diagonal "
        "is -(2n + 1), and A + X must have a zero diagonal.":
            lambda N: np.outer(np.sqrt(np.arange(N) + 0.5), np.sqrt(np.arange(N) + 0.5)),
        "the sign is flipped: X must cancel the symmetric part of A, X = -(A + A^T) / 2.":
            lambda N: -_legt_low_rank(N),
        "only the even-index term r_e r_e^T: LegT's symmetric part needs both parities, "
        "rank 2.":
            lambda N: np.outer(*(2 * [np.where(np.arange(N) % 2 == 0,
                                               np.sqrt(2 * np.arange(N) + 1.0), 0)])),
    },
))
