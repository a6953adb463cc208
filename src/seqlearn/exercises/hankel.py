"""Chapter 8's exercises: what an LTI system remembers (Hankel matrices, Gramians,
frequency bias)."""

import numpy as np

from seqlearn import hankel, s4
from seqlearn.exercises._checker import Exercise, _register


# ---------------------------------------------------------------- the Hankel matrix
def _hm_cases(rng):
    return [(np.arange(1.0, 6.0), 2), (0.8 ** np.arange(8), 4),
            (rng.standard_normal(7), 3), (np.array([2.0, 1.0]), 1),
            (rng.standard_normal(6) + 1j * rng.standard_normal(6), 3)]


def _hm_hidden(rng):
    cases = []
    for _ in range(2):
        m = int(rng.integers(2, 7))
        L = 2 * m + int(rng.integers(0, 4))   # >= 2m: K[2m - 1] exists (one past what H uses)
        cases.append((rng.standard_normal(L), m))
    return cases


def _hm_index(K, m, index):
    K = np.asarray(K)
    i = np.arange(m)
    return K[index(i[:, None], i[None, :])]


def _hm_scipy(K, m):
    """scipy.linalg.hankel(K): L x L, zeros past the end of K."""
    K = np.asarray(K)
    L = len(K)
    i = np.arange(L)
    s = i[:, None] + i[None, :]
    return np.where(s < L, K[np.minimum(s, L - 1)], 0)


_register(Exercise(
    name="hankel.hankel_matrix",
    signature="hankel_matrix(K (L,), m) -> Hbar (m, m), Hbar[i, j] = K[i + j], "
              "i, j = 0 .. m-1 (L >= 2m - 1)",
    reference=hankel.hankel_matrix,
    arg_names=("K", "m"),
    cases=_hm_cases,
    hidden=_hm_hidden,
    mistakes={
        "that is a Toeplitz matrix, K[|i - j|] (constant along diagonals); a Hankel matrix is "
        "constant along anti-diagonals, Hbar[i, j] = K[i + j] (past input j steps back, "
        "output i steps ahead).":
            lambda K, m: _hm_index(K, m, lambda i, j: np.abs(i - j)),
        "off by one: Hbar[i, j] = K[i + j] starts at K[0]. The textbook Hankel matrix "
        "[h_{i+j+1}] drops the feed-through of x[k+1] = A x[k] + B u[k]; here u_k enters "
        "x_k at once, so Hbar[i, j] = C Ab^{i+j} Bb = K[i + j] and Hbar[0, 0] = K[0] = C Bb.":
            lambda K, m: _hm_index(K, m, lambda i, j: i + j + 1),
        "Hbar is m x m: only K[0] .. K[2m-2] enter (scipy.linalg.hankel(K) alone is L x L, "
        "with zeros past the end of K).": _hm_scipy,
        "Hbar[i, j] = K[i + j], one entry of K per anti-diagonal, not the product "
        "K[i] K[j] (a rank-one matrix).":
            lambda K, m: np.outer(np.asarray(K)[:m], np.asarray(K)[:m]),
    },
))


# ---------------------------------------------------------------- Hankel singular values
def _random_gramians(rng, N, complex_=False):
    """(P, Q) of a random stable system of N states whose sigma_N / sigma_1 is not tiny
    (so any correct method agrees to the tolerance)."""
    while True:
        A = rng.standard_normal((N, N))
        B, C = rng.standard_normal(N), rng.standard_normal(N)
        if complex_:
            A = A + 1j * rng.standard_normal((N, N))
            B, C = B + 1j * rng.standard_normal(N), C + 1j * rng.standard_normal(N)
        A *= rng.uniform(0.3, 0.9) / np.abs(np.linalg.eigvals(A)).max()
        P, Q = hankel.gramians(A, B, C)
        sigma = hankel.hankel_singular_values(A, B, C)
        gaps = -np.diff(sigma)
        if N == 1 or (sigma[-1] > 1e-3 * sigma[0] and gaps.min() > 1e-3 * sigma[0]):
            return P, Q


def _hsv_cases(rng):
    return [(np.array([[2.0]]), np.array([[0.5]])),
            (np.diag([3.0, 1.0]), np.diag([3.0, 1.0])),          # balanced: sigma = (3, 1)
            _random_gramians(rng, 3), _random_gramians(rng, 4),
            _random_gramians(rng, 3, complex_=True)]


