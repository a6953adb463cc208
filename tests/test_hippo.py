"""seqlearn.hippo against independent computations: the projections computed here by
numpy's Gauss rules and legval / lagval, the matrices as the HiPPO paper and the lecture
notes write them (positive A, unnormalised and time-flipped LegT), the ODEs checked by
differentiating the projection itself, and closed forms (equilibria, the lecture's LegS
recurrence)."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from numpy.polynomial import laguerre as npla
from numpy.polynomial import legendre as npl
from numpy.polynomial import polynomial as npp
from scipy.integrate import solve_ivp

from seqlearn.discretize import discretize
from seqlearn.hippo import (KINDS, hippo_matrix, offline_coefficients, online_coefficients,
                            reconstruct)

METHODS = ["forward_euler", "backward_euler", "bilinear", "zoh"]
ORDER = {"forward_euler": 1, "backward_euler": 1, "bilinear": 2, "zoh": 2}


# --- independent references: the coefficients c_n(t) = int f g_n dmu_t by quadrature ---

def gauss(a, b, n=100):
    """numpy's Gauss-Legendre rule on [a, b]; 100 nodes (more are less accurate: ~1e-14)."""
    x, w = npl.leggauss(n)
    return a + (b - a) * (x + 1) / 2, w * (b - a) / 2


def shifted_legendre(N, x):
    """r_n P_n(2x - 1) on [0, 1] with numpy's legval, (N, len(x))."""
    return np.array([np.sqrt(2 * n + 1) * npl.legval(2 * x - 1, np.eye(N)[n])
                     for n in range(N)])


def fourier_p(N, x):
    """1, sqrt2 cos(2 pi k x), sqrt2 sin(2 pi k x), ... as real and imaginary parts."""
    rows = [np.ones_like(x)]
    for n in range(1, N):
        z = np.sqrt(2) * np.exp(2j * np.pi * ((n + 1) // 2) * x)
        rows.append(z.real if n % 2 else z.imag)
    return np.array(rows)


def ref_coefficients(kind, f, t, N, theta=1.0, start=None):
    """c(t) by Gauss quadrature in x in [0, 1] (legs, legt, fout) or in x = (t - s)/theta
    (lagt: Gauss-Laguerre over the whole past, or Gauss-Legendre when f starts at
    ``start``, 0 before)."""
    if kind == "lagt":
        if start is None:
            x, w = npla.laggauss(120)
        else:
            x, w = gauss(0.0, (t - start) / theta)
            w = w * np.exp(-x)
        L = np.array([npla.lagval(x, np.eye(N)[n]) for n in range(N)])
        return L @ (w * f(t - theta * x))
    x, w = gauss(0.0, 1.0)
    T = t if kind == "legs" else theta
    s = t - T + T * x  # x = 0 at the window's start, 1 at the present
    p = fourier_p(N, x) if kind == "fout" else shifted_legendre(N, x)
    return p @ (w * f(s))


def smooth(s):
    return np.sin(3 * s) + np.exp(-s) * np.cos(7 * s)


# --- the matrices ---

def test_legs_matrix_is_the_lecture_formula_with_the_sign_flipped():
    # lecture notes / paper: c' = -(1/t) A_p c + (1/t) B_p f with
    # A_p[n,k] = sqrt(2n+1) sqrt(2k+1) (n > k), n + 1 (n = k), 0 (n < k); B_p[n] = sqrt(2n+1)
    for N in (1, 2, 5, 16):
        A_p = np.zeros((N, N))
        for n in range(N):
            for k in range(N):
                if n > k:
                    A_p[n, k] = math.sqrt(2 * n + 1) * math.sqrt(2 * k + 1)
                elif n == k:
                    A_p[n, k] = n + 1
        B_p = np.array([math.sqrt(2 * n + 1) for n in range(N)])
        A, B = hippo_matrix("legs", N)
        # both sides: correctly rounded square roots and one product (n + 1 exact): bitwise
        # equal; 1e-15 (~4.5 eps) would allow the product formed in another order (<= 3 eps/2)
        np.testing.assert_allclose(A, -A_p, rtol=1e-15)
        np.testing.assert_allclose(B, B_p, rtol=1e-15)


@pytest.mark.parametrize("N", [1, 4, 10, 32])
def test_legs_eigenvalues_are_minus_one_to_N(N):
    A, _ = hippo_matrix("legs", N)
    assert np.all(np.triu(A, 1) == 0)  # lower triangular: the eigenvalues are the diagonal
    np.testing.assert_array_equal(np.diag(A), -np.arange(1, N + 1))
    eig = np.linalg.eigvals(A)
    # exact: LAPACK's balancing (gebal) permutes a triangular matrix to triangular form and
    # reads the eigenvalues off the diagonal. (Without it these eigenvalues are very badly
    # conditioned, LegS being far from normal, and 1e-9 would not hold at N = 32.)
    np.testing.assert_allclose(np.sort(eig.real), -np.arange(N, 0, -1), atol=1e-9)
    np.testing.assert_allclose(eig.imag, 0, atol=1e-9)


@pytest.mark.parametrize("theta", [1.0, 0.3, 4.0])
def test_legt_matrix_is_the_papers_after_normalising_and_flipping_time(theta):
    # paper / LMU: A_p[n,k] = (2n+1)/theta * ((-1)^(n-k) if n >= k else 1),
    # B_p[n] = (2n+1)(-1)^n / theta, for c' = -A_p d + B_p f with d the coefficients on
    # the unnormalised P_n of the delay (t - s)/theta: d = S R c, R = diag(sqrt(2n+1)),
    # S = diag((-1)^n) (P_n(-x) = (-1)^n P_n(x)). So -A_p = S R A R^-1 S, B_p = S R B.
    N = 9
    n = np.arange(N)
    A_p = np.array([[(2 * i + 1) / theta * ((-1.0) ** (i - k) if i >= k else 1.0)
                     for k in range(N)] for i in range(N)])
    B_p = (2 * n + 1) * (-1.0) ** n / theta
    A, B = hippo_matrix("legt", N, theta)
    SR = np.diag((-1.0) ** n * np.sqrt(2 * n + 1))
    # products with diagonal matrices (sums of exact zeros), a diagonal inverse and the
    # formula's few operations: <= ~6 eps/2 ~ 7e-16 relative on entries >= 1/theta;
    # rtol 1e-12 leaves > 1000x (the atol never matters: no entry is 0)
    np.testing.assert_allclose(SR @ A @ np.linalg.inv(SR), -A_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(SR @ B, B_p, rtol=1e-12)


def test_lagt_matrix_is_the_lectures_with_the_sign_flipped():
    # lecture: A_p[n,k] = 1 (n >= k), 0 (n < k), B_p = 1; here also a timescale theta
    for N, theta in ((1, 1.0), (6, 1.0), (6, 2.5)):
        A, B = hippo_matrix("lagt", N, theta)
        A_p = np.array([[1.0 if n >= k else 0.0 for k in range(N)] for n in range(N)])
        # exact: -1 / theta and 1 / theta are one division on both sides (default rtol 1e-7)
        np.testing.assert_allclose(A, -A_p / theta)
        np.testing.assert_allclose(B, np.ones(N) / theta)


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), N=st.integers(1, 24), theta=st.floats(0.1, 10))
def test_every_kind_is_stable(kind, N, theta):
    N = N if kind != "fout" else 2 * (N // 2) + 1
    A, B = hippo_matrix(kind, N, theta)
    assert A.shape == (N, N) and B.shape == (N,)
    # legs and lagt are triangular (exact eigenvalues, see above); the rightmost eigenvalue
    # of legt (-7.7 / theta at N = 24, kappa 200) and fout (-0.75 / theta, kappa ~1) errs
    # by <= kappa N (eps/2) ||A|| ~ 2e-10 / theta: far from 0
    assert np.linalg.eigvals(A).real.max() < 0


@pytest.mark.parametrize("kind", KINDS)
def test_e0_is_the_equilibrium_of_a_constant_input(kind):
    # a constant is in every span: its coefficients are (1, 0, ..., 0), so A e_0 + B = 0
    A, B = hippo_matrix(kind, 7, 0.8)
    # exact: r_0 = e_0 = 1, so column 0 of A is -B formed by the same operations; if not,
    # |B| <= 4.5 would leave <= 2 eps/2 * 4.5 ~ 1e-15: atol 1e-12 leaves 1000x
    np.testing.assert_allclose(A[:, 0] + B, 0, atol=1e-12)


# --- the ODEs, checked by differentiating the exact projection ---

@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 12), theta=st.floats(0.2, 5), t=st.floats(-3, 3),
       seed=st.integers(0, 2**32 - 1))
