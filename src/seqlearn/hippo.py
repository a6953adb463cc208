"""HiPPO (chapter 4): the coefficients of a projection of the past, kept up to date online.

HiPPO (Gu, Dao, Ermon, Rudra, Re 2020) fixes, at every time t, a measure mu_t on the
past and an orthonormal basis g_n(s; t) for it, and follows the coefficients of the best
approximation of the history f(s), s <= t:

    c_n(t) = int f(s) g_n(s; t) dmu_t(s),        f(s) ~ sum_{n<N} c_n(t) g_n(s; t)

For the four measures below, c obeys a linear ODE driven by f: a state space model.

    LTI    c'(t) = A c(t) + B f(t)                      kinds "legt", "lagt", "fout"
    LegS   c'(t) = (1/t) (A c(t) + B f(t))              kind "legs" (time-varying)

    kind  measure dmu_t(s)                              basis g_n(s; t)
    legt  (1/theta) ds on [t - theta, t]                r_n P_n(2 (s - t) / theta + 1)
    lagt  (1/theta) exp(-(t - s)/theta) ds, s <= t      L_n((t - s) / theta)
    legs  (1/t) ds on [0, t]                            r_n P_n(2 s / t - 1)
    fout  (1/theta) ds on [t - theta, t]                p_n((s - t + theta) / theta), with
          p_0 = 1, p_{2k-1}(x) = sqrt2 cos(2 pi k x), p_{2k}(x) = sqrt2 sin(2 pi k x)

with r_n = sqrt(2n + 1), P_n Legendre (P_n(1) = 1), L_n Laguerre (L_n(0) = 1). Each g_n
is orthonormal for its mu_t (a probability measure for legt, lagt, legs, fout), so with
``seqlearn.basis`` (orthonormal for plain ds on a window of length T) the coefficients are
c = basis coefficients / sqrt(T) for legt, fout (T = theta) and legs (T = t); for lagt
with theta = 1 they are ``basis.project(f, (-inf, t), "laguerre", N)`` exactly.

The matrices, in the STATE-SPACE convention (A stable: every eigenvalue has Re < 0):

    legs  A[n,k] = -r_n r_k (n > k),  -(n + 1) (n = k),  0 (n < k);       B[n] = r_n
    legt  A[n,k] = -r_n r_k / theta (n >= k),  -(-1)^(n-k) r_n r_k / theta (n < k);
                                                                        B[n] = r_n / theta
    lagt  A[n,k] = -1 / theta (n >= k),  0 (n < k)  (A = -tril(ones) / theta); B[n] = 1 / theta
    fout  A = -(D + 2 e e^T) / theta,  B = 2 e / theta,  e = p(0) = (1, sqrt2, 0, sqrt2, 0, ...)
          D[2k-1, 2k] = -2 pi k,  D[2k, 2k-1] = 2 pi k  (p' = D p); N must be odd

Derivation (translated measures): c_n(t) = int_0^1 f(t - theta + theta x) p_n(x) dx, so
c' = (1/theta) [p(1) f(t) - p(0) f(t - theta) - D c] by parts, with p' = D p. The state
does not hold f(t - theta); HiPPO replaces it by the reconstruction at the window's
start: LegT f(t - theta) ~ p(0)^T c (exact when f is a polynomial of degree < N on the
window); FouT: the Fourier series at the seam tends to (f(t) + f(t - theta)) / 2, so
f(t - theta) ~ 2 p(0)^T c - f(t) (exact for theta-periodic f in the span). LagT and LegS
need no such step: their ODEs hold exactly for every f (L_n' = -sum_{k<n} L_k, and
x P_n'(x) stays in the span of P_0 .. P_n). For fout an even N would leave the top cosine
without its sine, and A would have the eigenvalue 0 (the mode sqrt2 e_0 - e_{N-1}).

Signs and orientation against the HiPPO paper (Gu et al. 2020): it writes
c' = -A c + B f and c' = -(1/t) A c + (1/t) B f with a POSITIVE A; here A = -A_paper
(LegS: A_paper[n,k] = r_n r_k (n > k), n + 1 (n = k); LagT: A_paper = tril(ones)). Its
LegT, A_paper[n,k] = (2n+1)/theta times (-1)^(n-k) (n >= k) or 1 (n <= k),
B_paper[n] = (2n+1)(-1)^n / theta (the LMU's form), is ours for the unnormalised P_n and
the delay (t - s) / theta, i.e. the basis flipped in time: with R = diag(r_n) and
S = diag((-1)^n), A_paper = -S R A R^{-1} S and B_paper = S R B. Some code (S4's "lagt")
uses I/2 - tril(ones): that memory holds the coefficients on the Laguerre FUNCTIONS
exp(-x/2) L_n(x), orthonormal for plain ds on the past, instead of L_n with exp(-x) ds.

Online update (``online_coefficients``), samples f_k = f(t_k), t_k = k dt, k = 0 .. L-1,
c_k ~ c(t_k), and for a GBT with parameter alpha (0 forward Euler, 1/2 bilinear, 1
backward Euler) the input of step k is u_k = (1 - alpha) f_{k-1} + alpha f_k (1/2 for ZOH):

    LTI   (Ab, Bb) = discretize(A, B, dt, method),   c_k = Ab c_{k-1} + Bb u_k,   c_0 = c0
    LegS  c_0 = f_0 e_0 (the limit t -> 0),  c_k = Ab_k c_{k-1} + Bb_k u_k,
          (Ab_k, Bb_k) = discretize(A, B, h_k, method) with
          h_k = 1 / (k - 1 + alpha)   (GBT: 1/t frozen at t_{k-1} + alpha dt)
          h_k = ln(k / (k - 1))        (ZOH: exact in log time tau = ln t, where LegS reads
                                        dc/dtau = A c + B f, for f held at u_k)
          k = 1 (from t_0 = 0, where A c_0 + B f_0 = 0 since A e_0 = -B):
              forward Euler c_1 = c_0;  ZOH (h = inf) c_1 = e_0 u_1;
              GBT with alpha > 0: (I - A) c_1 = c_0 + B f_1 (the explicit part vanishes
              and alpha dt / t = 1), computed so, not with the huge h_1 of a tiny alpha

Forward Euler for LegS is then the HiPPO paper's LegS recurrence, sign reconciled:

    c_{k+1} = (1 - A_paper / k) c_k + (1/k) B f_k = (I + A / k) c_k + (1/k) B f_k,  k >= 1

h_k does not involve dt: LegS is scale-invariant, and its online coefficients depend on
the samples only. Feeding u_k = f_k (S4's convention, ``seqlearn.discretize``) instead of
the weighted pair would make every method but backward Euler only first order.

Glossary (code name -> symbol):
    kind            -> the measure: "legt", "lagt", "legs" or "fout"
    N               -> the number of coefficients (state size)
    theta           -> the window length theta (legt, fout) or the timescale (lagt)
    A, B            -> the HiPPO matrices (N, N), (N,), state-space convention
    f               -> the input f: samples f_k (..., L), or a callable f(s)
    c, c0           -> the coefficients c(t) (..., N); the initial c_0 (LTI kinds)
    dt              -> the sample spacing, t_k = k dt
    method, alpha   -> the discretisation ("bilinear", "zoh", ...) and the GBT alpha
    t, s            -> the present time t, and past times s (M,) to reconstruct at
"""

