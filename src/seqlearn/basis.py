"""Signals as coefficients on a basis (chapter 3): orthonormal functions on a window,
the projection of a signal onto the first N of them, and the reconstruction.

    orthonormal     int phi_m(s) phi_n(s) w(s) ds = delta_mn            (m, n < N)
    projection      c_n = int f(s) phi_n(s) w(s) ds,                     n = 0, ..., N-1
    reconstruction  f_N(s) = sum_{n<N} c_n phi_n(s)

f_N is the best approximation of f in span(phi_0, ..., phi_{N-1}) for the norm
||g||^2 = int g(s)^2 w(s) ds, so ||f - f_N|| never grows with N, and the N numbers c are
a fixed-size summary (a "lossy zip file") of the whole signal on the window: the state
that HiPPO (``seqlearn.hippo``) keeps up to date as the window moves.
``approximation_error`` measures ||f - f_N|| by quadrature.

The time-varying measures of HiPPO (``measure``, ``measure_basis``, at the end of this
module): at every present t a probability measure mu^(t) on the past (LegT: a sliding
window, LagT: exponential fading, LegS: the whole past [0, t] scaled) and functions
g_n(s; t) orthonormal for it, which move with t.

The three bases, on the window [t0, t1] of length T = t1 - t0:

    "legendre"  phi_n(s) = sqrt((2n + 1) / T) P_n(2 (s - t0) / T - 1),      w = 1 on [t0, t1]
    "fourier"   phi_0(s) = 1 / sqrt(T),                                       w = 1 on [t0, t1]
                phi_{2k-1}(s) = sqrt(2 / T) cos(2 pi k (s - t0) / T),   k = 1, 2, ...
                phi_{2k}(s)   = sqrt(2 / T) sin(2 pi k (s - t0) / T)
                (order 1, cos, sin, cos, sin, ...; an odd N keeps every cos with its sin)
    "laguerre"  phi_n(s) = L_n(t1 - s),       w(s) = exp(-(t1 - s)) on (-inf, t1]
                (the past measured backwards from the present t1, as HiPPO-LagT does;
                the samples start at t0 and the signal counts as 0 before it)

with the Legendre polynomials P_n (P_n(1) = 1) and the Laguerre polynomials L_n
(L_n(0) = 1), computed by their three-term recurrences

    (n + 1) P_{n+1}(x) = (2n + 1) x P_n(x) - n P_{n-1}(x),       P_0 = 1,  P_1 = x
    (n + 1) L_{n+1}(x) = (2n + 1 - x) L_n(x) - n L_{n-1}(x),     L_0 = 1,  L_1 = 1 - x

Normalisations: Legendre and Fourier are orthonormal for plain ds on the window, not for
the probability measure ds / T that HiPPO's LegT, LegS and FouT use (their coefficients
are these divided by sqrt(T)); Laguerre is orthonormal for exp(-(t1 - s)) ds, and its
coefficients are exactly HiPPO-LagT's (with theta = 1). The functions are evaluated by
their formulas at any s, also outside the window, where the weight w is 0.

Quadrature in ``project``: samples of f on a sorted grid t use the trapezoid rule on
that grid (error O(h^2) for a smooth integrand, h the largest step; exact for a
trigonometric polynomial on a uniform grid over a whole period of the Fourier window);
a callable f is integrated with Gauss-Legendre nodes on [t0, t1], exact for polynomial
f of degree < 2 * nodes - N + 1 (for "legendre"). For "laguerre" with t0 = -inf (the whole
past) the integral is cut at age 80 (error at most 2 max|f| e^{-40}) and computed with
composite Gauss-Legendre on panels of length 1, accurate for smooth f whether or not it
oscillates (Gauss-Laguerre nodes are not: they suit polynomials, not sin(3s)).

Glossary (code name -> symbol):
    basis            -> the family: "legendre", "fourier" or "laguerre"
    N                -> the number of basis functions phi_0 ... phi_{N-1}
    s                -> the times (M,) where functions are evaluated
    window, (t0, t1) -> the window [t0, t1], T = t1 - t0; for "laguerre" t1 is the
                        present and t0 where the samples start
    now              -> the present t1 of the Laguerre basis
    t                -> the sorted sample times (L,) of f; the window is [t[0], t[-1]]
    f                -> the signal f: samples (..., L) at t, or a callable
    coeffs           -> the coefficients c_n, shape (..., N)
    w                -> the weight w(s) of the inner product
    nodes            -> the number of Gauss quadrature nodes
    kind             -> HiPPO's measure: "legt", "lagt" or "legs"
    t (measures)     -> the present t of mu^(t)
    theta            -> the window length (legt) or time scale (lagt) theta
    mu               -> the density mu^(t)(s) of the measure
    g                -> the functions g_n(s; t), orthonormal for mu^(t)
"""

