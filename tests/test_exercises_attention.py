"""Chapter 2's checkers (attention.causal_mask, attention.sdpa, attention.positional_encoding,
attention.linear_step): independent solutions pass; the reviewed loopholes are closed and
the common slips fail with a hint that names them."""

import numpy as np
import pytest

from seqlearn import attention
from seqlearn.exercises import EXERCISES, check


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------- independent solutions

def sdpa_by_loops(Q, K, V, mask):
    """Softmax attention one query row at a time, with a stable softmax."""
    Q, K, V = (np.asarray(a, float) for a in (Q, K, V))
    batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    Q, K, V = (np.broadcast_to(a, batch + a.shape[-2:]) for a in (Q, K, V))
    Y = np.zeros(batch + (Q.shape[-2], V.shape[-1]))
    for idx in np.ndindex(batch):
        for i in range(Q.shape[-2]):
            s = np.array([Q[idx][i] @ K[idx][j] for j in range(K.shape[-2])]) / np.sqrt(Q.shape[-1])
            if mask is not None:
                s = np.where(np.asarray(mask)[i], s, -np.inf)
            w = np.exp(s - s.max())
            Y[idx][i] = (w / w.sum()) @ V[idx]
    return Y


def sdpa_big_negative(Q, K, V, mask):
    """The -1e9 convention of many tutorials (instead of -inf)."""
    s = np.asarray(Q) @ np.swapaxes(K, -1, -2) / np.sqrt(np.shape(Q)[-1])
    if mask is not None:
        s = np.where(mask, s, -1e9)
    w = np.exp(s - s.max(-1, keepdims=True))
    return w / w.sum(-1, keepdims=True) @ V


