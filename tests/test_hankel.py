"""seqlearn.hankel against independent references: SciPy's Lyapunov solver, the SVD of a
long Hankel matrix of ``ssm.ssm_kernel``, the balanced-truncation bounds on random stable
systems, HOPE's sampled kernel against its all-pass cascade written as a loop, gradcheck."""

import warnings

import numpy as np
import pytest
import scipy.linalg as sl
import torch
from hypothesis import given, settings, strategies as st

from seqlearn import hankel, models, s4, ssm


def _random_stable(rng, N, rho=0.9, complex_=False):
    A = rng.standard_normal((N, N))
    B, C = rng.standard_normal(N), rng.standard_normal(N)
    if complex_:
        A = A + 1j * rng.standard_normal((N, N))
        B, C = B + 1j * rng.standard_normal(N), C + 1j * rng.standard_normal(N)
    return A * rho / np.abs(np.linalg.eigvals(A)).max(), B, C


def _error_system(A, B, C, Ar, Br, Cr):
    """G - G_r as one system (block diagonal A): its H-inf norm is the truncation error."""
    return sl.block_diag(A, Ar), np.r_[B, Br], np.r_[C, -Cr]


@pytest.mark.parametrize("complex_", [False, True])
def test_gramians_solve_the_lyapunov_equations_as_scipy(complex_):
    A, B, C = _random_stable(np.random.default_rng(0), 9, 0.97, complex_)
    P, Q = hankel.gramians(A, B, C)
    P_ref = sl.solve_discrete_lyapunov(A, np.outer(B, B.conj()))
    Q_ref = sl.solve_discrete_lyapunov(A.conj().T, np.outer(C.conj(), C))
    # SciPy (N = 9 < 10: the Kronecker system I - A (x) conj(A), cond 260 real / 83 complex)
    # errs by <= cond N^2 (eps/2) max|P| ~ 2.3e-12 max|P|; Smith's doubling (~log2 of the
    # terms, each a product and a sum) far less. 1e-9 max|P| leaves >= 400x.
    np.testing.assert_allclose(P, P_ref, rtol=1e-9, atol=1e-9 * np.abs(P_ref).max())
    np.testing.assert_allclose(Q, Q_ref, rtol=1e-9, atol=1e-9 * np.abs(Q_ref).max())