def test_legt_ode_is_exact_for_polynomials_of_degree_below_N(N, theta, t, seed):
    # translation-invariant measure: c[f](t) = int_0^1 f(t - theta + theta x) p(x) dx, so
    # c[f]'(t) = c[f'](t); for f of degree < N, f(t - theta) is exactly the
    # reconstruction at the window's start, and A c + B f(t) must equal c[f'](t).
    p = np.random.default_rng(seed).standard_normal(N)
    f, df = (lambda s: npp.polyval(s, p)), (lambda s: npp.polyval(s, npp.polyder(p)))
    A, B = hippo_matrix("legt", N, theta)
    c = ref_coefficients("legt", f, t, N, theta)
    scale = 1 + np.abs(ref_coefficients("legt", df, t, N, theta)).max() + np.abs(A @ c).max()
    # Gauss sums of Q = 100 nodes: each coefficient errs by <= (Q + 3N)(eps/2) sum_i
    # |w_i p_n(x_i)| F(s_i), F = Horner's scale sum_k |p_k| |s|^k, amplified by |A| for A c.
    # Over 600 random draws of these ranges 1e-9 scale was >= 120x that estimate (the
    # measured error <= 1.3x it: Gauss nodes and legval add their own ~eps).
    np.testing.assert_allclose(A @ c + B * f(t), ref_coefficients("legt", df, t, N, theta),
                               atol=1e-9 * scale)


def test_legt_ode_is_only_approximate_beyond_the_span():
    # degree N: f(t - theta) is no longer the reconstruction, so the identity fails
    N, theta, t = 6, 1.0, 0.3
    f, df = (lambda s: s**N), (lambda s: N * s ** (N - 1))
    A, B = hippo_matrix("legt", N, theta)
    gap = A @ ref_coefficients("legt", f, t, N, theta) + B * f(t) \
        - ref_coefficients("legt", df, t, N, theta)
    # the approximation, not rounding: the gap is 3.6e-3 (rounding ~1e-14)
    assert np.abs(gap).max() > 1e-3


@settings(max_examples=25, deadline=None)
@given(K=st.integers(0, 5), extra=st.integers(0, 3), theta=st.floats(0.2, 5),
       t=st.floats(-3, 3), seed=st.integers(0, 2**32 - 1))
def test_fout_ode_is_exact_for_theta_periodic_trigonometric_polynomials(K, extra, theta, t,
                                                                       seed):
    # f of period theta with frequencies <= K <= (N - 1)/2: f(t - theta) = f(t) is the
    # seam value of its Fourier series, so A c + B f(t) = c[f'](t) exactly
    N = 2 * (K + extra) + 1
    a, b = np.random.default_rng(seed).standard_normal((2, K + 1))
    w = 2 * np.pi * np.arange(K + 1) / theta

    def f(s):
        return np.cos(np.outer(s, w)) @ a + np.sin(np.outer(s, w)) @ b

    def df(s):
        return np.cos(np.outer(s, w)) @ (w * b) - np.sin(np.outer(s, w)) @ (w * a)

    A, B = hippo_matrix("fout", N, theta)
    c = ref_coefficients("fout", f, t, N, theta)
    ft = f(np.array([t]))[0]
    scale = 1 + np.abs(A).max() * np.abs(c).max()
    # Gauss sums of 100 nodes (as in the LegT test) plus cos/sin of arguments |w s| rounded
    # to eps/2 |w s|: over 600 random draws 1e-9 scale was >= 3,000x that estimate
    np.testing.assert_allclose(A @ c + B * ft, ref_coefficients("fout", df, t, N, theta),
                               atol=1e-9 * scale)


