"""Chapter 9's exercises: Mamba-2 and state space duality (the semiseparable mask, one
head of SSD in its attention form, linear attention as SSD, the chunk states and their
passing, a chunked head to debug, SSD with a decay per state)."""

import numpy as np

from seqlearn import attention, mamba, ssd
from seqlearn.exercises._checker import Exercise, _register


def _mask_cases(rng):
    # the last: a_t^300 = e^-900 is below the smallest float64 (about e^-745)
    return [(np.zeros(1),), (np.zeros(4),), (-rng.uniform(0, 1, 6),), (np.full(300, -3.0),)]


def _mask_hidden(rng):
    return ([(-rng.uniform(0, 2, int(rng.integers(1, 12))),) for _ in range(2)]
            + [(-rng.uniform(2, 6, int(rng.integers(200, 300))),)])


def _mask_by_ratio(dA):
    """The ratio of cumulative products: right in exact arithmetic, 0 / 0 = NaN once
    a_0 ... a_t underflows."""
    P = np.cumprod(np.exp(np.asarray(dA, float)))
    with np.errstate(all="ignore"):
        return np.tril(P[:, None] / P[None, :])


def _mask_cumprod_ratio(dA):
    """The ratio form exp(cum_t) / exp(cum_s): right in exact arithmetic, but it puts a
    on the diagonal's wrong side when shifted by one."""
    a = np.exp(np.asarray(dA, float))
    P = np.cumprod(a)
    with np.errstate(all="ignore"):
        M = np.tril(P[:, None] / P[None, :])
    return M * a[None, :]   # the slip: includes a_s


_register(Exercise(
    name="ssd.semiseparable_mask",
    signature="semiseparable_mask(dA) -> L (len(dA), len(dA)), L[t, s] = a_{s+1} ... a_t "
              "(s <= t), 0 above; a = exp(dA)",
    reference=lambda dA: ssd.semiseparable_mask(dA),
    arg_names=("dA",),
    cases=_mask_cases,
    hidden=_mask_hidden,
    mistakes={
        "a ratio of cumulative products (a_0 ... a_t) / (a_0 ... a_s) underflows to 0 / 0 "
        "= NaN on a long sequence: subtract cumulative sums of dA, then exponentiate.":
            _mask_by_ratio,
        "the product includes a_s: L[t, s] = a_{s+1} ... a_t starts one after s (the "
        "diagonal is 1).": _mask_cumprod_ratio,
        "the mask is causal: entries above the diagonal (s > t) are 0.":
            lambda dA: ssd.semiseparable_mask(dA) + np.triu(ssd.semiseparable_mask(dA).T, 1),
        "L[t, s] multiplies the decays, exp(sum dA), not the sum dA_{s+1} + ... + dA_t.":
            lambda dA: np.tril(np.log(np.maximum(ssd.semiseparable_mask(dA), 1e-300))),
    },
))


def _head_cases(rng):
    L, P, N = 5, 2, 3
    return [(rng.standard_normal((L, P)), rng.uniform(0.1, 1, L), -0.5,
             rng.standard_normal((L, N)), rng.standard_normal((L, N))),
            (np.ones((1, 1)), np.ones(1), 0.0, np.ones((1, 1)), np.ones((1, 1)))]


def _head_hidden(rng):
    cases = []
    for _ in range(2):
        L, P, N = (int(n) for n in rng.integers(1, 8, 3))
        cases.append((rng.standard_normal((L, P)), rng.uniform(0.1, 1, L),
                      -float(rng.uniform(0, 2)), rng.standard_normal((L, N)),
                      rng.standard_normal((L, N))))
    return cases


def _one_head(X, dt, A, B, C):
    """The reference: ssd_scan's quadratic form, for one batch row and one head."""
    X, dt, B, C = (np.asarray(v, float) for v in (X, dt, B, C))
    return ssd.ssd_scan(X[None, :, None], dt[None, :, None], np.array([float(A)]),
                        B[None, :, None], C[None, :, None], backend="quadratic")[0, :, 0]


