"""Chapter 2's exercises: attention (the causal mask, scaled dot-product attention with
any mask, the sinusoidal positional encoding, a linear-attention step)."""

import numpy as np

from seqlearn import attention
from seqlearn.exercises._checker import Exercise, _register


def _mask_cases(rng):
    return [(1,), (4,), (7,)]


def _mask_hidden(rng):
    return [(int(L),) for L in rng.choice(np.arange(8, 40), 2, replace=False)]


_register(Exercise(
    name="attention.causal_mask",
    signature="causal_mask(L) -> (L, L) bool, True where query i may attend to key j",
    reference=attention.causal_mask,
    arg_names=("L",),
    cases=_mask_cases,
    hidden=_mask_hidden,
    mistakes={
        "the diagonal is missing: token i may (and must) attend to itself, j <= i.":
            lambda L: np.tril(np.ones((L, L), dtype=bool), -1),
        "the mask looks at the future: True should be where j <= i (lower triangle).":
            lambda L: np.triu(np.ones((L, L), dtype=bool)),
        "True and False are swapped: True means 'may attend'.":
            lambda L: ~attention.causal_mask(L),
    },
))


def _qkv(rng, *shape_q, L_k=None):
    """Random Q (..., L_q, d), K (..., L_k, d), V (..., L_k, 3)."""
    *batch, L_q, d = shape_q
    L_k = L_k or L_q
    return (rng.standard_normal((*batch, L_q, d)), rng.standard_normal((*batch, L_k, d)),
            rng.standard_normal((*batch, L_k, 3)))


def _random_mask(rng, L_q, L_k):
    """A random boolean mask (L_q, L_k), at least one True per row (every query sees a key)."""
    mask = rng.random((L_q, L_k)) < 0.5
    mask[np.arange(L_q), rng.integers(0, L_k, L_q)] = True
    return mask


def _padding_mask(L_q, L_k, n_valid):
    """Keys n_valid .. L_k - 1 are padding: every query may attend to keys 0 .. n_valid - 1."""
    return np.broadcast_to(np.arange(L_k) < n_valid, (L_q, L_k)).copy()


def _sdpa_cases(rng):
    Q, K, V = _qkv(rng, 4, 3)
    large = (30 * Q, 30 * K, V, None)  # scores of order 1e3: exp overflows without the max
    return [
        (*_qkv(rng, 3, 2), None),  # tiny, no mask
        (*_qkv(rng, 5, 4), attention.causal_mask(5)),  # causal
        (*_qkv(rng, 6, 8, L_k=9), None),  # more keys than queries
        (*_qkv(rng, 2, 7, 16), attention.causal_mask(7)),  # a batch, causal
        (*_qkv(rng, 4, 5, L_k=6), _random_mask(rng, 4, 6)),  # any pattern, not a triangle
        (*_qkv(rng, 2, 5, 3, L_k=7), _padding_mask(5, 7, 4)),  # the last 3 keys are padding
        large,
    ]


def _sdpa_hidden(rng):
    L, d = (int(n) for n in rng.integers(2, 10, 2))
    L_q, L_k = (int(n) for n in rng.integers(2, 10, 2))
    return [(*_qkv(rng, int(rng.integers(1, 4)), L, d), attention.causal_mask(L)),
            (*_qkv(rng, L_q, d, L_k=L_k), None),
            (*_qkv(rng, L_q, d, L_k=L_k), _random_mask(rng, L_q, L_k)),
            (*_qkv(rng, L_q, d, L_k=L_k), _padding_mask(L_q, L_k, int(rng.integers(1, L_k + 1))))]


def _scores(Q, K):
    return np.asarray(Q) @ np.swapaxes(K, -1, -2) / np.sqrt(np.shape(Q)[-1])


def _sdpa_unscaled(Q, K, V, mask):
    return attention.scaled_dot_product_attention(np.asarray(Q) * np.sqrt(np.shape(Q)[-1]), K, V,
                                                  mask=mask)


def _sdpa_wrong_axis(Q, K, V, mask):
    scores = _scores(Q, K)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return attention.softmax(scores, axis=-2) @ V


def _sdpa_tril_for_any_mask(Q, K, V, mask):
    if mask is not None:
        mask = np.tril(np.ones(np.shape(mask), dtype=bool))
    return attention.scaled_dot_product_attention(Q, K, V, mask=mask)