import numpy as np

from seqlearn._checks import (MAX_GAUSS_NODES, MAX_STEPS, affordable, integer, number,
                              numeric_array, positive)

BASES = ("legendre", "fourier", "laguerre")

#: how far back (in time units) a whole-past Laguerre projection integrates; see ``project``
PAST_CUTOFF = 80


def _basis_name(basis):
    if not isinstance(basis, str) or basis not in BASES:
        raise ValueError(f"basis: expected one of {BASES}, got {basis!r}")
    return basis


def _times(name, s):
    """``s`` as a 1-D float array of finite times."""
    s = numeric_array(name, s, min_ndim=1, what="a 1-D array of times")
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: expected a 1-D array of finite times, got shape "
                         f"{s.shape}" + ("" if s.ndim != 1 else " with non-finite values"))
    return s


def _window(window, basis="legendre"):
    """``window`` as floats (t0, t1) with t0 < t1 and a length T = t1 - t0 whose 1 / T is
    finite (no overflow); t0 may be -inf for "laguerre"."""
    w = numeric_array("window", window, what="a pair (t0, t1)")
    if w.shape != (2,):
        raise ValueError(f"window: expected a pair (t0, t1), got shape {w.shape}")
    t0, t1 = float(w[0]), float(w[1])
    lower_ok = np.isfinite(t0) or (basis == "laguerre" and t0 == -np.inf)
    if not (lower_ok and np.isfinite(t1) and t0 < t1):
        raise ValueError("window: expected finite t0 < t1"
                         + (" (t0 = -inf allowed for 'laguerre')" if basis == "laguerre"
                            else "") + f", got ({t0}, {t1})")
    with np.errstate(over="ignore"):
        length_ok = t0 == -np.inf or (np.isfinite(t1 - t0) and np.isfinite(1.0 / (t1 - t0)))
    if not length_ok:
        raise ValueError(f"window: expected a length t1 - t0 that is finite and not "
                         f"negligible (its inverse finite), got ({t0}, {t1})")
    return t0, t1


def _order(N, M):
    """N as an int >= 1, refused when the (N, M) table or the N-step loop cannot finish."""
    N = integer("N", N, maximum=MAX_STEPS)
    affordable("N", N * max(M, 1), what="numbers (N functions at the times)")
    return N


def legendre(N, s, window=(0.0, 1.0)):
    """Shifted, orthonormal Legendre functions on the window [t0, t1]:

        phi_n(s) = sqrt((2n + 1) / T) P_n(2 (s - t0) / T - 1),    T = t1 - t0

    orthonormal for ds on [t0, t1]: int_{t0}^{t1} phi_m phi_n ds = delta_mn.

    N : int >= 1;  s : (M,) times;  window : (t0, t1), t0 < t1
    returns phi : (N, M), row n is phi_n(s)
    """
    s = _times("s", s)
    N = _order(N, s.size)
    t0, t1 = _window(window)
    T = t1 - t0
    x = 2.0 * (s - t0) / T - 1.0
    P = np.zeros((N, s.size))
    P[0] = 1.0
    if N > 1:
        P[1] = x
    for n in range(1, N - 1):
        P[n + 1] = ((2 * n + 1) * x * P[n] - n * P[n - 1]) / (n + 1)
    return np.sqrt((2 * np.arange(N) + 1) / T)[:, None] * P