def _hsv_hidden(rng):
    return [_random_gramians(rng, int(rng.integers(2, 6)), complex_=bool(rng.integers(0, 2)))
            for _ in range(2)]


def _psd_sqrt_factor(X):
    """F with X = F F^*, for a Hermitian PSD X (eigenvalues below 0 from rounding -> 0);
    unlike Cholesky it accepts a singular Gramian."""
    lam, U = np.linalg.eigh(X)
    return U * np.sqrt(np.clip(lam, 0, None))


def _hsv(P, Q):
    """The square-root method from given Gramians: P = Fp Fp^*, Q = Fq Fq^*, sigma =
    singular values of Fq^* Fp (the square roots of the eigenvalues of P Q, descending)."""
    Fp = _psd_sqrt_factor(np.asarray(P))
    Fq = _psd_sqrt_factor(np.asarray(Q))
    return np.linalg.svd(Fq.conj().T @ Fp, compute_uv=False)


def _eig_pq(P, Q):
    return np.sort(np.clip(np.linalg.eigvals(np.asarray(P) @ np.asarray(Q)).real, 0, None))[::-1]


_register(Exercise(
    name="hankel.hankel_singular_values",
    signature="hankel_singular_values_from_gramians(P (N, N), Q (N, N)) -> sigma (N,), "
              "sigma_j = sqrt(lambda_j(P Q)), descending",
    reference=_hsv,
    arg_names=("P", "Q"),
    cases=_hsv_cases,
    hidden=_hsv_hidden,
    rtol=1e-6,
    atol=1e-8,
    mistakes={
        "take the square root: the eigenvalues of P Q are sigma_j^2 (those of Hbar^* Hbar), "
        "so sigma_j = sqrt(lambda_j(P Q)).": _eig_pq,
        "the order: Hankel singular values are listed largest first, sigma_1 >= sigma_2 >= "
        "... (np.sort is ascending: reverse it, [::-1]).": lambda P, Q: _hsv(P, Q)[::-1],
        "sigma needs both Gramians: the singular values of P alone measure only how far "
        "inputs reach the states, not how much of them the output sees (use P Q).":
            lambda P, Q: np.linalg.svd(np.asarray(P), compute_uv=False),
        "sigma comes from the product P Q, not the sum P + Q: sigma_j = "
        "sqrt(lambda_j(P Q)).": lambda P, Q: np.linalg.svd(np.asarray(P) + np.asarray(Q),
                                                           compute_uv=False),
        "the eigenvalues of P Q are not the products of P's and Q's own eigenvalues (that "
        "holds only in balanced coordinates, P = Q diagonal): take the eigenvalues of the "
        "product P @ Q.":
            lambda P, Q: np.sqrt(np.clip(np.linalg.eigvalsh(np.asarray(P))[::-1]
                                         * np.linalg.eigvalsh(np.asarray(Q))[::-1], 0, None)),
    },
))


# ---------------------------------------------------------------- frequency bias: alpha
def _alpha_cases(rng):
    return [(4, 1.0), (3, 0.5), (5, 2.0), (1, 3.0)]


def _alpha_hidden(rng):
    return [(int(rng.integers(2, 17)), float(rng.uniform(0.1, 5.0))) for _ in range(2)]


_register(Exercise(
    name="hankel.alpha_init",
    signature="alpha_init(N, alpha) -> A (N,) complex, A_n = -1/2 + i alpha pi n, "
              "n = 0 .. N-1 (S4D-Lin with its frequencies scaled by alpha)",
    reference=s4.s4d_lin_init,
    arg_names=("N", "alpha"),
    cases=_alpha_cases,
    hidden=_alpha_hidden,
    mistakes={
        "alpha scales only the imaginary parts (the frequencies); the real part, the decay "
        "-1/2, stays: A_n = -1/2 + i alpha pi n, not alpha (-1/2 + i pi n).":
            lambda N, alpha: alpha * (-0.5 + 1j * np.pi * np.arange(N)),
        "n runs from 0 to N-1 (np.arange(N)): the first mode, A_0 = -1/2, does not turn.":
            lambda N, alpha: -0.5 + 1j * alpha * np.pi * np.arange(1, N + 1),
        "alpha multiplies the frequencies, i alpha pi n; dividing (i pi n / alpha) moves the "
        "modes the other way (alpha > 1 would then add low-frequency bias, not remove it).":
            lambda N, alpha: -0.5 + 1j * np.pi * np.arange(N) / alpha,
    },
))
