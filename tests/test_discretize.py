"""seqlearn.discretize against independent computations: scipy.signal.cont2discrete,
scipy.linalg.expm with an explicit inverse, closed forms, and stability properties."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad_vec
from scipy.linalg import expm, expm_cond
from scipy.signal import cont2discrete

from seqlearn.discretize import discretize, discretize_diag

# (our method, our alpha, scipy's method, scipy's alpha)
GBT_CASES = [("forward_euler", None, "euler", None),
             ("backward_euler", None, "backward_diff", None),
             ("bilinear", None, "bilinear", None),
             ("zoh", None, "zoh", None)] + [
    ("gbt", a, "gbt", a) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]


def stable_matrix(rng, N, margin=0.5, complex_=False):
    """A random (N, N) matrix shifted so that its eigenvalues have real part <= -margin."""
    G = rng.standard_normal((N, N))
    if complex_:
        G = G + 1j * rng.standard_normal((N, N))
    shift = np.linalg.eigvals(G).real.max() + margin
    return G - shift * np.eye(N)


def quiet(fn, *args, **kwargs):
    """Call fn with warnings ignored (stability is tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def no_warning(fn, *args, **kwargs):
    """Call fn and fail if it warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


@pytest.mark.parametrize("method, alpha, sp_method, sp_alpha", GBT_CASES)
def test_matrices_match_scipy_cont2discrete(method, alpha, sp_method, sp_alpha):
    # SciPy's Ad, Bd are the same matrices as S4's Ab, Bb (only its Cd, Dd differ).
    rng = np.random.default_rng(0)
    for N in range(1, 9):
        for M in (None, 3):
            A = stable_matrix(rng, N)
            B = rng.standard_normal(N if M is None else (N, M))
            dt = float(np.exp(rng.uniform(np.log(1e-3), np.log(2.0))))
            B2 = B.reshape(N, -1)
            Ad, Bd, *_ = cont2discrete((A, B2, np.ones((1, N)), np.zeros((1, B2.shape[1]))),
                                       dt, method=sp_method, alpha=sp_alpha)
            Ab, Bb = quiet(discretize, A, B, dt, method, alpha)
            assert Ab.shape == (N, N) and Bb.shape == B.shape
            # Same formulas as SciPy (an LU solve with I - alpha dt A; expm of the same
            # block): they differ by the solves' rounding, <= cond(I - alpha dt A) N eps |x|
            # <= 6.6 * 8 * 2.2e-16 * 3.9 ~ 5e-14 here (expm: the same call on the same
            # matrix); atol 1e-12 leaves >= 20x, rtol 1e-10 covers the entries above 0.01.
            np.testing.assert_allclose(Ab, Ad, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(Bb, Bd.reshape(B.shape), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N", [1, 2, 5, 8])
def test_zoh_matches_expm_and_explicit_inverse(N):
    rng = np.random.default_rng(N)
    A = stable_matrix(rng, N, margin=1.0)
    B = rng.standard_normal(N)
    eps = np.finfo(float).eps
    for dt in (1e-3, 0.1, 1.0, 5.0):
        E = expm(dt * A)
        Ab, Bb = no_warning(discretize, A, B, dt, "zoh")
        # Two scaling-and-squaring expms (of dt A, and of the (N+1) block): each is backward
        # stable, so errs by <= (kappa_exp(dt A) + 1) (eps/2) ||E||_F, kappa_exp <= 125 here
        # (N = 8, dt = 5); atol = 100x the sum of both sides. (A fixed 1e-14 was within 4x
        # of this bound for N = 8, dt = 1.) rtol 1e-10 covers the larger entries.
        np.testing.assert_allclose(
            Ab, E, rtol=1e-10, atol=100 * (expm_cond(dt * A) + 1) * eps * np.linalg.norm(E))
        # Reference through inv(A) (cond(A) <= 12.5): <= cond(A) N (eps/2)
        # |A^-1| |E - I| |B| + ||A^-1|| (expm's error) ||B|| <= 3.5e-14; atol 1e-12 leaves 28x.
        np.testing.assert_allclose(Bb, np.linalg.inv(A) @ (E - np.eye(N)) @ B,
                                   rtol=1e-10, atol=1e-12)


def test_zoh_equals_integral_of_the_matrix_exponential():
    # Bb = int_0^dt exp(s A) ds B, by adaptive quadrature; A with a zero eigenvalue.
    rng = np.random.default_rng(3)
    A = stable_matrix(rng, 4)
    A[:, 0] = 0.0  # singular: eigenvalue 0
    B, dt = rng.standard_normal(4), 0.7
    integral, _ = quad_vec(lambda s: expm(s * A) @ B, 0.0, dt, epsabs=1e-14, epsrel=1e-13)
    Ab, Bb = no_warning(discretize, A, B, dt, "zoh")
    # quad_vec is asked for epsabs 1e-14 + epsrel 1e-13 ||integral|| ~ 8e-14 (its own
    # estimate 2.4e-14); expm's side <= (kappa_exp + 1) eps/2 ~ 6e-16. All |entries| >= 0.1,
    # so rtol 1e-10 gives >= 1e-11 per entry: >= 100x the quadrature's tolerance.
    np.testing.assert_allclose(Bb, integral, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dt", [0.01, 0.5, 3.0])
def test_zoh_singular_closed_forms(dt):
    # The double integrator x1' = x2, x2' = u: Ab = [[1, dt], [0, 1]], Bb = [dt^2/2, dt].
    Ab, Bb = no_warning(discretize, [[0.0, 1.0], [0.0, 0.0]], [0.0, 1.0], dt, "zoh")
    # expm of a nilpotent 3 x 3 block (norm <= 3: Pade, no squaring): the nonzero entries
    # are a handful of roundings plus the LU solve, <= ~10 eps/2 ~ 1.1e-15 relative; the
    # zeros below the diagonal stay exact (triangular). rtol 1e-14 leaves ~9x.
    np.testing.assert_allclose(Ab, [[1.0, dt], [0.0, 1.0]], rtol=1e-14)
    np.testing.assert_allclose(Bb, [dt ** 2 / 2, dt], rtol=1e-14)
    # A = 0: the integrator, Bb = dt B.
    Ab, Bb = no_warning(discretize, np.zeros((3, 3)), np.arange(1.0, 4.0), dt, "zoh")
    # exact: the block is nilpotent with the identity block untouched (x/x and sums with
    # exact zeros), so Ab = I bitwise on any machine.
    np.testing.assert_allclose(Ab, np.eye(3), rtol=0, atol=0)
    # dt B scaled down by 2^s, Pade (b1/b0) and s <= 2 exact doublings: ~6 roundings here,
    # 1 on the reference, <= 7 eps/2 ~ 8e-16 relative; rtol 1e-14 leaves 13x (1e-15 was
    # within 1.3x of it).
    np.testing.assert_allclose(Bb, dt * np.arange(1.0, 4.0), rtol=1e-14)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_gbt_scalar_closed_form(alpha):
    a, b, dt = -1.7, 0.3, 0.2
    Ab, Bb = no_warning(discretize, [[a]], [b], dt, "gbt", alpha)
    # The same few operations on both sides (the 1 x 1 LU solve may divide or multiply by
    # a reciprocal); no cancellation (|1 + (1 - alpha) dt a| >= 0.66): each side <= ~5.5
    # eps/2 relative, the difference <= 1.2e-15; rtol 1e-14 leaves 8x.
    np.testing.assert_allclose(Ab, [[(1 + (1 - alpha) * dt * a) / (1 - alpha * dt * a)]],
                               rtol=1e-14)
    np.testing.assert_allclose(Bb, [dt * b / (1 - alpha * dt * a)], rtol=1e-14)


def test_complex_system_matches_scipy():
    rng = np.random.default_rng(5)
    A = stable_matrix(rng, 4, complex_=True)
    B = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    for method, alpha, sp_method, sp_alpha in GBT_CASES:
        Ad, Bd, *_ = cont2discrete((A, B[:, None], np.ones((1, 4)), np.zeros((1, 1))),
                                   0.3, method=sp_method, alpha=sp_alpha)
        Ab, Bb = quiet(discretize, A, B, 0.3, method, alpha)
        # same formulas as SciPy (see above), cond(I - alpha dt A) <= 1.8, |Ab| <= 0.95:
        # <= 1.8 * 4 * 2.2e-16 ~ 1.6e-15; atol 1e-12 leaves > 600x.
        np.testing.assert_allclose(Ab, Ad, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(Bb, Bd[:, 0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method, alpha", [(m, a) for m, a, _, _ in GBT_CASES])
@pytest.mark.parametrize("complex_", [False, True])
def test_diag_equals_dense_on_a_diagonal_matrix(method, alpha, complex_):
    rng = np.random.default_rng(7)
    N = 6
    lam = -rng.uniform(0.1, 3.0, N) + (1j * rng.uniform(-5, 5, N) if complex_ else 0)
    lam[2] = 0.0  # a zero eigenvalue: ZOH's limit dt * B
    B = rng.standard_normal(N)
    for dt in (1e-3, 0.1, 0.9):
        Ab, Bb = quiet(discretize_diag, lam, B, dt, method, alpha)
        Ab_dense, Bb_dense = quiet(discretize, np.diag(lam), B, dt, method, alpha)
        # elementwise formulas against an LU solve / expm of the same numbers: ~10 roundings,
        # amplified by the cancellation in 1 + (1 - alpha) z (<= 15x here): <= 1.7e-14
        # relative (measured 1.1e-14); rtol 1e-10 leaves ~6000x. Every |entry| >= 3e-5.
        np.testing.assert_allclose(Ab, np.diag(Ab_dense), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(Bb, Bb_dense, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_diag_broadcasts_one_step_per_channel(method):
    rng = np.random.default_rng(8)
    H, N = 3, 4
    lam = -rng.uniform(0.1, 2.0, N) + 1j * rng.uniform(-3, 3, N)
    B = rng.standard_normal((H, N))
    dt = np.array([[0.01], [0.1], [1.0]])  # (H, 1)
    Ab, Bb = no_warning(discretize_diag, lam, B, dt, method)
    assert Ab.shape == (H, N) and Bb.shape == (H, N)
    for h in range(H):
        Ab_h, Bb_h = no_warning(discretize, np.diag(lam), B[h], float(dt[h, 0]), method)
        # as above (cancellation in 1 + z/2 <= 6.3 here): <= ~7e-15 relative; rtol 1e-10
        # leaves > 1e4x.
        np.testing.assert_allclose(Ab[h], np.diag(Ab_h), rtol=1e-10)
        np.testing.assert_allclose(Bb[h], Bb_h, rtol=1e-10)


def test_diag_zoh_is_accurate_for_tiny_steps():
    # (e^z - 1)/A for |z| ~ 1e-12: the Taylor series dt B (1 + z/2 + z^2/6) is exact to
    # rounding, while the naive formula would lose about 4 digits to cancellation.
    lam = np.array([-1e-6, -2.0 + 1e-3j])
    dt, B = 1e-6, np.array([1.0, 2.0])
    z = dt * lam
    Ab, Bb = no_warning(discretize_diag, lam, B, dt, "zoh")
    # Truncation z^3/24, z^3/6 ~ 1e-18 relative; rounding: libm's exp/expm1 (<= 1 ulp, may
    # differ by an ulp between libms), a complex division by z and 2-3 products on each
    # side: <= ~10 eps/2 ~ 1.1e-15 relative. rtol 1e-14 leaves 9x (1e-15 was below it).
    np.testing.assert_allclose(Bb, dt * B * (1 + z / 2 + z ** 2 / 6), rtol=1e-14)
    np.testing.assert_allclose(Ab, 1 + z + z ** 2 / 2, rtol=1e-14)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), N=st.integers(1, 6),
       margin=st.floats(0.05, 5.0), dt=st.floats(1e-3, 1e3),
       method=st.sampled_from(["zoh", "bilinear", "backward_euler"]))
def test_stable_methods_keep_stable_systems_stable_for_any_step(seed, N, margin, dt, method):
    A = stable_matrix(np.random.default_rng(seed), N, margin=margin)
    Ab, _ = no_warning(discretize, A, np.ones(N), dt, method)
    # exact |eig(Ab)| <= 1 - ~1e-6 for these ranges (zoh: e^(-dt margin) <= 1 - 5e-5;
    # bilinear at dt = 1e3: 1 - 8 margin / (dt |lambda|^2)); the computed eigenvalues err by
    # ~kappa_eig N eps ||Ab|| ~ kappa_eig * 1e-15: room for condition numbers up to ~1e9
    assert np.abs(np.linalg.eigvals(Ab)).max() < 1.0
    Ab_diag, _ = no_warning(discretize_diag, np.linalg.eigvals(A), np.ones(N), dt, method)
    assert np.abs(Ab_diag).max() < 1.0


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), N=st.integers(1, 6), factor=st.floats(4.0, 100.0))
def test_forward_euler_with_a_large_step_is_unstable_and_warns(seed, N, factor):
    A = stable_matrix(np.random.default_rng(seed), N)
    lam = np.linalg.eigvals(A)
    dt = factor / np.abs(lam).min()  # |1 + dt lambda| >= dt |lambda| - 1 >= 3
    rho = np.abs(1 + dt * lam).max()
    with pytest.warns(UserWarning, match=r"unstable discretisation: method 'forward_euler'"
                      r" with dt = .* spectral radius") as record:
        Ab, _ = discretize(A, np.ones(N), dt, "forward_euler")
    assert f"{rho:.6g}" in str(record[0].message)
    # eig(I + dt A) against 1 + dt eig(A), two QR runs on a non-normal matrix: the error is
    # kappa_eig N eps ||dt A|| / rho ~ kappa_eig * 3e-15 (||dt A|| / rho <= ~3); rtol 1e-8
    # holds for eigenvalue condition numbers up to ~3e6, which random draws can approach
    # (a nearly defective A): that, not rounding, sets it (measured <= 3e-15).
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(Ab)).max(), rho, rtol=1e-8)
    with pytest.warns(UserWarning, match="unstable discretisation"):
        discretize_diag(lam, 1.0, dt, "forward_euler")


def test_forward_euler_with_a_small_step_does_not_warn():
    A = np.diag([-1.0, -2.0, -4.0])
    no_warning(discretize, A, np.ones(3), 0.4, "forward_euler")  # |1 - 0.4*4| = 0.6


@pytest.mark.parametrize("method", ["zoh", "bilinear", "forward_euler"])
def test_unstable_continuous_system_warns(method):
    with pytest.warns(UserWarning, match="unstable continuous system"):
        discretize(np.array([[0.5, 1.0], [0.0, -1.0]]), [1.0, 1.0], 0.1, method)
    with pytest.warns(UserWarning, match="unstable continuous system"):
        discretize_diag(np.array([0.5, -1.0]), 1.0, 0.1, method)


def _needs_grad(x):
    import torch

    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("call, argument", [
    (lambda: discretize(np.ones((2, 3)), np.ones(2), 0.1, "zoh"), "A"),
    (lambda: discretize(np.ones(3), np.ones(3), 0.1, "zoh"), "A"),
    (lambda: discretize(np.zeros((0, 0)), np.ones(0), 0.1, "zoh"), "A"),
    (lambda: discretize([["a"]], np.ones(1), 0.1, "zoh"), "A"),
    (lambda: discretize(-np.eye(3), np.ones(4), 0.1, "zoh"), "B"),
    (lambda: discretize(-np.eye(3), np.ones((4, 2)), 0.1, "zoh"), "B"),
    (lambda: discretize(-np.eye(3), np.ones((3, 2, 1)), 0.1, "zoh"), "B"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.0, "zoh"), "dt"),
    (lambda: discretize(-np.eye(3), np.ones(3), -1.0, "zoh"), "dt"),
    (lambda: discretize(-np.eye(3), np.ones(3), np.inf, "zoh"), "dt"),
    (lambda: discretize(-np.eye(3), np.ones(3), [0.1, 0.2], "zoh"), "dt"),
    (lambda: discretize(-np.eye(3), np.ones(3), 1j, "zoh"), "dt"),
    (lambda: discretize(-np.eye(3), np.ones(3), True, "zoh"), "dt"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "rk4"), "method"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, None), "method"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "gbt"), "alpha"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "gbt", 1.5), "alpha"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "gbt", -0.1), "alpha"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "gbt", np.nan), "alpha"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "gbt", True), "alpha"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "bilinear", 0.3), "alpha"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "forward_euler", 1.0), "alpha"),
    (lambda: discretize(-np.eye(3), np.ones(3), 0.1, "zoh", 0.5), "alpha"),
    (lambda: discretize(np.eye(2), np.ones(2), 1.0, "backward_euler"), "dt"),
    (lambda: discretize_diag(np.ones((2, 3)), np.ones(3), np.ones(4), "zoh"), "dt"),
    (lambda: discretize_diag(-np.ones(3), np.ones(4), 0.1, "zoh"), "B"),
    (lambda: discretize_diag(-1.0, 1.0, 0.1, "zoh"), "A_diag"),
    (lambda: discretize_diag(-np.ones(3), 1.0, np.array([0.1, 0.0, 0.1]), "zoh"), "dt"),
    (lambda: discretize_diag(-np.ones(3), 1.0, 0.1, "euler"), "method"),
    (lambda: discretize_diag(-np.ones(3), 1.0, 0.1, "gbt", 2.0), "alpha"),
    (lambda: discretize_diag(np.ones(2), 1.0, 1.0, "backward_euler"), "dt"),
    # NaN or inf in a matrix: a ValueError naming it, not numpy's LinAlgError
    (lambda: discretize([[np.nan]], [1.0], 0.1, "zoh"), "A"),
    (lambda: discretize([[-1.0, 0.0], [np.inf, -1.0]], [1.0, 1.0], 0.1, "bilinear"), "A"),
    (lambda: discretize(-np.eye(2), [1.0, np.nan], 0.1, "backward_euler"), "B"),
    (lambda: discretize(-np.eye(2), [1.0, np.inf], 0.1, "zoh"), "B"),
    (lambda: discretize_diag([np.nan, -1.0], 1.0, 0.1, "zoh"), "A_diag"),
    (lambda: discretize_diag([-1.0, -2.0], [1.0, np.inf], 0.1, "bilinear"), "B"),
    (lambda: discretize_diag([-1.0, -2.0], 1.0, [0.1, np.nan], "zoh"), "dt"),
    # steps for which dt A or the discrete matrices overflow
    (lambda: discretize(-1e300 * np.eye(1), [1.0], 1e10, "zoh"), "dt"),
    (lambda: discretize(1e3 * np.eye(1), [1.0], 10.0, "zoh"), "dt"),
    (lambda: discretize_diag([1e3], 1.0, 10.0, "zoh"), "dt"),
    (lambda: discretize_diag([-1e300], 1.0, 1e10, "bilinear"), "dt"),
    # None, ragged lists, tensors that need grad
    (lambda: discretize(None, [1.0], 0.1, "zoh"), "A"),
    (lambda: discretize(-np.eye(1), None, 0.1, "zoh"), "B"),
    (lambda: discretize(-np.eye(1), [1.0], None, "zoh"), "dt"),
    (lambda: discretize(-np.eye(1), [1.0], [1, [2, 3]], "zoh"), "dt"),
    (lambda: discretize_diag([-1.0], 1.0, [1, [2, 3]], "zoh"), "dt"),
    (lambda: discretize(-np.eye(1), [1.0], 0.1, "gbt", [1, [2]]), "alpha"),
    (lambda: discretize(-np.eye(1), [1.0], 0.1, "gbt", _needs_grad(0.3)), "alpha"),
    (lambda: discretize(-np.eye(1), [1.0], 0.1, "ZOH"), "method"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=rf"^{argument}: expected"):
            call()


def test_sizes_that_cannot_finish_are_refused_up_front():
    with pytest.raises(ValueError, match="^B: "):
        discretize(-np.eye(2), np.ones((2, 20_000)), 0.1, "zoh")  # a 20,002^2 block expm
    with pytest.raises(ValueError, match="^A_diag: "):
        discretize_diag(-np.ones(10**5), 1.0, np.full((10**4, 1), 0.1), "zoh")


def test_array_likes_are_taken_alike():
    import torch

    A, B = [[-1.0, 0.0], [0.5, -2.0]], [1.0, 0.5]
    want = discretize(np.array(A), np.array(B), 0.1, "bilinear")
    for got in (discretize(A, B, 0.1, "bilinear"),
                discretize(torch.tensor(A), torch.tensor(B), np.float64(0.1), "bilinear"),
                discretize(np.array(A), np.array(B), 0.1, "gbt", np.array(0.5))):
        # the same float64 numbers through the same code path: bitwise equal (1e-15 ~ 4.5
        # eps allows only a last-bit difference)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-15)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-15)
