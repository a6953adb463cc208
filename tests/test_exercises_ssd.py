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


@pytest.mark.parametrize("name, fn", [("ssd.semiseparable_mask", mask_by_loops),
                                      ("ssd.one_head", one_head_by_recurrence),
                                      ("ssd.linear_attention", linear_attention_by_loops)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


@pytest.mark.parametrize("name", ["ssd.semiseparable_mask", "ssd.one_head",
                                  "ssd.linear_attention"])
def test_each_mistake_gets_its_hint(capsys, course_functions_allowed, name):
    ex = EXERCISES[name]
    for hint, wrong in ex.mistakes.items():
        ok, out = run(capsys, name, wrong)
        assert not ok
        assert " ".join(hint.split())[:40] in out, (hint, out)
