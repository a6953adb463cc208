"""Chapter 2's exercises: attention (the causal mask with a sliding window, scaled
dot-product attention with any mask, a causal attention with three bugs, reading the
position back from the sinusoidal code, a linear-attention step with two bugs,
grouped-query attention, rotary position embeddings)."""

import numpy as np

from seqlearn import attention
from seqlearn.exercises._checker import Exercise, _register


def _window_mask(L, window):
    """Causal, and when ``window`` is an int, only the ``window`` latest keys: i - window < j <= i."""
    mask = attention.causal_mask(L)
    if window is not None:
        i, j = np.arange(L)[:, None], np.arange(L)[None, :]
        mask = mask & (j > i - window)
    return mask


def _mask_cases(rng):
    return [(1, None), (4, None), (7, None), (5, 1), (6, 2), (8, 3), (4, 10)]


def _mask_hidden(rng):
    L1, L2 = (int(L) for L in rng.choice(np.arange(8, 40), 2, replace=False))
    return [(L1, None), (L2, int(rng.integers(2, L2)))]


def _band(L, lower, upper):
    """True where lower <= j - i <= upper."""
    i, j = np.arange(L)[:, None], np.arange(L)[None, :]
    return (j - i >= lower) & (j - i <= upper)


_register(Exercise(
    name="attention.causal_mask",
    signature="causal_mask(L, window) -> (L, L) bool, True where query i may attend to key "
              "j: j <= i, and with an int window only the window latest keys (i - window < j)",
    reference=lambda L, window: _window_mask(L, window),
    arg_names=("L", "window"),
    cases=_mask_cases,
    hidden=_mask_hidden,
    mistakes={
        "the diagonal is missing: token i may (and must) attend to itself, j <= i.":
            lambda L, window: _window_mask(L, window) & ~np.eye(L, dtype=bool),
        "the mask looks at the future: True should be where j <= i (lower triangle).":
            lambda L, window: _window_mask(L, window).T,
        "True and False are swapped: True means 'may attend'.":
            lambda L, window: ~_window_mask(L, window),
        "the window holds one key too many: with window w, query i sees the w keys "
        "i - w + 1, ..., i (itself included), not i - w.":
            lambda L, window: _window_mask(L, None if window is None else window + 1),
        "the window holds one key too few: with window w, query i sees w keys, itself "
        "and the w - 1 before it.":
            lambda L, window: _window_mask(L, None if window is None else window - 1),
        "the window is ignored: with an int window, query i sees only keys "
        "i - window < j <= i.": lambda L, window: _window_mask(L, None),
        "the window reaches into the future: keys j > i stay masked; the window only "
        "limits how far back a query looks.":
            lambda L, window: (_window_mask(L, None) if window is None
                               else _band(L, -(window - 1), window - 1)),
    },
    also_refused=(attention.causal_mask,),
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


def _code_rows(rng, n, d_model, t_max=5000):
    """(P,): n rows of the sinusoidal code (d_model) at random positions 0 <= t < t_max."""
    t = rng.integers(0, t_max, n)
    t[: min(n, 2)] = [0, t_max - 1][: min(n, 2)]     # both ends of the range
    return (attention.sinusoidal_positions(t_max, d_model)[rng.permutation(t)],)


def _position_cases(rng):
    return [_code_rows(rng, 1, 8, 1), _code_rows(rng, 5, 8, 7), _code_rows(rng, 6, 8),
            _code_rows(rng, 20, 16), _code_rows(rng, 10, 64)]


def _position_hidden(rng):
    return [_code_rows(rng, int(rng.integers(3, 30)), 2 * int(rng.integers(4, 33)))
            for _ in range(2)]


def _position_from_code(P):
    """t from the slowest pair, whose angle t w_last stays below 2 pi for every t < 5000
    once d_model >= 8; w_last is the angle of that pair in the code at t = 1."""
    P = np.asarray(P, dtype=float)
    one = attention.sinusoidal_positions(2, P.shape[-1])[1]
    w_last = np.arctan2(one[-2], one[-1])
    angle = np.mod(np.arctan2(P[..., -2], P[..., -1]), 2 * np.pi)
    return np.rint(angle / w_last).astype(int)


def _position_fastest_pair(P):
    return np.rint(np.mod(np.arctan2(P[..., 0], P[..., 1]), 2 * np.pi)).astype(int)


def _position_no_wrap(P):
    d = np.shape(P)[-1]
    return np.rint(np.arctan2(P[..., -2], P[..., -1]) / 10000.0 ** (-(d - 2) / d)).astype(int)


def _position_swapped(P):
    d = np.shape(P)[-1]
    angle = np.mod(np.arctan2(P[..., -1], P[..., -2]), 2 * np.pi)
    return np.rint(angle / 10000.0 ** (-(d - 2) / d)).astype(int)


_register(Exercise(
    name="attention.position_from_code",
    signature="position_from_code(P) -> t (n,) int: P (n, d_model) rows P[t] of the "
              "sinusoidal code, 0 <= t < 5000, d_model >= 8 even",
    reference=_position_from_code,
    arg_names=("P",),
    cases=_position_cases,
    hidden=_position_hidden,
    rtol=0, atol=0.5,   # positions are integers: any answer within 0.5 rounds to the right one
    mistakes={
        "the first pair (w_0 = 1, a period of 2 pi steps) only gives t modulo 2 pi: use "
        "the slowest pair, whose period is longer than 5000 steps.": _position_fastest_pair,
        "np.arctan2 returns an angle in (-pi, pi]: a position past half the slowest period "
        "comes out negative; add 2 pi to negative angles (np.mod(angle, 2 pi)).":
            _position_no_wrap,
        "sin and cos are swapped: column 2i holds sin(t w_i), column 2i + 1 cos(t w_i); "
        "the angle is np.arctan2(sin, cos).": _position_swapped,
    },
    also_refused=(attention.position_rotation,),
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


# ---------------------------------------------------------------- debug: causal attention
def _causal_attention_with(scale_by_d=False, mask_k=1, norm_axis=-1):
    """The exercise's stub with some of its three bugs: scores / d (not sqrt(d)), the
    future masked from k = mask_k = 2 (so key i + 1 leaks in), the weights normalised over
    the queries (axis -2)."""
    def attend(Q, K, V):
        Q, K, V = (np.asarray(a, dtype=float) for a in (Q, K, V))
        L, d = Q.shape[-2], Q.shape[-1]
        scores = Q @ np.swapaxes(K, -1, -2) / (d if scale_by_d else np.sqrt(d))
        future = np.triu(np.ones((L, L), dtype=bool), k=mask_k)
        scores = np.where(future, -np.inf, scores)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = weights / weights.sum(axis=norm_axis, keepdims=True)
        return weights @ V
    return attend


def _causal_attention_cases(rng):
    return [_qkv(rng, 3, 4), _qkv(rng, 6, 8), _qkv(rng, 2, 5, 16), _qkv(rng, 2, 3, 7, 2)]


def _causal_attention_hidden(rng):
    return [_qkv(rng, int(rng.integers(1, 4)), int(rng.integers(3, 10)),
                 int(rng.integers(2, 20))) for _ in range(2)]


_BUGS = {"scale": "the scores are divided by d, not sqrt(d)",
         "mask": "the mask lets key i + 1 in (np.triu(..., k=2)): the future starts at k=1",
         "axis": "the weights are normalised over the queries (axis -2), not over each "
                 "query's keys (axis -1)"}


def _causal_attention_mistakes():
    mistakes = {}
    for scale in (True, False):
        for mask_k in (2, 1):
            for axis in (-2, -1):
                left = [b for b, bad in [("scale", scale), ("mask", mask_k == 2),
                                         ("axis", axis == -2)] if bad]
                if left:
                    text = "; ".join(_BUGS[b] for b in left)
                    mistakes[f"still {len(left)} of the 3 bugs: {text}."] = \
                        _causal_attention_with(scale, mask_k, axis)
    return mistakes


_register(Exercise(
    name="attention.causal_attention",
    signature="causal_attention(Q, K, V) -> (..., L, d_v): Q, K (..., L, d), V (..., L, d_v), "
              "softmax(Q K^T / sqrt(d) + causal mask) V",
    reference=lambda Q, K, V: attention.scaled_dot_product_attention(Q, K, V, causal=True),
    arg_names=("Q", "K", "V"),
    cases=_causal_attention_cases,
    hidden=_causal_attention_hidden,
    rtol=1e-6, atol=1e-9,   # float64 softmax of O(1) scores: rounding ~1e-15, far below
    mistakes=_causal_attention_mistakes(),
    also_refused=(attention.softmax, attention.multi_head_attention,
                  attention.online_softmax_attention),
))


# ---------------------------------------------------------------- grouped-query attention
def _gqa_cases(rng):
    def case(batch, h, g, L, d, d_v):
        return (rng.standard_normal((*batch, h, L, d)), rng.standard_normal((*batch, g, L, d)),
                rng.standard_normal((*batch, g, L, d_v)))
    return [case((), 2, 1, 3, 4, 2), case((), 4, 2, 5, 8, 3), case((), 4, 4, 4, 4, 4),
            case((2,), 6, 3, 5, 8, 2), case((2,), 8, 2, 6, 4, 5)]


def _gqa_hidden(rng):
    out = []
    for _ in range(2):
        g = int(rng.integers(2, 4))
        h = g * int(rng.integers(2, 4))
        L, d, d_v = (int(n) for n in rng.integers(2, 9, 3))
        out.append((rng.standard_normal((2, h, L, d)), rng.standard_normal((2, g, L, d)),
                    rng.standard_normal((2, g, L, d_v))))
    return out


def _causal_softmax_attention(Q, K, V, scale=True, causal=True):
    """softmax(Q K^T / sqrt(d) + M) V in plain NumPy (not a course function, so that the
    grouped-query exercise may call the course's attention on its own groups)."""
    Q, K, V = (np.asarray(a, dtype=float) for a in (Q, K, V))
    s = Q @ np.swapaxes(K, -1, -2) / (np.sqrt(Q.shape[-1]) if scale else 1.0)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True) @ V


def _gqa_with(share="consecutive", **kwargs):
    def attend(Q, K, V):
        h, g = np.shape(Q)[-3], np.shape(K)[-3]
        if share == "consecutive":        # query head i uses key-value head i // (h / g)
            K, V = (np.repeat(np.asarray(a), h // g, axis=-3) for a in (K, V))
        else:                             # np.tile: query head i uses head i % g
            K, V = (np.concatenate([np.asarray(a)] * (h // g), axis=-3) for a in (K, V))
        return _causal_softmax_attention(Q, K, V, **kwargs)
    return attend


_register(Exercise(
    name="attention.gqa",
    signature="gqa(Q, K, V) -> (..., h, L, d_v): Q (..., h, L, d), K (..., g, L, d), "
              "V (..., g, L, d_v), g divides h; query head i uses key-value head "
              "i // (h // g); causal",
    reference=_gqa_with(),
    arg_names=("Q", "K", "V"),
    cases=_gqa_cases,
    hidden=_gqa_hidden,
    rtol=1e-6, atol=1e-9,   # float64 softmax of O(1) scores: rounding ~1e-15, far below
    mistakes={
        "the key-value heads are tiled (np.tile: query head i uses head i % g); here "
        "consecutive query heads share one: heads 0 .. h/g - 1 use key-value head 0, "
        "as np.repeat(K, h // g, axis=-3) gives.": _gqa_with("tiled"),
        "the causal mask is missing: query i attends to keys j <= i only.":
            _gqa_with(causal=False),
        "the scores are not divided by sqrt(d).": _gqa_with(scale=False),
    },
))


# ---------------------------------------------------------------- rotary positions
def _rope(X, direction=1, pairs="adjacent", exponent=2, start=0):
    """Rotary position embedding: the pair (x[2i], x[2i+1]) of row t, read as the complex
    number x[2i] + 1j x[2i+1], times exp(1j t theta_i), theta_i = 10000^(-2i/d)."""
    X = np.asarray(X, dtype=float)
    L, d = X.shape[-2], X.shape[-1]
    theta = 10000.0 ** (-exponent * np.arange(d // 2) / d)
    angle = direction * (np.arange(L)[:, None] + start) * theta            # (L, d/2)
    if pairs == "adjacent":
        z = (X[..., 0::2] + 1j * X[..., 1::2]) * np.exp(1j * angle)
        out = np.empty_like(X)
        out[..., 0::2], out[..., 1::2] = z.real, z.imag
        return out
    z = (X[..., : d // 2] + 1j * X[..., d // 2:]) * np.exp(1j * angle)   # "rotate_half"
    return np.concatenate([z.real, z.imag], axis=-1)


def _rope_cases(rng):
    return [(rng.standard_normal((1, 2)),), (rng.standard_normal((4, 2)),),
            (rng.standard_normal((6, 8)),), (rng.standard_normal((2, 3, 10, 16)),),
            (rng.standard_normal((40, 32)),)]


def _rope_hidden(rng):
    return [(rng.standard_normal((int(rng.integers(2, 4)), int(rng.integers(3, 30)),
                                  2 * int(rng.integers(1, 20)))),) for _ in range(2)]


_register(Exercise(
    name="attention.rope",
    signature="rope(X) -> (..., L, d): row t of X (..., L, d), d even, at position t; each "
              "pair (x[2i], x[2i+1]) rotated by the angle t theta_i, theta_i = 10000^(-2i/d)",
    reference=_rope,
    arg_names=("X",),
    cases=_rope_cases,
    hidden=_rope_hidden,
    rtol=1e-6, atol=1e-9,   # a rotation of O(1) numbers in float64: rounding ~1e-15
    mistakes={
        "each pair turns the wrong way: multiply by exp(+1j t theta_i), i.e. "
        "(x cos - y sin, x sin + y cos).": lambda X: _rope(X, direction=-1),
        "dimension i is paired with i + d/2 (the 'rotate_half' layout of some libraries); "
        "here the pairs are adjacent, (x[2i], x[2i+1]).": lambda X: _rope(X, pairs="half"),
        "the exponent uses i, not 2i: theta_i = 10000^(-2i/d).":
            lambda X: _rope(X, exponent=1),
        "the positions start at 1: the first row is position t = 0 (not rotated).":
            lambda X: _rope(X, start=1),
    },
))
