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
    np.testing.assert_allclose(P, P_ref, rtol=1e-9, atol=1e-9 * np.abs(P_ref).max())
    np.testing.assert_allclose(Q, Q_ref, rtol=1e-9, atol=1e-9 * np.abs(Q_ref).max())


def test_gramians_of_a_diagonal_system_are_the_closed_form():
    a = np.array([0.5, -0.3 + 0.4j, 0.9j])
    b, c = np.array([1.0, 2.0, -1j]), np.array([0.5, 1j, 1.0])
    P, Q = hankel.gramians(np.diag(a), b, c)
    np.testing.assert_allclose(P, np.outer(b, b.conj()) / (1 - np.outer(a, a.conj())),
                               atol=1e-14)
    np.testing.assert_allclose(Q, np.outer(c.conj(), c) / (1 - np.outer(a.conj(), a)),
                               atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hankel_singular_values_are_those_of_a_long_hankel_matrix(seed):
    rng = np.random.default_rng(seed)
    A, B, C = _random_stable(rng, 10, 0.85, complex_=seed == 2)
    sigma = hankel.hankel_singular_values(A, B, C)
    K = ssm.ssm_kernel(A, B, C, 801)          # 0.85^400 ~ 1e-28: the tail is gone
    sv = np.linalg.svd(hankel.hankel_matrix(K, 401), compute_uv=False)
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
        if sigma[k - 1] <= 1e-12 * sigma[0]:
            break
        Ar, Br, Cr = hankel.balanced_truncation(A, B, C, k)
        assert Ar.shape == (k, k) and Br.shape == (k,) and Cr.shape == (k,)
        err = hankel.hinf_norm(*_error_system(A, B, C, Ar, Br, Cr), n_points=2048)
        tol = 1e-9 * sigma[0]
        assert sigma[k] - tol <= err <= 2 * sigma[k:].sum() + tol


def test_balanced_realisation_has_equal_diagonal_gramians():
    A, B, C = _random_stable(np.random.default_rng(5), 7, 0.9)
    Ar, Br, Cr = hankel.balanced_truncation(A, B, C, 7)    # k = N: a change of basis
    P, Q = hankel.gramians(Ar, Br, Cr)
    sigma = hankel.hankel_singular_values(A, B, C)
    np.testing.assert_allclose(P, np.diag(sigma), atol=1e-9 * sigma[0])
    np.testing.assert_allclose(Q, np.diag(sigma), atol=1e-9 * sigma[0])
    np.testing.assert_allclose(ssm.ssm_kernel(Ar, Br, Cr, 30), ssm.ssm_kernel(A, B, C, 30),
                               atol=1e-9)


def test_hinf_norm_of_a_first_order_system_is_its_peak():
    # K[k] = a^k: G(z) = 1 / (1 - a z^{-1}), peak 1 / (1 - a) at omega = 0, for a > 0;
    # for a < 0 the peak is at omega = pi, between grid points of an odd grid
    for a in (0.9, -0.6):
        got = hankel.hinf_norm(np.array([[a]]), np.ones(1), np.ones(1), n_points=9)
        assert abs(got - 1 / (1 - abs(a))) < 1e-10
    # a resonance between grid points is found by the refinement
    w0 = 0.1234
    A = np.diag([0.99 * np.exp(1j * w0)])
    got = hankel.hinf_norm(A, np.ones(1), np.ones(1), n_points=64)
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
    np.testing.assert_allclose(K[1:17], h, atol=1e-13)
    np.testing.assert_allclose(K[17:], 0, atol=1e-13)
    # in the course's convention the kernel starts at lag 0, where HOPE's G has no term:
    # the Hankel matrix K[i + j] is that of (0, h_1, .., h_n), n + 1 states, all used
    sigma = hankel.hankel_singular_values(*hankel.hope_system(h, 1.0))
    sv = np.linalg.svd(sl.hankel(np.r_[0.0, h], np.zeros(17)), compute_uv=False)
    # Both sides are SVDs of a 17 x 17 matrix formed exactly or by backward-stable steps
    # (the factored Smith sum is exact here: Ab is nilpotent). A backward-stable SVD moves
    # each sigma_j by at most ~p(N) eps sigma_1 (Weyl), p(N) ~ 2N each side: relative to
    # sigma_j that is 4 N eps sigma_1 / sigma_j, ~7e-8 for the smallest (sigma_17 ~ 1.6e-6).
    N = len(sv)
    bound = 4 * N * np.finfo(float).eps * sv[0]
    np.testing.assert_array_less(np.abs(sigma - sv) / sv, bound / sv)
    assert hankel.epsilon_rank(sigma, 1e-8) == 17


def test_hope_perturbation_bound():
    rng = np.random.default_rng(4)
    n = 32
    for _ in range(5):
        h = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        d = 1e-2 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
        Ab, Bb, C = hankel.hope_system(d, 1.0)   # G - G~ is linear in h
        assert hankel.hinf_norm(Ab, Bb, C) <= np.sqrt(n) * np.linalg.norm(d) + 1e-12


@pytest.mark.parametrize("dt_range, L", [((0.1, 0.5), 64), ((1e-3, 1e-2), 40)])
def test_hope_layer_kernel_is_the_exact_impulse_response(dt_range, L):
    torch.manual_seed(0)
    layer = hankel.HOPELayer(3, d_state=8, dt_min=dt_range[0], dt_max=dt_range[1]).double()
    K = layer.kernel(L).detach().numpy()
    h = layer.h.detach().numpy()
    dt = torch.exp(layer.log_dt).detach().numpy()
    for i in range(3):
        exact = ssm.ssm_kernel(*hankel.hope_system(h[i], dt[i]), L).real
        np.testing.assert_allclose(K[i], exact, atol=1e-12 * np.abs(exact).max())
        if dt_range[0] >= 0.1:   # 8 / dt << 2L: the paper's sampled kernel folds nothing
            np.testing.assert_allclose(K[i], hankel.hope_kernel(h[i], dt[i], L), atol=1e-12)
        else:                    # a window of 8 / dt >> 2L steps: it folds, visibly
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
    torch.testing.assert_close(torch.stack(outs, 1), layer(u), rtol=0, atol=1e-10)


def test_hope_kernel_gradcheck():
    torch.manual_seed(1)
    layer = hankel.HOPELayer(2, d_state=4).double()
    log_dt = layer.log_dt.detach().clone().requires_grad_()
    h = layer.h.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: hankel._hope_kernel_t(a, b, 9), (log_dt, h))
    u = torch.randn(1, 9, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (u,))