def fourier(N, s, window=(0.0, 1.0)):
    """Orthonormal Fourier functions on the window [t0, t1], T = t1 - t0:

        phi_0(s) = 1 / sqrt(T),
        phi_{2k-1}(s) = sqrt(2 / T) cos(2 pi k (s - t0) / T),
        phi_{2k}(s)   = sqrt(2 / T) sin(2 pi k (s - t0) / T),      k = 1, 2, ...

    orthonormal for ds on [t0, t1]; T-periodic.

    N : int >= 1;  s : (M,) times;  window : (t0, t1), t0 < t1
    returns phi : (N, M), row n is phi_n(s)
    """
    s = _times("s", s)
    N = _order(N, s.size)
    t0, t1 = _window(window)
    T = t1 - t0
    phase = 2.0 * np.pi * (s - t0) / T
    phi = np.zeros((N, s.size))
    phi[0] = 1.0 / np.sqrt(T)
    for n in range(1, N):
        k = (n + 1) // 2  # the frequency: rows 1, 2 -> k = 1; rows 3, 4 -> k = 2; ...
        trig = np.cos if n % 2 == 1 else np.sin
        phi[n] = np.sqrt(2.0 / T) * trig(k * phase)
    return phi


def laguerre(N, s, now=0.0):
    """Laguerre polynomials of the time before ``now``:

        phi_n(s) = L_n(now - s),      orthonormal for the weight exp(-(now - s)) on s <= now:
        int_{-inf}^{now} phi_m(s) phi_n(s) exp(-(now - s)) ds = delta_mn

    N : int >= 1;  s : (M,) times (normally <= now);  now : float, the present
    returns phi : (N, M), row n is L_n(now - s)
    """
    s = _times("s", s)
    N = _order(N, s.size)
    now = number("now", now, what="a finite number")
    with np.errstate(over="ignore"):
        x = now - s
    if not np.all(np.isfinite(x)):
        raise ValueError(f"s: expected times whose age now - s is finite, got ages that "
                         f"overflow (now = {now})")
    L = np.zeros((N, s.size))
    L[0] = 1.0
    if N > 1:
        L[1] = 1.0 - x
    for n in range(1, N - 1):
        L[n + 1] = ((2 * n + 1 - x) * L[n] - n * L[n - 1]) / (n + 1)
    return L


def evaluate(basis, N, s, window):
    """The first N functions of ``basis`` on ``window``: ``phi_n(s)`` as defined above.

    basis : "legendre", "fourier" or "laguerre";  N : int >= 1;  s : (M,) times
    window : (t0, t1); "laguerre" uses only t1 (the present), and t0 may be -inf
    returns phi : (N, M)
    """
    basis = _basis_name(basis)
    t0, t1 = _window(window, basis)
    if basis == "laguerre":
        return laguerre(N, s, t1)
    return (legendre if basis == "legendre" else fourier)(N, s, (t0, t1))


def weight(basis, s, window):
    """The weight w(s) of the inner product <g, h> = int g(s) h(s) w(s) ds:

        "legendre", "fourier":  w(s) = 1 for t0 <= s <= t1, else 0
        "laguerre":             w(s) = exp(-(t1 - s)) for t0 <= s <= t1, else 0

    basis : "legendre", "fourier" or "laguerre";  s : (M,) times;  window : (t0, t1)
    returns w : (M,)
    """
    basis = _basis_name(basis)
    s = _times("s", s)
    t0, t1 = _window(window, basis)
    inside = (s >= t0) & (s <= t1)
    if basis == "laguerre":
        return np.where(inside, np.exp(-(t1 - np.minimum(s, t1))), 0.0)
    return inside.astype(float)


def _sample_times(t, allow_minus_inf):
    t = numeric_array("t", t, min_ndim=1, what="a sorted 1-D array of times")
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"t: expected a sorted 1-D array of at least 2 times, got shape "
                         f"{t.shape}")
    finite = np.isfinite(t[1:]).all() and (np.isfinite(t[0]) or
                                          (allow_minus_inf and t[0] == -np.inf))
    with np.errstate(over="ignore"):
        increasing = np.all(np.diff(t) > 0)
    if not finite or not increasing:
        raise ValueError("t: expected strictly increasing finite times"
                         + (" (t[0] = -inf allowed for a callable f and 'laguerre')"
                            if allow_minus_inf else "") + f", got [{t[0]}, ..., {t[-1]}]")
    with np.errstate(over="ignore"):
        span = t[-1] - t[0]
    if np.isfinite(t[0]) and not (np.isfinite(span) and np.isfinite(1.0 / span)):
        raise ValueError(f"t: expected times spanning a window t[-1] - t[0] that is finite "
                         f"and not negligible (its inverse finite), got [{t[0]}, ..., {t[-1]}]")
    return t


