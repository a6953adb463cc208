"""Chapter 8's exercises: what an LTI system remembers (the epsilon-rank of a kernel's
Hankel matrix, Gramians to debug, the Hankel singular values of a finite window, and a
kernel continued past its known lags by a realisation of its Hankel matrix)."""

import numpy as np
import scipy.linalg as sl

from seqlearn import hankel
from seqlearn.exercises._checker import Exercise, _register


# ---------------------------------------------------------------- helpers
def _stable_diagonal_kernel(rng, N, L, complex_=False, radius=(0.3, 0.85)):
    """K[k] = sum_n c_n b_n a_n^k, k < L, for N poles with |a_n| in ``radius``: real
    poles, or (complex_) complex ones; with well separated poles, so that the Hankel
    matrix of the kernel has rank N with sigma_N / sigma_1 not tiny."""
    r = rng.uniform(*radius, N)
    if complex_:
        a = r * np.exp(1j * (2 * np.pi * np.arange(N) / N + rng.uniform(0, 2 * np.pi / N)))
        w = rng.standard_normal(N) + 1j * rng.standard_normal(N)
    else:
        a = np.sort(r) * rng.choice([-1.0, 1.0], N)
        w = rng.standard_normal(N)
    return (w * a ** np.arange(L)[:, None]).sum(1)


def _sigma_of(K, m):
    K = np.asarray(K)
    i = np.arange(m)
    return np.linalg.svd(K[i[:, None] + i[None, :]], compute_uv=False)


def _well_posed_rank(K, m, eps, margin=100.0):
    """True when no sigma_j / sigma_1 of the m x m Hankel matrix of K lies within a factor
    ``margin`` of eps: any correct SVD then counts the same epsilon-rank."""
    s = _sigma_of(K, m)
    if s[0] == 0:
        return True
    ratio = s / s[0]
    return bool(np.all((ratio > eps * margin) | (ratio < eps / margin)))


# ---------------------------------------------------------------- the epsilon-rank of a kernel
def _kernel_eps_rank(K, m, eps):
    """The reference: the epsilon-rank of the m x m Hankel matrix of K."""
    return hankel.epsilon_rank(np.linalg.svd(hankel.hankel_matrix(K, m), compute_uv=False),
                               eps)


def _rank_cases(rng):
    # 3 states at the scale 1e3, plus noise 1e-6: 3 above eps = 1e-6 relative, 6 above 1e-6
    noisy = 1e3 * _stable_diagonal_kernel(rng, 3, 12) + 1e-6 * rng.standard_normal(12)
    return [(np.array([1.0, 0, 0, 0, 0, 0]), 3, 1e-6),          # an impulse: one state
            (0.5 ** np.arange(9), 4, 1e-8),                       # one pole: one state
            (_stable_diagonal_kernel(rng, 2, 11, complex_=True), 5, 1e-8),
            (noisy, 6, 1e-6),                                     # 3 states and noise
            (np.array([0.0, 0, 0, 1, 0, 0, 0, 0]), 4, 1e-6)]      # a pure delay of 3


def _rank_hidden(rng):
    """Three well-posed cases with at least two different ranks: the answer is a small
    integer, so three drawn alike (all rank 1, about 1 draw in 500) would let a constant
    answer, or a table of the fixed cases, pass."""
    cases = _rank_draw(rng)
    while len({_kernel_eps_rank(*case) for case in cases}) < 2:
        cases = _rank_draw(rng)
    return cases


def _rank_draw(rng):
    cases = []
    while len(cases) < 3:
        N = int(rng.integers(1, 5))
        m = N + int(rng.integers(1, 4))
        L = 2 * m + int(rng.integers(0, 3))            # >= 2m: the off-by-one slip runs
        K = _stable_diagonal_kernel(rng, N, L, complex_=bool(rng.integers(0, 2)))
        K = 10.0 ** rng.uniform(-3, 3) * (K + 10.0 ** rng.uniform(-12, -10)
                                            * rng.standard_normal(L))
        eps = float(10.0 ** rng.uniform(-8, -6))
        if _well_posed_rank(K, m, eps):
            cases.append((K, m, eps))
    return cases


def _rank_by_index(K, m, eps, index):
    K = np.asarray(K)
    i = np.arange(m)
    s = np.linalg.svd(K[index(i[:, None], i[None, :])], compute_uv=False)
    return int(np.sum(s > eps * s[0])) if s[0] > 0 else 0


