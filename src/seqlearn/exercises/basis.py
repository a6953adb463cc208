"""Chapter 3's exercises: signals and bases (Legendre polynomials, projection, reconstruction,
Fourier coefficients to debug, the derivative on the Legendre basis) and HiPPO's
time-varying measures."""

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


def _reconstruct_with(c, t, rows):
    """sum_n c_n rows[n] for rows (N, M)."""
    return np.asarray(c) @ rows


def _reconstruct_fixed_window(c, t):
    return _reconstruct_with(c, t, basis.legendre(np.shape(c)[-1], t, (0.0, 1.0)))


def _reconstruct_unnormalised(c, t):
    N = np.shape(c)[-1]
    return _reconstruct_with(c, t, basis.legendre(N, t, (t[0], t[-1]))
                             / np.sqrt((2 * np.arange(N) + 1) / (t[-1] - t[0]))[:, None])


def _reconstruct_no_T(c, t):
    N = np.shape(c)[-1]
    return _reconstruct_with(c, t, basis.legendre(N, t, (t[0], t[-1])) * np.sqrt(t[-1] - t[0]))


def _reconstruct_dropped(c, t):
    c = np.asarray(c)
    N = c.shape[-1]
    if N < 2:
        return np.zeros(c.shape[:-1] + (len(t),))
    return c[..., :N - 1] @ basis.legendre(N - 1, t, (t[0], t[-1]))


_register(Exercise(
    name="basis.reconstruct",
    signature="reconstruct(c, t) -> f_N(t) of shape (..., len(t)), Legendre on [t[0], t[-1]]",
    reference=lambda c, t: basis.reconstruct(c, t, "legendre"),
    arg_names=("c", "t"),
    cases=_reconstruct_cases,
    hidden=_reconstruct_hidden,
    mistakes={
        "the basis sits on the fixed window [0, 1]: the window of the coefficients is "
        "[t[0], t[-1]], so map with t0 = t[0] and T = t[-1] - t[0].": _reconstruct_fixed_window,
        "the plain Legendre polynomials P_n are used: the orthonormal functions carry the "
        "factor sqrt((2n + 1) / T).": _reconstruct_unnormalised,
        "the factor is sqrt(2n + 1) without the window length: the orthonormal functions "
        "carry sqrt((2n + 1) / T), T = t[-1] - t[0].": _reconstruct_no_T,
        "the last coefficient is dropped (range(N - 1) or c[:-1]?): the sum runs over all "
        "N coefficients, n = 0 .. N-1.": _reconstruct_dropped,
    },
    # hippo.reconstruct (through measure_basis), shown in the chapter, sums the same series
    # in one call; basis.legendre, the previous exercise, stays a building block
    also_refused=(basis.measure_basis,),
))


# ------------------------------------------------------------- the time-varying measures

def _measures(s, t, theta):
    """The reference: the densities of LegT, LagT and LegS at the present t, rows (3, M)."""
    return np.stack([basis.measure(kind, s, t, theta) for kind in ("legt", "lagt", "legs")])


def _measure_cases(rng):
    return [(np.linspace(-3.0, 3.0, 13), 2.0, 1.5), (np.linspace(-1.0, 4.0, 11), 1.0, 1.0),
            (np.sort(rng.uniform(-4, 4, 9)), 2.5, 2.0)]


def _measure_hidden(rng):
    cases = []
    for _ in range(2):
        t, theta = float(rng.uniform(0.5, 5)), float(rng.uniform(0.3, 3))
        s = rng.uniform(-2, t + 2, int(rng.integers(8, 20)))
        # always some future, some past beyond the window and some time before 0
        s = np.sort(np.concatenate([s, [t + 0.5, min(t - theta, 0.0) - 0.5]]))
        cases.append((s, t, theta))
    return cases


def _measure_slip(legt=None, lagt=None, legs=None):
    """The reference, with the formula of some rows replaced (a known slip)."""
    def wrong(s, t, theta):
        s = np.asarray(s, dtype=float)
        rows = []
        for kind, slip in (("legt", legt), ("lagt", lagt), ("legs", legs)):
            rows.append(slip(s, t, theta) if slip else basis.measure(kind, s, t, theta))
        return np.stack(rows)
    return wrong


_register(Exercise(
    name="basis.measure",
    signature="measures(s, t, theta) -> (3, len(s)): the densities of HiPPO's LegT, LagT "
              "and LegS measures at the present t, in that order",
    reference=_measures,
    arg_names=("s", "t", "theta"),
    cases=_measure_cases,
    hidden=_measure_hidden,
    also_refused=(basis.measure,),   # called from a generator inside the reference
    mistakes={
        "LagT (row 1) weighs the future too: exp(-(t - s) / theta) must be cut to 0 for "
        "s > t (the measure lives on the past, s <= t).":
            _measure_slip(lagt=lambda s, t, th: np.exp(-(t - s) / th) / th),
        "LagT (row 1) has no 1/theta: the density (1/theta) exp(-(t - s)/theta) integrates "
        "to 1 only with it.":
            _measure_slip(lagt=lambda s, t, th: np.where(s <= t, np.exp(-(t - s) / th), 0.0)),
        "the LagT exponent (row 1) has the wrong sign: the weight must fade into the past, "
        "exp(-(t - s) / theta) with t - s >= 0.":
            _measure_slip(lagt=lambda s, t, th: np.where(s <= t, np.exp((t - s) / th) / th, 0.0)),
        "LegT (row 0) is the indicator alone: the density is (1/theta) on [t - theta, t], "
        "so that it integrates to 1.":
            _measure_slip(legt=lambda s, t, th: ((s >= t - th) & (s <= t)).astype(float)),
        "the LegT window (row 0) points forward: it is the last theta of the past, "
        "[t - theta, t].":
            _measure_slip(legt=lambda s, t, th: np.where((s >= t) & (s <= t + th), 1 / th, 0.0)),
        "LegS (row 2) is the indicator alone: the density is (1/t) on [0, t] (it scales "
        "with t).":
            _measure_slip(legs=lambda s, t, th: ((s >= 0) & (s <= t)).astype(float)),
        "LegS (row 2) uses theta: it has no window length, its density is (1/t) on [0, t].":
            _measure_slip(legs=lambda s, t, th: np.where((s >= t - th) & (s <= t), 1 / th,
                                                         0.0)),
    },
))