def test_fout_ode_is_only_approximate_for_a_non_periodic_input():
    N, theta, t = 9, 1.0, 0.5
    A, B = hippo_matrix("fout", N, theta)
    gap = A @ ref_coefficients("fout", np.exp, t, N, theta) + B * np.exp(t) \
        - ref_coefficients("fout", np.exp, t, N, theta)  # (e^s)' = e^s
    # the approximation, not rounding: the gap is 3.3e-2 (rounding ~1e-14)
    assert np.abs(gap).max() > 1e-2


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 10), degree=st.integers(0, 15), theta=st.floats(0.2, 5),
       t=st.floats(-2, 2), seed=st.integers(0, 2**32 - 1))
def test_lagt_ode_is_exact_for_any_polynomial(N, degree, theta, t, seed):
    # the whole past, measure e^(-(t - s)/theta) ds / theta: no approximation in LagT,
    # so any degree works (Gauss-Laguerre integrates these exactly)
    p = np.random.default_rng(seed).standard_normal(degree + 1) / np.arange(1, degree + 2) ** 2
    f, df = (lambda s: npp.polyval(s, p)), (lambda s: npp.polyval(s, npp.polyder(p)))
    A, B = hippo_matrix("lagt", N, theta)
    c = ref_coefficients("lagt", f, t, N, theta)
    dc = ref_coefficients("lagt", df, t, N, theta)
    scale = 1 + np.abs(dc).max() + np.abs(A @ c).max()
    # Gauss-Laguerre, 120 nodes out to x ~ 460, where f (degree <= 15) is huge and
    # |L_n(x)| <= e^(x/2): sums err by <= (Q + 3N + 2 deg)(eps/2) sum_i |w_i L_n(x_i)| F(s_i)
    # (F as in the LegT test), and numpy's nodes and weights add their own ~eps relative
    # (measured up to 20x the sum's estimate). Over 600 random draws 1e-8 scale was
    # >= 1.3e4x the estimate, >= 650x the measured error.
    np.testing.assert_allclose(A @ c + B * f(t), dc, atol=1e-8 * scale)


@pytest.mark.parametrize("f, df", [(np.exp, np.exp),
                                   (lambda s: np.sin(5 * s), lambda s: 5 * np.cos(5 * s))])
@pytest.mark.parametrize("t", [0.3, 1.0, 2.7])
def test_legs_ode_is_exact_for_any_smooth_signal(f, df, t):
    # c(t) = int_0^1 f(t x) p(x) dx, so t c'(t) = int_0^1 t x f'(t x) p(x) dx, which must
    # equal A c + B f(t) (no approximation in LegS), here for N = 12. Tolerance: the
    # reference c is good to ~1e-14 (numpy's Gauss rule), and the terms of A @ c (sum of
    # magnitudes up to ~70) cancel down to ~1e-10 in the last rows.
    N = 12
    A, B = hippo_matrix("legs", N)
    x, w = gauss(0.0, 1.0)
    P = shifted_legendre(N, x)
    t_dc = P @ (w * t * x * df(t * x))
    c = ref_coefficients("legs", f, t, N)
    # The bound: each Gauss sum (Q = 100 nodes) errs by <= (Q + 3N)(eps/2) sum_i |w_i P_n g|
    # (g = f, or t x f'), those of c amplified by |A|, plus A @ c's own (N + 1)(eps/2) |A||c|.
    # 10x it: 1.4e-11 .. 1.3e-10 here (measured <= 0.37 of the bound). The old atol,
    # 1e-13 (|A| @ |c|).max(), was about the bound itself (its measured use 0.33).
    eps = np.finfo(float).eps
    S_c, S_dc = np.abs(P) @ np.abs(w * f(t * x)), np.abs(P) @ np.abs(w * t * x * df(t * x))
    bound = ((len(x) + 3 * N) * (np.abs(A) @ S_c + S_dc)
             + (N + 1) * (np.abs(A) @ np.abs(c) + np.abs(B * f(t)))) * eps / 2
    np.testing.assert_allclose(A @ c + B * f(t), t_dc, rtol=0, atol=10 * bound.max())


# --- online coefficients against the offline projection ---

CONVERGENCE = {
    # kind: (signal, N, theta, whether c(0) is the exact projection at t = 0)
    "legs": (smooth, 8, 1.0, False),
    "legt": (lambda s: 1 - 2 * s + 0.5 * s**3, 8, 0.7, True),  # degree < N: exact ODE
    "lagt": (smooth, 8, 0.5, False),  # starts at t = 0 (zero history)
    "fout": (lambda s: 1 + np.cos(2 * np.pi * s / 0.7) - 0.5 * np.sin(4 * np.pi * s / 0.7),
             7, 0.7, True),  # 0.7-periodic, frequencies <= 2 <= (N - 1)/2: exact ODE
}


@pytest.mark.parametrize("N", [1, 4, 12, 24])
def test_time_invariant_legs_kernel_is_legendre_in_warped_time(N):
    # chapter 4: x' = A x + B u with LegS's (A, B) is LegS in log time, so its impulse
    # response e^{tau A} B is K_n(tau) = e^{-tau} r_n P_n(2 e^{-tau} - 1) (Gu et al. 2023)
    from scipy.linalg import expm
    A, B = hippo_matrix("legs", N)
    r = np.sqrt(2 * np.arange(N) + 1)
    for tau in np.linspace(0, 8, 33):
        warped = np.exp(-tau) * r * npl.legval(2 * np.exp(-tau) - 1, np.eye(N))
        # scipy's expm (scaled Pade) on ||tau A|| <= 8 * 24^2: measured 9e-14 at worst over
        # these N and tau, against entries of size up to r_N ~ 7; 1e-11 is 100x that
        np.testing.assert_allclose(expm(tau * A) @ B, warped, rtol=0, atol=1e-11)