def test_hope_is_a_drop_in_for_the_classifier():
    torch.manual_seed(2)
    model = models.SequenceClassifier(1, 8, 2, 3, layer="hope", tokens=False, d_state=8)
    assert model(torch.randn(4, 20, 1)).shape == (4, 3)
    assert isinstance(model.layers[0], hankel.HOPELayer)


def test_alpha_scales_the_imaginary_parts_and_warns_past_nyquist():
    np.testing.assert_allclose(s4.s4d_lin_init(4, alpha=3.0).imag, 3 * np.pi * np.arange(4))
    torch.manual_seed(0)
    plain = s4.S4DLayer(2, d_state=8)
    torch.manual_seed(0)
    scaled = s4.S4DLayer(2, d_state=8, alpha=2.0)
    torch.testing.assert_close(scaled.A_im, 2 * plain.A_im)
    torch.testing.assert_close(scaled.log_A_re, plain.log_A_re)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s4.S4DLayer(2, d_state=8, alpha=2.0, dt_max=0.1)     # 3 * 2 pi 0.1 < pi
        s4.S4DLayer(2, d_state=64)                            # the default: no warning
    with pytest.warns(UserWarning, match="Nyquist"):
        s4.S4DLayer(2, d_state=8, alpha=4.0, dt_max=0.1)     # 3 * 4 pi 0.1 > pi
    assert abs(s4.nyquist_margin([0, -3 * np.pi], 0.5) - 1.5) < 1e-15


def test_sobolev_filter_reweights_by_frequency():
    s = np.array([0.0, 1.0, 3.0, -3.0])
    G = np.array([1.0, 2j, 1.0, 1.0])
    np.testing.assert_allclose(s4.sobolev_filter(G, s, 0.5), [1.0, 2j * np.sqrt(2), 2.0, 2.0])
    np.testing.assert_allclose(s4.sobolev_filter(G, s, 0.0), G)
    # the gradient kernel's decay |s - Im a|^-2 becomes |s|^(-2 + beta) far from the mode
    far = np.logspace(2, 4, 20)
    k_beta = s4.sobolev_filter(1 / (1j * far) ** 2, far, 0.5)
    slope = np.polyfit(np.log(far), np.log(np.abs(k_beta)), 1)[0]
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
    np.testing.assert_allclose(ssm.ssm_kernel(Ab, Bb, C, 50).real,
                               s4.s4d_kernel(A, np.ones(6), c, 0.05, 50, conj_pairs=True),
                               atol=1e-12)
    torch.manual_seed(0)
    layer = s4.S4DLayer(2, d_state=12).double()
    for ch in range(2):
        sys_ = hankel.s4d_channel_system(layer, ch)
        np.testing.assert_allclose(ssm.ssm_kernel(*sys_, 40).real,
                                   layer.kernel(40)[ch].detach().numpy(), atol=1e-12)
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