# ------------------------------------------------------- Fourier coefficients (to debug)

def _fourier_cases(rng):
    t1 = np.linspace(0, 1, 101)
    t2 = np.linspace(-1, 2, 61)
    return [(np.sin(2 * np.pi * t1) + 0.5, t1, 5), (rng.standard_normal(61), t2, 6),
            (np.cos(t1 * 7), t1, 1)]


def _fourier_hidden(rng):
    cases = []
    for _ in range(2):
        t0, T, M = float(rng.uniform(-2, 2)), float(rng.uniform(0.5, 4)), int(rng.integers(20, 200))
        cases.append((rng.standard_normal(M), np.linspace(t0, t0 + T, M), int(rng.integers(2, 10))))
    return cases


def _fourier_rows_swapped(f, t, N):
    """sin and cos exchanged in every pair."""
    t = np.asarray(t)
    phi = basis.fourier(N, t, (t[0], t[-1]))
    order = [0] + [n + 1 if n % 2 == 1 else n - 1 for n in range(1, N)]
    rows = np.array([phi[k] if k < N else basis.fourier(N + 1, t, (t[0], t[-1]))[k]
                     for k in order])
    return np.trapezoid(rows * np.asarray(f), t, axis=-1)


def _fourier_classical(f, t, N):
    """a_0, a_1, b_1, ...: the 1/T convention, not the orthonormal coefficients."""
    t = np.asarray(t)
    T = t[-1] - t[0]
    c = basis.project(f, t, "fourier", N)
    scale = np.array([np.sqrt(T)] + [np.sqrt(2 * T)] * (N - 1))
    return c / scale


_register(Exercise(
    name="basis.fourier_project",
    signature="fourier_project(f, t, N) -> c (N,), orthonormal Fourier coefficients of "
              "samples f on [t[0], t[-1]] by the trapezoid rule",
    reference=lambda f, t, N: basis.project(f, t, "fourier", N),
    arg_names=("f", "t", "N"),
    cases=_fourier_cases,
    hidden=_fourier_hidden,
    mistakes={
        "sine and cosine are exchanged: row 2k-1 is sqrt(2/T) cos(k w0 (s - t0)), row 2k "
        "the sine.": _fourier_rows_swapped,
        "these are the classical a_k, b_k (the 1/T convention); the orthonormal "
        "coefficients are c_0 = sqrt(T) a_0, c_{2k-1} = sqrt(2T) a_k, c_{2k} = sqrt(2T) b_k.":
            _fourier_classical,
    },
    # the chapter prints basis.fourier: calling it (directly or through basis.evaluate or
    # basis.project) skips the debugging
    also_refused=(basis.fourier,),
))


# ------------------------------------------------------- the derivative on the Legendre basis

def _legendre_derivative(N, window):
    """D (N, N) with phi_n'(s) = sum_k D[n, k] phi_k(s) on the window, T = t1 - t0:
    D[n, k] = (2 / T) sqrt((2n + 1)(2k + 1)) for k < n with n - k odd, else 0
    (from P_n' = sum_{k < n, n - k odd} (2k + 1) P_k and dx/ds = 2 / T)."""
    t0, t1 = window
    n = np.arange(N)
    gap = n[:, None] - n[None, :]
    odd = (gap > 0) & (gap % 2 == 1)
    return np.where(odd, 2.0 / (t1 - t0) * np.sqrt(np.outer(2 * n + 1, 2 * n + 1)), 0.0)


def _derivative_cases(rng):
    return [(1, (0.0, 1.0)), (4, (0.0, 1.0)), (6, (-1.0, 2.0))]


def _derivative_hidden(rng):
    cases = []
    for _ in range(2):
        t0, T = float(rng.uniform(-3, 3)), float(rng.uniform(0.5, 4))
        cases.append((int(rng.integers(3, 11)), (t0, t0 + T)))
    return cases


_register(Exercise(
    name="basis.legendre_derivative",
    signature="derivative_matrix(N, window) -> D (N, N), phi_n' = sum_k D[n, k] phi_k for "
              "the orthonormal shifted Legendre basis on window",
    reference=_legendre_derivative,
    arg_names=("N", "window"),
    cases=_derivative_cases,
    hidden=_derivative_hidden,
    mistakes={
        "D is transposed: phi_n' = sum_k D[n, k] phi_k has degree n - 1, so row n has its "
        "entries at k < n (D is strictly lower triangular).":
            lambda N, window: _legendre_derivative(N, window).T,
        "the chain rule is missing: x = 2 (s - t0) / T - 1, so d/ds = (2 / T) d/dx.":
            lambda N, window: _legendre_derivative(N, window) * (window[1] - window[0]) / 2,
        "every k < n is filled: P_n' contains only the P_k with n - k odd (P_n' has the "
        "opposite parity of P_n).":
            lambda N, window: np.tril(2.0 / (window[1] - window[0]) * np.sqrt(np.outer(
                2 * np.arange(N) + 1, 2 * np.arange(N) + 1)), -1),
    },
))
