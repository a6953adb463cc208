"""Chapter 2's checkers (attention.causal_mask, attention.sdpa, attention.causal_attention,
attention.position_from_code, attention.linear_step, attention.gqa, attention.rope):
independent solutions pass; the reviewed loopholes are closed and the common slips fail
with a hint that names them."""

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


def mask_by_loops(L, window):
    return np.array([[j <= i and (window is None or j > i - window) for j in range(L)]
                     for i in range(L)], dtype=bool)


def causal_attention_by_loops(Q, K, V):
    L = np.shape(Q)[-2]
    return sdpa_by_loops(Q, K, V, np.array([[j <= i for j in range(L)] for i in range(L)]))


def position_by_search(P):
    """The nearest row of a table of the code at 0 .. 4999, built by loops (no library)."""
    P = np.asarray(P)
    d = P.shape[-1]
    t = np.arange(5000)[:, None]
    w = 10000.0 ** (-np.arange(0, d, 2) / d)
    table = np.empty((5000, d))
    table[:, 0::2], table[:, 1::2] = np.sin(t * w), np.cos(t * w)
    return np.array([int(np.argmin(((table - p) ** 2).sum(-1))) for p in P])


def gqa_by_loops(Q, K, V):
    """Each query head with its own key-value head, one at a time."""
    h, g = np.shape(Q)[-3], np.shape(K)[-3]
    L = np.shape(Q)[-2]
    causal = np.array([[j <= i for j in range(L)] for i in range(L)])
    return np.stack([sdpa_by_loops(Q[..., i, :, :], K[..., i // (h // g), :, :],
                                   V[..., i // (h // g), :, :], causal)
                     for i in range(h)], axis=-3)


def rope_by_matrices(X):
    """Row t times the block-diagonal rotation by the angles t theta_i."""
    X = np.asarray(X)
    L, d = X.shape[-2:]
    out = np.empty(X.shape)
    for t in range(L):
        R = np.zeros((d, d))
        for i in range(d // 2):
            a = t * 10000.0 ** (-2 * i / d)
            R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
        out[..., t, :] = X[..., t, :] @ R.T
    return out


def linear_step_natural(state, q_t, k_t, v_t):
    S, z = state
    phi_q, phi_k = attention.elu_feature_map(q_t), attention.elu_feature_map(k_t)
    S = S + np.outer(phi_k, v_t)
    z = z + phi_k
    return phi_q @ S / (phi_q @ z), (S, z)


@pytest.mark.parametrize("name, fn", [
    ("attention.sdpa", sdpa_by_loops), ("attention.sdpa", sdpa_big_negative),
    ("attention.causal_mask", mask_by_loops),
    ("attention.causal_attention", causal_attention_by_loops),
    ("attention.position_from_code", position_by_search),
    ("attention.gqa", gqa_by_loops), ("attention.rope", rope_by_matrices),
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


# ---------------------------------------------------------------- the causal mask, windowed

@pytest.mark.parametrize("fn, hint", [
    (lambda L, window: mask_by_loops(L, None if window is None else window + 1),
     "the window holds one key too many"),
    (lambda L, window: mask_by_loops(L, None), "the window is ignored"),
    (lambda L, window: np.array([[j <= i if window is None else abs(i - j) < window
                                  for j in range(L)] for i in range(L)]),
     "the window reaches into the future"),
])
def test_window_slips_fail_with_their_hint(capsys, fn, hint):
    ok, out = run(capsys, "attention.causal_mask", fn)
    assert not ok and f"hint: {hint}" in out, out


def test_the_library_mask_is_refused(capsys):
    ok, out = run(capsys, "attention.causal_mask",
                  lambda L, window: attention.causal_mask(L) & mask_by_loops(L, window))
    assert not ok and "calls the course's own seqlearn.attention.causal_mask" in out, out


# ---------------------------------------------------------------- debug: causal attention

def the_stub(Q, K, V):
    """The exercise's stub, as printed in the chapter (three bugs)."""
    L, d = Q.shape[-2], Q.shape[-1]
    scores = Q @ np.swapaxes(K, -1, -2) / d
    future = np.triu(np.ones((L, L), dtype=bool), k=2)
    scores = np.where(future, -np.inf, scores)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-2, keepdims=True)
    return weights @ V


def stub_with_axis_fixed(Q, K, V):
    L, d = Q.shape[-2], Q.shape[-1]
    scores = Q @ np.swapaxes(K, -1, -2) / d
    scores = np.where(np.triu(np.ones((L, L), dtype=bool), k=2), -np.inf, scores)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True) @ V


def test_the_stub_fails_naming_its_three_bugs(capsys):
    ok, out = run(capsys, "attention.causal_attention", the_stub)
    assert not ok and "hint: still 3 of the 3 bugs" in out, out
    for bug in ("divided by d, not sqrt(d)", "lets key i + 1 in", "over the queries"):
        assert bug in out, out


def test_a_partial_fix_names_the_bugs_left(capsys):
    ok, out = run(capsys, "attention.causal_attention", stub_with_axis_fixed)
    assert not ok and "hint: still 2 of the 3 bugs" in out and "over the queries" not in out


def test_the_library_attention_is_refused_for_the_debug_exercise(capsys):
    ok, out = run(capsys, "attention.causal_attention",
                  lambda Q, K, V: attention.scaled_dot_product_attention(Q, K, V, causal=True))
    assert not ok and "course's own" in out, out


# ---------------------------------------------------------------- position from the code

def position_from_first_pair(P):
    P = np.asarray(P)
    return np.rint(np.mod(np.arctan2(P[:, 0], P[:, 1]), 2 * np.pi)).astype(int)


def position_without_wrap(P):
    P = np.asarray(P)
    d = P.shape[-1]
    return np.rint(np.arctan2(P[:, -2], P[:, -1]) * 10000.0 ** ((d - 2) / d)).astype(int)


@pytest.mark.parametrize("fn, hint", [
    (position_from_first_pair, "the first pair"),
    (position_without_wrap, "np.arctan2 returns an angle in (-pi, pi]"),
])
def test_position_slips_fail_with_their_hint(capsys, fn, hint):
    ok, out = run(capsys, "attention.position_from_code", fn)
    assert not ok and f"hint: {hint}" in out, out


def test_a_table_of_the_library_code_is_refused(capsys):
    def by_table(P):
        table = attention.sinusoidal_positions(5000, np.shape(P)[-1])
        return np.array([int(np.argmin(((table - p) ** 2).sum(-1))) for p in P])
    ok, out = run(capsys, "attention.position_from_code", by_table)
    assert not ok and "sinusoidal_positions" in out, out


def test_the_position_cases_need_the_angle_wrapped():
    """Some case at d_model = 8 holds a position past half the slowest period (pi / w)."""
    cases = EXERCISES["attention.position_from_code"].cases(np.random.default_rng(0))
    w_last = 10000.0 ** (-6 / 8)
    assert any(np.shape(P)[-1] == 8 and position_by_search(P).max() > np.pi / w_last
               for (P,) in cases)


# ---------------------------------------------------------------- grouped-query attention

def gqa_tiled(Q, K, V):
    h, g = np.shape(Q)[-3], np.shape(K)[-3]
    K, V = np.tile(K, (h // g, 1, 1)), np.tile(V, (h // g, 1, 1))
    return attention.scaled_dot_product_attention(Q, K, V, causal=True)


def test_gqa_tiled_heads_fail_with_their_hint(capsys):
    ok, out = run(capsys, "attention.gqa", gqa_tiled)
    assert not ok and "hint: the key-value heads are tiled" in out, out


def test_gqa_may_use_the_course_attention_on_repeated_heads(capsys):
    def repeat_then_attend(Q, K, V):
        r = np.shape(Q)[-3] // np.shape(K)[-3]
        return attention.scaled_dot_product_attention(
            Q, np.repeat(K, r, axis=-3), np.repeat(V, r, axis=-3), causal=True)
    ok, out = run(capsys, "attention.gqa", repeat_then_attend)
    assert ok, out


def test_gqa_cases_hold_mqa_mha_and_a_batch():
    cases = EXERCISES["attention.gqa"].cases(np.random.default_rng(0))
    groups = {(Q.shape[-3], K.shape[-3]) for Q, K, V in cases}
    assert any(g == 1 for h, g in groups) and any(g == h for h, g in groups)
    assert any(1 < g < h for h, g in groups) and any(Q.ndim == 4 for Q, K, V in cases)


# ---------------------------------------------------------------- rotary positions

def rope_rotate_half(X):
    X = np.asarray(X)
    L, d = X.shape[-2:]
    a = np.arange(L)[:, None] * 10000.0 ** (-np.arange(0, d, 2) / d)
    x, y = X[..., : d // 2], X[..., d // 2:]
    return np.concatenate([x * np.cos(a) - y * np.sin(a), x * np.sin(a) + y * np.cos(a)], -1)


def rope_turned_back(X):
    """Rotated by -t theta_i: the rotation's transpose."""
    X = np.asarray(X)
    L, d = X.shape[-2:]
    a = np.arange(L)[:, None] * 10000.0 ** (-np.arange(0, d, 2) / d)
    x, y = X[..., 0::2], X[..., 1::2]
    out = np.empty(X.shape)
    out[..., 0::2], out[..., 1::2] = x * np.cos(a) + y * np.sin(a), -x * np.sin(a) + y * np.cos(a)
    return out


@pytest.mark.parametrize("fn, hint", [
    (rope_rotate_half, "dimension i is paired with i + d/2"),
    (rope_turned_back, "each pair turns the wrong way"),
])
def test_rope_slips_fail_with_their_hint(capsys, fn, hint):
    ok, out = run(capsys, "attention.rope", fn)
    assert not ok and f"hint: {hint}" in out, out


def test_rope_scores_depend_on_the_offset_only():
    """The property the exercise is for: rope(q at t) . rope(k at s) depends on t - s."""
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 16))
    ref = EXERCISES["attention.rope"].reference
    S = ref(np.tile(q, (12, 1))) @ ref(np.tile(k, (12, 1))).T
    # a Toeplitz matrix, to float64 rounding of O(1) sums of 16 products (~1e-15)
    np.testing.assert_allclose(S[1:, 1:], S[:-1, :-1], rtol=0, atol=1e-12)


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