def _values(f, s):
    """f(s) for a callable f, checked: an array shaped like s, or a ValueError naming f."""
    try:
        values = f(s)
    except Exception as exc:
        raise ValueError(f"f: expected a callable taking an array of times, got one that "
                         f"raised {type(exc).__name__}: {exc}") from exc
    values = numeric_array("f", values, what="an array of numbers (f's values)")
    if values.shape != s.shape:
        raise ValueError(f"f: expected a callable returning an array shaped like its "
                         f"input {s.shape}, got {values.shape}")
    return values


def _gauss_rule(basis, window, N, nodes):
    """The quadrature of ``project`` for a callable f: nodes s (K,) and weights omega (K,),
    the weight w(s) included, with int g(s) w(s) ds ~ sum_i omega_i g(s_i) over ``window``
    (already checked); ``nodes`` as given to ``project`` (None: its default)."""
    t0, t1 = window
    if np.isinf(t0):
        # The whole past: the integrand is at most |f| e^{-x/2} in the age x
        # (|e^{-x/2} L_n(x)| <= 1), so cutting the past at age PAST_CUTOFF = 80 costs
        # at most 2 max|f| e^{-40}. Composite Gauss-Legendre on panels of length 1
        # then converges for any smooth f, oscillating or not. (Gauss-Laguerre is
        # built for polynomial f: for sin(3s) its 180 nodes miss the second digit.)
        nodes = 32 if nodes is None else integer("nodes", nodes, maximum=MAX_GAUSS_NODES)
        affordable("nodes", N * PAST_CUTOFF * nodes, what="numbers (N functions at "
                   "nodes on each of the 80 panels)")
        x, w = np.polynomial.legendre.leggauss(nodes)
        ages = (np.arange(PAST_CUTOFF)[:, None] + (x[None, :] + 1.0) / 2.0).ravel()
        omega = np.tile(w / 2.0, PAST_CUTOFF) * np.exp(-ages)
        s = t1 - ages
    else:
        given = nodes is not None
        nodes = integer("nodes", nodes, maximum=MAX_STEPS) if given else max(128, 4 * N)
        affordable("nodes" if given else "N", nodes, MAX_GAUSS_NODES,
                   what="Gauss nodes (an eigenvalue problem of that size)")
        affordable("nodes" if given else "N", N * nodes,
                   what="numbers (N functions at the Gauss nodes)")
        x, omega = np.polynomial.legendre.leggauss(nodes)
        half = (t1 - t0) / 2.0
        s = t0 + half * (x + 1.0)
        omega = half * omega * weight(basis, s, window)
    return s, omega


def project(f, t, basis, N, nodes=None):
    """Coefficients of f on the first N functions of ``basis`` over the window [t[0], t[-1]]:

        c_n = int f(s) phi_n(s) w(s) ds,      n = 0, ..., N-1

    Samples (f an array): the trapezoid rule on the grid t,
        c_n = sum_j omega_j f(t_j) phi_n(t_j) w(t_j),
        omega_j = (t_{j+1} - t_{j-1}) / 2 (half a step at the two ends).
    Callable f: Gauss quadrature, c_n = sum_i omega_i f(s_i) phi_n(s_i) w(s_i) with the
    ``nodes`` Gauss-Legendre nodes s_i on [t[0], t[-1]]; for "laguerre" with t[0] = -inf,
    composite Gauss-Legendre with ``nodes`` nodes on each of the 80 unit panels of
    [t[-1] - 80, t[-1]] (the past beyond age 80 weighs less than e^{-40}).

    f : (..., L) samples at t, or a callable taking an array of times to the same shape
    t : (L,), strictly increasing, L >= 2 (a callable f uses only t[0] and t[-1], e.g.
        t = (t0, t1))
    basis : "legendre", "fourier" or "laguerre"
    N : int >= 1
    nodes : int >= 1, Gauss nodes for a callable f; default max(128, 4 N), or 32 per unit
        panel for "laguerre" over the whole past
    returns coeffs : (..., N) for samples (..., L); (N,) for a callable

    NaN or inf in the samples (or in a callable's values) pass through to the
    coefficients; an exception raised by a callable f is reported as a ValueError
    naming f.
    """
    basis = _basis_name(basis)
    N = integer("N", N, maximum=MAX_STEPS)
    t = _sample_times(t, allow_minus_inf=callable(f) and basis == "laguerre")
    window = (t[0], t[-1])
    if nodes is not None:   # checked for samples too, where it is not used
        nodes = integer("nodes", nodes, maximum=MAX_STEPS)
    if callable(f):
        s, omega = _gauss_rule(basis, window, N, nodes)
        return evaluate(basis, N, s, window) @ (omega * _values(f, s))
    f = numeric_array("f", f, min_ndim=1, what="samples (..., L) or a callable")
    if f.shape[-1] != t.size:
        raise ValueError(f"f: expected samples (..., {t.size}) at the {t.size} times t, "
                         f"got shape {f.shape}")
    affordable("N", N * t.size, what="numbers (N functions at the times t)")
    steps = np.diff(t)
    omega = np.zeros(t.size)
    omega[:-1] += steps / 2.0
    omega[1:] += steps / 2.0
    rows = evaluate(basis, N, t, window) * (omega * weight(basis, t, window))  # (N, L)
    return f @ rows.T


