"""Chapter 9's exercises: Mamba-2 and state space duality (the semiseparable mask, one
head of SSD in its attention form, linear attention as SSD)."""

import numpy as np

from seqlearn import attention, ssd
from seqlearn.exercises._checker import Exercise, _register


def _mask_cases(rng):
    return [(np.zeros(1),), (np.zeros(4),), (-rng.uniform(0, 1, 6),)]


def _mask_hidden(rng):
    return [(-rng.uniform(0, 2, int(rng.integers(1, 12))),) for _ in range(2)]


def _mask_cumprod_ratio(dA):
    """The ratio form exp(cum_t) / exp(cum_s): right in exact arithmetic, but it puts a
    on the diagonal's wrong side when shifted by one."""
    a = np.exp(np.asarray(dA, float))
    P = np.cumprod(a)
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
))
