"""Chapter 2's exercises: attention (the causal mask, scaled dot-product attention,
a linear-attention step)."""

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


def _sdpa_cases(rng):
    return [
        (*_qkv(rng, 3, 2), None),  # tiny, no mask
        (*_qkv(rng, 5, 4), attention.causal_mask(5)),  # causal
        (*_qkv(rng, 6, 8, L_k=9), None),  # more keys than queries
        (*_qkv(rng, 2, 7, 16), attention.causal_mask(7)),  # a batch, causal
    ]


def _sdpa_hidden(rng):
    L, d = (int(n) for n in rng.integers(2, 10, 2))
    L_q, L_k = (int(n) for n in rng.integers(2, 10, 2))
    return [(*_qkv(rng, int(rng.integers(1, 4)), L, d), attention.causal_mask(L)),
            (*_qkv(rng, L_q, d, L_k=L_k), None)]


def _sdpa_unscaled(Q, K, V, mask):
    return attention.scaled_dot_product_attention(np.asarray(Q) * np.sqrt(np.shape(Q)[-1]), K, V,
                                                  mask=mask)


def _sdpa_wrong_axis(Q, K, V, mask):
    scores = np.asarray(Q) @ np.swapaxes(K, -1, -2) / np.sqrt(np.shape(Q)[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return attention.softmax(scores, axis=-2) @ V


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
    },
))


def _linear_step_case(rng, d_k, d_v, fresh):
    d_phi = d_k
    S = np.zeros((d_phi, d_v)) if fresh else rng.uniform(0, 1, (d_phi, d_v))
    z = np.zeros(d_phi) if fresh else rng.uniform(0.5, 2, d_phi)
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
    return phi_q @ S0 / (phi_q @ z0 + 1e-300), (S, z)


_register(Exercise(
    name="attention.linear_step",
    signature="linear_step(state, q_t, k_t, v_t) -> (y_t, (S_t, z_t)), state = (S, z)",
    reference=lambda state, q, k, v: attention.linear_attention_step(state, q, k, v),
    arg_names=("state", "q_t", "k_t", "v_t"),
    cases=_linear_step_cases,
    hidden=_linear_step_hidden,
    mistakes={
        "y_t is not normalised: divide by phi(q_t) . z_t.": _linear_step_no_normaliser,
        "y_t uses the old state: update S and z with k_t, v_t first, then read them "
        "with q_t.": _linear_step_old_state,
    },
))