def _sdpa_always_tril(Q, K, V, mask):
    return attention.scaled_dot_product_attention(
        Q, K, V, mask=np.tril(np.ones((np.shape(Q)[-2], np.shape(K)[-2]), dtype=bool)))


def _sdpa_masked_to_zero(Q, K, V, mask):
    scores = _scores(Q, K)
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    return attention.softmax(scores) @ V


def _sdpa_mask_added(Q, K, V, mask):
    scores = _scores(Q, K)
    if mask is not None:
        scores = scores + mask
    return attention.softmax(scores) @ V


def _sdpa_no_max_subtraction(Q, K, V, mask):
    scores = _scores(Q, K)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        weights = np.exp(scores)
        return weights / weights.sum(axis=-1, keepdims=True) @ V


def _sdpa_masked_after_softmax(Q, K, V, mask):
    weights = attention.softmax(_scores(Q, K))
    if mask is not None:
        weights = weights * mask
    return weights @ V


_register(Exercise(
    name="attention.sdpa",
    signature="attention(Q, K, V, mask) -> (..., L_q, d_v); mask (L_q, L_k) bool or None",
    reference=lambda Q, K, V, mask: attention.scaled_dot_product_attention(Q, K, V, mask=mask),
    arg_names=("Q", "K", "V", "mask"),
    cases=_sdpa_cases,
    hidden=_sdpa_hidden,
    rtol=1e-6, atol=1e-9,
    mistakes={
        "the scores are not divided by sqrt(d_k).": _sdpa_unscaled,
        "the mask is not applied: masked scores must become -inf before the softmax.":
            lambda Q, K, V, mask: attention.scaled_dot_product_attention(Q, K, V),
        "the softmax runs over the queries (axis -2); each query's weights over the keys "
        "(axis -1) must sum to 1.": _sdpa_wrong_axis,
        "the mask's own entries are ignored: a causal triangle (np.tril) is applied instead. "
        "Use the mask you are given (np.where(mask, scores, -np.inf)); it can be any "
        "pattern, padding for instance.": _sdpa_tril_for_any_mask,
        "a causal triangle is applied even when the mask is None or another pattern: use "
        "the mask you are given, and no mask when it is None.": _sdpa_always_tril,
        "masked scores are set to 0, which still gets weight exp(0 - max) > 0: set them to "
        "-inf (np.where(mask, scores, -np.inf)).": _sdpa_masked_to_zero,
        "the boolean mask is added to the scores (True = 1, False = 0): that shifts scores "
        "by 1 instead of removing keys. Use np.where(mask, scores, -np.inf).": _sdpa_mask_added,
        "the weights are masked after the softmax, so a row no longer sums to 1: mask the "
        "scores (-inf) before the softmax.": _sdpa_masked_after_softmax,
        "exp overflows for large scores (exp(1000) = inf, inf / inf = NaN): subtract each "
        "row's maximum score before the exponential; the softmax does not change.":
            _sdpa_no_max_subtraction,
    },
    also_refused=(attention.softmax, attention.multi_head_attention),
))


def _positions_cases(rng):
    return [(1, 2), (5, 4), (12, 8), (50, 16)]


def _positions_hidden(rng):
    return [(int(rng.integers(2, 60)), 2 * int(rng.integers(1, 12))) for _ in range(2)]