def test_legs_strictly_lower_part_is_a_triangle_of_rank_one_not_rank_one():
    # chapter 4: the strictly lower part of A is the lower triangle of -r r^T; the triangle
    # has rank N - 1 (its subdiagonal is nonzero), yet A c is one cumulative sum
    N = 16
    A, _ = hippo_matrix("legs", N)
    r = np.sqrt(2 * np.arange(N) + 1)
    lower = np.tril(A, -1)
    np.testing.assert_array_equal(lower, np.tril(-np.outer(r, r), -1))
    assert np.linalg.matrix_rank(lower) == N - 1
    c = np.random.default_rng(0).standard_normal(N)
    # sums of N terms of size <= r_N^2 |c| ~ 31 * 3: rounding ~ N u 100 ~ 4e-13; 1e-11 is 25x
    np.testing.assert_allclose(-(np.arange(N) + 1) * c - r * (np.cumsum(r * c) - r * c), A @ c,
                               rtol=0, atol=1e-11)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", KINDS)
def test_online_coefficients_converge_at_the_methods_order(kind, method):
    # error of c(T), T = 1, against the projection computed here; the order is the
    # least-squares slope of log(error) against log(dt) over three halvings of dt
    f, N, theta, needs_c0 = CONVERGENCE[kind]
    T = 1.0
    steps = (800, 1600, 3200) if kind == "fout" and ORDER[method] == 1 else (200, 400, 800)
    c0 = ref_coefficients(kind, f, 0.0, N, theta) if needs_c0 else None
    exact = ref_coefficients(kind, f, T, N, theta, start=0.0 if kind == "lagt" else None)
    errors = []
    for n_steps in steps:
        dt = T / n_steps
        samples = f(dt * np.arange(n_steps + 1))
        c = online_coefficients(kind, samples, dt, N, theta, method=method, c0=c0)
        assert c.shape == (n_steps + 1, N)
        errors.append(np.abs(c[-1] - exact).max())
    order = np.polyfit(np.log(T / np.array(steps)), np.log(errors), 1)[0]
    print(f"{kind} {method}: errors {np.array(errors)}, order {order:.3f}")
    # the method's pre-asymptotic terms, not rounding (errors >= 1e-7 >> L N eps |c| ~ 1e-12),
    # set the deviation: measured <= 0.031 (fout, Euler); 0.15 leaves ~5x
    assert abs(order - ORDER[method]) < 0.15, (order, errors)


def test_feeding_the_latest_sample_alone_is_only_first_order():
    # why online_coefficients feeds u_k = (f_{k-1} + f_k) / 2 to bilinear and ZOH: with
    # S4's u_k = f_k (x_k = Ab x_{k-1} + Bb f_k) both fall to first order
    f, N, theta, _ = CONVERGENCE["lagt"]
    A, B = hippo_matrix("lagt", N, theta)
    exact = ref_coefficients("lagt", f, 1.0, N, theta, start=0.0)
    for method in ("bilinear", "zoh"):
        errors = []
        for n_steps in (200, 400, 800):
            dt = 1.0 / n_steps
            Ab, Bb = discretize(A, B, dt, method)
            c = np.zeros(N)
            for f_k in f(dt * np.arange(1, n_steps + 1)):
                c = Ab @ c + Bb * f_k
            errors.append(np.abs(c - exact).max())
        order = np.polyfit(np.log(1.0 / np.array([200, 400, 800])), np.log(errors), 1)[0]
        # measured 0.997, 0.996 (errors >= 5e-4, no rounding in sight); the second order
        # it must not reach is 1.0 away
        assert abs(order - 1) < 0.15, (method, order)


def test_legs_forward_euler_transient_is_removed_after_N_steps():
    # forward Euler's first LegS steps are unstable (rows up to ~2^N), but the factor
    # 1 - (n + 1)/(k - 1) = 0 at k = n + 2 resets each coefficient: from k = N + 1 on the
    # rows are as accurate as forward Euler allows (O(dt))
    N, T, n_steps = 24, 2.0, 2000
    dt = T / n_steps
    c = online_coefficients("legs", smooth(dt * np.arange(n_steps + 1)), dt, N,
                            method="forward_euler")
    assert np.all(np.isfinite(c))
    # forward Euler's O(dt) error, not rounding: 9.7e-5, 1.3e-4, 6.2e-4, 1.67e-3 at these k
    # (deterministic: 2,000 steps of N = 24 add <= ~1e-11); 2e-3 is a regression bound
    for k in (N + 1, N + 10, 500, n_steps):
        assert np.abs(c[k] - ref_coefficients("legs", smooth, k * dt, N)).max() < 2e-3


def test_legs_reconstruction_error_falls_as_N_grows(capsys):
    # f on [0, T] from c(T): online (bilinear, dt = 1e-3) and offline (the projection);
    # the max error over s in [0, T] on a dense grid
    T, n_steps = 2.0, 2000
    dt = T / n_steps
    samples = smooth(dt * np.arange(n_steps + 1))
    s = np.linspace(0, T, 4001)
    online_err, offline_err = [], []
    for N in (4, 8, 16, 32):
        c_on = online_coefficients("legs", samples, dt, N, method="bilinear")[-1]
        c_off = ref_coefficients("legs", smooth, T, N)
        online_err.append(np.abs(reconstruct("legs", c_on, T, s) - smooth(s)).max())
        offline_err.append(np.abs(reconstruct("legs", c_off, T, s) - smooth(s)).max())
    with capsys.disabled():
        print("\nLegS max reconstruction error, N = 4, 8, 16, 32:"
              f"\n  online (bilinear, dt = {dt}): {np.array(online_err)}"
              f"\n  offline projection:           {np.array(offline_err)}")
    assert np.all(np.diff(online_err) < 0) and np.all(np.diff(offline_err) < 0)
    # up to N = 16 the projection dominates, so online and offline agree ... (method error,
    # not rounding: measured 5e-5 relative; the triangle inequality only gives
    # |rec(c_on - c_off)| = 6e-6 = 17% at N = 16, so 5% rests on where the max falls, which
    # rounding, ~1e-13, cannot move)
    np.testing.assert_allclose(online_err[:3], offline_err[:3], rtol=0.05)
    # ... at N = 32 the projection error is tiny and what is left is the O(dt^2) online error
    # (projection: the coefficient tail sum_{n >= 32} |c_n| r_n / sqrt(T) = 3e-12, plus
    # rounding ~1e-13; 1e-10 leaves 30x. Bilinear: 5.95e-6, a method error deterministic to
    # ~1e-13; 1e-5 is a regression bound, not a rounding one)
    assert offline_err[3] < 1e-10
    assert online_err[3] < 1e-5


