"""Chapter 8's checkers: independent solutions pass, the known slips fail with their hint,
wrong returns are explained, the course functions that would solve an exercise are
refused, and the references agree with the library by a second route."""

import numpy as np
import pytest
import scipy.linalg as sl

from seqlearn import hankel, ssm
from seqlearn.exercises import EXERCISES, check

NAMES = ["hankel.kernel_eps_rank", "hankel.gramians", "hankel.window_hsv",
         "hankel.continue_kernel"]


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------- independent solutions
def eps_rank_by_loops(K, m, eps):
    K = np.asarray(K)
    H = np.zeros((m, m), K.dtype)
    for i in range(m):
        for j in range(m):
            H[i, j] = K[i + j]
    s = np.linalg.svd(H, compute_uv=False)
    return sum(1 for x in s if x > eps * s[0])


def eps_rank_by_scipy(K, m, eps):
    K = np.asarray(K)
    return np.linalg.matrix_rank(sl.hankel(K[:m], K[m - 1:2 * m - 1]),
                                 tol=eps * np.linalg.norm(sl.hankel(K[:m], K[m - 1:2 * m - 1]), 2))


def gramians_by_kronecker(Ab, Bb, C):
    """vec(P) = (I - conj(Ab) kron Ab)^{-1} vec(Bb Bb^*) (column-major vec)."""
    Ab, Bb, C = np.asarray(Ab), np.asarray(Bb), np.asarray(C)
    N = Ab.shape[0]
    I = np.eye(N * N)
    P = np.linalg.solve(I - np.kron(Ab.conj(), Ab),
                        np.outer(Bb, Bb.conj()).ravel(order="F")).reshape(N, N, order="F")
    At = Ab.conj().T
    Q = np.linalg.solve(I - np.kron(At.conj(), At),
                        np.outer(C.conj(), C).ravel(order="F")).reshape(N, N, order="F")
    return P, Q


def gramians_by_series(Ab, Bb, C):
    Ab, Bb, C = np.asarray(Ab), np.asarray(Bb), np.asarray(C)
    P = np.zeros(Ab.shape, complex)
    Q = np.zeros(Ab.shape, complex)
    x, y = Bb.astype(complex), C.conj().astype(complex)
    for _ in range(600):            # |eig| <= 0.85: 0.85^1200 ~ 1e-85, far below rounding
        P += np.outer(x, x.conj())
        Q += np.outer(y, y.conj())
        x, y = Ab @ x, Ab.conj().T @ y
    real = np.isrealobj(Ab) and np.isrealobj(Bb) and np.isrealobj(C)
    return (P.real, Q.real) if real else (P, Q)


def window_by_gramians(Ab, Bb, C, L):
    """sigma = sqrt(eig(P_L Q_L)), P_L = sum_{k<L} Ab^k Bb Bb^* (Ab^*)^k, Q_L alike."""
    Ab, Bb, C = np.asarray(Ab), np.asarray(Bb), np.asarray(C)
    P = sum(np.outer(v, v.conj()) for v in
            [np.linalg.matrix_power(Ab, k) @ Bb for k in range(L)])
    Q = sum(np.outer(v, v.conj()) for v in
            [np.linalg.matrix_power(Ab.conj().T, k) @ C.conj() for k in range(L)])
    lam = np.linalg.eigvals(P @ Q).real
    return np.sqrt(np.clip(np.sort(lam)[::-1], 0, None))


def window_by_hankel(Ab, Bb, C, L):
    K = ssm.ssm_kernel(Ab, Bb, C, 2 * L - 1)
    return np.linalg.svd(hankel.hankel_matrix(K, L), compute_uv=False)[:len(Bb)]