def reconstruct(coeffs, t, basis, window=None):
    """The approximation from the coefficients: ``f_N(t) = sum_n c_n phi_n(t)``.

    coeffs : (..., N), N >= 1; NaN or inf pass through
    t : (M,), the finite times to evaluate at
    basis : "legendre", "fourier" or "laguerre"
    window : (t0, t1), the window the coefficients belong to; default (t[0], t[-1])
        (then t must be sorted with M >= 2); "laguerre" uses only t1, the present
    returns f_N : (..., M)
    """
    basis = _basis_name(basis)
    coeffs = numeric_array("coeffs", coeffs, min_ndim=1, what="an array (..., N)")
    if coeffs.shape[-1] == 0:
        raise ValueError(f"coeffs: expected an array (..., N) with N >= 1, got shape "
                         f"{coeffs.shape}")
    if window is None:
        t = _sample_times(t, allow_minus_inf=False)
        window = (t[0], t[-1])
    else:
        t = _times("t", t)
    return coeffs @ evaluate(basis, coeffs.shape[-1], t, window)


def approximation_error(f, window, basis, N, nodes=None):
    """The error of the best N-term approximation in the weighted norm of ``basis``:

        ||f - f_N|| = sqrt( int (f(s) - f_N(s))^2 w(s) ds ),   f_N = sum_{n<N} c_n phi_n

    with the coefficients c of ``project(f, window, basis, N, nodes)`` and the integral
    computed by the same Gauss rule (for "laguerre" with t0 = -inf: the whole past, cut
    at age 80). By Pythagoras ||f - f_N||^2 = ||f||^2 - sum_{n<N} c_n^2, so the error
    never grows with N; computed directly, it stays accurate below sqrt(eps) ||f||.

    f : callable, an array of times -> f at those times (same shape)
    window : (t0, t1), t0 < t1 (t0 = -inf allowed for "laguerre")
    basis : "legendre", "fourier" or "laguerre";  N : int >= 1
    nodes : Gauss nodes, as in ``project``
    returns the error, a float >= 0 (NaN when f has NaN or inf values)
    """
    basis = _basis_name(basis)
    N = integer("N", N, maximum=MAX_STEPS)
    if not callable(f):
        raise ValueError(f"f: expected a callable (times -> values), got {type(f).__name__}")
    window = _window(window, basis)
    s, omega = _gauss_rule(basis, window, N, nodes)
    values = _values(f, s)
    phi = evaluate(basis, N, s, window)                    # (N, K)
    residual = values - (phi @ (omega * values)) @ phi     # f - f_N at the nodes
    return float(np.sqrt(np.sum(omega * residual ** 2)))