def test_legs_forward_euler_is_the_lecture_recurrence():
    # c_{k+1} = (1 - A_p / k) c_k + (1/k) B_p f_k for k >= 1 (A_p the lecture's positive
    # matrix), written here with the matrices built from the formula, not from hippo_matrix
    N = 6
    A_p = np.array([[math.sqrt((2 * n + 1) * (2 * k + 1)) if n > k else (n + 1.0) * (n == k)
                     for k in range(N)] for n in range(N)])
    B_p = np.sqrt(2 * np.arange(N) + 1.0)
    samples = smooth(0.01 * np.arange(60))
    c = online_coefficients("legs", samples, 0.01, N, method="forward_euler")
    # exact copies (default rtol 1e-7): c_0 = f_0 e_0 and forward Euler's c_1 = c_0
    np.testing.assert_allclose(c[0], samples[0] * np.eye(N)[0])
    np.testing.assert_allclose(c[1], c[0])  # the first step: A_p e_0 = B_p, nothing moves
    for k in range(1, 59):
        expected = (np.eye(N) - A_p / k) @ c[k] + B_p * samples[k] / k
        # one step formed two ways: each <= (N + 3)(eps/2) (|I - A_p/k| |c_k| + |B_p f_k/k|);
        # 1e-12 + 1e-12 |expected| is >= 79x the sum at every k (|c| <= 4.5)
        np.testing.assert_allclose(c[k + 1], expected, rtol=1e-12, atol=1e-12)


def test_legs_forward_euler_transient_leaves_no_residue_at_N_64():
    # the diagonal factor (k - 1) - (n + 1) is exactly 0 at k = n + 2; formed as
    # 1 + fl(1/(k - 1)) * -(n + 1) (the old per-step discretize) it left ~1e-16 of a
    # transient of ~1e42: errors of 5e7 at k = N + 10, still 1e3 at k = N + 20
    N, T, n_steps = 64, 2.0, 2000
    dt = T / n_steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = online_coefficients("legs", smooth(dt * np.arange(n_steps + 1)), dt, N,
                                method="forward_euler")
    assert np.abs(c[: N + 1]).max() > 1e40  # the transient is there ...
    # forward Euler's O(dt) error: 6.6e-4, 2.9e-4, 6.2e-4, 1.67e-3 at these k; a transient
    # residue would be ~eps * 4e42. 2e-3 is a regression bound (deterministic to ~1e-11).
    for k in (N + 10, N + 20, 500, n_steps):  # ... and gone: forward Euler's own O(dt)
        assert np.abs(c[k] - ref_coefficients("legs", smooth, k * dt, N)).max() < 2e-3, k


def dense_legs(f, N, method, alpha=None):
    """The LegS online coefficients from the module docstring's definition, one dense
    step at a time: (Ab_k, Bb_k) of h_k A by np.linalg.solve (GBT, h_k = 1/(k - 1 + a))
    or scipy.linalg.expm of the block [[A, B], [0, 0]] (ZOH, h_k = ln(k / (k - 1))),
    with A, B from the formula, not hippo_matrix. f (P, L) -> (P, L, N)."""
    from scipy.linalg import expm

    n = np.arange(N)
    r = np.sqrt(2 * n + 1.0)
    A = -np.tril(np.outer(r, r), -1) - np.diag(n + 1.0)
    B = r
    a = {"forward_euler": 0.0, "backward_euler": 1.0, "bilinear": 0.5, "zoh": 0.5,
         "gbt": alpha}[method]
    I = np.eye(N)
    out = np.zeros(f.shape + (N,))
    out[:, 0, 0] = f[:, 0]
    for k in range(1, f.shape[1]):
        u = (1 - a) * f[:, k - 1] + a * f[:, k]
        if method == "zoh" and k == 1:  # h = inf: exp(h A) = 0, A^{-1}(exp(h A) - I) B = e_0
            Ab, Bb = np.zeros((N, N)), I[0]
        elif method == "zoh":
            h = np.log(k / (k - 1))
            block = np.zeros((N + 1, N + 1))
            block[:N, :N], block[:N, N] = A, B
            E = expm(h * block)
            Ab, Bb = E[:N, :N], E[:N, N]
        elif a == 0.0 and k == 1:  # h = inf times A c_0 + B f_0 = 0: nothing moves
            Ab, Bb = I, np.zeros(N)
        else:
            h = 1.0 / (k - 1 + a)
            Ab = np.linalg.solve(I - a * h * A, I + (1 - a) * h * A)
            Bb = np.linalg.solve(I - a * h * A, h * B)
        out[:, k] = out[:, k - 1] @ Ab.T + u[:, None] * Bb
    return out


@pytest.mark.parametrize("method, alpha", [("forward_euler", None), ("backward_euler", None),
                                           ("bilinear", None), ("gbt", 0.3), ("gbt", 0.8),
                                           ("zoh", None)])