import math

import numpy as np
from scipy.linalg import solve_triangular

from seqlearn import basis as _basis
from seqlearn._checks import (MAX_ELEMENTS, MAX_GAUSS_NODES, MAX_STEPS, MAX_WORK, affordable,
                              function, integer, number, numeric_array, positive)
from seqlearn.discretize import discretize, method_alpha

KINDS = ("legt", "lagt", "legs", "fout")


def _kind(kind):
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    return kind


def _order(kind, N):
    N = integer("N", N, maximum=math.isqrt(MAX_ELEMENTS))  # A is (N, N)
    if kind == "fout" and N % 2 == 0:
        raise ValueError(f"N: expected an odd integer for kind 'fout' (1, then cos/sin "
                         f"pairs; an even N gives A an eigenvalue 0), got {N}")
    return N


def hippo_matrix(kind, N, theta=1.0):
    """The HiPPO matrices (A, B) of ``kind``, state-space convention (module docstring):

        legt, lagt, fout:  c'(t) = A c(t) + B f(t)
        legs:              c'(t) = (1/t) (A c(t) + B f(t))

    kind : "legt", "lagt", "legs" or "fout"
    N : int >= 1 (odd for "fout")
    theta : float > 0, the window length (legt, fout) or timescale (lagt); legs has no
        timescale and ignores it; refused if A = A_1 / theta overflows
    returns (A, B) : A (N, N), B (N,), float64; Re eig(A) < 0
    """
    kind = _kind(kind)
    N = _order(kind, N)
    theta = positive("theta", theta)
    with np.errstate(over="ignore"):
        A, B = _matrices(kind, N, theta)
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        what = "timescale" if kind == "lagt" else "window length"
        raise ValueError(f"theta: expected a {what} for which A = A_1 / theta is finite, "
                         f"got {theta!r} (A overflows)")
    return A, B