# ----------------------------------------------------------------- time-varying measures
# HiPPO (Gu et al. 2020) measures the past of every present t with a probability measure
# mu^(t) on (-inf, t] and expands the history in functions g_n(s; t) orthonormal for it:
#
#     legt  mu^(t)(s) = (1/theta) 1[t - theta <= s <= t]         (a sliding window)
#           g_n(s; t) = sqrt(2n + 1) P_n(2 (s - t) / theta + 1)
#     lagt  mu^(t)(s) = (1/theta) exp(-(t - s) / theta) 1[s <= t]  (exponential fading;
#           g_n(s; t) = L_n((t - s) / theta)                       the paper has theta = 1)
#     legs  mu^(t)(s) = (1/t) 1[0 <= s <= t]                     (the whole past, scaled)
#           g_n(s; t) = sqrt(2n + 1) P_n(2 s / t - 1)
#
#     c_n(t) = int f(s) g_n(s; t) mu^(t)(s) ds,        f(s) ~ sum_{n<N} c_n(t) g_n(s; t)
#
# (seqlearn.hippo keeps c(t) up to date online; its offline_coefficients computes this
# c_n(t) by quadrature.)

MEASURES = ("legt", "lagt", "legs")


def _measure_args(kind, s, t, theta):
    if not isinstance(kind, str) or kind not in MEASURES:
        raise ValueError(f"kind: expected one of {MEASURES}, got {kind!r}")
    s = _times("s", s)
    t = number("t", t, what="a finite number" + (" > 0 for kind 'legs'" if kind == "legs"
                                                  else ""))
    if kind == "legs" and not (t > 0 and np.isfinite(1.0 / t)):
        raise ValueError(f"t: expected a number > 0 (with 1 / t finite) for kind 'legs', "
                         f"got {t!r}")
    theta = positive("theta", theta)
    if kind == "legt" and not (t - theta < t and np.isfinite(t - theta)
                               and np.isfinite(1.0 / theta)):
        raise ValueError(f"theta: expected a window length that is not negligible next to "
                         f"t = {t:g} (t - theta < t) and not too large, got {theta!r}")
    return s, t, theta


def measure(kind, s, t, theta=1.0):
    """The density mu^(t)(s) of HiPPO's measure ``kind`` at the present t:

        "legt"  (1/theta) 1[t - theta <= s <= t]             uniform on the last theta
        "lagt"  (1/theta) exp(-(t - s) / theta) 1[s <= t]    exponentially fading past
        "legs"  (1/t) 1[0 <= s <= t]                          uniform on the whole past

    Each integrates to 1 over its support (a probability measure). theta (> 0) is the
    window length (legt) or the time scale (lagt; the HiPPO paper's LagT has theta = 1);
    "legs" has no theta (it is checked, not used).

    kind : "legt", "lagt" or "legs";  s : (M,) finite times
    t : float, the present (> 0 for "legs");  theta : float > 0
    returns mu : (M,), 0 outside the support (and for s > t)
    """
    s, t, theta = _measure_args(kind, s, t, theta)
    if kind == "legt":
        return np.where((s >= t - theta) & (s <= t), 1.0 / theta, 0.0)
    if kind == "legs":
        return np.where((s >= 0) & (s <= t), 1.0 / t, 0.0)
    with np.errstate(over="ignore", under="ignore"):
        return np.where(s <= t, np.exp(-(t - np.minimum(s, t)) / theta) / theta, 0.0)


def measure_basis(kind, N, s, t, theta=1.0):
    """The functions g_n(s; t), n < N, orthonormal for the measure mu^(t) of ``kind``:

        int g_m(s; t) g_n(s; t) mu^(t)(s) ds = delta_mn

        "legt"  sqrt(2n + 1) P_n(2 (s - t) / theta + 1)
                = sqrt(theta) legendre(N, s, (t - theta, t))
        "lagt"  L_n((t - s) / theta) = laguerre(N, s / theta, t / theta)
        "legs"  sqrt(2n + 1) P_n(2 s / t - 1) = sqrt(t) legendre(N, s, (0, t))

    They move with t: g_n(s; t) is a function of the age t - s (legt, lagt) or of the
    relative time s / t (legs). Evaluated by the formula at any s (0 weight outside the
    support). The same functions as ``seqlearn.hippo.reconstruct`` sums.

    kind : "legt", "lagt" or "legs";  N : int >= 1;  s : (M,) finite times
    t : float, the present (> 0 for "legs");  theta : float > 0
    returns g : (N, M), row n is g_n(s; t)
    """
    s, t, theta = _measure_args(kind, s, t, theta)
    if kind == "legt":
        return np.sqrt(theta) * legendre(N, s, (t - theta, t))
    if kind == "legs":
        return np.sqrt(t) * legendre(N, s, (0.0, t))
    return laguerre(N, s / theta, t / theta)