_register(Exercise(
    name="hankel.kernel_eps_rank",
    signature="kernel_eps_rank(K (L,), m, eps) -> int: the number of singular values of the "
              "m x m Hankel matrix of K above eps times the largest (L >= 2m - 1)",
    reference=_kernel_eps_rank,
    arg_names=("K", "m", "eps"),
    cases=_rank_cases,
    hidden=_rank_hidden,
    mistakes={
        "that is the rank of a Toeplitz matrix, K[|i - j|] (constant along diagonals); the "
        "Hankel matrix is constant along anti-diagonals, Hbar[i, j] = K[i + j].":
            lambda K, m, eps: _rank_by_index(K, m, eps, lambda i, j: np.abs(i - j)),
        "off by one: Hbar[i, j] = K[i + j] starts at K[0] = C Bb, the output at the step "
        "of the input (the textbook [h_{i+j+1}] drops it); an impulse K = (1, 0, 0, ...) "
        "needs one state.":
            lambda K, m, eps: _rank_by_index(K, m, eps, lambda i, j: i + j + 1),
        "eps is relative: count sigma_j / sigma_1 > eps (the states that matter next to "
        "the largest), not sigma_j > eps.":
            lambda K, m, eps: int(np.sum(_sigma_of(K, m) > eps)),
        "np.linalg.matrix_rank's own threshold (about 1e-15 sigma_1) counts rounding noise "
        "as states; use the eps you were given.":
            lambda K, m, eps: int(np.linalg.matrix_rank(
                np.asarray(K)[np.add.outer(np.arange(m), np.arange(m))])),
    },
))


# ---------------------------------------------------------------- Gramians (debug)
def _random_system(rng, N, complex_):
    """A random dense stable system whose Stein equations are well conditioned
    (cond(I - conj(Ab) kron Ab) < 1e3), so any backward-stable solver agrees with the
    reference to about 1e3 N u ||P||."""
    while True:
        A = rng.standard_normal((N, N))
        B, C = rng.standard_normal(N), rng.standard_normal(N)
        if complex_:
            A = A + 1j * rng.standard_normal((N, N))
            B, C = B + 1j * rng.standard_normal(N), C + 1j * rng.standard_normal(N)
        A *= rng.uniform(0.3, 0.85) / np.abs(np.linalg.eigvals(A)).max()
        if np.linalg.cond(np.eye(N * N) - np.kron(A.conj(), A)) < 1e3:
            return A, B, C


def _gram_cases(rng):
    return [(np.diag([0.5, -0.3]), np.array([1.0, 2.0]), np.array([1.0, -1.0])),
            (np.array([[0.5, 1.0], [0.0, 0.2]]), np.array([0.0, 1.0]), np.array([1.0, 0.0])),
            _random_system(rng, 3, False), _random_system(rng, 4, False),
            _random_system(rng, 3, True)]


def _gram_hidden(rng):
    return [_random_system(rng, int(rng.integers(2, 6)), bool(rng.integers(0, 2)))
            for _ in range(3)]


def _stein_sum(M, W):
    """sum_k M^k W (M^*)^k, by SciPy's solver (the mistakes only)."""
    return sl.solve_discrete_lyapunov(M, W)


def _gram_with(p_matrix, q_matrix, q_source):
    def wrong(Ab, Bb, C):
        Ab, Bb, C = np.asarray(Ab), np.asarray(Bb), np.asarray(C)
        return (_stein_sum(p_matrix(Ab), np.outer(Bb, Bb.conj())),
                _stein_sum(q_matrix(Ab), q_source(C)))
    return wrong


_register(Exercise(
    name="hankel.gramians",
    signature="gramians(Ab (N, N), Bb (N,), C (N,)) -> (P, Q), P = sum_k Ab^k Bb Bb^* "
              "(Ab^*)^k, Q = sum_k (Ab^*)^k C^* C Ab^k, both (N, N)",
    reference=hankel.gramians,
    arg_names=("Ab", "Bb", "C"),
    cases=_gram_cases,
    hidden=_gram_hidden,
    # float64, cond(Stein operator) < 1e3 on every case, ||P||, ||Q|| < 1e3: a backward-
    # stable solver (doubling, SciPy, a Kronecker solve) errs by < 1e3 * N u ||P|| ~ 1e-12
    # relative; rtol 1e-8 and atol 1e-10 leave a factor 1e4 and catch every slip below
    rtol=1e-8,
    atol=1e-10,
    outputs=("P", "Q"),
    also_refused=(hankel._stein, hankel._stein_factor, sl.solve_discrete_lyapunov),
    mistakes={
        "Q sums (Ab^*)^k C^* C Ab^k: the doubling for Q runs on M = Ab^* (Ab.conj().T), "
        "not on Ab; the two agree only when Ab is real and symmetric (a real diagonal "
        "system, say).":
            _gram_with(lambda A: A, lambda A: A, lambda C: np.outer(C.conj(), C)),
        "P and Q are swapped: P (what the input reaches) is built from Bb, Q (what the "
        "output sees) from C.":
            lambda Ab, Bb, C: hankel.gramians(Ab, Bb, C)[::-1],
        "both transposes are swapped: P runs on Ab (P = Ab P Ab^* + Bb Bb^*), Q on Ab^*.":
            _gram_with(lambda A: A.conj().T, lambda A: A, lambda C: np.outer(C.conj(), C)),
        "Q's source term is C^* C = outer(conj(C), C): the conjugate goes on the left "
        "factor (for a complex C, outer(C, conj(C)) is its transpose).":
            _gram_with(lambda A: A, lambda A: A.conj().T, lambda C: np.outer(C, C.conj())),
    },
))


