"""seqlearn.ssm against independent computations: numpy.convolve, matrix powers,
scipy.signal's impulse and frequency responses, the transfer-function polynomials of
scipy.signal.ss2tf, the DFT of a long kernel, and closed forms."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.linalg import matrix_power
from scipy.linalg import expm
from scipy.signal import cont2discrete, dfreqresp, dimpulse, freqresp, ss2tf

from seqlearn.discretize import discretize
from seqlearn.ssm import (causal_conv, discrete_transfer_function, frequency_response,
                          scan, ssm_kernel, step_response, transfer_function)


def stable_matrix(rng, N, margin=0.5):
    """A random (N, N) matrix with eigenvalues of real part <= -margin."""
    G = rng.standard_normal((N, N))
    return G - (np.linalg.eigvals(G).real.max() + margin) * np.eye(N)


def random_discrete(rng, N, H=None, rho=0.9, complex_=False):
    """Random Ab (scaled to spectral radius rho), Bb, C, D: one SSM, or a bank of H."""
    S = () if H is None else (H,)
    Ab = rng.standard_normal(S + (N, N))
    Bb, C, D = rng.standard_normal(S + (N,)), rng.standard_normal(S + (N,)), \
        rng.standard_normal(S)
    if complex_:
        Ab = Ab + 1j * rng.standard_normal(S + (N, N))
        Bb = Bb + 1j * rng.standard_normal(S + (N,))
    radius = np.abs(np.linalg.eigvals(Ab)).max(axis=-1)
    Ab = Ab * (rho / np.asarray(radius))[..., None, None]
    return Ab, Bb, C, D


def kernel_brute_force(Ab, Bb, C, L):
    return np.array([C @ matrix_power(Ab, k) @ Bb for k in range(L)])


def conv_tolerance(u, K, D=0.0):
    """Absolute tolerance for an FFT convolution: 1e-10 of the largest possible |y_k|.

    The bound it covers: an FFT convolution of size n (a power of two >= 2L) errs by
    ~3 log2(n) (eps/2) (||u||_2 ||K||_1 + ||u||_1 ||K||_2) <= 3 log2(n) (eps/2) (L + sqrt(L))
    sum|K| max|u|, at most 2e-13 sum|K| max|u| for L <= 70 (n <= 256); np.convolve's sums
    of <= 70 products err by <= 70 (eps/2) sum|K| max|u| ~ 8e-15 of it. 1e-10 leaves >= 500x.
    """
    # bound in the docstring: <= 2e-13 of the same scale; 1e-10 leaves >= 500x
    return 1e-10 * (np.abs(K).sum(axis=-1).max() + np.abs(D).max()) * max(np.abs(u).max(), 1)


shapes = st.tuples(st.lists(st.integers(1, 3), max_size=2).map(tuple),  # batch axes
                   st.one_of(st.none(), st.integers(1, 3)),  # H (None: one SSM)
                   st.integers(1, 5),  # N
                   st.integers(1, 41))  # L (includes 1 and odd lengths)


@settings(max_examples=100, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2 ** 32 - 1), complex_=st.booleans())
def test_recurrent_view_equals_convolutional_view(shape, seed, complex_):
    batch, H, N, L = shape
    rng = np.random.default_rng(seed)
    Ab, Bb, C, D = random_discrete(rng, N, H, complex_=complex_)
    u = rng.standard_normal(batch + (() if H is None else (H,)) + (L,))
    y = scan(Ab, Bb, C, D, u)
    assert y.shape == u.shape
    K = ssm_kernel(Ab, Bb, C, L)
    # scan and ssm_kernel: recurrences of L <= 41 steps with N <= 5 states, error
    # <= sum_j ||Ab^(k-1-j)|| gamma_N || |Ab| |x_j| || (normwise, propagated), plus the FFT's
    # (conv_tolerance). Over 4,000 random draws of this strategy, conv_tolerance stayed
    # >= 175x above that bound (measured errors >= 1e5x below the tolerance).
    for method in ("fft", "direct"):
        np.testing.assert_allclose(y, causal_conv(u, K, D, method=method), rtol=1e-10,
                                   atol=conv_tolerance(u, K, D))


@settings(max_examples=100, deadline=None)
@given(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple), L=st.integers(1, 70),
       LK=st.integers(1, 70), seed=st.integers(0, 2 ** 32 - 1), complex_=st.booleans())
def test_causal_conv_matches_numpy_convolve(lead, L, LK, seed, complex_):
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(lead + (L,))
    K = rng.standard_normal(lead[1:] + (LK,))  # broadcast over the first axis
    if complex_:
        K = K + 1j * rng.standard_normal(K.shape)
    Kb = np.broadcast_to(K, lead + (LK,)).reshape(-1, LK)
    expected = np.array([np.convolve(row, k)[:L] for row, k in
                         zip(u.reshape(-1, L), Kb)]).reshape(lead + (L,))
    for method in ("fft", "direct"):
        got = causal_conv(u, K, method=method)
        assert got.shape == u.shape
        # FFT vs np.convolve's direct sums: <= 2e-13 sum|K| max|u| (conv_tolerance's
        # docstring); conv_tolerance leaves >= 500x
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=conv_tolerance(u, K))


def test_causal_conv_has_no_wrap_around_and_adds_d():
    # A delay by L-1 steps: only the first input reaches the last output.
    L = 16
    K = np.eye(1, L, L - 1)[0]
    u = np.arange(1.0, L + 1)
    # FFT of size 32 with ||u||_1 = 136, ||u||_2 = 39: up to ~3 log2(32) (eps/2) 175 ~ 3e-13
    # (conv_tolerance's docstring); the old atol 1e-14 was below that bound (measured
    # 1.8e-15). conv_tolerance (1.6e-9) leaves 5,000x; a wrap-around would be >= 1.
    np.testing.assert_allclose(causal_conv(u, K), np.eye(1, L, L - 1)[0], rtol=0,
                               atol=conv_tolerance(u, K))
    # exact: the FFT of a zero kernel is exactly 0, so y = 0 + 2.5 u bitwise
    np.testing.assert_allclose(causal_conv(u, np.zeros(L), D=2.5), 2.5 * u, atol=1e-14)
    D = np.array([1.0, -1.0])  # (H,) against u (batch, H, L)
    u2 = np.ones((3, 2, 5))
    # exact (default rtol 1e-7): np.convolve with zeros is 0, and D u is one product
    np.testing.assert_allclose(causal_conv(u2, np.zeros((2, 5)), D=D, method="direct"),
                               D[:, None] * u2)


@pytest.mark.parametrize("N, H", [(1, None), (4, None), (3, 2)])
def test_kernel_matches_matrix_powers(N, H):
    rng = np.random.default_rng(N)
    Ab, Bb, C, _ = random_discrete(rng, N, H, rho=1.0)
    K = ssm_kernel(Ab, Bb, C, 30)
    # matvec recurrence vs binary powering, 30 steps, N <= 4, rho = 1: each errs by
    # <= sum_j ||Ab^(k-1-j)|| gamma_N || |Ab| |v_j| || <= 1.6e-13 here (N = 4, the worst);
    # atol 1e-12 + rtol 1e-10 |K| is >= 32x that at every k (measured <= 0.07 of the bound).
    if H is None:
        np.testing.assert_allclose(K, kernel_brute_force(Ab, Bb, C, 30), rtol=1e-10,
                                   atol=1e-12)
    else:
        for h in range(H):
            np.testing.assert_allclose(K[h], kernel_brute_force(Ab[h], Bb[h], C[h], 30),
                                       rtol=1e-10, atol=1e-12)


def test_zoh_kernel_is_scipys_impulse_response_one_step_earlier():
    # SciPy's x[k+1] = Ad x[k] + Bd u[k], y[k] = C x[k] + D u[k] has impulse response
    # D, C Bd, C Ad Bd, ...; with S4's convention (u_k enters x_k) the kernel starts at C Bb.
    rng = np.random.default_rng(11)
    N, dt, L = 4, 0.3, 25
    A, B, C = stable_matrix(rng, N), rng.standard_normal(N), rng.standard_normal(N)
    Ab, Bb = discretize(A, B, dt, "zoh")
    _, (h,) = dimpulse((*cont2discrete((A, B[:, None], C[None], [[0.7]]), dt)[:4], dt),
                       n=L + 1)
    # h[0] = C 0 + 0.7 * 1: exact
    np.testing.assert_allclose(h[0, 0], 0.7, rtol=1e-14)
    # the same Ab, Bb (expm of the same block); two 25-step recurrences, each <= 2.7e-16
    # (propagated bound, |K| <= 0.18): atol 1e-13 leaves 185x
    np.testing.assert_allclose(ssm_kernel(Ab, Bb, C, L), h[1:, 0], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("N", [1, 3, 6])
def test_transfer_function_matches_scipy(N):
    rng = np.random.default_rng(20 + N)
    A, B, C, D = stable_matrix(rng, N), rng.standard_normal(N), rng.standard_normal(N), 0.4
    w = np.logspace(-2, 2, 50)
    _, H_scipy = freqresp((A, B[:, None], C[None], [[D]]), w)
    # SciPy goes through polynomials and their roots (ss2tf, tf2zpk): relative error
    # <= sum_i kappa_i (eps/2) ||A|| / |s - root_i| + Horner's 2N (eps/2) cond; ours, a
    # solve: cond(sI - A) N (eps/2). Together <= 6.4e-13 here (N = 6); rtol 1e-10: 150x.
    np.testing.assert_allclose(transfer_function(A, B, C, D, 1j * w), H_scipy, rtol=1e-10)
    num, den = ss2tf(A, B[:, None], C[None], [[D]])
    s = rng.standard_normal((3, 7)) + 1j * rng.standard_normal((3, 7))
    H = transfer_function(A, B, C, D, s)
    assert H.shape == s.shape
    # the same bound at these s: <= 4e-13; rtol 1e-8 (25,000x) is loose, kept for points
    # near a zero of num, where polyval's relative error grows as 1 / |num(s)|
    np.testing.assert_allclose(H, np.polyval(num[0], s) / np.polyval(den, s), rtol=1e-8)


def test_transfer_function_of_a_bank_is_per_channel():
    rng = np.random.default_rng(30)
    H, N = 3, 4
    A = np.stack([stable_matrix(rng, N) for _ in range(H)])
    B, C, D = rng.standard_normal((H, N)), rng.standard_normal((H, N)), rng.standard_normal(H)
    s = 1j * np.linspace(0, 5, 9)
    got = transfer_function(A, B, C, D, s)
    assert got.shape == (H, 9)
    for h in range(H):
        _, expected = freqresp((A[h], B[h][:, None], C[h][None], [[D[h]]]), s.imag)
        # as in the test above: <= 4.8e-14 here; rtol 1e-10 leaves > 2000x
        np.testing.assert_allclose(got[h], expected, rtol=1e-10)


@pytest.mark.parametrize("H", [None, 2])
@pytest.mark.parametrize("complex_", [False, True])
def test_frequency_response_is_the_dft_of_a_long_kernel(H, complex_):
    rng = np.random.default_rng(40)
    Ab, Bb, C, D = random_discrete(rng, 5, H, rho=0.8, complex_=complex_)
    L = 256  # 0.8**256 ~ 1e-25: the truncated tail is far below rounding
    K = ssm_kernel(Ab, Bb, C, L)
    omega = 2 * np.pi * np.arange(L) / L
    expected = np.fft.fft(K, axis=-1) + np.asarray(D)[..., None]
    # kernel recurrence (256 steps, propagated) <= 2.2e-13, FFT ~3 log2(256) (eps/2) sum|K|
    # <= 8e-14, the resolvent solves <= 1.6e-13, the tail ~1e-24: >= 20x below
    # 1e-12 sum|K| (sum|K| = 4 .. 15) for each of the six systems
    np.testing.assert_allclose(frequency_response(Ab, Bb, C, D, omega), expected,
                               rtol=1e-10, atol=1e-12 * np.abs(K).sum())


@pytest.mark.parametrize("method, alpha", [("zoh", None), ("bilinear", 0.5),
                                           ("forward_euler", 0.0), ("backward_euler", 1.0),
                                           ("gbt", 0.25)])
def test_discrete_transfer_function_against_scipy_conventions(method, alpha):
    # SciPy's discrete system (Ad, Bd, Cd, Dd) and S4's (Ab = Ad, Bb = Bd, C, D) differ in
    # the output equation; their transfer functions are related by the closed forms below.
    rng = np.random.default_rng(50)
    N, dt = 4, 0.2
    A, B, C, D = stable_matrix(rng, N), rng.standard_normal(N), rng.standard_normal(N), -0.3
    Ab, Bb = discretize(A, B, dt, method, alpha if method == "gbt" else None)
    omega = np.linspace(-3.0, 3.0, 41)
    z = np.exp(1j * omega)
    sp_method = {"forward_euler": "euler", "backward_euler": "backward_diff"}.get(method,
                                                                                  method)
    sysd = cont2discrete((A, B[:, None], C[None], [[D]]), dt, method=sp_method,
                         alpha=alpha if method == "gbt" else None)
    _, H_scipy = dfreqresp(sysd, omega)
    H = frequency_response(Ab, Bb, C, D, omega)
    # dfreqresp evaluates ss2tf's polynomials (Horner, with the eigenvalue / zero
    # sensitivities of their coefficients); ours and H_c are N x N solves. The relative
    # bound (as in test_transfer_function_matches_scipy) is <= 6e-12 over these omega for
    # every method (backward Euler the worst); rtol 1e-10 leaves >= 17x (measured <= 1.9e-12).
    if method == "zoh":
        # SciPy's kernel is ours delayed by one step: H = z (H_scipy - D) + D.
        np.testing.assert_allclose(H, z * (H_scipy - D) + D, rtol=1e-10)
    else:
        # SciPy's GBT is exact: H_scipy(z) = H_c(s), s = (z - 1) / (dt (alpha z + 1 - alpha)).
        s = (z - 1) / (dt * (alpha * z + 1 - alpha))
        H_c = transfer_function(A, B, C, D, s)
        np.testing.assert_allclose(H_scipy, H_c, rtol=1e-10)
        # S4's feeds u_k in place of alpha u_k + (1 - alpha) u_{k-1}:
        np.testing.assert_allclose(H, z / (alpha * z + 1 - alpha) * (H_c - D) + D,
                                   rtol=1e-10)
    # frequency_response calls discrete_transfer_function with np.exp(1j * omega), this z:
    # the same computation, bitwise equal
    np.testing.assert_allclose(discrete_transfer_function(Ab, Bb, C, D, z), H, rtol=1e-14)
    # In SciPy's form, S4's system is (Ab, Bb, C Ab, C Bb + D).
    _, H_s4_in_scipy_form = dfreqresp((Ab, Bb[:, None], (C @ Ab)[None], [[C @ Bb + D]], dt),
                                      omega)
    np.testing.assert_allclose(H, H_s4_in_scipy_form, rtol=1e-10)


def test_zoh_step_response_samples_the_continuous_one():
    # With u = 1 held on (t_{k-1}, t_k], x_k = x(t_k) = A^{-1} (exp(t_k A) - I) B at
    # t_k = (k + 1) dt, and y_k tends to the DC gain D - C A^{-1} B = H(z = 1).
    rng = np.random.default_rng(60)
    N, dt, L = 3, 0.25, 400  # Re(eig(A)) <= -0.3: exp(-0.3 * 100) ~ 1e-13 left at the end
    A, B, C, D = stable_matrix(rng, N, 0.3), rng.standard_normal(N), \
        rng.standard_normal(N), 0.5
    Ab, Bb = discretize(A, B, dt, "zoh")
    y = step_response(Ab, Bb, C, D, L)
    Ainv = np.linalg.inv(A)
    expected = [C @ Ainv @ (expm((k + 1) * dt * A) - np.eye(N)) @ B + D for k in range(L)]
    # scan (400 steps, propagated through ||Ab^j|| ~ e^(-0.075 j)) <= 4e-14, the reference
    # (inv(A), cond 3, and expm of (k + 1) dt A) <= 4e-14: (1e-12 + 1e-10 |y|) >= 3,600x it
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    # y_399 misses the tail sum_{j >= 400} K_j = 4.1e-13 (8e-14 of the DC gain 5.1) plus
    # rounding 1.5e-14 relative: rtol 1e-10 leaves 1,000x
    np.testing.assert_allclose(y[-1], D - C @ Ainv @ B, rtol=1e-10)
    # two N = 3 solves (cond(I - Ab) and cond(A) small) and expm: <= 1.4e-14 relative
    np.testing.assert_allclose(discrete_transfer_function(Ab, Bb, C, D, 1.0),
                               D - C @ Ainv @ B, rtol=1e-10)


def test_step_response_of_a_bank():
    rng = np.random.default_rng(61)
    Ab, Bb, C, D = random_discrete(rng, 3, H=2)
    y = step_response(Ab, Bb, C, D, 10)
    assert y.shape == (2, 10)
    for h in range(2):
        K = kernel_brute_force(Ab[h], Bb[h], C[h], 10)
        # 10-step recurrence vs matrix powers and a cumulative sum: <= 9.4e-13 (propagated
        # bound, channel 1); atol 1e-12 + rtol 1e-10 |y| is >= 570x it at every step
        np.testing.assert_allclose(y[h], np.cumsum(K) + D[h], rtol=1e-10, atol=1e-12)


def test_initial_state_and_chunked_scan():
    rng = np.random.default_rng(70)
    Ab, Bb, C, D = random_discrete(rng, 4, H=3)
    x0 = rng.standard_normal((2, 3, 4))
    # zero input from x0: y_k = C Ab^{k+1} x0
    y = scan(Ab, Bb, C, D, np.zeros((2, 3, 6)), x0=x0)
    for b in range(2):
        for h in range(3):
            expected = [C[h] @ matrix_power(Ab[h], k + 1) @ x0[b, h] for k in range(6)]
            # 6 steps, N = 4, both ways: the propagated bound is >= 1,700x below
            # atol 1e-12 + rtol 1e-10 |y|
            np.testing.assert_allclose(y[b, h], expected, rtol=1e-10, atol=1e-12)
    # two chunks, the state handed over, give the whole scan
    u = rng.standard_normal((2, 3, 11))
    y_all, x_all = scan(Ab, Bb, C, D, u, x0=x0, return_state=True)
    y1, x1 = scan(Ab, Bb, C, D, u[..., :4], x0=x0, return_state=True)
    y2, x2 = scan(Ab, Bb, C, D, u[..., 4:], x0=x1, return_state=True)
    # The same operations in the same order: bitwise equal in practice. Should a BLAS order
    # a sum differently (other memory), each step moves by gamma_{N+1} |Ab| |x| + .., and
    # propagated through ||Ab^j|| over 11 steps that is <= 2.8e-13 for y, 1.3e-13 for x:
    # 1e-12 max|.| (1.9e-11, 1e-11) leaves >= 68x. (A relative rtol 1e-12 alone asked
    # that of entries of y near 0 too.)
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=-1), y_all, rtol=0,
                               atol=1e-12 * np.abs(y_all).max())
    np.testing.assert_allclose(x2, x_all, rtol=0, atol=1e-12 * np.abs(x_all).max())
    assert x_all.shape == (2, 3, 4)


def test_bank_is_channel_by_channel():
    rng = np.random.default_rng(80)
    Ab, Bb, C, D = random_discrete(rng, 3, H=4)
    u = rng.standard_normal((2, 4, 9))
    y = scan(Ab, Bb, C, D, u)
    # A batched matmul against one channel's: the same arithmetic in practice, but a BLAS
    # may order a sum differently for another batch shape. Any order stays within the
    # propagated bound (gamma_{N+1} per step through ||Ab^j||, 9 steps) <= 8.5e-14 (channel
    # 1): 1e-13 max|y_h| leaves >= 25x. (rtol 1e-14 was an exact comparison for entries of
    # y near 0.)
    for h in range(4):
        np.testing.assert_allclose(y[:, h], scan(Ab[h], Bb[h], C[h], D[h], u[:, h]),
                                   rtol=0, atol=1e-13 * np.abs(y[:, h]).max())


def test_unstable_discrete_system_warns():
    Ab = np.array([[1.1, 0.0], [0.0, 0.5]])
    with pytest.warns(UserWarning, match=r"unstable discrete system: max \|eig\(Ab\)\| = 1.1"):
        scan(Ab, [1.0, 1.0], [1.0, 1.0], 0.0, np.ones(5))
    with pytest.warns(UserWarning, match="unstable discrete system"):
        ssm_kernel(Ab, [1.0, 1.0], [1.0, 1.0], 5)
    with pytest.warns(UserWarning, match="not the DTFT"):
        frequency_response(Ab, [1.0, 1.0], [1.0, 1.0], 0.0, [0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scan(np.eye(2), [1.0, 1.0], [1.0, 1.0], 0.0, np.ones(5))  # marginal: no warning


A2, B2 = 0.5 * np.eye(2), np.ones(2)


@pytest.mark.parametrize("call, argument", [
    (lambda: scan(np.ones((2, 3)), B2, B2, 0.0, np.ones(4)), "Ab"),
    (lambda: scan(np.ones((1, 2, 2, 2)), B2, B2, 0.0, np.ones(4)), "Ab"),
    (lambda: scan(A2, np.ones(3), B2, 0.0, np.ones(4)), "Bb"),
    (lambda: scan(A2, B2, np.ones((1, 2)), 0.0, np.ones(4)), "C"),
    (lambda: scan(A2, B2, B2, [1.0, 2.0], np.ones(4)), "D"),
    (lambda: scan(A2, B2, B2, 0.0, 1.0), "u"),
    (lambda: scan(A2, B2, B2, 0.0, np.ones((3, 0))), "u"),
    (lambda: scan(np.stack([A2] * 3), np.ones((3, 2)), np.ones((3, 2)), 0.0,
                  np.ones((5, 2, 4))), "u"),
    (lambda: scan(A2, B2, B2, 0.0, np.ones((3, 4)), x0=np.ones((2, 2))), "x0"),
    (lambda: scan(A2, B2, B2, 0.0, ["a"]), "u"),
    (lambda: scan(A2, B2, B2, 0.0, np.ones(4), x0=["a", "b"]), "x0"),
    (lambda: ssm_kernel(A2, B2, B2, 0), "L"),
    (lambda: ssm_kernel(A2, B2, B2, 2.0), "L"),
    (lambda: causal_conv(np.ones(4), np.ones(4), method="spectral"), "method"),
    (lambda: causal_conv(1.0, np.ones(4)), "u"),
    (lambda: causal_conv(np.ones((2, 0)), np.ones(4)), "u"),
    (lambda: causal_conv(np.ones(4), np.ones(0)), "K"),
    (lambda: causal_conv(np.ones((2, 4)), np.ones((3, 4))), "K"),
    (lambda: causal_conv(np.ones((2, 4)), np.ones(4), D=np.ones(3)), "D"),
    (lambda: transfer_function(np.ones((2, 3)), B2, B2, 0.0, 1j), "A"),
    (lambda: transfer_function(-A2, np.ones(3), B2, 0.0, 1j), "B"),
    (lambda: transfer_function(-A2, B2, B2, 0.0, -0.5), "s"),
    (lambda: transfer_function(-A2, B2, B2, 0.0, "1j"), "s"),
    (lambda: discrete_transfer_function(A2, B2, B2, 0.0, 0.5), "z"),
    (lambda: frequency_response(A2, B2, B2, 0.0, 1j), "omega"),
    (lambda: step_response(A2, B2, B2, 0.0, 0), "L"),
    # NaN or inf in a matrix: a ValueError naming it, not numpy's LinAlgError
    (lambda: scan([[np.nan, 0], [0, 0.5]], B2, B2, 0.0, np.ones(4)), "Ab"),
    (lambda: scan(A2, [np.inf, 1.0], B2, 0.0, np.ones(4)), "Bb"),
    (lambda: scan(A2, B2, [np.nan, 1.0], 0.0, np.ones(4)), "C"),
    (lambda: scan(A2, B2, B2, np.nan, np.ones(4)), "D"),
    (lambda: ssm_kernel([[np.nan, 0], [0, 0.5]], B2, B2, 4), "Ab"),
    (lambda: ssm_kernel(A2, B2, [np.inf, 0.0], 4), "C"),
    (lambda: frequency_response([[np.inf, 0], [0, 0.5]], B2, B2, 0.0, [0.1]), "Ab"),
    (lambda: frequency_response(A2, B2, B2, 0.0, [np.nan]), "omega"),
    (lambda: step_response(A2, [np.nan, 1.0], B2, 0.0, 4), "Bb"),
    (lambda: step_response(A2, B2, B2, np.inf, 4), "D"),
    (lambda: transfer_function([[np.nan, 0], [0, -0.5]], B2, B2, 0.0, 1j), "A"),
    (lambda: transfer_function(-A2, B2, B2, 0.0, [np.nan]), "s"),
    (lambda: discrete_transfer_function(A2, B2, B2, [np.nan], 0.5j), "D"),
    (lambda: discrete_transfer_function(A2, B2, B2, 0.0, [np.inf]), "z"),
    (lambda: causal_conv(np.ones(4), np.ones(4), D=np.nan), "D"),
    # bools are not numbers, flags are bools
    (lambda: scan(A2, B2, B2, True, np.ones(4)), "D"),
    (lambda: step_response(A2, B2, B2, np.array([True]), 4), "D"),
    (lambda: transfer_function(-A2, B2, B2, np.bool_(True), 1j), "D"),
    (lambda: causal_conv(np.ones(4), np.ones(4), D=True), "D"),
    (lambda: scan(A2, B2, B2, 0.0, np.ones(4), return_state="yes"), "return_state"),
    (lambda: scan(A2, B2, B2, 0.0, np.ones(4), return_state=1), "return_state"),
    (lambda: ssm_kernel(A2, B2, B2, True), "L"),
    # None
    (lambda: scan(None, B2, B2, 0.0, np.ones(4)), "Ab"),
    (lambda: scan(A2, B2, B2, 0.0, None), "u"),
    (lambda: causal_conv(np.ones(4), None), "K"),
    (lambda: causal_conv(np.ones(4), np.ones(4), method=None), "method"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: expected"):
        call()


def test_complex_initial_state_gives_complex_output():
    y = scan(0.5 * np.eye(2), np.ones(2), np.ones(2), 0.0, np.zeros(3), x0=[1j, 0.0])
    # exact: products by 0.5 and sums with zeros (default rtol 1e-7)
    np.testing.assert_allclose(y, [0.5j, 0.25j, 0.125j])


@pytest.mark.parametrize("call, argument", [
    (lambda: ssm_kernel(A2, B2, B2, 10**12), "L"),
    (lambda: step_response(A2, B2, B2, 0.0, 10**12), "L"),
    (lambda: causal_conv(np.ones((10**5, 1, 8)), np.ones((1, 10**4, 8))), "K"),
    (lambda: frequency_response(np.stack([A2] * 10**3), np.ones((10**3, 2)),
                                np.ones((10**3, 2)), 0.0, np.zeros(10**5)), "z"),
])
def test_sizes_that_cannot_finish_are_refused_up_front(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        call()


def test_nan_in_the_input_passes_through_from_that_step_on():
    u = np.ones(6)
    u[2] = np.nan
    y = scan(A2, B2, B2, 0.5, u)
    assert np.all(np.isfinite(y[:2])) and np.all(np.isnan(y[2:]))
    y = causal_conv(u, ssm_kernel(A2, B2, B2, 6), method="direct")
    assert np.all(np.isfinite(y[:2])) and np.all(np.isnan(y[2:]))