@pytest.mark.parametrize("N", [1, 2, 7, 20])
def test_legs_online_update_is_the_dense_per_step_computation(N, method, alpha):
    # the O(N^2) steps (triangular solves; Gauss quadrature for exp(h_k A)) against the
    # O(N^3) per-step definition, on a batch of two signals
    rng = np.random.default_rng(N)
    f = np.stack([smooth(0.05 * np.arange(50)), rng.standard_normal(50)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = online_coefficients("legs", f, 0.05, N, method=method, alpha=alpha)
        want = dense_legs(f, N, method, alpha)
    assert got.shape == (2, 50, N)
    # both err by ~ steps x N (eps/2) of the largest coefficient along the way (forward
    # Euler's transient: 3.4e12 at N = 20, which the dense side does not cancel exactly):
    # <= 50 * 20 * 1.1e-16 ~ 1.1e-13 of max|want|; 1e-11 leaves ~90x (measured 2.9e-16
    # of it for Euler, <= 9e-14 otherwise)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-11 * np.abs(want).max())


@pytest.mark.parametrize("method", ["bilinear", "zoh"])
def test_legs_online_update_at_a_large_state_over_several_quadrature_chunks(method):
    # N = 200: the ZOH decays are evaluated 26 steps at a time, so 60 steps cross chunks
    f = smooth(0.01 * np.arange(60))[None]
    got = online_coefficients("legs", f, 0.01, 200, method=method)
    # |c| <= 1.03. Online side, componentwise over 58 steps: <= 3.7e-12 (bilinear's
    # triangular solves), 2.6e-12 (ZOH's 200-node quadrature). Dense side: N = 200 solves /
    # expms of h_k A with ||h_k A|| up to ~1e4: ~||h_k A|| (eps/2) sqrt(N) |c| per step,
    # <= 1.6e-10 summed. The old atol 1e-11 was below that and within 3x of the online
    # side's (measured 3.2e-13); 2e-9 leaves >= 12x.
    np.testing.assert_allclose(got, dense_legs(f, 200, method), rtol=0, atol=2e-9)


def test_legs_online_update_does_not_discretize_per_step(monkeypatch):
    # the old loop called discretize (two O(N^3) solves or an expm, and two eigvals) at
    # every step: 22 ms per step at N = 256; now nothing O(N^3) runs per step
    import seqlearn.hippo as hippo_module

    def refuse(*args, **kwargs):
        raise AssertionError("discretize called in the LegS loop")

    monkeypatch.setattr(hippo_module, "discretize", refuse)
    monkeypatch.setattr(np.linalg, "eigvals", refuse)
    monkeypatch.setattr(np.linalg, "solve", refuse)
    for method in METHODS + ["gbt"]:
        c = online_coefficients("legs", smooth(0.01 * np.arange(30)), 0.01, 6, method=method,
                                alpha=0.3 if method == "gbt" else None)
        assert np.all(np.isfinite(c))


def test_nan_in_the_samples_passes_through_from_that_step_on():
    f = smooth(0.01 * np.arange(20))
    f[7] = np.nan
    for kind, method in [("legs", "bilinear"), ("legs", "zoh"), ("legt", "bilinear")]:
        c = online_coefficients(kind, f, 0.01, 5, method=method)
        assert np.all(np.isfinite(c[:7])) and np.all(np.isnan(c[8:]))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("kind", KINDS)
def test_gbt_update_is_the_theta_method(kind, alpha):
    # the scheme written the other way round, one linear solve per step:
    # c_k - c_{k-1} = h [(1 - alpha) (A c_{k-1} + B f_{k-1}) + alpha (A c_k + B f_k)],
    # h = dt (LTI) or dt / tau with tau = t_{k-1} + alpha dt (LegS; k >= 2)
    N, theta, dt = 5, 0.8, 0.05
    f = smooth(dt * np.arange(12))
    A, B = hippo_matrix(kind, N, theta)
    c0 = None if kind == "legs" else np.linspace(1, -1, N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small alpha on fout is unstable at this dt
        c = online_coefficients(kind, f, dt, N, theta, method="gbt", alpha=alpha, c0=c0)
    for k in range(2 if kind == "legs" else 1, 12):
        h = dt / ((k - 1 + alpha) * dt) if kind == "legs" else dt
        rhs = c[k - 1] + h * ((1 - alpha) * (A @ c[k - 1] + B * f[k - 1]) + alpha * B * f[k])
        # one step, two ways (componentwise: (N + 4)(eps/2) |M^-1| (|M| |c_k| + |rhs terms|)
        # per solve, M = I - h alpha A): 1e-12 + 1e-11 |c_k| is >= 43x the sum here
        np.testing.assert_allclose(c[k], np.linalg.solve(np.eye(N) - h * alpha * A, rhs),
                                   rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_zoh_update_integrates_the_ode_with_the_held_average(kind):
    # between samples the input is held at (f_{k-1} + f_k) / 2; integrate the ODE there
    # with scipy's adaptive Runge-Kutta (LegS: c' = (A c + B u) / t, from t_1 on)
    N, theta, dt = 5, 0.8, 0.05
    f = smooth(dt * np.arange(8))
    A, B = hippo_matrix(kind, N, theta)
    c = online_coefficients(kind, f, dt, N, theta, method="zoh",
                            c0=None if kind == "legs" else np.linspace(1, -1, N))
    for k in range(2 if kind == "legs" else 1, 8):
        u = (f[k - 1] + f[k]) / 2
        scale = (lambda t: 1 / t) if kind == "legs" else (lambda t: 1.0)
        sol = solve_ivp(lambda t, x: scale(t) * (A @ x + B * u), ((k - 1) * dt, k * dt),
                        c[k - 1], method="DOP853", rtol=1e-12, atol=1e-13)
        # the reference is an adaptive ODE solve to local tolerances 1e-12 |x| + 1e-13 over a
        # few steps of one interval (its global error a small multiple of that); ZOH's
        # expm / quadrature ~1e-15. 1e-9 |c| + 1e-10 is >= 100x that (measured <= 5e-14).
        np.testing.assert_allclose(c[k], sol.y[:, -1], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_legs_online_coefficients_do_not_depend_on_dt(method):
    # scale invariance: the same samples give the same coefficients at any spacing
    samples = smooth(np.linspace(0, 2, 50))
    a = online_coefficients("legs", samples, 0.01, 5, method=method)
    b = online_coefficients("legs", samples, 7.0, 5, method=method)
    # exact on purpose: the LegS update never reads dt, so both calls run the same arithmetic
    np.testing.assert_array_equal(a, b)


@settings(max_examples=30, deadline=None)
@example(kind="legs", method="gbt", N=1, theta=1.0, dt=0.125, value=1.0, alpha=1e-300)
@given(kind=st.sampled_from(KINDS), method=st.sampled_from(METHODS + ["gbt"]),
       N=st.sampled_from([1, 3, 5]), theta=st.floats(0.2, 3), dt=st.floats(0.01, 0.2),
       value=st.floats(-3, 3), alpha=st.floats(0, 1))
def test_a_constant_input_stays_at_the_equilibrium(kind, method, N, theta, dt, value, alpha):
    # every GBT and ZOH keep the equilibrium c = value * e_0 of A c + B value = 0 (up to
    # rounding, which an unstable discretisation would amplify: those draws are skipped)
    c0 = None if kind == "legs" else value * np.eye(N)[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = online_coefficients(kind, np.full(30, value), dt, N, theta, method=method,
                                alpha=alpha if method == "gbt" else None, c0=c0)
    assume(not any("unstable" in str(w.message) for w in caught))
    # 30 steps, each <= (N + 2)(eps/2) (|Ab| |c| + |Bb| |value|) with |c| = |value| <= 3 and
    # |Ab| row sums <= ~5, propagated by a stable Ab: <= ~2e-12; 1e-9 leaves 500x (measured
    # <= 1.6e-14 over 1,400 draws). rtol=0: the default 1e-7 |value| added nothing but slack.
    np.testing.assert_allclose(c, np.broadcast_to(value * np.eye(N)[0], c.shape), rtol=0,
                               atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(KINDS), method=st.sampled_from(METHODS),
       seed=st.integers(0, 2**32 - 1), a=st.floats(-2, 2))
def test_online_coefficients_are_linear_and_batched(kind, method, seed, a):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((2, 40))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # forward Euler on fout is unstable at this dt
        both = online_coefficients(kind, f, 0.05, 5, method=method)
        one = [online_coefficients(kind, row, 0.05, 5, method=method) for row in f]
        mixed = online_coefficients(kind, a * f[0] + f[1], 0.05, 5, method=method)
    assert both.shape == (2, 40, 5)
    # Batched against one row: other BLAS calls (gemm / gemv, trsm with 2 or 1 columns), so
    # other summation orders. 40 steps, each <= (N + 1)(eps/2) |Ab| |c|: |Ab| row sums
    # <= ~2.5 (up to ~27 in LegS's first steps), the growth (forward Euler on fout: |c| up
    # to ~1e3) carried by |c| itself: <= ~1.3e-13 max|c|. An absolute 1e-12 was not enough
    # for entries near 0 once |c| ~ 1e3; 2e-12 max|c| (with rtol 1e-12) leaves 15x.
    scale = np.abs(np.stack(one)).max()
    np.testing.assert_allclose(both, np.stack(one), rtol=1e-12, atol=2e-12 * scale)
    # the same bound for the mixed run and for a * one[0] + one[1] (|a| <= 2, 2 more
    # roundings): <= ~1.3e-13 (|a| + 1) max|c|; 1e-11 (|a| + 1) max|c| leaves 75x (a fixed
    # 1e-9 was within 3x of it when |c| ~ 1e3, and 1e3x loose when |c| ~ 1)
    np.testing.assert_allclose(mixed, a * one[0] + one[1], rtol=1e-9,
                               atol=1e-11 * (abs(a) + 1) * scale)


# --- offline coefficients and reconstruction ---

@pytest.mark.parametrize("kind, N", [("legs", 9), ("legt", 9), ("lagt", 9), ("fout", 9)])
def test_offline_coefficients_match_the_independent_projection(kind, N):
    # (lagt integrates over the whole past: a polynomial, so that both Gauss-Laguerre
    # rules are exact; the others a smooth non-polynomial signal)
    t, theta = 1.3, 0.6
    f = (lambda s: 1 - s + 0.2 * s**3) if kind == "lagt" else smooth
    # Two Gauss sums: <= (Q1 + Q2 + 2N)(eps/2) sum_i |w_i p_n f| <= 1.8e-14 (legs, legt,
    # fout: 128 + 100 nodes); lagt: 1.6e-13 (80 panels x 32 + 120 nodes) plus 1.9e-13 for
    # cutting the past at age 80 (int_80^inf e^(-x/2) |f(t - theta x)| dx). 5e-12 leaves
    # >= 14x (1e-12 was within 3x of lagt's 3.5e-13); rtol=0 since the default 1e-7 would
    # hide float32-sized errors in the larger coefficients.
    np.testing.assert_allclose(offline_coefficients(kind, f, t, N, theta),
                               ref_coefficients(kind, f, t, N, theta), rtol=0, atol=5e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_reconstruct_recovers_a_signal_in_the_span(kind):
    t, theta, N = 1.7, 0.9, 7
    if kind == "fout":
        f = lambda s: 0.5 + np.sin(2 * np.pi * s / theta) - np.cos(6 * np.pi * s / theta)  # noqa
    else:
        f = lambda s: 2 - s + 0.3 * s**4  # noqa: E731, degree 4 < N
    s = {"legs": np.linspace(0, t, 30), "lagt": np.linspace(t - 5, t, 30)}.get(
        kind, np.linspace(t - theta, t, 30))
    c = ref_coefficients(kind, f, t, N, theta)
    # c by Gauss rules (100 nodes; lagt: Gauss-Laguerre, 120 nodes out to x ~ 460 where
    # f ~ 1e10) to <= (Q + N)(eps/2) sum|w p f| each, summed against |g_n(s)|: <= 3e-13
    # (legs, legt), 7e-14 (fout), 3e-12 (lagt, whose rule adds its own ~eps: measured
    # 6.2e-12). 1e-9 leaves >= 80x (x 2 for both[1]); rtol=0, as the default 1e-7 |f|
    # (4e-6 at |f| = 41) was the real tolerance for lagt.
    np.testing.assert_allclose(reconstruct(kind, c, t, s, theta), f(s), rtol=0, atol=1e-9)
    both = reconstruct(kind, np.stack([c, 2 * c]), t, s, theta)
    assert both.shape == (2, 30)
    np.testing.assert_allclose(both[1], 2 * f(s), rtol=0, atol=1e-9)


# --- bad input ---

@pytest.mark.parametrize("call, argument", [
    (lambda: hippo_matrix("legx", 4), "kind"),
    (lambda: hippo_matrix(None, 4), "kind"),
    (lambda: hippo_matrix("legs", 0), "N"),
    (lambda: hippo_matrix("legs", 2.0), "N"),
    (lambda: hippo_matrix("legs", True), "N"),
    (lambda: hippo_matrix("fout", 4), "N"),
    (lambda: hippo_matrix("legt", 4, theta=0.0), "theta"),
    (lambda: hippo_matrix("lagt", 4, theta=-1.0), "theta"),
    (lambda: hippo_matrix("legt", 4, theta=np.nan), "theta"),
    (lambda: hippo_matrix("legt", 4, theta=[1.0, 2.0]), "theta"),
    (lambda: online_coefficients("legq", np.ones(5), 0.1, 4), "kind"),
    (lambda: online_coefficients("legs", np.ones(5), 0.1, 0), "N"),
    (lambda: online_coefficients("legt", np.ones(5), 0.1, 4, theta=0), "theta"),
    (lambda: online_coefficients("legs", np.ones(5), 0.0, 4), "dt"),
    (lambda: online_coefficients("legs", np.ones(5), 0.1, 4, method="rk4"), "method"),
    (lambda: online_coefficients("legs", np.ones(5), 0.1, 4, method="gbt"), "alpha"),
    (lambda: online_coefficients("legs", np.ones(5), 0.1, 4, c0=np.zeros(4)), "c0"),
    (lambda: online_coefficients("legt", np.ones(5), 0.1, 4, c0=np.zeros(3)), "c0"),
    (lambda: online_coefficients("legt", np.ones(0), 0.1, 4), "f"),
    (lambda: online_coefficients("legt", 1.0, 0.1, 4), "f"),
    (lambda: reconstruct("legs", np.ones(3), 0.0, [0.1]), "t"),
    (lambda: reconstruct("legs", np.ones(0), 1.0, [0.1]), "c"),
    (lambda: reconstruct("fout", np.ones(4), 1.0, [0.1]), "c"),
    (lambda: reconstruct("legt", np.ones(3), 1.0, [0.1], theta=-2), "theta"),
    (lambda: reconstruct("legt", np.ones(3), 1.0, [[0.1]]), "s"),
    (lambda: reconstruct("lagx", np.ones(3), 1.0, [0.1]), "kind"),
    (lambda: offline_coefficients("legs", np.ones(3), 1.0, 3), "f"),
    (lambda: offline_coefficients("legs", np.sin, -1.0, 3), "t"),
    (lambda: offline_coefficients("fout", np.sin, 1.0, 2), "N"),
    # bools are not numbers
    (lambda: reconstruct("legs", np.ones(3), True, [0.1]), "t"),
    (lambda: offline_coefficients("legt", np.sin, True, 3), "t"),
    (lambda: offline_coefficients("legt", np.sin, 1.0, 3, theta=True), "theta"),
    (lambda: online_coefficients("legs", np.ones(5), True, 4), "dt"),
    (lambda: online_coefficients("legs", np.ones(5), 0.1, 4, method="gbt", alpha=True),
     "alpha"),
    # a window so short next to t that its times collapse, or matrices that overflow
    (lambda: offline_coefficients("legt", np.sin, 1.0, 3, theta=1e-300), "theta"),
    (lambda: offline_coefficients("fout", np.sin, 1.0, 3, theta=1e-12), "theta"),
    (lambda: offline_coefficients("lagt", np.sin, 1.0, 3, theta=1e-300), "theta"),
    (lambda: reconstruct("legt", np.ones(3), 1.0, [1.0], theta=1e-300), "theta"),
    (lambda: offline_coefficients("legs", np.sin, 1e-310, 3), "t"),
    (lambda: hippo_matrix("legt", 4, theta=1e-320), "theta"),
    (lambda: online_coefficients("lagt", np.ones(5), 0.1, 4, theta=1e-320), "theta"),
    # None, strings, ragged lists, non-callables, tensors that need grad
    (lambda: online_coefficients("legs", None, 0.1, 4), "f"),
    (lambda: online_coefficients("legs", np.ones(5), [1, [2, 3]], 4), "dt"),
    (lambda: online_coefficients("legt", np.ones(5), 0.1, 4, theta=[1, [2]]), "theta"),
    (lambda: online_coefficients("legt", np.ones(5), 0.1, 4, c0="abc"), "c0"),
    (lambda: reconstruct("lagt", np.ones(3), 1.0, "abc"), "s"),
    (lambda: reconstruct("legs", np.ones(3), 1.0, None), "s"),
    (lambda: reconstruct("legs", None, 1.0, [0.1]), "c"),
    (lambda: offline_coefficients("legs", "sin", 1.0, 3), "f"),
    (lambda: offline_coefficients("legs", lambda s: 1 / 0, 1.0, 3), "f"),
    (lambda: offline_coefficients("legs", np.sin, 1.0, 3, nodes=2.5), "nodes"),
    (lambda: hippo_matrix("LEGS", 4), "kind"),
    (lambda: online_coefficients("legs", np.ones(5), 0.1, 4, method="Bilinear"), "method"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: expected"):
        call()


@pytest.mark.parametrize("call, argument", [
    (lambda: hippo_matrix("legs", 10**12), "N"),
    (lambda: offline_coefficients("legs", np.sin, 1.0, 10**9), "N"),
    (lambda: online_coefficients("legs", np.ones(10**5), 0.1, 10**4), "N"),
    (lambda: offline_coefficients("legs", np.sin, 1.0, 3, nodes=10**12), "nodes"),
    (lambda: online_coefficients("legs", np.ones(3), 0.1, 14000, method="zoh"), "N"),
    (lambda: online_coefficients("legs", np.ones(10**5), 0.1, 1000), "N"),    # 1e11 madds
])
def test_sizes_that_cannot_finish_are_refused_up_front(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        call()
