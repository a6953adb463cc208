"""seqlearn.basis against independent references: numpy.polynomial's legval, lagval and
Gauss rules, scipy.special, scipy.integrate.quad, the FFT, closed forms (complex
exponentials, Parseval's identity)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial import laguerre as npla
from numpy.polynomial import legendre as npl
from numpy.polynomial import polynomial as npp
from scipy.integrate import quad
from scipy.special import eval_laguerre, eval_legendre, spherical_in

from seqlearn.basis import (approximation_error, evaluate, fourier, laguerre, legendre,
                            measure, measure_basis, project, reconstruct,
                            weight)

windows = st.tuples(st.floats(-5, 5), st.floats(0.1, 10)).map(lambda p: (p[0], p[0] + p[1]))


def gauss(t0, t1, n=200):
    """Gauss-Legendre nodes and weights on [t0, t1] (numpy's rule, rescaled)."""
    x, w = npl.leggauss(n)
    return t0 + (t1 - t0) * (x + 1) / 2, w * (t1 - t0) / 2


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 20), window=windows, seed=st.integers(0, 2**32 - 1))
def test_legendre_matches_numpy_legval_and_scipy(N, window, seed):
    t0, t1 = window
    T = t1 - t0
    s = np.random.default_rng(seed).uniform(t0, t1, 17)
    x = 2 * (s - t0) / T - 1
    got = legendre(N, s, window)
    assert got.shape == (N, 17)
    for n in range(N):
        scale = np.sqrt((2 * n + 1) / T)
        # the same x on both sides; three-term recurrence vs Clenshaw (legval) vs SciPy, n < 20
        # on [-1, 1]: <~ n^2 u * scale ~ 4e-14 * scale; atol 1e-12 * scale leaves 20x
        np.testing.assert_allclose(got[n], scale * npl.legval(x, np.eye(N)[n]),
                                   rtol=1e-10, atol=1e-12 * scale)
        np.testing.assert_allclose(got[n], scale * eval_legendre(n, x), rtol=1e-10,
                                   atol=1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 20), now=st.floats(-5, 5), seed=st.integers(0, 2**32 - 1))
def test_laguerre_matches_numpy_lagval_and_scipy(N, now, seed):
    x = np.random.default_rng(seed).uniform(0, 30, 17)  # time before now
    got = laguerre(N, now - x, now)
    assert got.shape == (N, 17)
    for n in range(N):
        ref = npla.lagval(x, np.eye(N)[n])
        # recurrence vs Clenshaw vs SciPy, n < 20, x <= 30: each step's terms reach
        # (2n + 1 + x) |L_n| <~ 70 max|L|, so <~ n u * 32 * max|L| ~ 7e-14 max|L|; 1e-12 max|L|
        # leaves 14x (rtol 1e-9 covers the large values)
        np.testing.assert_allclose(got[n], ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
        np.testing.assert_allclose(got[n], eval_laguerre(n, x), rtol=1e-9,
                                   atol=1e-12 * np.abs(ref).max())


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 21), window=windows)
def test_fourier_is_sqrt2_times_complex_exponentials(N, window):
    # phi_{2k-1} + i phi_{2k} = sqrt(2/T) exp(2 pi i k (s - t0) / T), phi_0 = 1/sqrt(T)
    t0, t1 = window
    T = t1 - t0
    s = np.linspace(t0 - T, t1 + T, 41)
    got = fourier(N, s, window)
    # the same correctly rounded sqrt and division of the same T: identical; rtol was the
    # default 1e-7, 1e14 ulp above that
    np.testing.assert_allclose(got[0], 1 / np.sqrt(T), rtol=1e-14)
    # The phases (up to 4 pi k <= 126 rad) are rounded in another order on each side, <= 6u
    # * 126 ~ 8e-14 rad, times the amplitude sqrt(2 / T): <= 1.2e-13 / sqrt(T); atol leaves 8x.
    # rtol=0: the default 1e-7 dominated, 1e6 times that bound.
    for k in range(1, (N - 1) // 2 + 1):
        z = np.sqrt(2 / T) * np.exp(2j * np.pi * k * (s - t0) / T)
        np.testing.assert_allclose(got[2 * k - 1] + 1j * got[2 * k], z, rtol=0,
                                   atol=1e-12 / np.sqrt(T))
    if N % 2 == 0:  # the last cosine without its sine
        k = N // 2
        np.testing.assert_allclose(got[-1], np.sqrt(2 / T) * np.cos(2 * np.pi * k * (s - t0) / T),
                                   rtol=0, atol=1e-12 / np.sqrt(T))


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 25), window=windows, name=st.sampled_from(["legendre", "fourier"]))
def test_gram_matrix_is_identity_on_the_window(N, window, name):
    # Gauss-Legendre with 200 nodes integrates these products (degree < 50 polynomials,
    # trigonometric ones of < 13 periods) to rounding error.
    s, w = gauss(*window)
    phi = evaluate(name, N, s, window)
    # So the error is rounding: the 200-term sums, sum|terms| <= int |phi_m phi_n| <= 1, err by
    # <= gamma_200 ~ 2e-14, and phi_n's recurrence error (<~ n^2 u sqrt(2n + 1), n < 25) adds
    # <~ 1e-12 to both factors. atol was 1e-8, 1e4x that; 1e-10 leaves 100x.
    np.testing.assert_allclose((phi * w) @ phi.T, np.eye(N), atol=1e-10)