def _positions_with(freq_of, interleave=True, sin_first=True):
    def wrong(L, d_model):
        t = np.arange(L)[:, None]
        w = freq_of(np.arange(d_model // 2), d_model)
        a, b = (np.sin(t * w), np.cos(t * w)) if sin_first else (np.cos(t * w), np.sin(t * w))
        if not interleave:
            return np.concatenate([a, b], axis=1)
        P = np.empty((L, d_model))
        P[:, 0::2], P[:, 1::2] = a, b
        return P
    return wrong


def _positions_per_column(L, d_model):
    t, j = np.arange(L)[:, None], np.arange(d_model)[None, :]
    angle = t / 10000.0 ** (j / d_model)
    return np.where(j % 2 == 0, np.sin(angle), np.cos(angle))


_register(Exercise(
    name="attention.positional_encoding",
    signature="positional_encoding(L, d_model) -> P (L, d_model): P[t, 2i] = sin(t w_i), "
              "P[t, 2i+1] = cos(t w_i), w_i = 10000^(-2i/d_model)",
    reference=attention.sinusoidal_positions,
    arg_names=("L", "d_model"),
    cases=_positions_cases,
    hidden=_positions_hidden,
    rtol=1e-9, atol=1e-12,
    mistakes={
        "sin and cos are swapped: even columns 2i hold sin, odd columns 2i+1 hold cos.":
            _positions_with(lambda i, d: 10000.0 ** (-2 * i / d), sin_first=False),
        "the exponent uses i, not 2i: pair i has w_i = 10000^(-2i/d_model).":
            _positions_with(lambda i, d: 10000.0 ** (-i / d)),
        "the exponent's sign is flipped: w_i = 1 / 10000^(2i/d_model) gets slower with i.":
            _positions_with(lambda i, d: 10000.0 ** (2 * i / d)),
        "the sines and cosines are in two halves [sin | cos]; interleave them: column 2i "
        "is sin, column 2i+1 is cos of the same frequency.":
            _positions_with(lambda i, d: 10000.0 ** (-2 * i / d), interleave=False),
        "each column j has its own frequency 10000^(-j/d_model); the pair (2i, 2i+1) "
        "shares one, w_i = 10000^(-2i/d_model).": _positions_per_column,
    },
))


def _linear_step_case(rng, d_k, d_v, fresh):
    """A state and one token. fresh: the state after one token (S = phi(k_0) v_0^T,
    z = phi(k_0)), the earliest state whose reading is defined (S = z = 0 reads 0/0)."""
    d_phi = d_k
    if fresh:
        k0, v0 = rng.standard_normal(d_k), rng.standard_normal(d_v)
        z = attention.elu_feature_map(k0)
        S = np.outer(z, v0)
    else:
        S, z = rng.uniform(0, 1, (d_phi, d_v)), rng.uniform(0.5, 2, d_phi)
    q, k, v = rng.standard_normal(d_k), rng.standard_normal(d_k), rng.standard_normal(d_v)
    return ((S, z), q, k, v)


def _linear_step_cases(rng):
    return [_linear_step_case(rng, 2, 1, True), _linear_step_case(rng, 3, 2, False),
            _linear_step_case(rng, 4, 4, False), _linear_step_case(rng, 8, 3, False)]


def _linear_step_hidden(rng):
    return [_linear_step_case(rng, int(rng.integers(2, 9)), int(rng.integers(1, 6)), False)
            for _ in range(2)]


def _linear_step_no_normaliser(state, q, k, v):
    y, (S, z) = attention.linear_attention_step(state, q, k, v)
    return attention.elu_feature_map(np.asarray(q)) @ S, (S, z)


def _linear_step_old_state(state, q, k, v):
    _, (S, z) = attention.linear_attention_step(state, q, k, v)
    phi_q = attention.elu_feature_map(np.asarray(q))
    S0, z0 = state
    return phi_q @ S0 / (phi_q @ z0), (S, z)


def _linear_step_no_phi(state, q, k, v):
    S, z = state
    S, z = S + np.outer(k, v), z + np.asarray(k)
    return np.asarray(q) @ S / (np.asarray(q) @ z), (S, z)


_register(Exercise(
    name="attention.linear_step",
    signature="linear_step(state, q_t, k_t, v_t) -> (y_t, (S_t, z_t)), state = (S, z)",
    reference=lambda state, q, k, v: attention.linear_attention_step(state, q, k, v),
    arg_names=("state", "q_t", "k_t", "v_t"),
    cases=_linear_step_cases,
    hidden=_linear_step_hidden,
    outputs=("y_t", ("S_t", "z_t")),
    mistakes={
        "y_t is not normalised: divide by phi(q_t) . z_t.": _linear_step_no_normaliser,
        "y_t uses the old state: update S and z with k_t, v_t first, then read them "
        "with q_t.": _linear_step_old_state,
        "phi is missing: S_t adds phi(k_t) v_t^T (not k_t v_t^T) and y_t reads with "
        "phi(q_t) = elu(q_t) + 1.": _linear_step_no_phi,
    },
))