# ---------------------------------------------------------------- a finite window
def _window_hsv(Ab, Bb, C, L):
    """The reference: the singular values of O_L R_L, O_L = [C; C Ab; ..; C Ab^{L-1}],
    R_L = [Bb, Ab Bb, .., Ab^{L-1} Bb] (the L x L Hankel matrix of K[0] .. K[2L-2]), the
    N largest (L >= N)."""
    Ab, Bb, C = (np.asarray(x) for x in (Ab, Bb, C))
    N = Ab.shape[0]
    R = np.empty((N, L), np.result_type(Ab, Bb))
    R[:, 0] = Bb
    for k in range(1, L):
        R[:, k] = Ab @ R[:, k - 1]
    O = np.empty((L, N), np.result_type(Ab, C))
    O[0] = C
    for k in range(1, L):
        O[k] = O[k - 1] @ Ab
    return np.linalg.svd(O @ R, compute_uv=False)[:N]


def _window_case(rng, N, L, complex_):
    """A random dense system whose window sigma are well separated and not tiny
    (sigma_N / sigma_1 > 1e-3, gaps > 1e-3 sigma_1), so any correct method agrees."""
    while True:
        A, B, C = _random_system(rng, N, complex_)
        A = A * rng.uniform(1.0, 0.95 / np.abs(np.linalg.eigvals(A)).max())
        s = _window_hsv(A, B, C, L)
        if s[-1] > 1e-3 * s[0] and (N == 1 or np.min(-np.diff(s)) > 1e-3 * s[0]):
            return A, B, C, L


def _window_cases(rng):
    return [(np.array([[0.5]]), np.array([1.0]), np.array([1.0]), 2),   # sigma = 1.25
            (np.array([[0.5]]), np.array([1.0]), np.array([2.0]), 3),
            _window_case(rng, 2, 2, False), _window_case(rng, 3, 5, False),
            _window_case(rng, 3, 8, True)]


def _window_hidden(rng):
    cases = []
    for _ in range(3):
        N = int(rng.integers(1, 5))
        cases.append(_window_case(rng, N, max(2, N + int(rng.integers(0, 6))),
                                  bool(rng.integers(0, 2))))
    return cases


def _window_by_kernel(Ab, Bb, C, L, first, size):
    K = np.array([np.asarray(C) @ np.linalg.matrix_power(np.asarray(Ab), k) @ np.asarray(Bb)
                  for k in range(2 * L + 1)])
    i = np.arange(size)
    s = np.linalg.svd(K[first + i[:, None] + i[None, :]], compute_uv=False)
    N = np.asarray(Ab).shape[0]
    return np.r_[s, np.zeros(max(0, N - len(s)))][:N]


_register(Exercise(
    name="hankel.window_hsv",
    signature="window_hsv(Ab (N, N), Bb (N,), C (N,), L) -> sigma (N,): the Hankel singular "
              "values of the map from the last L inputs to the next L outputs, "
              "descending (L >= N)",
    reference=_window_hsv,
    arg_names=("Ab", "Bb", "C", "L"),
    cases=_window_cases,
    hidden=_window_hidden,
    # float64, sigma_N > 1e-3 sigma_1 and gaps > 1e-3 sigma_1 on every case: any backward-
    # stable route (an SVD of the window's Hankel matrix, eig of P_L Q_L) errs by ~N u
    # kappa sigma_1 / sigma_N < 1e-10 relative; rtol 1e-6, atol 1e-9 sigma-sized (sigma_1 < 1e4)
    rtol=1e-6,
    atol=1e-9,
    mistakes={
        "that is the infinite horizon (hankel_singular_values, the Gramians summed for "
        "ever): a window of L steps sums only k < L, P_L = sum_{k<L} Ab^k Bb Bb^* "
        "(Ab^*)^k, and likewise Q_L.":
            lambda Ab, Bb, C, L: hankel.hankel_singular_values(Ab, Bb, C),
        "off by one: the window's Hankel matrix starts at K[0] = C Bb (the output at the "
        "step of the input); [K[i + j + 1]] drops it.":
            lambda Ab, Bb, C, L: _window_by_kernel(Ab, Bb, C, L, 1, L),
        "the past and the future each hold L steps: the Hankel matrix is L x L, "
        "K[0] .. K[2L - 2], not the (L - 1) x (L - 1) one of K[0] .. K[2L - 4].":
            lambda Ab, Bb, C, L: _window_by_kernel(Ab, Bb, C, L, 0, L - 1),
        "take the square root: the eigenvalues of P_L Q_L are sigma_j^2.":
            lambda Ab, Bb, C, L: _window_hsv(Ab, Bb, C, L) ** 2,
    },
))