_register(Exercise(
    name="ssd.one_head",
    signature="one_head(X (L, P), dt (L,), A (float <= 0), B (L, N), C (L, N)) -> Y (L, P), "
              "Y = (L o C B^T)(dt X)",
    reference=_one_head,
    arg_names=("X", "dt", "A", "B", "C"),
    cases=_head_cases,
    hidden=_head_hidden,
    mistakes={
        "the inputs enter as dt_s x_s: Y = (L o C B^T)(dt X), not (L o C B^T) X.":
            lambda X, dt, A, B, C: _one_head(np.asarray(X) / np.asarray(dt)[:, None], dt, A,
                                             B, C),
        "queries are C and keys are B: scores C_t . B_s, i.e. C B^T (B C^T is its transpose, "
        "not causal).": lambda X, dt, A, B, C: _one_head(X, dt, A, C, B),
    },
    also_refused=(ssd.ssd_step, mamba.selective_scan),
))


def _la_cases(rng):
    return [(rng.standard_normal((1, 4, 2)), rng.standard_normal((1, 4, 2)),
             rng.standard_normal((1, 4, 3)))]


def _la_hidden(rng):
    cases = []
    for _ in range(2):
        L, d, v = (int(n) for n in rng.integers(1, 9, 3))
        cases.append((rng.standard_normal((2, L, d)), rng.standard_normal((2, L, d)),
                      rng.standard_normal((2, L, v))))
    return cases


_register(Exercise(
    name="ssd.linear_attention",
    signature="linear_attention(Q, K, V) -> Y (batch, L, d_v): chapter 2's causal linear "
              "attention (phi = elu + 1) written with ssd.ssd_scan (A = 0)",
    reference=lambda Q, K, V: ssd.linear_attention(Q, K, V),
    arg_names=("Q", "K", "V"),
    cases=_la_cases,
    hidden=_la_hidden,
    mistakes={
        "linear attention divides by the normaliser phi(q_i) . sum_{j<=i} phi(k_j) (run SSD "
        "on X = [V, 1] and divide by the last column).":
            lambda Q, K, V: ssd.linear_attention(Q, K, V)
            * np.einsum("blk,blk->bl", attention.elu_feature_map(np.asarray(Q, float)),
                        np.cumsum(attention.elu_feature_map(np.asarray(K, float)), 1))[..., None],
        "a = 1 means A = 0 (no decay); a decay A < 0 is RetNet's middle case, not linear "
        "attention.": lambda Q, K, V: ssd.linear_attention(Q, K, V, decay=0.5),
    },
    also_refused=(attention.linear_attention_parallel, attention.linear_attention_recurrent),
))


# ---------------------------------------------------------------- the chunk states
def _chunks(L, Q):
    if Q < 1 or L % Q:
        raise ValueError(f"Q: expected a chunk length dividing L = {L}, got {Q}")
    return L // Q


def _states_cases(rng):
    L, P, N = 8, 2, 3
    return [(rng.standard_normal((L, P)), rng.uniform(0.1, 1, L), -0.5,
             rng.standard_normal((L, N)), 4),
            (rng.standard_normal((6, 1)), rng.uniform(0.1, 1, 6), -1.0,
             rng.standard_normal((6, 2)), 1),
            (np.ones((3, 1)), np.ones(3), 0.0, np.ones((3, 1)), 3)]


def _states_hidden(rng):
    cases = []
    for _ in range(2):
        Q, c, P, N = (int(n) for n in rng.integers(1, 6, 4))
        L = Q * c
        cases.append((rng.standard_normal((L, P)), rng.uniform(0.1, 1, L),
                      -float(rng.uniform(0, 2)), rng.standard_normal((L, N)), Q))
    return cases


def _chunk_states(X, dt, A, B, Q):
    """The reference: H[j], the state after the first j Q steps, by ssd_scan's loop."""
    X, dt, B = (np.asarray(v, float) for v in (X, dt, B))
    c = _chunks(len(dt), int(Q))
    H = [np.zeros((X.shape[1], B.shape[1]))]
    for j in range(1, c + 1):
        n = j * int(Q)
        _, h = ssd.ssd_scan(X[None, :n, None], dt[None, :n, None], np.array([float(A)]),
                            B[None, :n, None], B[None, :n, None], backend="numpy",
                            return_final_state=True)
        H.append(h[0, 0])
    return np.stack(H)