def _matrices(kind, N, theta):
    """Unchecked: the matrices of ``hippo_matrix``."""
    n = np.arange(N)
    r = np.sqrt(2 * n + 1.0)
    row, col = n[:, None], n[None, :]
    if kind == "legs":
        A = -np.where(row > col, np.outer(r, r), 0.0) - np.diag(n + 1.0)
        return A, r.copy()
    if kind == "legt":
        sign = np.where(row >= col, 1.0, (-1.0) ** (row - col))
        return -sign * np.outer(r, r) / theta, r / theta
    if kind == "lagt":
        return -np.tril(np.ones((N, N))) / theta, np.ones(N) / theta
    e = np.where(n % 2 == 1, np.sqrt(2.0), 0.0)  # p(0): sqrt2 on the cosines, 0 on sines
    e[0] = 1.0
    D = np.zeros((N, N))
    for k in range(1, (N - 1) // 2 + 1):  # cos row 2k-1, sin row 2k
        D[2 * k - 1, 2 * k] = -2.0 * np.pi * k
        D[2 * k, 2 * k - 1] = 2.0 * np.pi * k
    return -(D + 2.0 * np.outer(e, e)) / theta, 2.0 * e / theta


def online_coefficients(kind, f, dt, N, theta=1.0, method="bilinear", alpha=None, c0=None):
    """The coefficients c(t_k), updated online as the samples f_k = f(k dt) arrive:

        u_k = (1 - alpha) f_{k-1} + alpha f_k          (alpha = 1/2 for "zoh")
        LTI   c_k = Ab c_{k-1} + Bb u_k,  (Ab, Bb) = discretize(A, B, dt, method, alpha)
        LegS  c_0 = f_0 e_0,  c_k = Ab_k c_{k-1} + Bb_k u_k,
              (Ab_k, Bb_k) = discretize(A, B, h_k, method, alpha),
              h_k = 1 / (k - 1 + alpha) (GBT), ln(k / (k - 1)) (ZOH)

    (details, the first step and the lecture's LegS recurrence in the module docstring).
    Errors against the exact c(t_k): O(dt) for forward and backward Euler, O(dt^2) for
    "bilinear" and "zoh" (smooth f; for legt and fout also the approximation of
    f(t - theta), exact only for inputs in the span, see the module docstring).

    Cost: O(N^2) per step for every kind and method. The LegS steps do not call
    ``discretize`` (an O(N^3) factorisation per step): A is lower triangular, so a GBT
    step is one triangular solve, multiplied through by 1/h_k = k - 1 + alpha,

        ((k - 1 + alpha) I - alpha A) c_k = ((k - 1 + alpha) I + (1 - alpha) A) c_{k-1} + B u_k,

    and a ZOH step, since Bb_k = (I - Ab_k) e_0 (A e_0 = -B), is
    c_k = Ab_k (c_{k-1} - u_k e_0) + u_k e_0 with Ab_k = exp(ln(rho) A), rho = k / (k - 1),
    applied exactly by Gauss quadrature (``_legs_decay``), not formed.

    LegS steps are stable for "bilinear", "zoh" and "backward_euler"; forward Euler (and
    a GBT with a small alpha) is unstable while h_k (n + 1) is large, so the early rows
    c_k, k up to about N, can be huge (5e12 at N = 24, 5e42 at N = 64, inf for N of a
    few hundred). With forward Euler the diagonal factor 1 - (n + 1)/(k - 1) of row n
    vanishes at k = n + 2, and A is lower triangular, so from then on row n depends only
    on rows j < n, reset before it: the transient leaves no trace. The code forms that
    factor as the integer (k - 1) - (n + 1) over k - 1, so it is exactly 0. (The matrix
    I + h_k A formed in floating point, as ``discretize`` does, is not: 1 - (n + 1)
    fl(1/(n + 1)) is about 1e-16, and that much of the transient survives; at N = 64 the
    old per-step code was off by 4e12 at k = N + 1 and 5e7 at k = N + 10.) What is left
    is forward Euler's own error, large while h_k = 1/(k - 1) is not small next to 1/N
    (at N = 64 about 5 at k = N + 1, 4e-4 from k = N + 10 on, for the test signal; it
    takes longer at larger N). A transient that overflowed to inf leaves NaN (0 * inf).

    kind : "legt", "lagt", "legs" or "fout"
    f : (..., L) samples, time on the last axis, L >= 1; NaN or inf in f pass through to
        the coefficients from that step on
    dt : float > 0, the spacing (legs: only the time labels; its c_k do not depend on dt)
    N : int >= 1 (odd for "fout");  theta : float > 0 (see ``hippo_matrix``)
    method : "forward_euler", "backward_euler", "bilinear", "gbt" (with alpha) or "zoh"
    alpha : the GBT parameter in [0, 1], for method "gbt"
    c0 : (..., N) or broadcastable, the state c(t_0) for the LTI kinds (default 0: no
        history before t_0); must be None for legs (c_0 = f_0 e_0)
    returns c : (..., L, N), row k = c_k ~ c(t_k), float64
    """
    kind = _kind(kind)
    f = numeric_array("f", f, min_ndim=1, what="samples (..., L)")
    if f.shape[-1] == 0:
        raise ValueError(f"f: expected samples (..., L) with L >= 1, got shape {f.shape}")
    dt = positive("dt", dt)
    N = _order(kind, N)
    L = f.shape[-1]
    affordable("f", L, MAX_STEPS, "steps")
    affordable("N", f.size * N, what="coefficients (f's size times N)")
    affordable("N", f.size * N * N, MAX_WORK, what="multiply-adds (L steps of N^2 each)")
    A, B = hippo_matrix(kind, N, theta)
    method, alpha = method_alpha(method, alpha)
    if kind == "legs" and method == "zoh":   # the ZOH step's quadrature: N Gauss nodes
        affordable("N", N, MAX_GAUSS_NODES, what="Gauss nodes (an eigenvalue problem of "
                   "that size)")
    a = 0.5 if alpha is None else alpha  # the weight of f_k in u_k
    if kind == "legs":
        if c0 is not None:
            raise ValueError("c0: expected None for kind 'legs' (it starts at t = 0 with "
                             "c_0 = f_0 e_0), got an array")
        c = _legs_online(A, B, f.reshape(-1, L), method, a)
        return c.reshape(f.shape[:-1] + (L, N))
    u = (1.0 - a) * f[..., :-1] + a * f[..., 1:]  # u[..., k-1] is u_k, k = 1 .. L-1
    out = np.zeros(f.shape[:-1] + (L, N))
    Ab, Bb = discretize(A, B, dt, method, alpha)
    c = numeric_array("c0", 0.0 if c0 is None else c0)
    try:
        out[..., 0, :] = c
    except ValueError:
        raise ValueError(f"c0: expected shape {f.shape[:-1] + (N,)} (f's shape without time, "
                         f"then N) or broadcastable to it, got {c.shape}") from None
    for k in range(1, L):
        out[..., k, :] = out[..., k - 1, :] @ Ab.T + u[..., k - 1, None] * Bb
    return out


def _legs_online(A, B, f, method, a):
    """Unchecked: the LegS online coefficients of ``online_coefficients``, f (P, L) ->
    c (P, L, N), O(N^2) per step (the equations are in its docstring)."""
    P, L = f.shape
    N = B.size
    u = (1.0 - a) * f[:, :-1] + a * f[:, 1:]  # u[:, k-1] is u_k
    out = np.zeros((P, L, N))
    out[:, 0, 0] = f[:, 0]
    if L == 1:
        return out
    c = out[:, 0, :].T.copy()  # (N, P): the columns are the states
    if method == "zoh":  # k = 1: h = inf, exp(h A) = 0, Bb = e_0
        c[0] = u[:, 0]
    elif a > 0.0:  # the explicit half vanishes (A c_0 + B f_0 = 0), the implicit has h = 1
        c = solve_triangular(np.eye(N) - A, c + B[:, None] * f[:, 1], lower=True,
                             check_finite=False)
    out[:, 1, :] = c.T  # (forward Euler: c_1 = c_0)
    if method == "zoh":
        for k, decay in zip(range(2, L), _legs_decay(N, 2, L)):
            c[0] -= u[:, k - 1]
            c = decay(c)
            c[0] += u[:, k - 1]
            out[:, k, :] = c.T
        return out
    d = np.diag(A).copy()  # -(n + 1), kept apart so that forward Euler's factor is exact
    lower = np.tril(A, -1)
    lhs = -a * lower  # its diagonal is set at each step
    for k in range(2, L):
        s = k - 1 + a  # 1 / h_k
        rhs = ((s + (1.0 - a) * d)[:, None] * c + (1.0 - a) * (lower @ c)
               + B[:, None] * u[:, k - 1])
        if a == 0.0:
            c = rhs / s
        else:
            np.fill_diagonal(lhs, s - a * d)
            c = solve_triangular(lhs, rhs, lower=True, check_finite=False)
        out[:, k, :] = c.T
    return out


def _legs_decay(N, start, stop, chunk_elements=2**20):
    """Yield, for k = start .. stop - 1, a function v -> exp(ln(rho) A) v, rho = k / (k - 1),
    A the LegS matrix (N, N), v (N, P); O(N^2) per application.

    exp(ln(rho) A) is LegS run from t to rho t with f = 0: the projection onto the basis
    on [0, rho t] of the reconstruction on [0, t] (zero after t), exact because the LegS
    ODE is (module docstring). With x = s / (rho t) and Gauss-Legendre nodes y_i, weights
    w_i on [0, 1] (Q = N nodes: the integrand has degree <= 2N - 2),

        exp(ln(rho) A) v = (1/rho) E_rho (w * (G^T v)),
        G[m, i] = r_m P_m(2 y_i - 1),   E_rho[n, i] = r_n P_n(2 y_i / rho - 1).

    E_rho is evaluated for a chunk of steps at once (about ``chunk_elements`` numbers).
    """
    y, w = np.polynomial.legendre.leggauss(N)
    y, w = (y + 1.0) / 2.0, w / 2.0
    WG = w[:, None] * _basis.legendre(N, y, (0.0, 1.0)).T  # (Q, N)
    per = max(1, chunk_elements // (N * N))
    for first in range(start, stop, per):
        k = np.arange(first, min(first + per, stop))
        rho = k / (k - 1.0)
        E = _basis.legendre(N, (y[None, :] / rho[:, None]).ravel(), (0.0, 1.0))
        E = E.reshape(N, k.size, N)  # E[:, j, :] is E_rho (N, Q) of step first + j
        for j in range(k.size):
            yield lambda v, E_j=E[:, j, :], r=rho[j]: (E_j @ (WG @ v)) / r

# legs: the smallest t whose window [0, t] keeps its resolution (t eps is a normal float)
_LEGS_T_MIN = np.finfo(float).tiny / np.finfo(float).eps
# legt, fout, lagt: the smallest theta / |t| for which the times t - theta x are resolved
# to better than 1e-8 of theta (they are resolved to eps |t|)
_RESOLUTION = 1e-8


def _present(kind, t):
    """The present time t as a float (> 0 for legs); bools refused."""
    what = "a finite number" + (" > 0 for kind 'legs'" if kind == "legs" else "")
    t = number("t", t, what=what)
    if kind == "legs" and not t > 0:
        raise ValueError(f"t: expected {what}, got {t!r}")
    if kind == "legs" and t < _LEGS_T_MIN:
        raise ValueError(f"t: expected {what} and at least {_LEGS_T_MIN:.3g} (a smaller "
                         f"window [0, t] loses its times to underflow), got {t!r}")
    return t


def _window_length(kind, t, theta):
    """theta as a float > 0, refused when it is so small next to |t| that the past times
    t - theta x collapse in floating point (legs has no theta)."""
    theta = positive("theta", theta)
    if kind != "legs" and theta < _RESOLUTION * abs(t):
        raise ValueError(f"theta: expected a {'timescale' if kind == 'lagt' else 'window'} "
                         f"of at least {_RESOLUTION:g} |t| = {_RESOLUTION * abs(t):.3g} "
                         f"(t = {t:g}), got {theta!r}: the times t - theta x would collapse "
                         f"to a few floating-point numbers")
    return theta


def _functions(kind, N, s, t, theta):
    """g_n(s; t), shape (N, M): ``seqlearn.basis.measure_basis`` (chapter 3), and for FouT
    the Fourier basis of the window rescaled the same way."""
    if kind == "fout":
        return np.sqrt(theta) * _basis.fourier(N, s, (t - theta, t))
    return _basis.measure_basis(kind, N, s, t, theta)


def reconstruct(kind, c, t, s, theta=1.0):
    """The history rebuilt from the coefficients at time t: ``f(s) ~ sum_n c_n g_n(s; t)``.

    legs: s in [0, t];  legt, fout: s in [t - theta, t];  lagt: s <= t, accurate for the
    recent past (the weight exp(-(t - s)/theta) lets the error grow further back).

    kind : "legt", "lagt", "legs" or "fout"
    c : (..., N), the coefficients c(t) (N odd for "fout"); NaN or inf pass through
    t : float, the present (> 0 for legs);  s : (M,) finite past times
    theta : float > 0 (see ``hippo_matrix``), at least 1e-8 |t| (a shorter window loses
        its times to rounding)
    returns f_N : (..., M)
    """
    kind = _kind(kind)
    c = numeric_array("c", c, min_ndim=1, what="coefficients (..., N)")
    N = c.shape[-1]
    if N == 0 or (kind == "fout" and N % 2 == 0):
        raise ValueError("c: expected coefficients (..., N) with N >= 1"
                         + (" odd for kind 'fout'" if kind == "fout" else "")
                         + f", got shape {c.shape}")
    t = _present(kind, t)
    theta = _window_length(kind, t, theta)
    s = numeric_array("s", s, min_ndim=1, what="a 1-D array of times")
    affordable("s", N * s.size)
    return c @ _functions(kind, N, s, t, theta)


def offline_coefficients(kind, f, t, N, theta=1.0, nodes=None):
    """The exact coefficients by quadrature: ``c_n(t) = int f(s) g_n(s; t) dmu_t(s)``.

    Gauss-Legendre on [0, t] (legs) or [t - theta, t] (legt, fout); for lagt composite
    Gauss-Legendre over the past (-inf, t], cut where the weight falls below e^{-40}
    (f must be defined on the whole past), as ``basis.project`` does.

    kind : "legt", "lagt", "legs" or "fout"
    f : callable, an array of times -> f at those times (same shape)
    t : float, the present (> 0 for legs)
    N : int >= 1 (odd for "fout");  theta : float > 0, at least 1e-8 |t| (a shorter
        window loses its times to rounding);  nodes : Gauss nodes (see ``basis.project``)
    returns c : (N,)
    """
    kind = _kind(kind)
    N = _order(kind, N)
    t = _present(kind, t)
    theta = _window_length(kind, t, theta)
    function("f", f, "a callable (times -> values)")
    if kind == "lagt":
        # int f(s) L_n((t-s)/theta) exp(-(t-s)/theta) ds/theta, with s = theta s'
        return _basis.project(lambda x: f(theta * x), (-np.inf, t / theta), "laguerre", N,
                              nodes)
    name = "fourier" if kind == "fout" else "legendre"
    T = t if kind == "legs" else theta
    return _basis.project(f, (t - T, t), name, N, nodes) / np.sqrt(T)