# ---------------------------------------------------------------- continue a kernel
def _continue_kernel(K, L):
    """The reference (Ho-Kalman): the p x q Hankel matrices H0 = [K[i+j]] and the shifted
    H1 = [K[i+j+1]], p + q = len(K) - 1; H0 = U S V^* cut to its rank N (the singular
    values above 1e-8 S[0]; the cases put them above 1e-3 S[0], the others at rounding); O = U S^{1/2},
    R = S^{1/2} V^*; Ab = S^{-1/2} U^* H1 V S^{-1/2}, Bb = R[:, 0], C = O[0]; returns
    C Ab^k Bb for k < L."""
    K = np.asarray(K)
    p = len(K) // 2
    q = len(K) - 1 - p                                  # H1's last entry is K[n - 1]
    i, j = np.arange(p)[:, None], np.arange(q)[None, :]
    U, s, Vh = np.linalg.svd(K[i + j])
    N = int(np.sum(s > 1e-8 * s[0]))
    U, root, Vh = U[:, :N], np.sqrt(s[:N]), Vh[:N]
    Ab = (U.conj().T @ K[i + j + 1] @ Vh.conj().T) / root[:, None] / root[None, :]
    Bb = root * Vh[:, 0]
    C = U[0] * root
    out = np.empty(L, np.result_type(K, Ab))
    x = Bb
    for k in range(L):
        out[k] = C @ x
        x = Ab @ x
    return out.real if np.isrealobj(K) else out


def _continue_case(rng, N, extra, L, complex_):
    """(K, L): the first 2N + 1 + extra lags of an N-state kernel whose N x N Hankel
    singular values are not tiny (sigma_N > 1e-3 sigma_1), so the order and the
    continuation are well posed, and L > len(K)."""
    while True:
        n = 2 * N + 1 + extra
        K = _stable_diagonal_kernel(rng, N, n, complex_=complex_, radius=(0.6, 0.95))
        s = _sigma_of(K, N + 1)
        if s[N - 1] > 1e-3 * s[0]:
            return K, L


def _continue_cases(rng):
    return [(np.array([1.0, 0.5, 0.25]), 6),                             # one pole, 1/2
            (np.array([1.0, 0.0, -1.0, 0.0, 1.0]) * 0.9 ** np.arange(5), 10),   # 0.9 i, -0.9 i
            (np.array([1.0, 0.5, 0.25, 0.125, 0.0625]), 8),                      # 5 lags, 1 state
            _continue_case(rng, 2, 2, 20, True),
            _continue_case(rng, 3, 0, 15, False),
            _continue_case(rng, 3, 3, 30, True)]


def _continue_hidden(rng):
    cases = []
    for _ in range(3):
        N = int(rng.integers(1, 5))
        extra = int(rng.integers(0, 4))
        cases.append(_continue_case(rng, N, extra, 2 * N + 1 + extra + int(rng.integers(3, 20)),
                                    bool(rng.integers(0, 2))))
    return cases


_register(Exercise(
    name="hankel.continue_kernel",
    signature="continue_kernel(K (n,), L) -> (L,): the first L lags of the kernel of the "
              "system of fewest states whose first n lags are K (at most (n - 1) / 2 "
              "states; L > n)",
    reference=_continue_kernel,
    arg_names=("K", "L"),
    cases=_continue_cases,
    hidden=_continue_hidden,
    # float64, sigma_N > 1e-3 sigma_1 of the data's Hankel matrix, poles |a| <= 0.95, L < 60:
    # a realisation (or a recurrence) recovered from exact lags errs by ~u kappa ~ 1e-13 per
    # parameter, amplified by at most L (a power of Ab); rtol 1e-6, atol 1e-9 (|K| ~ 1)
    rtol=1e-6,
    atol=1e-9,
    mistakes={
        "past the known lags the kernel goes on: the system's memory does not stop where "
        "the data do (zeros after K are the kernel of a delay line of n states, not N).":
            lambda K, L: np.r_[np.asarray(K), np.zeros(L - len(K))],
        "Ab comes from the shifted Hankel matrix [K[i + j + 1]] (the state one step "
        "later); from [K[i + j]] alone it is the identity, and the kernel stops moving.":
            lambda K, L: np.full(L, np.asarray(K)[0]),
        "the known lags are part of the answer: return K[0] .. K[L-1], the first n of them "
        "equal to K (the continuation starts at K[n], not K[0]).":
            lambda K, L: _continue_kernel(K, L + len(K))[len(K):],
    },
))