def _states_by_chunks(X, dt, A, B, Q, decay_entering=True, own_decay=False):
    """Steps 2 and 3 by chunks, with two slips to switch on."""
    X, dt, B = (np.asarray(v, float) for v in (X, dt, B))
    Q = int(Q)
    H = [np.zeros((X.shape[1], B.shape[1]))]
    for j in range(0, len(dt), Q):
        d, x, b = dt[j:j + Q], X[j:j + Q], B[j:j + Q]
        cum = np.cumsum(d * A)
        to_end = np.exp(cum[-1] - cum + (d * A if own_decay else 0))
        S = (to_end * d * x.T) @ b
        H.append((np.exp(cum[-1]) if decay_entering else 1.0) * H[-1] + S)
    return np.stack(H)


_register(Exercise(
    name="ssd.chunk_states",
    signature="chunk_states(X (L, P), dt (L,), A (float <= 0), B (L, N), Q (int dividing L)) "
              "-> H (L // Q + 1, P, N): H[0] = 0, H[j] = the state after the first j Q steps",
    reference=_chunk_states,
    arg_names=("X", "dt", "A", "B", "Q"),
    cases=_states_cases,
    hidden=_states_hidden,
    mistakes={
        "the state that entered a chunk decays through the whole chunk: H_{j+1} = "
        "exp(cum_{Q-1}) H_j + S_j, not H_j + S_j.":
            lambda X, dt, A, B, Q: _states_by_chunks(X, dt, A, B, Q, decay_entering=False),
        "step l's input is not decayed by its own a_l: S_j = sum_l exp(cum_{Q-1} - cum_l) "
        "dt_l x_l B_l^T (a_{l+1} ... a_{Q-1}).":
            lambda X, dt, A, B, Q: _states_by_chunks(X, dt, A, B, Q, own_decay=True),
        "the inputs enter as dt_l x_l: S_j sums dt_l x_l B_l^T.":
            lambda X, dt, A, B, Q: _states_by_chunks(X / np.asarray(dt)[:, None], dt, A, B,
                                                     Q),
    },
    also_refused=(ssd.ssd_step, ssd.ssd_scan, mamba.selective_scan),
))


# ---------------------------------------------------------------- debug: a chunked head
def _chunked_cases(rng):
    L, P, N = 12, 2, 3
    return [(rng.standard_normal((L, P)), rng.uniform(0.1, 1, L), -0.7,
             rng.standard_normal((L, N)), rng.standard_normal((L, N)), 4),
            (rng.standard_normal((5, 1)), rng.uniform(0.1, 1, 5), -0.3,
             rng.standard_normal((5, 2)), rng.standard_normal((5, 2)), 5)]


def _chunked_hidden(rng):
    cases = []
    for _ in range(2):
        Q, c, P, N = (int(n) for n in rng.integers(1, 6, 4))
        L = Q * (c + 1)
        cases.append((rng.standard_normal((L, P)), rng.uniform(0.1, 1, L),
                      -float(rng.uniform(0.1, 2)), rng.standard_normal((L, N)),
                      rng.standard_normal((L, N)), Q))
    return cases


def _chunked_head(X, dt, A, B, C, Q):
    """The reference: ssd_scan's loop for one head (Q only has to divide L)."""
    _chunks(len(np.asarray(dt)), int(Q))
    return _one_head(X, dt, A, B, C)


def _chunked_with(X, dt, A, B, C, Q, past):
    """The chapter's chunked algorithm for one head; ``past(cum, dA)`` is the decay of
    the state that entered the chunk, at each of its positions."""
    X, dt, B, C = (np.asarray(v, float) for v in (X, dt, B, C))
    Q = int(Q)
    h, Y = np.zeros((X.shape[1], B.shape[1])), np.zeros(X.shape)
    for j in range(0, len(dt), Q):
        x, d, b, c = X[j:j + Q], dt[j:j + Q], B[j:j + Q], C[j:j + Q]
        cum = np.cumsum(d * A)
        seg = cum[:, None] - cum[None, :]
        mask = np.exp(np.where(np.tri(len(d), dtype=bool), seg, -np.inf))
        Y[j:j + Q] = (mask * (c @ b.T)) @ (d[:, None] * x)
        Y[j:j + Q] += past(cum, d * A)[:, None] * (c @ h.T)
        h = np.exp(cum[-1]) * h + (np.exp(cum[-1] - cum) * d * x.T) @ b
    return Y


