"""Chapter 9's checkers: independent solutions pass, the known slips fail with their hint."""

import numpy as np
import pytest

from seqlearn.exercises import EXERCISES, check


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


def mask_by_loops(dA):
    dA = np.asarray(dA, float)
    L = len(dA)
    M = np.zeros((L, L))
    for t in range(L):
        for s in range(t + 1):
            M[t, s] = np.exp(dA[s + 1:t + 1].sum())
    return M


def one_head_by_recurrence(X, dt, A, B, C):
    X, dt, B, C = (np.asarray(v, float) for v in (X, dt, B, C))
    h = np.zeros((X.shape[1], B.shape[1]))
    Y = np.zeros_like(X)
    for t in range(len(dt)):
        h = np.exp(dt[t] * A) * h + dt[t] * np.outer(X[t], B[t])
        Y[t] = h @ C[t]
    return Y


def linear_attention_by_loops(Q, K, V):
    phi = lambda x: np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))  # noqa: E731
    q, k = phi(np.asarray(Q, float)), phi(np.asarray(K, float))
    V = np.asarray(V, float)
    Y = np.zeros(V.shape)
    for b in range(V.shape[0]):
        for i in range(V.shape[1]):
            w = q[b, i] @ k[b, :i + 1].T
            Y[b, i] = w @ V[b, :i + 1] / w.sum()
    return Y


def chunk_states_by_recurrence(X, dt, A, B, Q):
    X, dt, B = (np.asarray(v, float) for v in (X, dt, B))
    h = np.zeros((X.shape[1], B.shape[1]))
    H = [h]
    for t in range(len(dt)):
        h = np.exp(dt[t] * A) * h + dt[t] * np.outer(X[t], B[t])
        if (t + 1) % Q == 0:
            H.append(h)
    return np.stack(H)


def chunked_head_by_recurrence(X, dt, A, B, C, Q):
    return one_head_by_recurrence(X, dt, A, B, C)


def diagonal_decay_by_recurrence(X, dt, A, B, C):
    X, dt, A, B, C = (np.asarray(v, float) for v in (X, dt, A, B, C))
    h = np.zeros((X.shape[1], B.shape[1]))
    Y = np.zeros_like(X)
    for t in range(len(dt)):
        h = h * np.exp(dt[t] * A)[None, :] + dt[t] * np.outer(X[t], B[t])
        Y[t] = h @ C[t]
    return Y


NAMES = ["ssd.semiseparable_mask", "ssd.one_head", "ssd.linear_attention", "ssd.chunk_states",
         "ssd.chunked_head", "ssd.diagonal_decay"]


@pytest.mark.parametrize("name, fn", [("ssd.semiseparable_mask", mask_by_loops),
                                      ("ssd.one_head", one_head_by_recurrence),
                                      ("ssd.linear_attention", linear_attention_by_loops),
                                      ("ssd.chunk_states", chunk_states_by_recurrence),
                                      ("ssd.chunked_head", chunked_head_by_recurrence),
                                      ("ssd.diagonal_decay", diagonal_decay_by_recurrence)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


@pytest.mark.parametrize("name", NAMES)
def test_each_mistake_gets_its_hint(capsys, course_functions_allowed, name):
    ex = EXERCISES[name]
    for hint, wrong in ex.mistakes.items():
        ok, out = run(capsys, name, wrong)
        assert not ok
        assert " ".join(hint.split())[:40] in out, (hint, out)


def test_the_library_and_chapter_2_are_refused(capsys):
    """Review finding 13: each exercise passed by one call of the function the chapter
    printed; now that call, and chapter 2's linear attention, are refused."""
    from seqlearn import attention, mamba, ssd
    one = lambda X, dt, A, B, C: ssd.ssd_scan(  # noqa: E731
        X[None, :, None], dt[None, :, None], np.array([float(A)]), B[None, :, None],
        C[None, :, None], backend="numpy")[0, :, 0]
    refused = [
        ("ssd.semiseparable_mask", lambda dA: ssd.semiseparable_mask(dA)),
        ("ssd.one_head", one),
        ("ssd.linear_attention",
         lambda Q, K, V: attention.linear_attention_parallel(Q, K, V, causal=True)),
        ("ssd.linear_attention", lambda Q, K, V: attention.linear_attention_recurrent(Q, K, V)),
        ("ssd.chunked_head", lambda X, dt, A, B, C, Q: one(X, dt, A, B, C)),
        ("ssd.diagonal_decay", lambda X, dt, A, B, C: mamba.selective_scan(
            X.T[None], np.repeat(dt[None, None], X.shape[1], axis=1),
            np.repeat(np.asarray(A)[None], X.shape[1], axis=0), B.T[None], C.T[None])[0].T),
    ]
    for name, fn in refused:
        ok, out = run(capsys, name, fn)
        assert not ok and "course's own" in out, (name, out)


def test_the_mask_checker_catches_the_ratio_of_products(capsys):
    """Right in exact arithmetic and on short sequences; 0 / 0 on the 300-step case."""
    def ratio(dA):
        P = np.cumprod(np.exp(np.asarray(dA, float)))
        with np.errstate(all="ignore"):
            return np.tril(P[:, None] / P[None, :])
    ok, out = run(capsys, "ssd.semiseparable_mask", ratio)
    assert not ok and "underflows" in out, out


def diagonal_decay_by_one_state_heads(X, dt, A, B, C):
    """A right answer by another route: N SSD heads of one state each, head n with
    the decay A_n, key B[:, n] and query C[:, n], summed over the heads (GLA's gate per
    key dimension, split into heads)."""
    from seqlearn import ssd
    X, dt, A, B, C = (np.asarray(v, float) for v in (X, dt, A, B, C))
    N = len(A)
    Y = ssd.ssd_scan(np.repeat(X[None, :, None], N, axis=2), np.repeat(dt[None, :, None], N, 2),
                     A, B[None, :, :, None], C[None, :, :, None], backend="quadratic")
    return Y[0].sum(1)


def test_the_diagonal_decay_by_one_state_heads_is_right_and_refused(capsys):
    """The route is right (compared with the loop above, float64: 1e-12 is rounding of
    sums of at most L N products of order 1), but it never builds the N masks the
    exercise asks for: ssd_scan is refused there."""
    rng = np.random.default_rng(3)
    L, P, N = 7, 2, 3
    args = (rng.standard_normal((L, P)), rng.uniform(0.1, 1, L), -rng.uniform(0, 2, N),
            rng.standard_normal((L, N)), rng.standard_normal((L, N)))
    # float64, sums of at most L * N = 21 products of order 1: rounding well below 1e-12
    assert np.allclose(diagonal_decay_by_one_state_heads(*args),
                       diagonal_decay_by_recurrence(*args), rtol=0, atol=1e-12)
    ok, out = run(capsys, "ssd.diagonal_decay", diagonal_decay_by_one_state_heads)
    assert not ok and "seqlearn.ssd.ssd_scan" in out, out