def test_gramians_of_a_diagonal_system_are_the_closed_form():
    a = np.array([0.5, -0.3 + 0.4j, 0.9j])
    b, c = np.array([1.0, 2.0, -1j]), np.array([0.5, 1j, 1.0])
    P, Q = hankel.gramians(np.diag(a), b, c)
    # Smith's doubling on a diagonal: ~8 doublings (|a a'| <= 0.81) of a few roundings each,
    # on a series whose sum|terms| / |sum| <= |1 - q| / (1 - |q|) <= 10: <= ~3.5e-14
    # relative; the closed form, 1 - a conj(a') with 1 / 0.19 cancellation, ~1e-15. No entry
    # is 0, so a relative test: rtol 1e-12 leaves 28x. (atol 1e-14 alone was below the
    # bound for |P| ~ 5; the default rtol 1e-7 was the real, float32-sized, tolerance.)
    np.testing.assert_allclose(P, np.outer(b, b.conj()) / (1 - np.outer(a, a.conj())),
                               rtol=1e-12, atol=0)
    np.testing.assert_allclose(Q, np.outer(c.conj(), c) / (1 - np.outer(a.conj(), a)),
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hankel_singular_values_are_those_of_a_long_hankel_matrix(seed):
    rng = np.random.default_rng(seed)
    A, B, C = _random_stable(rng, 10, 0.85, complex_=seed == 2)
    sigma = hankel.hankel_singular_values(A, B, C)
    K = ssm.ssm_kernel(A, B, C, 801)          # 0.85^400 ~ 1e-28: the tail is gone
    sv = np.linalg.svd(hankel.hankel_matrix(K, 401), compute_uv=False)
    # A backward-stable SVD of the 401 x 401 Hankel matrix moves each sigma_j by
    # <= ~m (eps/2) sigma_1 (Weyl) = 4.5e-14 sigma_1; the square-root method (N = 10) and
    # the kernel's rounding add less. atol 1e-12 sigma_1 leaves >= 20x; rtol 1e-8 covers the
    # large sigma_j (float32-sized errors would still fail).
    np.testing.assert_allclose(sigma, sv[:10], rtol=1e-8, atol=1e-12 * sv[0])
    assert np.all(np.diff(sigma) <= 0) and sigma.shape == (10,)


def test_hankel_matrix_layout():
    K = np.arange(7.0)
    Hb = hankel.hankel_matrix(K, 4)
    assert Hb.shape == (4, 4) and Hb[0, 3] == 3 and Hb[3, 3] == 6 and Hb[2, 1] == 3
    np.testing.assert_array_equal(Hb, sl.hankel(K[:4], K[3:7]))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_system_of_order_k_has_k_nonzero_hankel_singular_values(k):
    rng = np.random.default_rng(k)
    A, B, C = _random_stable(rng, k, 0.8)
    # embed it in 12 states: 12 - k of them uncontrollable (B = 0 there, no coupling in)
    N = 12
    Abig = np.zeros((N, N))
    Abig[:k, :k] = A
    Abig[k:, k:] = np.diag(rng.uniform(-0.7, 0.7, N - k))
    Abig[k:, :k] = rng.standard_normal((N - k, k))     # the extra states listen, never speak
    Bbig, Cbig = np.r_[B, np.zeros(N - k)], np.r_[C, np.zeros(N - k)]
    sigma = hankel.hankel_singular_values(Abig, Bbig, Cbig)
    # the threshold 1e-10 sigma_1 sits between the kept sigma_j (>= 2.7e-3 sigma_1 here) and
    # the redundant ones (exactly 0, computed <= 3.6e-16 sigma_1, a few eps): >= 1e5x each way
    assert hankel.epsilon_rank(sigma, 1e-10) == k
    K = ssm.ssm_kernel(Abig, Bbig, Cbig, 401)
    sv = np.linalg.svd(hankel.hankel_matrix(K, 201), compute_uv=False)
    assert np.sum(sv > 1e-10 * sv[0]) == k


@settings(max_examples=25, deadline=None)
@given(N=st.integers(2, 9), seed=st.integers(0, 10**6), rho=st.floats(0.3, 0.95),
       complex_=st.booleans())
def test_balanced_truncation_error_lies_between_the_bounds(N, seed, rho, complex_):
    A, B, C = _random_stable(np.random.default_rng(seed), N, rho, complex_)
    sigma = hankel.hankel_singular_values(A, B, C)
    for k in range(1, N):
        # a numerically zero sigma (rounding leaves ~N eps sigma_1): nothing left to cut
        if sigma[k - 1] <= 1e-12 * sigma[0]:
            break
        Ar, Br, Cr = hankel.balanced_truncation(A, B, C, k)
        assert Ar.shape == (k, k) and Br.shape == (k,) and Cr.shape == (k,)
        err = hankel.hinf_norm(*_error_system(A, B, C, Ar, Br, Cr), n_points=2048)
        # The upper bound can be attained (over 1,800 draws: err within 1e-13 sigma_1 of it),
        # so tol covers rounding: changing the basis orthogonally moves err by <= 7e-14
        # sigma_1 (300 draws), ~N eps sigma_1; 1e-9 sigma_1 leaves > 1e4x. The lower bound
        # held by >= 1.2% of sigma_{k+1} (grid + golden-section search, which can only
        # under-estimate, is converged to rounding for these rho <= 0.95).
        tol = 1e-9 * sigma[0]
        assert sigma[k] - tol <= err <= 2 * sigma[k:].sum() + tol


def test_balanced_realisation_has_equal_diagonal_gramians():
    A, B, C = _random_stable(np.random.default_rng(5), 7, 0.9)
    Ar, Br, Cr = hankel.balanced_truncation(A, B, C, 7)    # k = N: a change of basis
    P, Q = hankel.gramians(Ar, Br, Cr)
    sigma = hankel.hankel_singular_values(A, B, C)
    # The balancing transformation has cond ~ sqrt(sigma_1 / sigma_N) = 16 per side
    # (sigma_1 / sigma_7 = 262): <= ~(sigma_1 / sigma_N) N (eps/2) sigma_1 ~ 2e-13 sigma_1
    # (measured 3e-15). atol 1e-9 sigma_1 leaves 5000x, loose but below float32's ~1e-7;
    # rtol=0, as the default 1e-7 sigma_j on the diagonal was the looser of the two.
    np.testing.assert_allclose(P, np.diag(sigma), rtol=0, atol=1e-9 * sigma[0])
    np.testing.assert_allclose(Q, np.diag(sigma), rtol=0, atol=1e-9 * sigma[0])
    # two 30-step kernels (|K| <= 2.9) of a system and its balanced copy: <= cond(T)^2
    # L N (eps/2) max|K| ~ 1.8e-11; atol 1e-9 leaves 55x (measured 1.6e-15)
    np.testing.assert_allclose(ssm.ssm_kernel(Ar, Br, Cr, 30), ssm.ssm_kernel(A, B, C, 30),
                               rtol=0, atol=1e-9)


def test_hinf_norm_of_a_first_order_system_is_its_peak():
    # K[k] = a^k: G(z) = 1 / (1 - a z^{-1}), peak 1 / (1 - a) at omega = 0, for a > 0;
    # for a < 0 the peak is at omega = pi, between grid points of an odd grid
    for a in (0.9, -0.6):
        got = hankel.hinf_norm(np.array([[a]]), np.ones(1), np.ones(1), n_points=9)
        # golden-section search converges until f differences drop below rounding, leaving
        # a few eps |G| <= ~1e-14 (|G| <= 10); 1e-10 leaves 1e4x
        assert abs(got - 1 / (1 - abs(a))) < 1e-10
    # a resonance between grid points is found by the refinement
    w0 = 0.1234
    A = np.diag([0.99 * np.exp(1j * w0)])
    got = hankel.hinf_norm(A, np.ones(1), np.ones(1), n_points=64)
    # |G| = 100 formed from 1 - 0.99 e^(i(w0 - w)): rounding ~eps / 0.01 relative, ~1e-12;
    # 1e-6 (1e-8 relative) is loose but still catches float32-level errors (~6e-4 here)
    assert abs(got - 100) < 1e-6


def test_epsilon_rank():
    assert hankel.epsilon_rank([4.0, 2.0, 0.2, 0.04, 0.0], 0.01) == 3   # 0.04 / 4 = eps: out
    assert hankel.epsilon_rank([0.2, 4.0, 2.0], 0.01) == 3   # any order
    assert hankel.epsilon_rank(np.zeros(3), 0.1) == 0
    for bad, name in [(([1.0, -1.0], 0.1), "sigma"), (([1.0], 1.0), "eps"),
                      (([], 0.1), "sigma"), (([1.0], 0.0), "eps")]:
        with pytest.raises(ValueError, match=f"^{name}:"):
            hankel.epsilon_rank(*bad)


def _hope_cascade(h, dt, L):
    """The kernel of sum_j h_j phi(q)^j, phi(q) = (q - r) / (1 - r q), by running the
    all-pass sections on an impulse, one time step at a time."""
    r = (1 - dt) / (1 + dt)
    w = np.zeros(L)
    w[0] = 1.0
    K = np.zeros(L, complex)
    for hj in h:
        out = np.zeros(L)
        for k in range(L):      # out[k] = r out[k-1] + w[k-1] - r w[k]
            out[k] = (r * out[k - 1] if k else 0) + (w[k - 1] if k else 0) - r * w[k]
        w = out
        K += hj * w
    return K.real


@pytest.mark.parametrize("dt", [1.0, 0.3, 0.05, 3.0])
def test_hope_kernel_is_the_all_pass_cascade(dt):
    rng = np.random.default_rng(int(dt * 100))
    h = rng.standard_normal(6) + 1j * rng.standard_normal(6)
    K = hankel.hope_kernel(h, dt, 400)          # 6 / dt << 800: nothing left to fold
    np.testing.assert_allclose(K, _hope_cascade(h, dt, 400), atol=1e-12)
    Ab, Bb, C = hankel.hope_system(h, dt)
    np.testing.assert_allclose(ssm.ssm_kernel(Ab, Bb, C, 400).real, K, atol=1e-12)


def test_hope_at_dt_one_is_h_and_has_a_full_rank_hankel_matrix():
    rng = np.random.default_rng(3)
    h = rng.standard_normal(16)
    K = hankel.hope_kernel(h, 1.0, 40)
    # the phases theta_m j (j <= 16) are rounded to ~j * 2.1e-15 absolute, the 16-term sums
    # and the FFT (log2 80) add ~(16 + 7)(eps/2): |dK| <= ~3.6e-14 sum|h| = 5.6e-13 here, so
    # atol 1e-13 was below the bound (measured 1.8e-15). 1e-12 sum|h| leaves 28x; rtol=0,
    # the default 1e-7 |h| being float32-sized.
    np.testing.assert_allclose(K[1:17], h, rtol=0, atol=1e-12 * np.abs(h).sum())
    np.testing.assert_allclose(K[17:], 0, atol=1e-12 * np.abs(h).sum())
    # in the course's convention the kernel starts at lag 0, where HOPE's G has no term:
    # the Hankel matrix K[i + j] is that of (0, h_1, .., h_n), n + 1 states, all used
    sigma = hankel.hankel_singular_values(*hankel.hope_system(h, 1.0))
    sv = np.linalg.svd(sl.hankel(np.r_[0.0, h], np.zeros(17)), compute_uv=False)
    # Both sides are SVDs of a 17 x 17 matrix formed exactly or by backward-stable steps
    # (the factored Smith sum is exact here: Ab is nilpotent). A backward-stable SVD moves
    # each sigma_j by at most ~p(N) eps sigma_1 (Weyl), p(N) ~ 2N each side: relative to
    # sigma_j that is 4 N eps sigma_1 / sigma_j, ~7e-8 for the smallest (sigma_17 ~ 1.6e-6).
    N = len(sv)
    bound = 4 * N * np.finfo(float).eps * sv[0]  # the bound itself: measured 3.4 eps sigma_1
    np.testing.assert_array_less(np.abs(sigma - sv) / sv, bound / sv)
    # sigma_17 / sigma_1 = 2.2e-7, its computed error <= 68 eps sigma_1 (7e-8 of it): 1e-8
    # sits 20x below
    assert hankel.epsilon_rank(sigma, 1e-8) == 17


def test_hope_perturbation_bound():
    rng = np.random.default_rng(4)
    n = 32
    for _ in range(5):
        h = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        d = 1e-2 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
        Ab, Bb, C = hankel.hope_system(d, 1.0)   # G - G~ is linear in h
        # |G| <= sum|d_j| <= sqrt(n) ||d||; the computed gain errs by ~(n + 1)(eps/2)
        # sum|d| ~ 1e-15: the 1e-12 slack covers it 1000x
        assert hankel.hinf_norm(Ab, Bb, C) <= np.sqrt(n) * np.linalg.norm(d) + 1e-12


@pytest.mark.parametrize("dt_range, L", [((0.1, 0.5), 64), ((1e-3, 1e-2), 40)])
def test_hope_layer_kernel_is_the_exact_impulse_response(dt_range, L):
    torch.manual_seed(0)
    layer = hankel.HOPELayer(3, d_state=8, dt_min=dt_range[0], dt_max=dt_range[1]).double()
    K = layer.kernel(L).detach().numpy()
    h = layer.h.detach().numpy()
    dt = torch.exp(layer.log_dt).detach().numpy()
    for i in range(3):
        longer = ssm.ssm_kernel(*hankel.hope_system(h[i], dt[i]), 16 * L).real
        exact = longer[:L]
        # The layer's powers phi^1..phi^8 by 3 rounds of FFT products of length 2L, each
        # <= 3 log2(2L)(eps/2)(||a||_2 ||b||_1 + ||a||_1 ||b||_2), carried through the later
        # products: <= 2.3e-13 sum|h| for these six channels; the 9-state recurrence of
        # ssm_kernel <= 3.4e-14. The old atol, 1e-12 max|exact|, was below that for dt = 0.19
        # (1.0e-12 against 8.7e-13; measured <= 6e-16). 5e-12 sum|h| leaves >= 20x; rtol=0:
        # the default 1e-7 would let a float32 step through.
        rounding = 5e-12 * np.abs(h[i]).sum()
        np.testing.assert_allclose(K[i], exact, rtol=0, atol=rounding)
        # hope_kernel samples 2L nodes: it adds the lags >= 2L onto [0, 2L), so it differs
        # by at most sum_{j >= 2L} |K_j| (8.8e-12 for dt = 0.19: 8 / dt is not << 2L there,
        # and atol 1e-12 passed only through the default rtol 1e-7), plus rounding: the
        # layer's above, hope_kernel's phases ~n * 2.1e-15 sum|h|
        fold = np.abs(longer[2 * L:]).sum()
        if dt_range[0] >= 0.1:   # 8 / dt < 2L: the sampled kernel folds only a small tail
            np.testing.assert_allclose(K[i], hankel.hope_kernel(h[i], dt[i], L), rtol=0,
                                       atol=fold + rounding)
        else:                    # a window of 8 / dt >> 2L steps: it folds, visibly
            # measured 5e-3 .. 3e-2, the fold itself (1.3 .. 5.2 summed): > 5000x above 1e-6
            assert np.abs(K[i] - hankel.hope_kernel(h[i], dt[i], L)).max() > 1e-6


def test_hope_layer_step_equals_forward():
    torch.manual_seed(0)
    layer = hankel.HOPELayer(3, d_state=8, dt_min=0.01, dt_max=0.5).double()
    L = 64
    u = torch.randn(2, L, 3, dtype=torch.float64)
    state, outs = layer.initial_state(2), []
    for t in range(L):
        out, state = layer.step(u[:, t], state)
        outs.append(out)
    # float64: forward's FFT convolution <= 3 log2(128) (eps/2) (L + sqrt L) sum|K| max|u|
    # ~ 3.4e-12 (sum|K| <= 5.8, |u| <= 3.5), step's 64-step cascade of 9 states <= ~2e-13,
    # then GELU (Lipschitz 1.13) and Linear (row sums of |W| <= ~1.7): <= ~7e-12; 1e-10
    # leaves 14x (measured 1.3e-15)
    torch.testing.assert_close(torch.stack(outs, 1), layer(u), rtol=0, atol=1e-10)


def test_hope_kernel_gradcheck():
    torch.manual_seed(1)
    layer = hankel.HOPELayer(2, d_state=4).double()
    log_dt = layer.log_dt.detach().clone().requires_grad_()
    h = layer.h.detach().clone().requires_grad_()
    # gradcheck's defaults in float64: central differences with eps 1e-6 (truncation
    # ~eps^2 |f^(3)| ~ 1e-12, rounding ~(eps/2) |f| / 1e-6 ~ 1e-10) against atol 1e-5,
    # rtol 1e-3: the finite difference, not rounding, sets them; a wrong gradient is O(1)
    assert torch.autograd.gradcheck(lambda a, b: hankel._hope_kernel_t(a, b, 9), (log_dt, h))
    u = torch.randn(1, 9, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (u,))


def test_hope_is_a_drop_in_for_the_classifier():
    torch.manual_seed(2)
    model = models.SequenceClassifier(1, 8, 2, 3, layer="hope", tokens=False, d_state=8)
    assert model(torch.randn(4, 20, 1)).shape == (4, 3)
    assert isinstance(model.layers[0], hankel.HOPELayer)


def test_alpha_scales_the_imaginary_parts_and_warns_past_nyquist():
    # the same product (3 pi) n on both sides: exact (default rtol 1e-7)
    np.testing.assert_allclose(s4.s4d_lin_init(4, alpha=3.0).imag, 3 * np.pi * np.arange(4))
    torch.manual_seed(0)
    plain = s4.S4DLayer(2, d_state=8)
    torch.manual_seed(0)
    scaled = s4.S4DLayer(2, d_state=8, alpha=2.0)
    # float32 parameters: a factor 2 commutes with rounding, so equal bitwise; the float32
    # defaults (rtol 1.3e-6, atol 1e-5) allow a last-bit difference if the init changes
    torch.testing.assert_close(scaled.A_im, 2 * plain.A_im)
    torch.testing.assert_close(scaled.log_A_re, plain.log_A_re)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s4.S4DLayer(2, d_state=8, alpha=2.0, dt_max=0.1)     # 3 * 2 pi 0.1 < pi
        s4.S4DLayer(2, d_state=64)                            # the default: no warning
    with pytest.warns(UserWarning, match="Nyquist"):
        s4.S4DLayer(2, d_state=8, alpha=4.0, dt_max=0.1)     # 3 * 4 pi 0.1 > pi
    # 3 pi * 0.5 / pi: two roundings, <= 2 (eps/2) * 1.5 ~ 3.3e-16 (measured 0); 1e-14
    # leaves 30x (1e-15 was 3x)
    assert abs(s4.nyquist_margin([0, -3 * np.pi], 0.5) - 1.5) < 1e-14


def test_sobolev_filter_reweights_by_frequency():
    s = np.array([0.0, 1.0, 3.0, -3.0])
    G = np.array([1.0, 2j, 1.0, 1.0])
    # pow (<= 1 ulp, libm-dependent) and one product against sqrt: <= ~3 eps/2 ~ 3.3e-16
    # relative; rtol 1e-14 leaves 30x (the default 1e-7 was float32-sized)
    np.testing.assert_allclose(s4.sobolev_filter(G, s, 0.5), [1.0, 2j * np.sqrt(2), 2.0, 2.0],
                               rtol=1e-14)
    np.testing.assert_allclose(s4.sobolev_filter(G, s, 0.0), G, rtol=1e-14)
    # the gradient kernel's decay |s - Im a|^-2 becomes |s|^(-2 + beta) far from the mode
    far = np.logspace(2, 4, 20)
    k_beta = s4.sobolev_filter(1 / (1j * far) ** 2, far, 0.5)
    slope = np.polyfit(np.log(far), np.log(np.abs(k_beta)), 1)[0]
    # the fit's deviation is the (1 + |s|)^beta / |s|^beta ~ 1 + beta / |s| correction,
    # measured 8.6e-4 (rounding ~1e-15): 0.01 leaves 12x
    assert abs(slope - (-1.5)) < 0.01


@pytest.mark.parametrize("call, name", [
    (lambda: hankel.hankel_matrix(np.ones(5), 4), "K"),
    (lambda: hankel.hankel_matrix(np.ones((2, 5)), 2), "K"),
    (lambda: hankel.hankel_matrix(np.ones(5), 0), "m"),
    (lambda: hankel.gramians(np.eye(2), np.ones(2), np.ones(2)), "Ab"),
    (lambda: hankel.gramians(np.zeros((2, 3)), np.ones(2), np.ones(2)), "Ab"),
    (lambda: hankel.gramians(0.5 * np.eye(2), np.ones(3), np.ones(2)), "Bb"),
    (lambda: hankel.gramians(0.5 * np.eye(2), np.ones(2), [1, np.nan]), "C"),
    (lambda: hankel.gramians(0.5 * np.ones((2, 2, 2)), np.ones((2, 2)), np.ones((2, 2))),
     "Ab"),
    (lambda: hankel.balanced_truncation(0.5 * np.eye(2), np.ones(2), np.ones(2), 3), "k"),
    (lambda: hankel.balanced_truncation(np.diag([0.5, 0.2]), np.array([1.0, 0.0]),
                                        np.ones(2), 2), "k"),
    (lambda: hankel.hinf_norm(0.5 * np.eye(2), np.ones(2), np.ones(2), n_points=4),
     "n_points"),
    (lambda: hankel.hope_kernel(np.ones((2, 2)), 0.1, 5), "h"),
    (lambda: hankel.hope_kernel(np.ones(2), 0.0, 5), "dt"),
    (lambda: hankel.hope_kernel(np.ones(2), 0.1, 0), "L"),
    (lambda: hankel.hope_system([], 0.1), "h"),
    (lambda: hankel.HOPELayer(2, d_state=0), "d_state"),
    (lambda: hankel.hinf_norm(0.5 * np.eye(2), np.ones(2), np.ones(2), D=np.ones(2)), "D"),
    (lambda: hankel.HOPELayer(2, dt_min=0.5, dt_max=0.1), "dt_max"),
    (lambda: s4.S4DLayer(2, alpha=0.0), "alpha"),
    (lambda: s4.s4d_lin_init(3, alpha=-1.0), "alpha"),
    (lambda: s4.nyquist_margin([], 0.1), "A_im"),
    (lambda: s4.sobolev_filter(np.ones(3), np.ones(2), 1.0), "s"),
    (lambda: s4.sobolev_filter(np.ones(3), np.ones(3), np.nan), "beta"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()


def test_s4d_system_kernel_is_s4d_kernel_and_the_layers():
    A = s4.s4d_lin_init(6)
    c = np.arange(6) + 1j
    Ab, Bb, C = hankel.s4d_system(A, 0.05, c)
    # powers a^k by 50 products (relative k eps/2 each) against s4d_kernel's exponentials
    # (phases k dt |A| <= 40 rounded to ~40 eps/2): <= ~(50 + 40)(eps/2) sum 2|c_n b_n|
    # ~ 1.7e-14 (|K| ~ 1); atol 1e-12 leaves ~60x. rtol=0: the default 1e-7 is float32-sized.
    np.testing.assert_allclose(ssm.ssm_kernel(Ab, Bb, C, 50).real,
                               s4.s4d_kernel(A, np.ones(6), c, 0.05, 50, conj_pairs=True),
                               rtol=0, atol=1e-12)
    torch.manual_seed(0)
    layer = s4.S4DLayer(2, d_state=12).double()
    for ch in range(2):
        sys_ = hankel.s4d_channel_system(layer, ch)
        # the layer in float64: the same bound, 40 steps (measured 8e-17); rtol=0 as above
        np.testing.assert_allclose(ssm.ssm_kernel(*sys_, 40).real,
                                   layer.kernel(40)[ch].detach().numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="^C:"):
        hankel.s4d_system(A, 0.05, np.ones(5))
    with pytest.raises(ValueError, match="^layer:"):
        hankel.s4d_channel_system(torch.nn.Linear(2, 2), 0)


def test_a_hope_kernel_too_large_to_form_is_refused_up_front():
    """HOPELayer(1, d_state=20000).kernel(20000) forms (H, n, L) powers and their FFTs:
    about 2.4e9 numbers (it ran out of memory); refused by L before anything is formed."""
    layer = hankel.HOPELayer(1, d_state=20000)
    with pytest.raises(ValueError, match="^L: "):
        layer.kernel(20000)