_register(Exercise(
    name="ssd.chunked_head",
    signature="chunked_head(X (L, P), dt (L,), A (float <= 0), B (L, N), C (L, N), "
              "Q (int dividing L)) -> Y (L, P), the output of eq-ssd",
    reference=_chunked_head,
    arg_names=("X", "dt", "A", "B", "C", "Q"),
    cases=_chunked_cases,
    hidden=_chunked_hidden,
    mistakes={
        "this is the given code's bug: the state that entered the chunk at its first step "
        "has decayed through a_j ... a_l at position l, including a_l: exp(cum_l), not "
        "exp(cum_l - dA_l).":
            lambda X, dt, A, B, C, Q: _chunked_with(X, dt, A, B, C, Q,
                                                    lambda cum, dA: np.exp(cum - dA)),
        "the state that entered the chunk must still decay inside it: exp(cum_l) H_j C_l.":
            lambda X, dt, A, B, C, Q: _chunked_with(X, dt, A, B, C, Q,
                                                    lambda cum, dA: np.ones_like(cum)),
    },
    also_refused=(ssd.ssd_step, ssd.ssd_scan, ssd.semiseparable_mask, mamba.selective_scan),
))


# ---------------------------------------------------------------- a decay per state
def _diag_cases(rng):
    L, P, N = 6, 2, 3
    return [(rng.standard_normal((L, P)), rng.uniform(0.1, 1, L), -rng.uniform(0.1, 2, N),
             rng.standard_normal((L, N)), rng.standard_normal((L, N))),
            (rng.standard_normal((4, 1)), rng.uniform(0.1, 1, 4), np.array([0.0, -1.0]),
             rng.standard_normal((4, 2)), rng.standard_normal((4, 2)))]


def _diag_hidden(rng):
    cases = []
    for _ in range(2):
        L, P, N = (int(n) for n in rng.integers(1, 9, 3))
        cases.append((rng.standard_normal((L, P)), rng.uniform(0.1, 1, L),
                      -rng.uniform(0, 3, N), rng.standard_normal((L, N)),
                      rng.standard_normal((L, N))))
    return cases


def _diagonal_decay(X, dt, A, B, C):
    """The reference: chapter 7's selective scan with every channel given A (one head)."""
    X, dt, A, B, C = (np.asarray(v, float) for v in (X, dt, A, B, C))
    P = X.shape[1]
    return mamba.selective_scan(X.T[None], np.repeat(dt[None, None], P, axis=1),
                                np.repeat(A[None], P, axis=0), B.T[None], C.T[None])[0].T


_register(Exercise(
    name="ssd.diagonal_decay",
    signature="diagonal_decay(X (L, P), dt (L,), A (N,) <= 0, B (L, N), C (L, N)) -> Y (L, P): "
              "h_t = h_{t-1} diag(exp(dt_t A)) + dt_t x_t B_t^T, y_t = h_t C_t",
    reference=_diagonal_decay,
    arg_names=("X", "dt", "A", "B", "C"),
    cases=_diag_cases,
    hidden=_diag_hidden,
    mistakes={
        "each state n decays with its own A_n, so there is one mask per state: "
        "Y = sum_n (L^(n) o c_n b_n^T)(dt X), not one mask from a single A.":
            lambda X, dt, A, B, C: _diagonal_decay(X, dt, np.full(len(np.asarray(A)),
                                                                   np.mean(A)), B, C),
        "queries are C and keys are B: scores C_t . B_s.":
            lambda X, dt, A, B, C: _diagonal_decay(X, dt, A, C, B),
    },
    # ssd_scan with N heads of one state each (head n decays by A_n) also gives the answer,
    # without building the N masks the exercise asks for
    also_refused=(mamba.scan_numpy, mamba.scan_torch_sequential, mamba.scan_torch_parallel,
                  mamba.scan_torch_recurrence, mamba.selective_scan_step, ssd.ssd_scan,
                  ssd.ssd_step),
))