@pytest.mark.parametrize("N", [1, 2, 9, 20])
def test_fourier_gram_on_a_uniform_periodic_grid(N):
    # the rectangle (= periodic trapezoid) rule is exact for trigonometric polynomials
    t0, T, M = -1.3, 2.7, 64
    s = t0 + T * np.arange(M) / M
    phi = fourier(N, s, (t0, t0 + T))
    # rounding: 64-term sums with sum|terms| <= 2: <= gamma_64 * 2 ~ 1.4e-14, plus the phases'
    # rounding (3u * 2 pi * 10 ~ 2e-14 relative); 1e-12 leaves 30x
    np.testing.assert_allclose(phi @ phi.T * (T / M), np.eye(N), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(N=st.integers(1, 20), now=st.floats(-5, 5))
def test_laguerre_gram_matrix_is_identity_for_the_exponential_weight(N, now):
    x, w = npla.laggauss(60)  # w includes exp(-x); exact for degree < 120
    phi = laguerre(N, now - x, now)
    # rounding only: 60-term sums, sum|terms| <= int |L_m L_n| e^-x <= 1: gamma_60 ~ 7e-15, plus
    # the recurrence (<~ N^2 u ~ 4e-14) and laggauss's weights (~1e-14 relative): <~ 1e-13.
    # atol was 1e-8, 1e5x that; 1e-11 leaves 100x
    np.testing.assert_allclose((phi * w) @ phi.T, np.eye(N), atol=1e-11)


@pytest.mark.parametrize("name, window, m, n", [
    ("legendre", (0.5, 3.0), 3, 5), ("legendre", (-2.0, -1.0), 4, 4),
    ("fourier", (0.0, 2.0), 3, 4), ("fourier", (1.0, 4.0), 5, 5),
    ("laguerre", (-np.inf, 1.5), 2, 6), ("laguerre", (-np.inf, 0.0), 6, 6)])
def test_orthonormality_by_adaptive_quadrature(name, window, m, n):
    t0, t1 = window

    def product(s):
        phi = evaluate(name, max(m, n) + 1, np.array([s]), window)[:, 0]
        w = np.exp(-(t1 - s)) if name == "laguerre" else 1.0
        return phi[m] * phi[n] * w

    # quad's default epsrel 1.5e-8 let it stop at an error estimate of 5.5e-9 (laguerre 6, 6),
    # half the old tolerance 1e-8; with epsrel 1e-12 its estimate is <= 4e-13, the
    # integrands being smooth (rounding ~1e-15). 1e-10 leaves >= 250x over that estimate
    value, _ = quad(product, t0, t1, limit=200, epsabs=1e-12, epsrel=1e-12)
    assert abs(value - (m == n)) < 1e-10


def test_weight_closed_forms():
    s = np.array([-3.0, 0.0, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(weight("legendre", s, (0, 1)), [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(weight("fourier", s, (0, 1)), [0, 1, 1, 1, 0])
    # exp of the same exactly representable arguments on both sides: at most the few ulp by
    # which NumPy's array and scalar exp may differ; rtol 1e-14 (45 ulp; was the default 1e-7)
    np.testing.assert_allclose(weight("laguerre", s, (-np.inf, 1)),
                               [np.exp(-4), np.exp(-1), np.exp(-0.5), 1, 0], rtol=1e-14)
    np.testing.assert_allclose(weight("laguerre", s, (0, 1)),
                               [0, np.exp(-1), np.exp(-0.5), 1, 0], rtol=1e-14)


@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 16), window=windows, seed=st.integers(0, 2**32 - 1))
def test_polynomial_of_degree_below_N_is_reconstructed_exactly(N, window, seed):
    p = np.random.default_rng(seed).standard_normal(N)  # degree N - 1, power basis
    t0, t1 = window
    mid, half = (t0 + t1) / 2, (t1 - t0) / 2

    def f(s):
        return npp.polyval((s - mid) / half, p)  # well scaled on the window

    coeffs = project(f, window, "legendre", N)
    s = np.linspace(t0, t1, 50)
    scale = np.abs(f(s)).max() + np.abs(p).sum()
    # 128 Gauss nodes integrate these polynomials exactly, so only rounding is left: the 128-
    # term sums (<= 128u sqrt(T) max|f| |phi|), phi_n's recurrence (<~ n^2 u, n < 16) and the
    # 16-term reconstruction: <~ 3e-13 * scale. Was atol 1e-8 / 1e-9 * scale with the default
    # rtol 1e-7 on top, >= 3e3x that; 1e-11 * scale and rtol=0 leave >= 30x.
    np.testing.assert_allclose(reconstruct(coeffs, s, "legendre", window), f(s), rtol=0,
                               atol=1e-11 * scale)
    # the coefficients are the Legendre series of p (numpy's conversion), rescaled
    leg = npl.poly2leg(p)
    expected = leg * np.sqrt(half) * np.sqrt(2 / (2 * np.arange(N) + 1))
    np.testing.assert_allclose(coeffs, expected, rtol=0, atol=1e-11 * scale)


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 12), now=st.floats(-3, 3), seed=st.integers(0, 2**32 - 1))
def test_laguerre_projection_of_a_polynomial_over_the_whole_past_is_exact(N, now, seed):
    p = np.random.default_rng(seed).standard_normal(N) / np.arange(1, N + 1) ** 2
    f = lambda s: npp.polyval(now - s, p)  # noqa: E731, a polynomial of the time before now
    coeffs = project(f, (-np.inf, now), "laguerre", N)
    # The coefficients reach 11! |p_11| ~ 3e5, so the (default) rtol 1e-7 carries this check.
    # The error is the cut at age 80: int_80^inf |f L_n| e^-x, plus rounding, gamma_2560 *
    # int |f L_n| e^-x; both computed (by quad) for 300 draws: <= 2.4% of the tolerance.
    np.testing.assert_allclose(coeffs, npla.poly2lag(p), rtol=1e-7, atol=1e-9 * np.abs(p).sum())
    s = now - np.linspace(0, 10, 30)
    # sum_n |error of c_n| |L_n(x)| + gamma_N sum |c_n L_n(x)| <= 0.7% of atol (same 300 draws);
    # rtol=0: the default 1e-7 * |f| was 10x the stated atol
    np.testing.assert_allclose(reconstruct(coeffs, s, "laguerre", (-np.inf, now)), f(s),
                               rtol=0, atol=1e-8 * np.abs(f(s)).max())


def test_trapezoid_projection_of_samples_converges_at_second_order():
    # samples on a grid: error O(h^2); each halving of h divides it by ~4
    f = lambda s: 1 - 2 * s + 3 * s**3  # noqa: E731
    window, N = (-1.0, 2.0), 5
    exact = project(f, window, "legendre", N)
    errors = []
    for M in (101, 201, 401):
        t = np.linspace(*window, M)
        errors.append(np.abs(project(f(t), t, "legendre", N) - exact).max())
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    # discretisation, not rounding (errors 2e-2 .. 1e-3): Euler-Maclaurin gives 4 (1 + O(h^2)),
    # measured 3.9993 and 3.9998
    assert np.all((ratios > 3.8) & (ratios < 4.2)), ratios


def test_trapezoid_samples_batch_and_laguerre_truncation():
    # samples (..., L) give (..., N); laguerre on samples counts f as 0 before t[0]
    t = np.linspace(0.0, 2.0, 2001)
    f = np.stack([np.ones_like(t), t])
    c = project(f, t, "laguerre", 3)
    assert c.shape == (2, 3)
    # int_0^2 L_n(2 - s) e^{-(2 - s)} ds = int_0^2 L_n(x) e^{-x} dx, by quad
    for n in range(3):
        ref, _ = quad(lambda x: eval_laguerre(n, x) * np.exp(-x), 0, 2)
        # trapezoid, h = 1e-3: error h^2 / 12 |g'(2) - g'(0)| + O(h^4) <= 2.7e-7 (Euler-
        # Maclaurin, g = L_n e^-x, n <= 2); quad's error ~1e-14. 1e-6 leaves 3.7x of pure
        # discretisation error, the same on every CPU (rounding is ~1e-15)
        assert abs(c[0, n] - ref) < 1e-6


def test_fourier_projection_of_a_trigonometric_polynomial_is_exact():
    t0, T = 0.4, 2.5
    window = (t0, t0 + T)
    k = 2 * np.pi / T

    def f(s):
        return 0.3 - 1.2 * np.cos(k * (s - t0)) + 0.7 * np.sin(3 * k * (s - t0))

    expected = np.zeros(9)
    expected[0] = 0.3 * np.sqrt(T)
    expected[1] = -1.2 * np.sqrt(T / 2)
    expected[6] = 0.7 * np.sqrt(T / 2)  # sin at frequency 3 is row 2 * 3
    s = np.linspace(*window, 40)
    # callable: Gauss-Legendre
    coeffs = project(f, window, "fourier", 9)
    # 128 Gauss nodes on periods <= 7 converge to rounding: 128-term sums, sum|terms| <= ~2.4:
    # <= 2e-14 per coefficient (computed), 50x below 1e-12; the reconstruction sums 9 of those
    # errors times |phi_n| <= 0.9: <= 1.6e-13, 6x below. rtol=0 here and below: the default
    # 1e-7 * |c| was 1e5x looser than the bound
    np.testing.assert_allclose(coeffs, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(reconstruct(coeffs, s, "fourier", window), f(s), rtol=0,
                               atol=1e-12)
    # samples on a uniform grid over the whole period: the trapezoid rule is exact (33 points,
    # frequencies < 32); rounding <= gamma_33 * 2.4 ~ 1e-14, 100x below
    t = np.linspace(*window, 33)
    np.testing.assert_allclose(project(f(t), t, "fourier", 9), expected, rtol=0, atol=1e-12)


def test_fourier_coefficients_from_samples_equal_the_fft():
    # on a uniform periodic grid, trapezoid coefficients are scaled real FFT coefficients
    T, M, N = 3.0, 64, 15
    rng = np.random.default_rng(5)
    x = rng.standard_normal(M)
    t = T * np.arange(M + 1) / M
    samples = np.append(x, x[0])  # periodic: the last sample repeats the first
    c = project(samples, t, "fourier", N)
    X = np.fft.rfft(x)
    # 65-term trapezoid sums, sum|terms| <~ 1.9: <= gamma_65 * 1.9 ~ 1.4e-14; the phases'
    # rounding (<= 3u * 44 rad) adds ~3e-14; the FFT (log2 64 u ||x|| sqrt(2T)/M) ~2e-16.
    # 1e-12 leaves 20x; rtol=0: the default 1e-7 * |c| was 1e4x above that
    np.testing.assert_allclose(c[0], np.sqrt(T) / M * X[0].real, rtol=0, atol=1e-12)
    for k in range(1, (N - 1) // 2 + 1):
        np.testing.assert_allclose(c[2 * k - 1], np.sqrt(2 * T) / M * X[k].real, rtol=0,
                                   atol=1e-12)
        np.testing.assert_allclose(c[2 * k], -np.sqrt(2 * T) / M * X[k].imag, rtol=0,
                                   atol=1e-12)


@pytest.mark.parametrize("name, f, window, rate", [
    ("legendre", np.exp, (-1.0, 1.5), "spectral"),
    ("legendre", lambda s: np.sin(3 * s), (0.0, 2.0), "spectral"),
    ("fourier", lambda s: np.exp(np.sin(2 * np.pi * s / 1.5)), (0.0, 1.5), "spectral"),
    ("fourier", lambda s: np.exp(-s), (0.0, 1.0), "seam"),
    ("laguerre", lambda s: np.cos(s), (-np.inf, 0.0), "geometric"),
])
def test_reconstruction_error_falls_as_N_grows(name, f, window, rate):
    # Independent error: dense quadrature of (f - f_N)^2 w with numpy's Gauss rules; and
    # Parseval, ||f - f_N||^2 = ||f||^2 - sum_n c_n^2, as a cross-check. The rates:
    # "spectral" analytic (and, for Fourier, periodic) f: faster than any power of N;
    # "seam" Fourier of a non-periodic f: the jump at the seam gives ||f - f_N|| ~ N^(-1/2);
    # "geometric" cos on the Laguerre past: |c_n| = 2^(-(n+1)/2) (see the closed-form test),
    # so the error halves every two terms: 2^(-6) from N = 1 to 13.
    t0, t1 = window
    if name == "laguerre":
        x, w = npla.laggauss(150)
        s = t1 - x
    else:
        s, w = gauss(t0, t1, 400)
    norm2 = np.sum(w * f(s) ** 2)
    Ns = np.array([1, 3, 5, 7, 9, 11, 13])
    errors = []
    for N in Ns:
        coeffs = project(f, window, name, N)
        err2 = np.sum(w * (f(s) - reconstruct(coeffs, s, name, window)) ** 2)
        # rounding of the 400-term sums (gamma_400 ~ 4e-14 * norm2) and, for laguerre, the gap
        # between laggauss(150) and project's composite rule (1e-12 * norm2, computed); 1e-10 *
        # norm2 leaves 100x. rtol=0: the default 1e-7 * err2 (err2 ~ norm2 at N = 1) was 1e3x
        np.testing.assert_allclose(err2, norm2 - np.sum(coeffs**2), rtol=0, atol=1e-10 * norm2)
        errors.append(np.sqrt(err2))
    errors = np.array(errors)
    assert np.all(np.diff(errors) < 0), errors
    if rate == "spectral":
        # approximation error, not rounding (err2 is summed directly, its floor ~1e-16 * norm):
        # measured 5e-13, 5e-8 and 2.8e-6 (periodic exp(sin), Fourier)
        assert errors[-1] < 1e-5 * errors[0], errors
    elif rate == "seam":
        slope = np.polyfit(np.log(Ns[3:]), np.log(errors[3:]), 1)[0]
        assert -0.6 < slope < -0.4, (slope, errors)
    else:
        assert 0.5 * 2.0**-6 < errors[-1] / errors[0] < 2 * 2.0**-6, errors


def test_legendre_coefficients_of_exp_closed_form():
    # int_{-1}^{1} e^x P_n(x) dx = 2 i_n(1) (modified spherical Bessel function). The
    # absolute tolerance is rounding: the integrand e^x phi_n reaches ~8, the sum has 128
    # terms, and the small high-order coefficients come from cancellation.
    N = 12
    coeffs = project(np.exp, (-1.0, 1.0), "legendre", N)
    n = np.arange(N)
    # Rounding of the 128-term sums (gamma_128 int e^x |phi_n| ~ 3e-14), of phi_n's recurrence
    # (<~ n^2 u |phi_n| times int e^x = 2.35) and of leggauss's nodes: <~ 1e-13 absolute (measured
    # 5e-14 at n = 10; SciPy's side is exact to 1e-16 by mpmath). atol 2e-13 was within 2x of
    # that; 2e-12 leaves 20x
    np.testing.assert_allclose(coeffs, np.sqrt((2 * n + 1) / 2) * 2 * spherical_in(n, 1.0),
                               rtol=1e-12, atol=2e-12)


def test_laguerre_coefficients_of_cos_closed_form():
    # c_n = int_0^inf cos(x) L_n(x) e^{-x} dx = Re of the Laplace transform of L_n,
    # (s - 1)^n / s^(n + 1), at s = 1 - i; f(s) = cos(now - s) is cos of the time before now
    N, now = 15, 0.7
    coeffs = project(lambda s: np.cos(now - s), (-np.inf, now), "laguerre", N)
    n = np.arange(N)
    # composite rule, 2560 nodes: <= gamma_2560 int |cos L_n| e^-x <= 2e-13 (computed), the cut at
    # age 80 < 1e-17. atol 1e-12 was 5x that (the default rtol 1e-7 * |c| hid it); rtol=0 and
    # 1e-11 leave 50x
    np.testing.assert_allclose(coeffs, ((-1j) ** n / (1 - 1j) ** (n + 1)).real, rtol=0,
                               atol=1e-11)


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 12), window=windows, seed=st.integers(0, 2**32 - 1),
       name=st.sampled_from(["legendre", "fourier"]))
def test_projection_is_linear_and_idempotent(N, window, seed, name):
    rng = np.random.default_rng(seed)
    c1, c2 = rng.standard_normal((2, N))
    a = rng.uniform(-2, 2)
    g1 = lambda s: reconstruct(c1, s, name, window)  # noqa: E731
    g2 = lambda s: reconstruct(c2, s, name, window)  # noqa: E731
    # 128 nodes are exact here (degree < 24 or periods < 6), so rounding: 12-term evaluations
    # and 128-term sums over sum|a c1 + c2| <~ 30: <~ 1e-12 (measured 4e-13); 1e-9 leaves 1e3x.
    # rtol=0: the default 1e-7 * |c| (~3e-7) was 3e5x that bound
    np.testing.assert_allclose(project(g1, window, name, N), c1, rtol=0, atol=1e-9)
    np.testing.assert_allclose(project(lambda s: a * g1(s) + g2(s), window, name, N),
                               a * c1 + c2, rtol=0, atol=1e-9)


@pytest.mark.parametrize("call, argument", [
    (lambda: legendre(0, [0.1]), "N"),
    (lambda: legendre(2.5, [0.1]), "N"),
    (lambda: legendre(2, [[0.1]]), "s"),
    (lambda: legendre(2, [np.nan]), "s"),
    (lambda: legendre(2, [0.1], (1, 1)), "window"),
    (lambda: legendre(2, [0.1], (0, 1, 2)), "window"),
    (lambda: fourier(2, [0.1], (2, 1)), "window"),
    (lambda: fourier(2, ["a"]), "s"),
    (lambda: laguerre(2, [0.1], np.inf), "now"),
    (lambda: evaluate("chebyshev", 2, [0.1], (0, 1)), "basis"),
    (lambda: evaluate("legendre", 2, [0.1], (-np.inf, 1)), "window"),
    (lambda: weight("hermite", [0.1], (0, 1)), "basis"),
    (lambda: project(np.ones(3), [0, 1, 2], "legendre", 0), "N"),
    (lambda: project(np.ones(3), [0, 2, 1], "legendre", 2), "t"),
    (lambda: project(np.ones(3), [0], "legendre", 2), "t"),
    (lambda: project(np.ones(4), [0, 1, 2], "legendre", 2), "f"),
    (lambda: project("abc", [0, 1, 2], "legendre", 2), "f"),
    (lambda: project(np.ones(3), [-np.inf, 1, 2], "laguerre", 2), "t"),
    (lambda: project(np.sin, [-np.inf, 1], "legendre", 2), "t"),
    (lambda: project(np.sin, [0, 1], "legendre", 2, nodes=0), "nodes"),
    (lambda: project(np.sin, [-np.inf, 1], "laguerre", 2, nodes=0), "nodes"),
    (lambda: project(lambda s: s[:1], [0, 1], "legendre", 2), "f"),
    (lambda: project(np.ones(3), [0, 1, 2], "wavelet", 2), "basis"),
    (lambda: reconstruct(np.ones((2, 0)), [0, 1], "legendre"), "coeffs"),
    (lambda: reconstruct(np.ones(2), [1, 0], "legendre"), "t"),
    (lambda: reconstruct(np.ones(2), [0, 1], "legendre", (0, 0)), "window"),
    # t with NaN is named t, not s (the name evaluate gives it)
    (lambda: reconstruct(np.ones(2), [0.1, np.nan], "legendre", (0, 1)), "t"),
    (lambda: reconstruct(np.ones(2), None, "legendre", (0, 1)), "t"),
    # bools are not numbers
    (lambda: laguerre(2, [0.1], now=True), "now"),
    (lambda: laguerre(2, [0.1], now=np.bool_(False)), "now"),
    (lambda: legendre(True, [0.1]), "N"),
    # windows whose length overflows or underflows, ages that overflow
    (lambda: legendre(2, [0.1], (-1e308, 1e308)), "window"),
    (lambda: fourier(3, [0.1], (0, 1e-320)), "window"),
    (lambda: project(np.sin, [-1e308, 1e308], "legendre", 2), "t"),
    (lambda: laguerre(2, [-1e308], now=1e308), "s"),
    # None, strings, options, callables that fail
    (lambda: legendre(2, None), "s"),
    (lambda: legendre(2, [0.1], None), "window"),
    (lambda: evaluate("Legendre", 2, [0.1], (0, 1)), "basis"),
    (lambda: project(None, [0, 1, 2], "legendre", 2), "f"),
    (lambda: project(lambda s: 1 / 0, [0, 1], "legendre", 2), "f"),
    (lambda: project(lambda s: None, [0, 1], "legendre", 2), "f"),
    (lambda: project(np.sin, [0, 1], "legendre", 2, nodes=True), "nodes"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: expected"):
        call()


def test_laguerre_whole_past_projection_of_an_oscillating_signal_matches_scipy_quad():
    """Gauss-Laguerre nodes (the earlier implementation) missed the second digit here."""
    from scipy.integrate import quad

    f = lambda s: np.sin(3 * s) + 0.5 * np.cos(7 * s)
    now, N = 2.0, 16
    got = project(f, [-np.inf, now], "laguerre", N)
    for n in [0, 5, 15]:
        coef = np.eye(N)[n]
        integrand = lambda x: f(now - x) * npla.lagval(x, coef) * np.exp(-x)
        # adaptive quadrature unit by unit (one call over [0, 80] reports an error of 3e-9)
        expected = sum(quad(integrand, j, j + 1, epsabs=1e-15)[0] for j in range(80))
        # project's 2560-node sum errs by <= gamma_2560 int |f L_n| e^-x <= 1.9e-13 (computed),
        # quad's 80 estimates sum to <= 2e-13 (n = 15): abs 1e-13 was below that bound;
        # 1e-11 leaves 25x and is still 1e8x finer than Gauss-Laguerre's miss
        assert got[n] == pytest.approx(expected, abs=1e-11)


@pytest.mark.parametrize("call, argument", [
    (lambda: legendre(10**12, [0.1]), "N"),
    (lambda: fourier(10**6, np.zeros(1000)), "N"),
    (lambda: laguerre(10**5, np.zeros(10**4)), "N"),
    (lambda: project(np.sin, [0, 1], "legendre", 10**12), "N"),
    (lambda: project(np.sin, [0, 1], "legendre", 8, nodes=10**12), "nodes"),
    (lambda: project(np.sin, [0, 1], "legendre", 10**4, nodes=10**5), "nodes"),
    (lambda: project(np.sin, [-np.inf, 1], "laguerre", 100, nodes=10**5), "nodes"),
    (lambda: project(np.sin, [0, 1], "legendre", 3000), "N"),                 # 12,000 nodes
    (lambda: project(np.sin, [0, 1], "legendre", 3, nodes=10**6), "nodes"),  # 7 TiB
    (lambda: project(np.ones(11), np.linspace(0, 1, 11), "legendre", 3, nodes="abc"), "nodes"),
])
def test_sizes_that_cannot_finish_are_refused_up_front(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        call()


def test_nan_in_the_samples_or_coefficients_passes_through():
    t = np.linspace(0, 1, 11)
    f = np.stack([np.sin(t), np.sin(t)])
    f[1, 4] = np.nan
    c = project(f, t, "legendre", 3)
    assert np.all(np.isfinite(c[0])) and np.all(np.isnan(c[1]))
    g = reconstruct(np.array([1.0, np.nan]), t, "legendre")
    assert np.all(np.isnan(g))


# ------------------------------------------------------------------ the time-varying measures

def _support(kind, t, theta):
    """The support of mu^(t), as quad limits (lagt: the whole past, cut at age 60 theta)."""
    return {"legt": (t - theta, t), "legs": (0.0, t), "lagt": (t - 60 * theta, t)}[kind]


@pytest.mark.parametrize("kind", ["legt", "lagt", "legs"])
@pytest.mark.parametrize("t, theta", [(1.0, 1.0), (3.5, 0.7), (10.0, 4.0)])
def test_each_measure_is_a_probability_measure(kind, t, theta):
    lo, hi = _support(kind, t, theta)
    # quad's default epsrel 1.5e-8 let it stop at an error estimate of 3.7e-10 (lagt), above
    # the tolerance; with epsrel 1e-12 it is <= 1.2e-14, the cut at age 60 theta costs e^-60.
    # 1e-10 leaves >= 100x over what quad is asked for
    total, _ = quad(lambda s: measure(kind, [s], t, theta)[0], lo, hi, limit=200,
                    epsabs=1e-13, epsrel=1e-12)
    assert total == pytest.approx(1.0, abs=1e-10)
    # nothing outside the support, nothing in the future
    outside = np.array([t + 0.1, t + 5.0, lo - 1.0]) if kind != "lagt" else np.array([t + 0.1])
    np.testing.assert_array_equal(measure(kind, outside, t, theta), 0.0)


def test_measures_closed_forms():
    s = np.array([-4.0, -1.0, 0.0, 0.5, 2.0, 2.5])
    t = 2.0
    # exp of the same exactly representable arguments (then / 2, exact): at most the few ulp by
    # which NumPy's array and scalar exp may differ; rtol 1e-14 (was the default 1e-7)
    np.testing.assert_allclose(measure("lagt", s, t), [np.exp(-6), np.exp(-3), np.exp(-2),
                                                       np.exp(-1.5), 1.0, 0.0], rtol=1e-14)
    np.testing.assert_allclose(measure("lagt", s, t, theta=2.0),
                               [np.exp(-3) / 2, np.exp(-1.5) / 2, np.exp(-1) / 2,
                                np.exp(-0.75) / 2, 0.5, 0.0], rtol=1e-14)
    np.testing.assert_array_equal(measure("legt", s, t, theta=2.0), [0, 0, 0.5, 0.5, 0.5, 0])
    np.testing.assert_array_equal(measure("legs", s, t), [0, 0, 0.5, 0.5, 0.5, 0])


@settings(max_examples=30, deadline=None)
@given(t=st.floats(0.1, 20), c=st.floats(0.1, 10), x=st.floats(0, 1))
def test_legs_scales_with_t(t, c, x):
    # mu^(c t)(c s) = mu^(t)(s) / c: the same uniform weight over a stretched past
    s = np.array([x * t])
    # 1 / (c t) against (1 / t) / c: two roundings each, <= 4u ~ 4.4e-16 relative; rel 1e-14
    # leaves 20x (was the default 1e-6)
    assert measure("legs", c * s, c * t)[0] == pytest.approx(measure("legs", s, t)[0] / c,
                                                             rel=1e-14)
    # and g_n(c s; c t) = g_n(s; t): the functions of the relative time s / t
    # x = 2 s / t - 1 rounded in two ways (~3u), |P_n'| <= 15 (n <= 5), the sqrt factors ~4u:
    # <~ 1.5e-14; atol 1e-12 leaves 70x
    np.testing.assert_allclose(measure_basis("legs", 6, c * s, c * t),
                               measure_basis("legs", 6, s, t), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind, t, theta, m, n", [
    ("legt", 2.0, 1.5, 2, 4), ("legt", 2.0, 1.5, 3, 3), ("legs", 5.0, 1.0, 1, 5),
    ("legs", 0.5, 1.0, 4, 4), ("lagt", 1.0, 1.0, 2, 5), ("lagt", 3.0, 2.0, 5, 5)])
def test_measure_basis_is_orthonormal_for_its_measure(kind, t, theta, m, n):
    lo, hi = _support(kind, t, theta)

    def product(s):
        g = measure_basis(kind, max(m, n) + 1, [s], t, theta)[:, 0]
        return g[m] * g[n] * measure(kind, [s], t, theta)[0]

    # with quad's default epsrel 1.5e-8 its estimate reached 1.3e-11 (lagt 5, 5); with 1e-12
    # it is <= 8e-14, and the cut at age 60 theta costs L_5(60)^2 e^-60 ~ 4e-13: <~ 1e-12
    # together. 1e-10 leaves 100x (was 1e-8)
    value, _ = quad(product, lo, hi, limit=400, epsabs=1e-12, epsrel=1e-12)
    assert abs(value - (m == n)) < 1e-10


def test_measure_basis_closed_forms():
    s = np.linspace(-1.0, 3.0, 9)
    t, theta = 3.0, 2.5
    for n in range(5):
        r = np.sqrt(2 * n + 1)
        # x is rounded in two ways (<= 8u (|x| + 2)), times r |P_n'(x)| (up to 510 outside the
        # window, |x| <= 2.2), plus the recurrence's r n^2 u max(1, |P_n|): the bound is <= 2% of
        # rtol 1e-12 |ref| + atol 1e-12 at every point (computed). rtol was the default 1e-7.
        np.testing.assert_allclose(measure_basis("legt", 5, s, t, theta)[n],
                                   r * eval_legendre(n, 2 * (s - t) / theta + 1), rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(measure_basis("legs", 5, s, t)[n],
                                   r * eval_legendre(n, 2 * s / t - 1), rtol=1e-12, atol=1e-12)
        # Laguerre, x = (t - s) / theta <= 1.6, n <= 4: <~ n^2 u * 2 ~ 4e-15; 250x
        np.testing.assert_allclose(measure_basis("lagt", 5, s, t, theta)[n],
                                   eval_laguerre(n, (t - s) / theta), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("call, argument", [
    (lambda: measure("legx", [0.0], 1.0), "kind"),
    (lambda: measure("legs", [0.0], 0.0), "t"),
    (lambda: measure("legs", [0.0], -1.0), "t"),
    (lambda: measure("legt", [0.0], 1.0, theta=0.0), "theta"),
    (lambda: measure("legt", [0.0], 1e20, theta=1e-10), "theta"),
    (lambda: measure("lagt", [np.nan], 1.0), "s"),
    (lambda: measure_basis("legt", 0, [0.0], 1.0), "N"),
    (lambda: approximation_error(np.ones(3), (0, 1), "legendre", 2), "f"),
    (lambda: approximation_error(np.sin, (1, 0), "legendre", 2), "window"),
])
def test_measure_arguments_are_checked_by_name(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        call()


# ------------------------------------------------------------------ the approximation error

@pytest.mark.parametrize("name, window", [("legendre", (0.0, 1.0)), ("legendre", (-2.0, 3.0)),
                                          ("fourier", (0.0, 2.0)),
                                          ("laguerre", (-np.inf, 0.5))])
def test_approximation_error_is_pythagoras_with_an_independent_norm(name, window):
    # ||f - f_N||^2 = ||f||^2 - sum c_n^2, with ||f||^2 by adaptive quadrature
    t0, t1 = window
    f = lambda s: np.exp(np.sin(2 * s)) - 0.3 * s   # noqa: E731
    if name == "laguerre":
        norm2 = sum(quad(lambda x: f(t1 - x) ** 2 * np.exp(-x), j, j + 1, epsabs=1e-14)[0]
                    for j in range(80))
    else:
        # epsrel 1e-12: with the default 1.5e-8 quad's estimate reached 1.9e-10 on (-2, 3)
        norm2 = quad(lambda s: f(s) ** 2, t0, t1, limit=200, epsabs=1e-14, epsrel=1e-12)[0]
    previous = np.inf
    for N in [1, 2, 4, 8]:
        c = project(f, window, name, N)
        err = approximation_error(f, window, name, N)
        # quad's estimate <= 2e-12 (laguerre: 80 panels, 2.4e-14), the Gauss sums' rounding
        # <= gamma_2560 * norm2 ~ 2e-12: 1e-9 leaves >= 250x
        assert err ** 2 == pytest.approx(norm2 - np.sum(c ** 2), abs=1e-9)
        # err has relative rounding <= gamma_2560 ~ 3e-13 (err <= 2: <= 6e-13), and the errors
        # fall by >= 0.026 per step here: the 1e-12 slack only absorbs rounding
        assert err <= previous + 1e-12          # never grows with N
        previous = err


def test_approximation_error_closed_forms():
    # a polynomial of degree < N is exact; the next basis function alone has error 1
    p = lambda s: 2 * s ** 3 - s + 0.25   # noqa: E731
    # Exact cases: only rounding is left, bounded (computed) by the K-term coefficient sums'
    # gamma_K sum|omega f phi_n|, phi_n's recurrence, and the N-term reconstruction. Legendre
    # cubic: <= 2.7e-13 (1e-12 was 3.7x); Laguerre cubic (2560 nodes, ages up to 80): <= 3.2e-11
    # (1e-10 was 3x). 1e-11 and 1e-9 leave 30x.
    assert approximation_error(p, (0.0, 2.0), "legendre", 4) < 1e-11
    assert approximation_error(p, (-np.inf, 0.0), "laguerre", 4) < 1e-9
    phi4 = lambda s: legendre(5, s, (0.0, 2.0))[4]   # noqa: E731
    # ||phi_4|| = 1 by a 128-node rule: <~ (128 + n^2) u plus leggauss's weights ~ 5e-14; 20x
    assert approximation_error(phi4, (0.0, 2.0), "legendre", 4) == pytest.approx(1.0, abs=1e-12)
    assert approximation_error(phi4, (0.0, 2.0), "legendre", 5) < 1e-12   # bound 6e-14: 16x
    # a trigonometric polynomial in the span of the first N Fourier functions
    trig = lambda s: 1 + np.cos(2 * np.pi * s) - 0.5 * np.sin(4 * np.pi * s)   # noqa: E731
    assert approximation_error(trig, (0.0, 1.0), "fourier", 5) < 1e-12    # bound 7e-14: 14x
    # the missing sin(4 pi s) term, 0.5 ||phi_4|| / sqrt(2): rounding <~ 128u * 0.35; 200x
    assert approximation_error(trig, (0.0, 1.0), "fourier", 4) == pytest.approx(
        0.5 * np.sqrt(0.5), abs=1e-12)


# ------------------------------------------------------------------ chapter 3's diagram

def test_projection_pipeline_keeps_its_labels_inside_and_apart():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqlearn import diagrams
    fig = diagrams.projection_pipeline()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    frame = ax.get_window_extent(renderer)
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text().strip()]
    assert len(boxes) >= 8
    for b in boxes:
        assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), "two labels of the diagram overprint each other"
    plt.close(fig)
