"""Chapter 8's checkers: independent solutions pass, the known slips fail with their hint,
and wrong returns are explained."""

import numpy as np
import pytest

from seqlearn.exercises import EXERCISES, check

NAMES = ["hankel.hankel_matrix", "hankel.hankel_singular_values", "hankel.alpha_init"]


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


def hankel_by_loops(K, m):
    K = np.asarray(K)
    H = np.zeros((m, m), K.dtype)
    for i in range(m):
        for j in range(m):
            H[i, j] = K[i + j]
    return H


def sigma_by_cholesky(P, Q):
    """sqrt(eig(P Q)) as the singular values of Lq^* Lp (P = Lp Lp^*, Q = Lq Lq^*)."""
    Lp, Lq = np.linalg.cholesky(np.asarray(P)), np.linalg.cholesky(np.asarray(Q))
    return np.linalg.svd(Lq.conj().T @ Lp, compute_uv=False)


def sigma_by_eigenvalues(P, Q):
    lam = np.linalg.eigvals(np.asarray(P) @ np.asarray(Q)).real
    return np.sqrt(np.sort(lam)[::-1])


def alpha_by_loop(N, alpha):
    return np.array([complex(-0.5, alpha * np.pi * n) for n in range(N)])


@pytest.mark.parametrize("name, fn", [("hankel.hankel_matrix", hankel_by_loops),
                                      ("hankel.hankel_singular_values", sigma_by_cholesky),
                                      ("hankel.hankel_singular_values", sigma_by_eigenvalues),
                                      ("hankel.alpha_init", alpha_by_loop)])
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


def test_the_reference_is_refused_and_never_printed(capsys):
    from seqlearn import hankel, s4
    for name, fn in [("hankel.hankel_matrix", hankel.hankel_matrix),
                     ("hankel.alpha_init", s4.s4d_lin_init)]:
        ok, out = run(capsys, name, fn)
        assert not ok and "write it yourself" in out
    ok, out = run(capsys, "hankel.hankel_matrix",
                  lambda K, m: hankel.hankel_matrix(K, m))
    assert not ok and "calls the course's own" in out
    for name in NAMES:   # a wrong answer shows the inputs and one entry, not the source
        ok, out = run(capsys, name, EXERCISES[name].mistakes[next(iter(EXERCISES[name].mistakes))])
        assert "def " not in out and "return" not in out


@pytest.mark.parametrize("name, fn, message", [
    ("hankel.hankel_matrix", lambda K, m: None, "forget to `return`"),
    ("hankel.hankel_matrix", lambda K, m: hankel_by_loops(K, m)[:, :-1], "has shape"),
    ("hankel.hankel_matrix", lambda K, m: hankel_by_loops(K, m).ravel(), "wrong shape"),
    ("hankel.hankel_singular_values", lambda P, Q: sigma_by_cholesky(P, Q)[:-1], "has shape"),
    ("hankel.hankel_singular_values", lambda P, Q: np.full(len(P), np.nan),
     "contains nan"),
    ("hankel.hankel_singular_values", lambda P, Q: "sigma", "should be an array"),
    ("hankel.alpha_init", lambda N, alpha: alpha_by_loop(N, alpha).imag, "differs"),
    ("hankel.alpha_init", lambda N, alpha: alpha_by_loop(N, alpha)[None], "has shape"),
    ("hankel.alpha_init", lambda N, alpha: [][N], "raised IndexError"),
])
def test_bad_returns_are_explained(capsys, name, fn, message):
    ok, out = run(capsys, name, fn)
    assert not ok and message in out, out


def test_hidden_cases_change_and_keep_their_promises():
    """Hidden Hankel kernels have at least 2m entries (so the off-by-one slip is named, not a
    crash); hidden Gramians are Hermitian positive definite; hidden alphas are not 1."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        for K, m in EXERCISES["hankel.hankel_matrix"].hidden(rng):
            assert len(K) >= 2 * m
        for P, Q in EXERCISES["hankel.hankel_singular_values"].hidden(rng):
            for X in (P, Q):
                # hankel.gramians returns (P + P^*) / 2: entry (j, i) is the conjugate of entry
                # (i, j) bit for bit (IEEE addition commutes), so bound 0 < default rtol 1e-7;
                # eigvalsh errs by ~N u lambda_max, and lambda_min >= 1e-4 lambda_max here
                np.testing.assert_allclose(X, X.conj().T)
                assert np.linalg.eigvalsh(X).min() > 0
        for N, alpha in EXERCISES["hankel.alpha_init"].hidden(rng):
            assert N >= 2 and alpha != 1.0


def test_sigma_reference_matches_the_hankel_matrix():
    """The Gramian route equals the singular values of a long Hankel matrix of the kernel."""
    from seqlearn import hankel
    from seqlearn.ssm import ssm_kernel
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3))
    A *= 0.6 / np.abs(np.linalg.eigvals(A)).max()
    B, C = rng.standard_normal(3), rng.standard_normal(3)
    sigma = EXERCISES["hankel.hankel_singular_values"].reference(*hankel.gramians(A, B, C))
    H = hankel.hankel_matrix(ssm_kernel(A, B, C, 199), 100)
    # float64, sigma = (3.45, 0.21, 2.3e-4): LAPACK's SVD of the 100 x 100 Hankel matrix errs by
    # ~n u sigma_1 = 100 u 3.45 = 3.8e-14 absolutely; the Gramian route by ~N u (||P|| + ||Q||)
    # = 3 u 9.8 = 3e-15 to first order (balanced, d sigma_i = (dP_ii + dQ_ii) / 2; these P, Q
    # are near balanced); the kernel's tail past 199 terms is 0.6^100 ~ 7e-23. For sigma_3 the
    # tolerance 1e-12 + 1e-8 sigma_3 = 3.3e-12 is 80x that 4e-14
    np.testing.assert_allclose(sigma, np.linalg.svd(H, compute_uv=False)[:3], rtol=1e-8,
                               atol=1e-12)