def continue_by_recurrence(K, L):
    """The order N is the rank of the Hankel matrix (its singular values past N are
    rounding); the kernel of N poles obeys K[k + N] = sum_i c_i K[k + i]: solve for c by
    least squares on the known lags, then run the recurrence."""
    K = np.asarray(K)
    n = len(K)
    m = (n + 1) // 2
    s = np.linalg.svd(sl.hankel(K[:m], K[m - 1:2 * m - 1]), compute_uv=False)
    N = int(np.sum(s > 1e-9 * s[0]))   # cases: sigma_N > 1e-3 sigma_1, the rest rounding ~1e-16
    rows = np.array([K[k:k + N] for k in range(n - N)])
    c = np.linalg.lstsq(rows, K[N:], rcond=None)[0]
    out = list(K)
    while len(out) < L:
        out.append(np.dot(out[-N:], c))
    return np.array(out[:L])


@pytest.mark.parametrize("name, fn", [
    ("hankel.kernel_eps_rank", eps_rank_by_loops),
    ("hankel.kernel_eps_rank", eps_rank_by_scipy),
    ("hankel.gramians", gramians_by_kronecker),
    ("hankel.gramians", gramians_by_series),
    ("hankel.window_hsv", window_by_gramians),
    ("hankel.window_hsv", window_by_hankel),
    ("hankel.continue_kernel", continue_by_recurrence)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


@pytest.mark.parametrize("name", NAMES)
def test_each_mistake_gets_its_hint(capsys, course_functions_allowed, name):
    ex = EXERCISES[name]
    assert len(ex.mistakes) >= 3
    for hint, wrong in ex.mistakes.items():
        ok, out = run(capsys, name, wrong)
        assert not ok
        assert " ".join(hint.split())[:40] in out, (hint, out)


@pytest.mark.parametrize("name, fn", [
    ("hankel.kernel_eps_rank", lambda K, m, eps: hankel.epsilon_rank(
        np.linalg.svd(hankel.hankel_matrix(K, m), compute_uv=False), eps)),
    ("hankel.gramians", hankel.gramians),
    ("hankel.gramians", lambda Ab, Bb, C: (sl.solve_discrete_lyapunov(Ab, np.outer(Bb, Bb)),
                                          sl.solve_discrete_lyapunov(Ab.T, np.outer(C, C)))),
    ("hankel.gramians", lambda Ab, Bb, C: (hankel._stein(Ab, np.outer(Bb, Bb.conj())),
                                          hankel._stein(Ab.conj().T, np.outer(C.conj(), C))))])
def test_the_course_functions_that_solve_it_are_refused(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert not ok and ("course's own" in out or "write it yourself" in out), out


def test_a_wrong_answer_shows_the_inputs_not_the_source(capsys):
    for name in NAMES:
        mistake = EXERCISES[name].mistakes[next(iter(EXERCISES[name].mistakes))]
        ok, out = run(capsys, name, mistake)
        assert not ok and "def " not in out and "return" not in out


def test_the_debug_stubs_bug_passes_on_a_real_diagonal_system_only():
    """The bug of the chapter's stub (Q's doubling on Ab instead of Ab^*) is invisible on
    the first fixed case (real diagonal Ab) and wrong on the others."""
    ex = EXERCISES["hankel.gramians"]
    bug = ex.mistakes[next(iter(ex.mistakes))]
    cases = ex.cases(np.random.default_rng(0))
    # the exercise's own tolerance (its bound is stated at its registration)
    same = [np.allclose(bug(*c)[1], ex.reference(*c)[1], rtol=ex.rtol, atol=ex.atol)
            for c in cases]
    assert same[0] and not any(same[1:])


@pytest.mark.parametrize("name, fn, message", [
    ("hankel.kernel_eps_rank", lambda K, m, eps: None, "forget to `return`"),
    ("hankel.kernel_eps_rank", lambda K, m, eps: [1, 2], "has shape"),
    ("hankel.gramians", lambda Ab, Bb, C: gramians_by_kronecker(Ab, Bb, C)[0], "has shape"),
    ("hankel.gramians", lambda Ab, Bb, C: (np.full(Ab.shape, np.nan),) * 2, "contains nan"),
    ("hankel.window_hsv", lambda Ab, Bb, C, L: window_by_gramians(Ab, Bb, C, L)[:-1],
     "has shape"),
    ("hankel.window_hsv", lambda Ab, Bb, C, L: "sigma", "should be an array"),
    ("hankel.continue_kernel", lambda K, L: continue_by_recurrence(K, L)[:-1],
     "has shape"),
    ("hankel.continue_kernel", lambda K, L: [][L], "raised IndexError"),
])
def test_bad_returns_are_explained(capsys, name, fn, message):
    ok, out = run(capsys, name, fn)
    assert not ok and message in out, out


def test_hidden_cases_keep_their_promises():
    """Kernels for the rank have >= 2m lags (the off-by-one slip runs) and no sigma within
    a factor 100 of eps; Gramian systems are stable; window systems have L >= N; kernels to
    continue have L beyond them."""
    from seqlearn.exercises.hankel import _well_posed_rank
    for seed in range(20):
        rng = np.random.default_rng(seed)
        for K, m, eps in EXERCISES["hankel.kernel_eps_rank"].hidden(rng):
            assert len(K) >= 2 * m and _well_posed_rank(K, m, eps)
        for Ab, Bb, C in EXERCISES["hankel.gramians"].hidden(rng):
            assert np.abs(np.linalg.eigvals(Ab)).max() < 0.86
        for Ab, Bb, C, L in EXERCISES["hankel.window_hsv"].hidden(rng):
            assert L >= max(2, len(Bb)) and np.abs(np.linalg.eigvals(Ab)).max() < 0.96
        for K, L in EXERCISES["hankel.continue_kernel"].hidden(rng):
            assert L > len(K) >= 3


def test_window_reference_is_the_gramian_route_and_tends_to_the_infinite_horizon():
    """The window's sigma equal sqrt(eig(P_L Q_L)) (a second route), and for a long window
    the infinite-horizon Hankel singular values."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    A *= 0.7 / np.abs(np.linalg.eigvals(A)).max()
    B, C = rng.standard_normal(4), rng.standard_normal(4)
    ref = EXERCISES["hankel.window_hsv"].reference
    s = ref(A, B, C, 6)
    # float64, sigma_4 / sigma_1 = 4e-3 here: the eig route loses ~u sigma_1^2 / sigma_4 on
    # sigma_4, 1e-16 * 30 / 0.02 ~ 2e-13, far inside rtol 1e-8
    np.testing.assert_allclose(s, window_by_gramians(A, B, C, 6), rtol=1e-8)
    # at L = 200 the tail omitted is 0.7^200 ~ 1e-31: equal to the infinite horizon to the
    # SVD's rounding, ~N u sigma_1 = 4 u 30 ~ 3e-14 absolute; atol 1e-12
    np.testing.assert_allclose(ref(A, B, C, 200), hankel.hankel_singular_values(A, B, C),
                               rtol=1e-10, atol=1e-12)
    assert np.all(s <= hankel.hankel_singular_values(A, B, C) * (1 + 1e-12))   # a window sees less


def test_continue_reference_recovers_the_kernel_of_its_system():
    """From 2N + 1 lags of an N-state system, the reference continues the kernel to that
    of the system (ssm.ssm_kernel), real and complex."""
    ref = EXERCISES["hankel.continue_kernel"].reference
    rng = np.random.default_rng(1)
    for complex_ in (False, True):
        A = np.diag([0.9, -0.6, 0.3 + 0.5j][:3 if complex_ else 2])
        N = A.shape[0]
        B, C = rng.standard_normal(N), rng.standard_normal(N)
        K = ssm.ssm_kernel(A, B, C, 60)
        if not complex_:
            K = K.real
        # float64: the data's Hankel matrix has sigma_N / sigma_1 > 1e-2; the realisation
        # errs by ~u kappa ~ 1e-14 per entry, times at most 60 powers of Ab: < 1e-11
        np.testing.assert_allclose(ref(K[:2 * N + 1], 60), K, rtol=0, atol=1e-11)
        np.testing.assert_allclose(ref(K[:2 * N + 5], 60), K, rtol=0, atol=1e-11)