def positions_by_loops(L, d_model):
    P = np.zeros((L, d_model))
    for t in range(L):
        for i in range(d_model // 2):
            P[t, 2 * i] = np.sin(t / 10000 ** (2 * i / d_model))
            P[t, 2 * i + 1] = np.cos(t / 10000 ** (2 * i / d_model))
    return P


def linear_step_natural(state, q_t, k_t, v_t):
    S, z = state
    phi_q, phi_k = attention.elu_feature_map(q_t), attention.elu_feature_map(k_t)
    S = S + np.outer(phi_k, v_t)
    z = z + phi_k
    return phi_q @ S / (phi_q @ z), (S, z)


@pytest.mark.parametrize("name, fn", [
    ("attention.sdpa", sdpa_by_loops), ("attention.sdpa", sdpa_big_negative),
    ("attention.positional_encoding", positions_by_loops),
    ("attention.linear_step", linear_step_natural)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


# ---------------------------------------------------------------- sdpa: the loopholes

def _scores(Q, K):
    return np.asarray(Q) @ np.swapaxes(K, -1, -2) / np.sqrt(np.shape(Q)[-1])


def _softmax_rows(s):
    w = np.exp(s - s.max(-1, keepdims=True))
    return w / w.sum(-1, keepdims=True)


def sdpa_tril_whatever_the_mask(Q, K, V, mask):
    """The reviewed loophole: uses a causal triangle whenever a mask is given."""
    s = _scores(Q, K)
    if mask is not None:
        s = np.where(np.tril(np.ones(np.shape(mask), bool)), s, -np.inf)
    return _softmax_rows(s) @ V


def sdpa_without_the_max(Q, K, V, mask):
    """The reviewed loophole: exp without subtracting the row maximum."""
    s = _scores(Q, K)
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    w = np.exp(s)
    return w / w.sum(-1, keepdims=True) @ V


def sdpa_masked_to_zero(Q, K, V, mask):
    s = _scores(Q, K)
    if mask is not None:
        s = np.where(mask, s, 0.0)
    return _softmax_rows(s) @ V


def sdpa_mask_added(Q, K, V, mask):
    s = _scores(Q, K)
    if mask is not None:
        s = s + mask
    return _softmax_rows(s) @ V


def sdpa_masked_after_softmax(Q, K, V, mask):
    w = _softmax_rows(_scores(Q, K))
    if mask is not None:
        w = w * mask
    return w @ V


@pytest.mark.parametrize("fn, hint", [
    (sdpa_tril_whatever_the_mask, "the mask's own entries are ignored"),
    (sdpa_masked_to_zero, "masked scores are set to 0"),
    (sdpa_mask_added, "the boolean mask is added to the scores"),
    (sdpa_masked_after_softmax, "the weights are masked after the softmax"),
])
def test_mask_slips_fail_with_their_hint(capsys, fn, hint):
    ok, out = run(capsys, "attention.sdpa", fn)
    assert not ok and f"hint: {hint}" in out, out


def test_an_answer_that_ignores_the_mask_pattern_fails_on_a_fixed_case(capsys):
    ok, out = run(capsys, "attention.sdpa", sdpa_tril_whatever_the_mask)
    assert not ok and "case 5 of 7 fails" in out, out


def test_an_answer_without_the_max_subtraction_fails_on_large_scores(capsys):
    with np.errstate(over="ignore", invalid="ignore"):
        ok, out = run(capsys, "attention.sdpa", sdpa_without_the_max)
    assert not ok and "case 7 of 7 fails" in out and "contains nan" in out, out


def test_the_fixed_cases_hold_non_causal_masks_and_large_scores():
    cases = EXERCISES["attention.sdpa"].cases(np.random.default_rng(0))
    masks = [np.asarray(c[3]) for c in cases if c[3] is not None]
    assert any(not np.array_equal(m, np.tril(np.ones_like(m))) for m in masks)
    assert all(m.any(axis=-1).all() for m in masks)           # every query sees a key
    scores = [np.abs(_scores(c[0], c[1])).max() for c in cases]
    assert max(scores) > 800                                  # exp(800) overflows float64
    hidden = EXERCISES["attention.sdpa"].hidden(np.random.default_rng(1))
    assert sum(c[3] is not None and not np.array_equal(
        np.asarray(c[3]), np.tril(np.ones_like(c[3]))) for c in hidden) >= 1


# ---------------------------------------------------------------- positional encoding

def _positions(freq, interleave=True, sin_first=True):
    def fn(L, d_model):
        t = np.arange(L)[:, None]
        w = freq(np.arange(d_model // 2), d_model)
        a, b = (np.sin(t * w), np.cos(t * w))
        if not sin_first:
            a, b = b, a
        if not interleave:
            return np.hstack([a, b])
        out = np.zeros((L, d_model))
        out[:, ::2], out[:, 1::2] = a, b
        return out
    return fn


@pytest.mark.parametrize("fn, hint", [
    (_positions(lambda i, d: 1 / 10000 ** (2 * i / d), sin_first=False), "sin and cos are swapped"),
    (_positions(lambda i, d: 1 / 10000 ** (i / d)), "the exponent uses i, not 2i"),
    (_positions(lambda i, d: 10000 ** (2 * i / d)), "the exponent's sign is flipped"),
    (_positions(lambda i, d: 1 / 10000 ** (2 * i / d), interleave=False), "in two halves"),
])
def test_positional_encoding_slips_fail_with_their_hint(capsys, fn, hint):
    ok, out = run(capsys, "attention.positional_encoding", fn)
    assert not ok and hint in out, out


# ---------------------------------------------------------------- linear step

def linear_step_reads_old_state(state, q_t, k_t, v_t):
    """The reviewed slip, written naturally: read S, z before adding the new token."""
    S, z = state
    phi_q, phi_k = attention.elu_feature_map(q_t), attention.elu_feature_map(k_t)
    y = phi_q @ S / (phi_q @ z)
    return y, (S + np.outer(phi_k, v_t), z + phi_k)


def linear_step_without_phi(state, q_t, k_t, v_t):
    S, z = state
    S, z = S + np.outer(k_t, v_t), z + k_t
    return q_t @ S / (q_t @ z), (S, z)


@pytest.mark.parametrize("fn, hint", [
    (linear_step_reads_old_state, "y_t uses the old state"),
    (linear_step_without_phi, "phi is missing"),
])
def test_linear_step_slips_fail_with_their_hint(capsys, fn, hint):
    ok, out = run(capsys, "attention.linear_step", fn)
    assert not ok and f"hint: {hint}" in out, out
