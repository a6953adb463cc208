"""Attention: softmax attention, additive attention, multi-head attention, positions, the
KV cache, the online softmax, linear attention, and a small causal Transformer (torch).

Scaled dot-product attention (Vaswani et al. 2017), one query row i at a time:

    s_ij = q_i . k_j / sqrt(d_k) + m_ij            (m_ij = -inf where i may not see j)
    a_ij = exp(s_ij) / sum_j' exp(s_ij')           (softmax over the keys j)
    y_i  = sum_j a_ij v_j                          i.e.  Y = softmax(Q K^T / sqrt(d_k) + M) V

Multi-head attention: project, split d_model into n_heads pieces of d_head,
attend in each head, merge, project back (weights shaped like torch's, x @ W.T):

    Q = x W_q^T + b_q,  K = x W_k^T + b_k,  V = x W_v^T + b_v
    y = merge(attention(split(Q), split(K), split(V))) W_o^T + b_o

Causal decoding with a KV cache: at step t only the new query q_t is needed,
and the keys and values of the past never change, so they are kept:

    K_cache <- [K_cache; k_t],  V_cache <- [V_cache; v_t],  y_t = attention(q_t, K_cache, V_cache)

Additive attention (Bahdanau et al. 2015) scores with an MLP instead of a dot product,
e_ij = v^T tanh(W s_i + U h_j) (``additive_attention``). The online softmax (Milakov &
Gimelshein 2018; FlashAttention, Dao et al. 2022) computes the same Y as above block by
block over the keys with a running max and sum, never forming the L_q x L_k matrix
(``online_softmax_attention``).

Linear attention (Katharopoulos et al. 2020): replace exp(q . k) by phi(q) . phi(k)
with a positive feature map phi (here elu(x) + 1); then the sums factorise:

    y_i = sum_{j<=i} (phi(q_i) . phi(k_j)) v_j / sum_{j<=i} phi(q_i) . phi(k_j)
        = phi(q_i)^T S_i / (phi(q_i)^T z_i),
    S_i = S_{i-1} + phi(k_i) v_i^T,   z_i = z_{i-1} + phi(k_i),   S_{-1} = 0, z_{-1} = 0

a recurrence with a (d_k x d_v) matrix state: attention without the softmax is an RNN.

Layout: Q (..., L_q, d_k), K (..., L_k, d_k), V (..., L_k, d_v); sequences
x (batch, L, d_model), batch first, time on axis -2 (unlike ``recurrence``,
where time is the last axis). Float32 inputs stay float32, anything else
becomes float64.

Glossary (code -> math)
    Q, K, V           Q, K, V: queries, keys, values, one row per position
    L_q, L_k          number of queries, number of keys
    d_k, d_v          key (and query) width, value width
    scores            S = Q K^T / sqrt(d_k) + M, shape (..., L_q, L_k)
    weights           A = softmax(S), each row sums to 1 (or is all 0, see ``softmax``)
    mask              True = may attend; or an additive float M (0 or -inf)
    W_q, W_k, W_v     W_q, W_k, W_v (d_model, d_model); W_o the output projection
    b_q, b_k, b_v, b_o  biases (d_model,)
    n_heads, d_head   h and d_model / h
    phi, feature_map  phi, the feature map of linear attention
    S, z              S_t = sum_{j<=t} phi(k_j) v_j^T (d_k, d_v), z_t = sum_{j<=t} phi(k_j) (d_k,)

NaN or inf in Q, K, V, x or a weight matrix is not an error here: it propagates
(as NaN) as in torch; through a causal mask it reaches every output, since the mask
multiplies it by 0 and 0 * NaN = NaN. Flags are ``bool``;
sizes above ``seqlearn._checks.MAX_ELEMENTS`` numbers are refused.
"""

import math
from functools import partial

import numpy as np
import torch

from seqlearn._checks import (MAX_ELEMENTS, affordable, flag, function, integer, layer_input,
                              numeric_array, token_ids)

# Attention keeps float32 in float32, as torch does (the tests compare both).
_float_array = partial(numeric_array, keep_float32=True)


def softmax(z, axis=-1):
    """Numerically stable softmax: ``softmax(z)_j = exp(z_j - max z) / sum_j' exp(z_j' - max z)``.

    Subtracting the maximum changes nothing mathematically and keeps exp from
    overflowing. Entries of -inf (masked) get weight 0. A slice that is -inf
    everywhere (a query that may attend to nothing) is 0/0 mathematically;
    here it returns **all zeros**, so that such a query's attention output is
    the zero vector (torch's scaled_dot_product_attention does the same for a
    boolean mask). NaN or +inf in ``z`` give NaN.

    z    : (...), any shape; float32 stays float32
    axis : int, the axis to normalise over
    returns (...), same shape as z; along ``axis`` it sums to 1 (or is all 0)
    """
    z = _float_array("z", z, min_ndim=1, what="an array with at least one axis")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) \
            or not -z.ndim <= axis < z.ndim:
        raise ValueError(f"axis: expected an integer in [{-z.ndim}, {z.ndim}), got {axis!r}")
    m = np.max(z, axis=axis, keepdims=True, initial=-np.inf)  # initial: no keys at all
    m = np.where(np.isneginf(m), 0, m)  # an all -inf slice: exp(-inf - 0) = 0, no NaN
    e = np.exp(z - m)
    total = np.sum(e, axis=axis, keepdims=True)
    return e / np.where(total == 0, 1, total)


def causal_mask(L_q, L_k=None):
    """Boolean causal mask, True = may attend: ``mask[i, j] = j <= i + (L_k - L_q)``.

    The last query is aligned with the last key ("bottom right"), so the same
    mask serves training (L_q = L_k: the lower triangle, query i sees keys
    0..i) and decoding with a cache (L_q new queries after L_k - L_q cached
    keys). If L_q > L_k the first L_q - L_k queries see no key at all.
    Note: torch's ``is_causal=True`` aligns top left instead (j <= i); the two
    agree only when L_q = L_k.

    L_q : int >= 0, number of queries
    L_k : int >= 0, number of keys; L_q by default
    returns (L_q, L_k) bool
    """
    L_q = integer("L_q", L_q, 0)
    L_k = L_q if L_k is None else integer("L_k", L_k, 0)
    affordable("L_q", L_q * L_k, what="mask entries (L_q L_k)")
    affordable("L_k", L_k, what="keys")        # an empty mask (L_q = 0) still builds arange(L_k)
    affordable("L_q", L_q, what="queries")
    i = np.arange(L_q)[:, None]
    j = np.arange(L_k)[None, :]
    return j <= i + (L_k - L_q)


def _qkv(Q, K, V):
    """Validated Q, K, V of one float dtype (float32 only if all three are float32)."""
    Q = _float_array("Q", Q, 2, "shape (..., L_q, d_k)")
    K = _float_array("K", K, 2, "shape (..., L_k, d_k)")
    V = _float_array("V", V, 2, "shape (..., L_k, d_v)")
    d_k = Q.shape[-1]
    if d_k == 0:
        raise ValueError(f"Q: expected a key width d_k >= 1 (the scores divide by sqrt(d_k)), "
                         f"got shape {Q.shape}")
    if K.shape[-1] != d_k:
        raise ValueError(f"K: expected shape (..., {K.shape[-2]}, {d_k}) to match Q's key dim "
                         f"{d_k}, got {K.shape}")
    if V.shape[-2] != K.shape[-2]:
        raise ValueError(f"V: expected shape (..., {K.shape[-2]}, d_v), one value per key "
                         f"(K has {K.shape[-2]}), got {V.shape}")
    try:
        np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    except ValueError:
        raise ValueError(f"K: expected batch dims broadcastable with Q's {Q.shape[:-2]} and "
                         f"V's {V.shape[:-2]}, got {K.shape[:-2]}") from None
    dtype = np.result_type(Q, K, V)
    return Q.astype(dtype, copy=False), K.astype(dtype, copy=False), V.astype(dtype, copy=False)


def _mask_array(mask):
    """``mask`` as an ndarray of its own dtype (bool stays bool), or refused."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    try:
        return np.asarray(mask)
    except ValueError as exc:
        raise ValueError(f"mask: expected a bool or float array, got {type(mask).__name__} "
                         f"({exc})") from None


def scaled_dot_product_attention(Q, K, V, mask=None, causal=False, return_weights=False):
    """``Y = softmax(Q K^T / sqrt(d_k) + M) V``, the attention of every query to every key.

    Q    : (..., L_q, d_k)
    K    : (..., L_k, d_k)
    V    : (..., L_k, d_v); the batch dims ... of Q, K, V broadcast
    mask : None, or broadcastable to (..., L_q, L_k): bool (True = may attend,
           torch's convention for scaled_dot_product_attention) or float, added
           to the scores (0 = attend, -inf = not)
    causal : bool, also apply ``causal_mask(L_q, L_k)`` (bottom-right aligned)
    return_weights : bool, also return the attention weights A
    returns Y (..., L_q, d_v), and A (..., L_q, L_k) if return_weights.
    A query that may attend to no key gets Y = 0 and A = 0 (see ``softmax``).
    """
    Q, K, V = _qkv(Q, K, V)
    causal = flag("causal", causal)
    return_weights = flag("return_weights", return_weights)
    L_q, L_k = Q.shape[-2], K.shape[-2]
    batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2])
    affordable("Q", int(np.prod(batch, dtype=float)) * L_q * L_k, what="scores (... L_q L_k)")
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]).astype(Q.dtype)
    if mask is not None:
        mask = _mask_array(mask)
        if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.floating)):
            raise ValueError(f"mask: expected bool (True = may attend) or float (added to the "
                             f"scores), got dtype {mask.dtype}")
        try:
            if np.broadcast_shapes(mask.shape, scores.shape) != scores.shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"mask: expected a shape broadcastable to the scores' "
                             f"(..., {L_q}, {L_k}), got {mask.shape}") from None
        if mask.dtype == bool:
            scores = np.where(mask, scores, -np.inf)
        else:
            scores = scores + mask.astype(scores.dtype)
    if causal:
        scores = np.where(causal_mask(L_q, L_k), scores, -np.inf)
    weights = softmax(scores, axis=-1)
    Y = weights @ V
    return (Y, weights) if return_weights else Y


def _scores_mask(mask, shape):
    """``mask`` as an additive float array broadcastable to ``shape`` (0 or -inf for bool)."""
    mask = _mask_array(mask)
    if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.floating)):
        raise ValueError(f"mask: expected bool (True = may attend) or float (added to the "
                         f"scores), got dtype {mask.dtype}")
    try:
        if np.broadcast_shapes(mask.shape, shape) != tuple(shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"mask: expected a shape broadcastable to the scores' "
                         f"(..., {shape[-2]}, {shape[-1]}), got {mask.shape}") from None
    return np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask.astype(float)


def additive_attention(S, H, W, U, v, mask=None, return_weights=False):
    """Additive (Bahdanau) attention: a small MLP scores each (query, key) pair.

        e_ij     = v^T tanh(W s_i + U h_j)           (Bahdanau et al. 2015, eq. 6)
        alpha_ij = exp(e_ij) / sum_j' exp(e_ij')     (softmax over the keys j)
        c_i      = sum_j alpha_ij h_j                (the context vector of query i)

    In the encoder-decoder of Bahdanau et al., s_i is the decoder state s_{i-1} before
    output i and h_j the encoder's annotation of source word j: cross-attention, queries
    from one sequence, keys and values from another. The values are the keys here (h_j).

    S : (..., L_q, d_s), the queries s_i
    H : (..., L_k, d_h), the keys and values h_j (batch dims ... broadcast with S's)
    W : (d_a, d_s);  U : (d_a, d_h);  v : (d_a,), the scoring MLP
    mask : None or bool/float broadcastable to (..., L_q, L_k), as in
           ``scaled_dot_product_attention``
    return_weights : bool, also return alpha
    returns c (..., L_q, d_h), and alpha (..., L_q, L_k) if return_weights.
    Memory O(L_q L_k d_a): the tanh is taken for every pair.
    """
    S = numeric_array("S", S, 2, "shape (..., L_q, d_s)")
    H = numeric_array("H", H, 2, "shape (..., L_k, d_h)")
    W = numeric_array("W", W, 2, "shape (d_a, d_s)")
    U = numeric_array("U", U, 2, "shape (d_a, d_h)")
    v = numeric_array("v", v, 1, "shape (d_a,)")
    return_weights = flag("return_weights", return_weights)
    if W.ndim != 2 or W.shape[1] != S.shape[-1] or W.shape[0] == 0:
        raise ValueError(f"W: expected shape (d_a, {S.shape[-1]}) (d_s = S's width), "
                         f"got {W.shape}")
    if U.shape != (W.shape[0], H.shape[-1]):
        raise ValueError(f"U: expected shape ({W.shape[0]}, {H.shape[-1]}) (d_a, d_h), "
                         f"got {U.shape}")
    if v.shape != (W.shape[0],):
        raise ValueError(f"v: expected shape ({W.shape[0]},) (d_a), got {v.shape}")
    try:
        batch = np.broadcast_shapes(S.shape[:-2], H.shape[:-2])
    except ValueError:
        raise ValueError(f"H: expected batch dims broadcastable with S's {S.shape[:-2]}, "
                         f"got {H.shape[:-2]}") from None
    L_q, L_k = S.shape[-2], H.shape[-2]
    affordable("H", int(np.prod(batch, dtype=float)) * L_q * L_k * W.shape[0],
               what="pair features (batch L_q L_k d_a)")
    hidden = np.tanh((S @ W.T)[..., :, None, :] + (H @ U.T)[..., None, :, :])  # (..., L_q, L_k, d_a)
    e = hidden @ v                                                             # (..., L_q, L_k)
    if mask is not None:
        e = e + _scores_mask(mask, e.shape)
    alpha = softmax(e, axis=-1)
    c = alpha @ H
    return (c, alpha) if return_weights else c


def online_softmax_attention(Q, K, V, block_size=64, causal=False):
    """Exact softmax attention computed over blocks of keys, never forming the L_q x L_k
    matrix: the online softmax (Milakov & Gimelshein 2018) behind FlashAttention (Dao et
    al. 2022). For each block B of keys, with running max m_i, sum l_i and output a_i:

        s_ij  = q_i . k_j / sqrt(d_k)          for j in B (and j allowed by the causal mask)
        m_new = max(m_i, max_{j in B} s_ij)
        l_i   <- exp(m_i - m_new) l_i + sum_{j in B} exp(s_ij - m_new)
        a_i   <- exp(m_i - m_new) a_i + sum_{j in B} exp(s_ij - m_new) v_j
        m_i   <- m_new;                 at the end  y_i = a_i / l_i

    Rescaling by exp(m_old - m_new) keeps every exponent <= 0 (no overflow) and gives
    the same y as ``scaled_dot_product_attention`` up to rounding. Extra memory:
    O(L_q (block_size + d_v)), linear in the length.

    Q : (..., L_q, d_k);  K : (..., L_k, d_k);  V : (..., L_k, d_v)
    block_size : int >= 1, keys per block
    causal : bool, mask as ``causal_mask(L_q, L_k)`` (bottom-right aligned)
    returns Y (..., L_q, d_v); a query that may attend to no key gets 0, as in ``softmax``.
    """
    Q, K, V = _qkv(Q, K, V)
    block_size = integer("block_size", block_size)
    causal = flag("causal", causal)
    L_q, L_k = Q.shape[-2], K.shape[-2]
    batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    scale = np.sqrt(Q.shape[-1]).astype(Q.dtype)
    m = np.full(batch + (L_q, 1), -np.inf, Q.dtype)         # running max of the scores
    l = np.zeros(batch + (L_q, 1), Q.dtype)                 # running sum of exp(s - m)
    acc = np.zeros(batch + (L_q, V.shape[-1]), Q.dtype)     # running sum of exp(s - m) v
    rows = np.arange(L_q)[:, None] + (L_k - L_q)            # query i sees keys j <= rows[i]
    for start in range(0, L_k, block_size):
        stop = min(start + block_size, L_k)
        s = Q @ np.swapaxes(K[..., start:stop, :], -1, -2) / scale   # (..., L_q, B)
        if causal:
            s = np.where(np.arange(start, stop)[None, :] <= rows, s, -np.inf)
        m_new = np.maximum(m, np.max(s, axis=-1, keepdims=True))
        m_safe = np.where(np.isneginf(m_new), 0, m_new)     # no key yet: exp(-inf) = 0
        p = np.exp(s - m_safe)
        rescale = np.exp(m - m_safe)
        l = rescale * l + np.sum(p, axis=-1, keepdims=True)
        acc = rescale * acc + p @ V[..., start:stop, :]
        m = m_new
    return acc / np.where(l == 0, 1, l)


def position_rotation(k, d_model):
    """The rotation R_k with ``P[t + k] = R_k P[t]`` for the sinusoidal code P of
    ``sinusoidal_positions`` (every t): block diagonal, one 2x2 block per frequency
    omega_i = 10000^(-2i/d_model), acting on the pair (sin, cos) = (P[t, 2i], P[t, 2i+1]):

        [sin((t+k) w)]   [ cos(k w)  sin(k w)] [sin(t w)]
        [cos((t+k) w)] = [-sin(k w)  cos(k w)] [cos(t w)]

    It depends on the offset k only, not on t, so "k steps back" is one linear map: a
    dot product P[t] . P[t + k] = sum_i cos(k omega_i) depends on k alone.

    k : int (any sign), the offset;  d_model : int >= 2, even
    returns R_k (d_model, d_model), orthogonal
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k: expected an integer offset, got {k!r}")
    d_model = integer("d_model", d_model)
    affordable("d_model", d_model * d_model, what="numbers (d_model^2)")
    if d_model % 2:
        raise ValueError(f"d_model: expected an even number (sin and cos pairs), got {d_model}")
    angle = int(k) * _frequencies(d_model)
    R = np.zeros((d_model, d_model))
    i = np.arange(0, d_model, 2)
    R[i, i], R[i, i + 1] = np.cos(angle), np.sin(angle)
    R[i + 1, i], R[i + 1, i + 1] = -np.sin(angle), np.cos(angle)
    return R


def split_heads(x, n_heads):
    """Cut the feature axis into heads: ``(..., L, h * d_head) -> (..., h, L, d_head)``.

    Head n gets features n*d_head ... (n+1)*d_head - 1 (torch's convention).

    x       : (..., L, d_model), d_model divisible by n_heads
    n_heads : int >= 1, h
    returns (..., h, L, d_model // h)
    """
    x = _float_array("x", x, 2, "shape (..., L, d_model)")
    n_heads = integer("n_heads", n_heads)
    *batch, L, d_model = x.shape
    if d_model % n_heads:
        raise ValueError(f"n_heads: expected a divisor of d_model = {d_model}, got {n_heads}")
    return np.swapaxes(x.reshape(*batch, L, n_heads, d_model // n_heads), -2, -3)


def merge_heads(x):
    """Undo ``split_heads``: ``(..., h, L, d_head) -> (..., L, h * d_head)``.

    x : (..., h, L, d_head)
    returns (..., L, h * d_head)
    """
    x = _float_array("x", x, 3, "shape (..., n_heads, L, d_head)")
    *batch, h, L, d_head = x.shape
    return np.swapaxes(x, -2, -3).reshape(*batch, L, h * d_head)


def _projections(x, W_q, W_k, W_v, W_o, n_heads, b_q, b_k, b_v, b_o):
    """Validated (x, [W_q, W_k, W_v, W_o], [b_q, b_k, b_v, b_o]); biases default to 0."""
    x = _float_array("x", x, 3, "shape (batch, L, d_model)")
    if x.ndim != 3:
        raise ValueError(f"x: expected shape (batch, L, d_model), got {x.shape}")
    d = x.shape[-1]
    n_heads = integer("n_heads", n_heads)
    if d % n_heads:
        raise ValueError(f"n_heads: expected a divisor of d_model = {d}, got {n_heads}")
    Ws, bs = [], []
    for name, W in [("W_q", W_q), ("W_k", W_k), ("W_v", W_v), ("W_o", W_o)]:
        W = _float_array(name, W)
        if W.shape != (d, d):
            raise ValueError(f"{name}: expected shape ({d}, {d}) (d_model = {d}, applied as "
                             f"x @ {name}.T), got {W.shape}")
        Ws.append(W)
    for name, b in [("b_q", b_q), ("b_k", b_k), ("b_v", b_v), ("b_o", b_o)]:
        if b is not None:
            b = _float_array(name, b)
            if b.shape != (d,):
                raise ValueError(f"{name}: expected shape ({d},), got {b.shape}")
        bs.append(b)
    dtype = np.result_type(x, *Ws, *[b for b in bs if b is not None])
    bs = [np.zeros(d, dtype) if b is None else b.astype(dtype, copy=False) for b in bs]
    return x.astype(dtype, copy=False), [W.astype(dtype, copy=False) for W in Ws], bs


def multi_head_attention(x, W_q, W_k, W_v, W_o, n_heads, causal=False,
                         b_q=None, b_k=None, b_v=None, b_o=None, return_weights=False):
    """Multi-head self-attention, as ``torch.nn.MultiheadAttention(batch_first=True)``.

        Q = x W_q^T + b_q,  K = x W_k^T + b_k,  V = x W_v^T + b_v
        head_n = softmax(Q_n K_n^T / sqrt(d_head) + M) V_n     (Q_n: the n-th d_head columns)
        y = [head_1, ..., head_h] W_o^T + b_o

    x                  : (batch, L, d_model)
    W_q, W_k, W_v, W_o : (d_model, d_model) each (torch's in_proj_weight is
                         the three stacked: [W_q; W_k; W_v])
    n_heads            : int, h, a divisor of d_model
    causal             : bool, position t attends to positions <= t only
    b_q, b_k, b_v, b_o : (d_model,) each, or None for zero
    return_weights     : bool, also return every head's attention weights
    returns y (batch, L, d_model), and A (batch, h, L, L) if return_weights

    NaN: a NaN or inf at one step makes every output NaN, earlier steps too: the causal
    mask gives it weight 0, and 0 * NaN = NaN in the weighted sum (IEEE 754). The
    recurrent forms keep a NaN causal.
    """
    x, (W_q, W_k, W_v, W_o), (b_q, b_k, b_v, b_o) = _projections(
        x, W_q, W_k, W_v, W_o, n_heads, b_q, b_k, b_v, b_o)
    Q = split_heads(x @ W_q.T + b_q, n_heads)
    K = split_heads(x @ W_k.T + b_k, n_heads)
    V = split_heads(x @ W_v.T + b_v, n_heads)
    return_weights = flag("return_weights", return_weights)
    heads, weights = scaled_dot_product_attention(Q, K, V, causal=causal, return_weights=True)
    y = merge_heads(heads) @ W_o.T + b_o
    return (y, weights) if return_weights else y


class KVCache:
    """The keys and values seen so far, one row per past token: K (..., t, d_k), V (..., t, d_v).

    ``append(k_t, v_t)`` adds a row, ``attend(q_t)`` is
    ``softmax(q_t K^T / sqrt(d_k)) V`` over every cached row (all of them are
    in the past, so no mask is needed). Memory grows by d_k + d_v numbers per
    token and per head: the price of softmax attention at decoding time.

    The rows live in preallocated buffers of ``capacity`` rows (as real inference
    engines do): an append writes one row in place, O(d) work. When the buffers are
    full they are reallocated at twice the size, so t appends copy O(t) rows in all
    (growing by concatenation would copy O(t^2)). ``K`` and ``V`` are views of the
    filled rows; ``n_numbers`` and ``n_bytes`` count those rows only.

    capacity : int >= 1, rows to allocate at the first append (16 by default)
    """

    def __init__(self, capacity=16):
        self.capacity = integer("capacity", capacity, maximum=MAX_ELEMENTS)
        self._K = self._V = None
        self.length = 0

    @property
    def K(self):
        """The cached keys (..., t, d_k), a view of the buffer (None before any append)."""
        return None if self._K is None else self._K[..., :self.length, :]

    @property
    def V(self):
        """The cached values (..., t, d_v), a view of the buffer (None before any append)."""
        return None if self._V is None else self._V[..., :self.length, :]

    @K.setter
    def K(self, K):
        """Fill the cache with given keys (..., t, d_k) (a benchmark's shortcut); set V too."""
        self._K = _float_array("K", K, 2, "shape (..., t, d_k)").copy()
        self.length = self._K.shape[-2]

    @V.setter
    def V(self, V):
        """Fill the cache with given values (..., t, d_v), one per cached key."""
        V = _float_array("V", V, 2, "shape (..., t, d_v)")
        if self._K is None or V.shape[:-1] != self._K.shape[:-1]:
            raise ValueError(f"V: expected shape (..., t, d_v) with (..., t) = "
                             f"{None if self._K is None else self._K.shape[:-1]} like K, "
                             f"got {V.shape}")
        self._V = V.copy()

    def append(self, k_t, v_t):
        """Add one token: write k_t, v_t into row t of the buffers (K <- [K; k_t], V <- [V; v_t]).

        k_t : (..., d_k)
        v_t : (..., d_v), same leading dims ... as k_t
        """
        k_t = _float_array("k_t", k_t, 1, "shape (..., d_k)")
        v_t = _float_array("v_t", v_t, 1, "shape (..., d_v)")
        if v_t.shape[:-1] != k_t.shape[:-1]:
            raise ValueError(f"v_t: expected shape {k_t.shape[:-1]} + (d_v,) to match k_t's "
                             f"leading dims, got {v_t.shape}")
        if self._K is None:
            affordable("capacity", self.capacity * (k_t.size + v_t.size),
                       what="cache numbers (capacity (d_k + d_v))")
            self._K = np.empty(k_t.shape[:-1] + (self.capacity, k_t.shape[-1]), k_t.dtype)
            self._V = np.empty(v_t.shape[:-1] + (self.capacity, v_t.shape[-1]), v_t.dtype)
        else:
            expected = self._K.shape[:-2] + self._K.shape[-1:]
            if k_t.shape != expected:
                raise ValueError(f"k_t: expected shape {expected} like the cached keys, got "
                                 f"{k_t.shape}")
            if v_t.shape[-1] != self._V.shape[-1]:
                raise ValueError(f"v_t: expected last dim {self._V.shape[-1]} like the cached "
                                 f"values, got {v_t.shape[-1]}")
        if self.length == self._K.shape[-2]:          # full: double the buffers, copy once
            affordable("k_t", 2 * (self._K.size + self._V.size),
                       what="cache numbers after doubling")
            grow = max(self._K.shape[-2], self.capacity)
            self._K = np.concatenate([self._K, np.empty(self._K.shape[:-2] + (
                grow, self._K.shape[-1]), self._K.dtype)], axis=-2)
            self._V = np.concatenate([self._V, np.empty(self._V.shape[:-2] + (
                grow, self._V.shape[-1]), self._V.dtype)], axis=-2)
        dtype = np.result_type(self._K, k_t, v_t)
        if dtype != self._K.dtype:                    # a float64 token after float32 ones
            self._K, self._V = self._K.astype(dtype), self._V.astype(dtype)
        self._K[..., self.length, :] = k_t
        self._V[..., self.length, :] = v_t
        self.length += 1

    def attend(self, q_t):
        """``y_t = softmax(q_t K^T / sqrt(d_k)) V`` for one query per sequence (and head).

        q_t : (..., d_k), same leading dims as the cached keys
        returns y_t (..., d_v)
        """
        if self._K is None:
            raise ValueError("q_t: expected a query after at least one append, "
                             "got one for an empty cache")
        q_t = _float_array("q_t", q_t, 1, "shape (..., d_k)")
        expected = self._K.shape[:-2] + self._K.shape[-1:]
        if q_t.shape != expected:
            raise ValueError(f"q_t: expected shape {expected} like the cached keys, "
                             f"got {q_t.shape}")
        return scaled_dot_product_attention(q_t[..., None, :], self.K, self.V)[..., 0, :]

    @property
    def n_numbers(self):
        """How many numbers the cache holds: K.size + V.size (the filled rows)."""
        return 0 if self._K is None else self.K.size + self.V.size

    @property
    def n_bytes(self):
        """How many bytes the cache holds: K.nbytes + V.nbytes (the filled rows)."""
        return 0 if self._K is None else self.K.nbytes + self.V.nbytes


def kv_cache_numbers(t, d_model, n_layers=1):
    """Numbers a Transformer's KV cache holds after t tokens: 2 n_layers t d_model
    (a key and a value of width d_model = heads x d_head per token and layer; batch 1).

    t : int >= 0 or an integer array of them;  d_model, n_layers : int >= 1.
    ``KVCache.n_numbers`` after t appends is this with n_layers = 1.
    """
    d_model = integer("d_model", d_model)
    n_layers = integer("n_layers", n_layers)
    t_arr = np.asarray(t)
    if not np.issubdtype(t_arr.dtype, np.integer) or np.any(t_arr < 0):
        raise ValueError(f"t: expected non-negative integers, got {t!r:.60}")
    if not t_arr.ndim:
        return 2 * n_layers * int(t) * d_model          # a Python int: exact for any t
    most = np.iinfo(np.int64).max // (2 * n_layers * d_model)
    if t_arr.size and int(t_arr.max()) > most:          # the int64 product would wrap
        raise ValueError(f"t: expected at most {most} tokens in an array (the count "
                         f"2 n_layers t d_model must fit in int64), got {int(t_arr.max())}")
    return 2 * n_layers * t_arr.astype(np.int64) * d_model


def kv_cache_decode(x, W_q, W_k, W_v, W_o, n_heads, b_q=None, b_k=None, b_v=None, b_o=None):
    """Causal multi-head self-attention computed one token at a time with a ``KVCache``.

    For t = 0 .. L-1:  q_t, k_t, v_t = x_t W_q^T + b_q, x_t W_k^T + b_k, x_t W_v^T + b_v
    (split into heads); cache.append(k_t, v_t); y_t = [cache.attend(q_t)] W_o^T + b_o.
    Equals ``multi_head_attention(x, ..., causal=True)``, but token t costs
    O(t d_model) instead of recomputing all t x t scores.

    x, weights, biases, n_heads : as in ``multi_head_attention``
    returns y (batch, L, d_model) and the final ``KVCache`` (K, V of shape
    (batch, h, L, d_head) each; ``cache.n_numbers`` = 2 batch L d_model,
    ``cache.n_bytes`` its size in bytes)
    """
    x, (W_q, W_k, W_v, W_o), (b_q, b_k, b_v, b_o) = _projections(
        x, W_q, W_k, W_v, W_o, n_heads, b_q, b_k, b_v, b_o)
    batch, L, d = x.shape
    d_head = d // n_heads
    cache = KVCache()
    y = np.zeros_like(x)
    for t in range(L):
        x_t = x[:, t, :]
        q_t = (x_t @ W_q.T + b_q).reshape(batch, n_heads, d_head)
        k_t = (x_t @ W_k.T + b_k).reshape(batch, n_heads, d_head)
        v_t = (x_t @ W_v.T + b_v).reshape(batch, n_heads, d_head)
        cache.append(k_t, v_t)
        y[:, t, :] = cache.attend(q_t).reshape(batch, d) @ W_o.T + b_o
    return y, cache


def elu_feature_map(x):
    """``phi(x) = elu(x) + 1``: x + 1 for x > 0, exp(x) for x <= 0; always > 0.

    The feature map of Katharopoulos et al. (2020). Positivity keeps the
    linear-attention weights phi(q) . phi(k) positive, so the normaliser is
    never zero (until exp underflows, for x below about -745, or -103 in float32).

    x : (...), any shape
    returns (...), same shape and float dtype
    """
    x = _float_array("x", x)
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))


def _feature_map_args(Q, K, V, feature_map):
    """Validated Q, K, V and phi(Q), phi(K)."""
    Q, K, V = _qkv(Q, K, V)
    if not callable(feature_map):
        raise ValueError(f"feature_map: expected a function (..., d_k) -> (..., d_phi), "
                         f"got {type(feature_map).__name__}")
    phi_Q, phi_K = _phi(feature_map, Q, "Q"), _phi(feature_map, K, "K")
    return Q, K, V, phi_Q, phi_K


def _phi(feature_map, x, name):
    """``feature_map(x)`` as a float array keeping every axis of x but the last, or refused."""
    what = f"a function (..., d_k) -> (..., d_phi) of numbers (applied to {name})"
    out = numeric_array("feature_map", feature_map(x), what=what, keep_float32=True)
    if out.ndim != x.ndim or out.shape[:-1] != x.shape[:-1] or out.shape[-1] == 0:
        raise ValueError(f"feature_map: expected {what} keeping every axis but the last, got "
                         f"{x.shape} -> {out.shape}")
    return out


def linear_attention_parallel(Q, K, V, causal=True, feature_map=elu_feature_map):
    """Linear attention for all positions at once.

    causal=True, with prefix sums (cumsum over time):
        S_i = sum_{j<=i} phi(k_j) v_j^T,  z_i = sum_{j<=i} phi(k_j),
        y_i = phi(q_i)^T S_i / (phi(q_i)^T z_i)
    causal=False, every query sees every key, so the sums are shared:
        Y = phi(Q) (phi(K)^T V) / (phi(Q) sum_j phi(k_j))
    The causal form stores every S_i: memory O(L d_phi d_v), linear in L.

    Q : (..., L_q, d_k)
    K : (..., L_k, d_k)
    V : (..., L_k, d_v); causal needs L_q = L_k
    feature_map : phi, (..., d_k) -> (..., d_phi), positive values
    returns Y (..., L_q, d_v)
    """
    Q, K, V, phi_Q, phi_K = _feature_map_args(Q, K, V, feature_map)
    if not flag("causal", causal):
        S = np.swapaxes(phi_K, -1, -2) @ V                      # (..., d_phi, d_v)
        z = np.sum(phi_K, axis=-2)                               # (..., d_phi)
        return (phi_Q @ S) / (phi_Q @ z[..., None])
    if Q.shape[-2] != K.shape[-2]:
        raise ValueError(f"K: expected {Q.shape[-2]} positions like Q (causal linear "
                         f"attention pairs query i with keys j <= i), got {K.shape[-2]}")
    # NumPy note: cumsum along an axis that is not the last is its slow path (about 5x
    # slower per number than along the last axis); at large L it is most of the time here.
    S = np.cumsum(phi_K[..., :, :, None] * V[..., :, None, :], axis=-3)  # (..., L, d_phi, d_v)
    z = np.cumsum(phi_K, axis=-2)                                         # (..., L, d_phi)
    numerator = np.einsum("...lk,...lkv->...lv", phi_Q, S)
    denominator = np.einsum("...lk,...lk->...l", phi_Q, z)
    return numerator / denominator[..., None]


def linear_attention_recurrent(Q, K, V, feature_map=elu_feature_map):
    """Causal linear attention as an RNN: one loop over time with a matrix state.

        S_t = S_{t-1} + phi(k_t) v_t^T,   z_t = z_{t-1} + phi(k_t),   S_{-1} = 0, z_{-1} = 0
        y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t)

    Memory O(d_phi d_v), whatever L: the same numbers as
    ``linear_attention_parallel(..., causal=True)``.

    Q : (..., L, d_k)
    K : (..., L, d_k)
    V : (..., L, d_v)
    feature_map : phi, (..., d_k) -> (..., d_phi), positive values
    returns Y (..., L, d_v)
    """
    Q, K, V, phi_Q, phi_K = _feature_map_args(Q, K, V, feature_map)
    if Q.shape[-2] != K.shape[-2]:
        raise ValueError(f"K: expected {Q.shape[-2]} positions like Q, got {K.shape[-2]}")
    batch = np.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2])
    d_phi, d_v = phi_K.shape[-1], V.shape[-1]
    S = np.zeros(batch + (d_phi, d_v), dtype=V.dtype)
    z = np.zeros(batch + (d_phi,), dtype=V.dtype)
    Y = np.zeros(batch + (Q.shape[-2], d_v), dtype=V.dtype)
    for t in range(Q.shape[-2]):
        S = S + phi_K[..., t, :, None] * V[..., t, None, :]
        z = z + phi_K[..., t, :]
        q = phi_Q[..., t, :]
        Y[..., t, :] = np.einsum("...k,...kv->...v", q, S) / np.sum(q * z, axis=-1)[..., None]
    return Y


def linear_attention_step(state, q_t, k_t, v_t, feature_map=elu_feature_map):
    """One step of causal linear attention: ``(y_t, (S_t, z_t))`` from ``(S_{t-1}, z_{t-1})``.

        S_t = S_{t-1} + phi(k_t) v_t^T,  z_t = z_{t-1} + phi(k_t),
        y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t)

    state : None (the start: S = 0, z = 0) or a pair (S (..., d_phi, d_v), z (..., d_phi))
    q_t   : (..., d_k)
    k_t   : (..., d_k)
    v_t   : (..., d_v)
    feature_map : phi, (..., d_k) -> (..., d_phi), positive values (one that is zero where
        phi(q_t)^T z_t sums makes the normaliser 0 and y_t = 0/0 = NaN, as in the parallel
        and recurrent forms)
    returns y_t (..., d_v) and the new state (S_t, z_t); the input state is not modified
    """
    q_t = _float_array("q_t", q_t, 1, "shape (..., d_k)")
    k_t = _float_array("k_t", k_t, 1, "shape (..., d_k)")
    v_t = _float_array("v_t", v_t, 1, "shape (..., d_v)")
    if k_t.shape[-1] != q_t.shape[-1] or q_t.shape[-1] == 0:
        raise ValueError(f"k_t: expected shape (..., {q_t.shape[-1]}) like q_t (d_k >= 1), "
                         f"got {k_t.shape}")
    if v_t.shape[-1] == 0:
        raise ValueError(f"v_t: expected shape (..., d_v) with d_v >= 1, got {v_t.shape}")
    for name, x in (("k_t", k_t), ("v_t", v_t)):
        try:
            np.broadcast_shapes(q_t.shape[:-1], x.shape[:-1])
        except ValueError:
            raise ValueError(f"{name}: expected leading (batch) dims broadcastable with q_t's "
                             f"{q_t.shape[:-1]}, got {x.shape[:-1]}") from None
    function("feature_map", feature_map, "a function (..., d_k) -> (..., d_phi)")
    phi_q, phi_k = _phi(feature_map, q_t, "q_t"), _phi(feature_map, k_t, "k_t")
    outer = phi_k[..., :, None] * v_t[..., None, :]
    if state is None:
        S, z = np.zeros(outer.shape[-2:], outer.dtype), np.zeros(phi_k.shape[-1:], phi_k.dtype)
    else:
        expected = (f"None or a pair (S, z) of shapes (..., {outer.shape[-2]}, "
                    f"{outer.shape[-1]}) and (..., {phi_k.shape[-1]})")
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"state: expected {expected}, got {type(state).__name__}")
        S = _float_array("state", state[0], 2, expected)
        z = _float_array("state", state[1], 1, expected)
        if S.shape[-2:] != outer.shape[-2:] or z.shape[-1:] != phi_k.shape[-1:]:
            raise ValueError(f"state: expected {expected}, got {S.shape} and {z.shape}")
        try:
            np.broadcast_shapes(S.shape[:-2], z.shape[:-1], outer.shape[:-2])
        except ValueError:
            raise ValueError(f"state: expected leading (batch) dims broadcastable with the "
                             f"inputs' {outer.shape[:-2]}, got {S.shape[:-2]} and "
                             f"{z.shape[:-1]}") from None
    S = S + outer
    z = z + phi_k
    y_t = np.einsum("...k,...kv->...v", phi_q, S) / np.sum(phi_q * z, axis=-1)[..., None]
    return y_t, (S, z)



# ---------------------------------------------------------------- a trainable mixer (torch)
def _frequencies(d_model):
    """omega_i = 1 / 10000^(2i / d_model), i = 0 .. d_model/2 - 1: the angular frequencies."""
    return 10000.0 ** (-np.arange(0, d_model, 2) / d_model)


def sinusoidal_positions(L, d_model):
    """The fixed position code of Vaswani et al. (2017), for positions t = 0 .. L-1:

        P[t, 2i] = sin(t / 10000^(2i / d_model)),   P[t, 2i+1] = cos(t / 10000^(2i / d_model))

    L, d_model : int >= 1 (d_model even). Returns P (L, d_model), float64. Defined for any
    t, so a model can be run longer than it was trained; whether it still works there is
    another matter (chapter 7 measures it).
    """
    L = integer("L", L)
    d_model = integer("d_model", d_model)
    affordable("L", L * d_model, what="numbers (L d_model)")
    if d_model % 2:
        raise ValueError(f"d_model: expected an even number (sin and cos pairs), got {d_model}")
    t = np.arange(L)[:, None]
    freq = _frequencies(d_model)                                          # (d_model / 2,)
    P = np.empty((L, d_model))
    P[:, 0::2], P[:, 1::2] = np.sin(t * freq), np.cos(t * freq)
    return P


class _HeadProjections(torch.nn.Module):
    """The projections of a multi-head attention layer, no biases: ``W_qkv.weight`` is
    [W_q; W_k; W_v] (3 d_model, d_model), ``W_o.weight`` is W_o (d_model, d_model)."""

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.d_model = integer("d_model", d_model)
        self.n_heads = integer("n_heads", n_heads)
        affordable("d_model", 4 * d_model ** 2, what="weights (4 d_model^2)")
        if d_model % n_heads:
            raise ValueError(f"n_heads: expected a divisor of d_model = {d_model}, got {n_heads}")
        self.W_qkv = torch.nn.Linear(d_model, 3 * d_model, bias=False)
        self.W_o = torch.nn.Linear(d_model, d_model, bias=False)

    def _heads(self, x):
        """q, k, v, each (batch, n_heads, L, d_head), from x (batch, L, d_model)."""
        batch, L, _ = x.shape
        return (t.reshape(batch, L, self.n_heads, -1).transpose(1, 2)
                for t in self.W_qkv(x).chunk(3, dim=-1))


class CausalSelfAttention(_HeadProjections):
    """``multi_head_attention(x, ..., causal=True)`` as a trainable torch layer, no biases:
    x (batch, L, d_model) -> (batch, L, d_model). ``W_qkv.weight`` is [W_q; W_k; W_v] and
    ``W_o.weight`` is W_o, as in ``torch.nn.MultiheadAttention``. Written out (no fused
    kernel) so that its output is the same on every CPU. ``seqlearn.models.SequenceModel``
    uses it as the mixers "transformer" and "attention" (with ``sinusoidal_positions``).

    NaN: a NaN or inf at one step makes every output NaN, earlier steps too: the causal
    mask gives it weight 0, and 0 * NaN = NaN in the weighted sum (IEEE 754). The
    recurrent forms keep a NaN causal.
    """

    def __init__(self, d_model, n_heads=2):
        super().__init__(d_model, n_heads)

    def _weights_and_values(self, x):
        batch, L, d = x.shape
        q, k, v = self._heads(x)                                          # (b, h, L, d_head)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads)   # (b, h, L, L)
        future = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1), v

    def forward(self, x):
        """x (batch, L, d_model) -> y (batch, L, d_model)."""
        layer_input("x", x, "(batch, L, d_model)", self.d_model, self.W_o.weight)
        batch, L, d = x.shape
        weights, v = self._weights_and_values(x)
        return self.W_o((weights @ v).transpose(1, 2).reshape(batch, L, d))

    def weights(self, x):
        """The attention weights A (batch, n_heads, L, L) that ``forward(x)`` uses: row i is
        query i's softmax over keys j <= i (0 for j > i). For pictures of what a head reads."""
        layer_input("x", x, "(batch, L, d_model)", self.d_model, self.W_o.weight)
        return self._weights_and_values(x)[0]


class CausalLinearAttention(_HeadProjections):
    """Causal linear attention (Katharopoulos et al. 2020) as a trainable torch layer, no
    biases: x (batch, L, d_model) -> (batch, L, d_model), per head (d_head = d_model / n_heads)

        y_i = phi(q_i)^T S_i / (phi(q_i)^T z_i),  S_i = sum_{j<=i} phi(k_j) v_j^T,
        z_i = sum_{j<=i} phi(k_j),  phi = elu + 1   (``linear_attention_parallel``)

    computed in chunks of ``chunk`` positions: inside a chunk the masked product
    (phi(Q) phi(K)^T * mask) V, across chunks the running S and z, so memory is
    O(L chunk + d_head^2) per head and not the O(L d_head^2) of every S_i stored.
    Projections as ``CausalSelfAttention`` (``W_qkv``, ``W_o``).
    """

    def __init__(self, d_model, n_heads=2, chunk=64):
        chunk = integer("chunk", chunk, maximum=10**5)
        super().__init__(d_model, n_heads)
        self.chunk = chunk

    def forward(self, x):
        """x (batch, L, d_model) -> y (batch, L, d_model)."""
        layer_input("x", x, "(batch, L, d_model)", self.d_model, self.W_o.weight)
        batch, L, d = x.shape
        q, k, v = self._heads(x)                                          # (b, h, L, d_head)
        q, k = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
        S = q.new_zeros(batch, self.n_heads, q.shape[-1], v.shape[-1])   # sum phi(k) v^T
        z = q.new_zeros(batch, self.n_heads, q.shape[-1])                # sum phi(k)
        out = []
        for s in range(0, L, self.chunk):
            qc, kc, vc = (t[:, :, s:s + self.chunk] for t in (q, k, v))
            w = (qc @ kc.transpose(-1, -2)).tril()                       # (b, h, c, c)
            num = w @ vc + qc @ S
            den = w.sum(-1) + (qc * z[:, :, None]).sum(-1)
            out.append(num / den[..., None])
            S = S + kc.transpose(-1, -2) @ vc
            z = z + kc.sum(-2)
        y = torch.cat(out, dim=2)
        return self.W_o(y.transpose(1, 2).reshape(batch, L, d))


def feed_forward(d_model, d_ff=None):
    """The Transformer's position-wise MLP (Vaswani et al. 2017), a torch module
    (..., d_model) -> (..., d_model):  MLP(u) = W_2 gelu(W_1 u + b_1) + b_2,  d_ff = 4 d_model
    by default. Index 2 is W_2, the projection back into the residual stream."""
    d_model = integer("d_model", d_model)
    d_ff = 4 * d_model if d_ff is None else integer("d_ff", d_ff)
    affordable("d_ff", 2 * d_model * d_ff, what="MLP weights (2 d_model d_ff)")
    return torch.nn.Sequential(torch.nn.Linear(d_model, d_ff), torch.nn.GELU(),
                               torch.nn.Linear(d_ff, d_model))


class TransformerBlock(torch.nn.Module):
    """A pre-norm causal Transformer block, x (batch, L, d_model) -> (batch, L, d_model):

        x = x + CausalSelfAttention(LayerNorm(x))        (mix across positions)
        x = x + MLP(LayerNorm(x)),  MLP(u) = W_2 gelu(W_1 u + b_1) + b_2   (per position)

    The residual connections keep a straight path from input to output (gradients flow
    as in chapter 1's additive cell update); LayerNorm before each sublayer ("pre-norm",
    Xiong et al. 2020) keeps the sublayers' inputs at unit scale. d_ff = 4 d_model by
    default, as in Vaswani et al. (2017). It is one layer of ``seqlearn.models.SequenceModel``
    with mixer "transformer" and norm "layer" (chapter 2's ``models.TransformerLM``), written
    out on its own to be read (a test checks the two agree).

    NaN: a NaN or inf at one step makes every output NaN, earlier steps too: the causal
    mask gives it weight 0, and 0 * NaN = NaN in the weighted sum (IEEE 754). The
    recurrent forms keep a NaN causal.
    """

    def __init__(self, d_model, n_heads=2, d_ff=None):
        super().__init__()
        d_model = integer("d_model", d_model)
        d_ff = 4 * d_model if d_ff is None else integer("d_ff", d_ff)
        affordable("d_ff", 2 * d_model * d_ff, what="MLP weights (2 d_model d_ff)")  # first
        self.norm1 = torch.nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.norm2 = torch.nn.LayerNorm(d_model)
        self.mlp = feed_forward(d_model, d_ff)

    def forward(self, x):
        """x (batch, L, d_model) -> (batch, L, d_model)."""
        layer_input("x", x, "(batch, L, d_model)", self.attn.d_model, self.mlp[0].weight)
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))



# ---------------------------------------------------------------- encoder-decoder (torch)
def _attention_mask(mask, batch, L_q, L_k, device):
    """``mask`` checked: None, or a bool tensor (L_q, L_k) or (batch, L_q, L_k), True = may
    attend, every query allowed at least one key. Returns it as (batch or 1, 1, L_q, L_k)."""
    if mask is None:
        return None
    want = f"a bool tensor ({L_q}, {L_k}) or ({batch}, {L_q}, {L_k}), True = may attend"
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = (f"{mask.dtype} of shape {tuple(mask.shape)}" if isinstance(mask, torch.Tensor)
               else type(mask).__name__)
        raise ValueError(f"mask: expected {want}, got {got}")
    if tuple(mask.shape) not in ((L_q, L_k), (batch, L_q, L_k)):
        raise ValueError(f"mask: expected {want}, got shape {tuple(mask.shape)}")
    if mask.device != device:
        raise ValueError(f"mask: expected a tensor on {device} (the layer's), got one on "
                         f"{mask.device}")
    if not bool(mask.any(-1).all()):
        raise ValueError("mask: every query must be allowed at least one key (a row of "
                         "False would divide 0 by 0)")
    return mask.reshape(-1, 1, L_q, L_k)


class MultiHeadAttention(_HeadProjections):
    """Multi-head attention as a trainable torch layer, no biases, with any mask: self-
    attention (``memory=None``: queries, keys and values from x) or cross-attention
    (queries from x, keys and values from ``memory``, the encoder's output):

        Q = x W_q^T,  K = memory W_k^T,  V = memory W_v^T     (split into n_heads heads)
        y = merge(softmax(Q K^T / sqrt(d_head) + M) V) W_o^T,  M = 0 where mask, -inf not

    ``W_qkv.weight`` is [W_q; W_k; W_v] (3 d_model, d_model) and ``W_o.weight`` W_o, as in
    ``CausalSelfAttention`` and ``torch.nn.MultiheadAttention``. Written out (no fused
    kernel), so that its output is the same on every CPU.

    forward(x, memory=None, mask=None): x (batch, L_q, d_model), memory (batch, L_k,
    d_model) or None (then L_k = L_q), mask None (every key), or bool (L_q, L_k) or
    (batch, L_q, L_k), True = may attend (``causal_mask`` for a decoder, a padding mask
    ``keep[:, None, :]`` for the keys of padded sequences); every query must see a key.
    Returns (batch, L_q, d_model). NaN or inf in x or memory propagates (as NaN).
    """

    def __init__(self, d_model, n_heads=2):
        super().__init__(d_model, n_heads)       # W_qkv, W_o: the same names and shapes

    def _weights_and_values(self, x, memory, mask):
        layer_input("x", x, "(batch, L_q, d_model)", self.d_model, self.W_o.weight)
        if memory is None:
            memory = x
        else:
            layer_input("memory", memory, "(batch, L_k, d_model)", self.d_model,
                        self.W_o.weight)
            if memory.shape[0] != x.shape[0]:
                raise ValueError(f"memory: expected a batch of {x.shape[0]} (x's), got shape "
                                 f"{tuple(memory.shape)}")
        (batch, L_q, d), L_k = x.shape, memory.shape[1]
        affordable("x", batch * self.n_heads * L_q * L_k, what="scores (batch heads L_q L_k)")
        mask = _attention_mask(mask, batch, L_q, L_k, x.device)
        W_q, W_k, W_v = self.W_qkv.weight.chunk(3, dim=0)

        def heads(t, W):                                   # (batch, n_heads, L, d_head)
            return (t @ W.T).reshape(batch, t.shape[1], self.n_heads, -1).transpose(1, 2)

        q, k, v = heads(x, W_q), heads(memory, W_k), heads(memory, W_v)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads)  # (b, h, L_q, L_k)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1), v

    def forward(self, x, memory=None, mask=None):
        """x (batch, L_q, d_model) [, memory (batch, L_k, d_model), mask] -> (batch, L_q,
        d_model); see the class docstring."""
        weights, v = self._weights_and_values(x, memory, mask)
        batch, L_q, d = x.shape
        return self.W_o((weights @ v).transpose(1, 2).reshape(batch, L_q, d))

    def weights(self, x, memory=None, mask=None):
        """The attention weights A (batch, n_heads, L_q, L_k) that ``forward`` uses (row i:
        query i's softmax over the keys it may see, 0 elsewhere)."""
        return self._weights_and_values(x, memory, mask)[0]


class EncoderDecoder(torch.nn.Module):
    """The encoder-decoder Transformer of Vaswani et al. (2017), pre-norm and small, for
    seq2seq tasks of token ids (chapter 2's digit reversal):

        encoder, n_enc x:  e = e + SelfAttn(LN(e), mask = the source's real tokens)  (both ways)
                           e = e + MLP(LN(e));                 memory = LN(e)
        decoder, n_dec x:  h = h + SelfAttn(LN(h), mask = causal)
                           h = h + CrossAttn(LN(h), memory, mask = the source's real tokens)
                           h = h + MLP(LN(h));                 logits = LN(h) E^T

    e and h start as the token embedding E plus ``sinusoidal_positions``; the embedding is
    shared by source, target and the output head (tied). Initialisation: the field's for
    this model, the Annotated Transformer's (Rush 2018): every weight matrix Glorot-uniform,
    biases 0, and the embedding scaled by sqrt(d_model), the factor Vaswani et al. multiply
    embeddings by (here folded into the initial weights, so the tied head sees it too).
    ``cross=False`` drops the cross-attention sublayers: the decoder then never sees the
    source (the baseline that shows what the target alone gives away).

    vocab_size : ids in [0, vocab_size);  d_model : even;  pad : the id of padding in the
    source (its keys are masked out; every source needs one token that is not pad).

    forward(src, tgt_in): src (batch, S), tgt_in (batch, T) int64 -> logits (batch, T,
    vocab_size); position t of the output sees tgt_in[:, :t + 1] and the whole source
    (teacher forcing: tgt_in is the target shifted right, starting with a BOS id).
    """

    def __init__(self, vocab_size, d_model, n_heads=2, n_enc=1, n_dec=1, pad=0, cross=True):
        super().__init__()
        self.vocab_size = integer("vocab_size", vocab_size)
        self.d_model = d_model = integer("d_model", d_model)
        self.n_enc = integer("n_enc", n_enc, minimum=0, maximum=1_000)
        self.n_dec = integer("n_dec", n_dec, maximum=1_000)
        self.pad = integer("pad", pad, minimum=0, maximum=vocab_size - 1)
        self.cross = flag("cross", cross)
        if d_model % 2:
            raise ValueError(f"d_model: expected an even number (sinusoidal positions), got "
                             f"{d_model}")
        n_heads = integer("n_heads", n_heads)
        affordable("d_model", (vocab_size + 16 * (n_enc + n_dec) * d_model) * d_model,
                   what="weights ((vocab_size + 16 (n_enc + n_dec) d_model) d_model)")
        LN = lambda: torch.nn.LayerNorm(d_model)                          # noqa: E731
        block = lambda parts: torch.nn.ModuleDict(parts)                  # noqa: E731
        self.embed = torch.nn.Embedding(vocab_size, d_model)
        self.encoder = torch.nn.ModuleList(block({
            "norm1": LN(), "attn": MultiHeadAttention(d_model, n_heads),
            "norm2": LN(), "mlp": feed_forward(d_model)}) for _ in range(n_enc))
        self.decoder = torch.nn.ModuleList(block({
            "norm1": LN(), "attn": MultiHeadAttention(d_model, n_heads),
            **({"norm_x": LN(), "cross": MultiHeadAttention(d_model, n_heads)} if cross else {}),
            "norm2": LN(), "mlp": feed_forward(d_model)}) for _ in range(n_dec))
        self.norm_enc, self.norm_dec = LN(), LN()
        for p in self.parameters():                      # the Annotated Transformer's init
            if p.dim() > 1:
                torch.nn.init.xavier_uniform_(p)
        with torch.no_grad():                           # Vaswani et al.: embeddings x sqrt(d)
            self.embed.weight.mul_(math.sqrt(d_model))

    def _embed(self, ids):
        P = sinusoidal_positions(ids.shape[1], self.d_model)
        h = self.embed(ids)
        return h + torch.as_tensor(P, dtype=h.dtype, device=h.device)

    def _ids(self, name, ids, axes):
        token_ids(name, ids, 2, axes, self.vocab_size)
        if ids.device != self.embed.weight.device:
            raise ValueError(f"{name}: expected a tensor on {self.embed.weight.device} (the "
                             f"model's), got one on {ids.device}")
        affordable(name, ids.shape[0] * ids.shape[1] ** 2 * self.d_model,
                   what="numbers (batch L^2 d_model)")
        return ids

    def _source(self, src):
        self._ids("src", src, "(batch, S)")
        keep = src != self.pad                                        # (batch, S)
        if not bool(keep.any(-1).all()):
            raise ValueError(f"src: every sequence needs a token that is not pad = {self.pad}")
        return keep

    def encode(self, src):
        """The encoder's output, memory (batch, S, d_model), and the source's mask keep
        (batch, S), True at the real tokens. Every position sees every real token."""
        keep = self._source(src)
        e, mask = self._embed(src), keep[:, None, :].expand(-1, src.shape[1], -1)
        for b in self.encoder:
            e = e + b["attn"](b["norm1"](e), mask=mask)
            e = e + b["mlp"](b["norm2"](e))
        return self.norm_enc(e), keep

    def _decode(self, memory, keep, tgt_in, want_weights=False):
        self._ids("tgt_in", tgt_in, "(batch, T)")
        if tgt_in.shape[0] != memory.shape[0]:
            raise ValueError(f"tgt_in: expected a batch of {memory.shape[0]} (src's), got "
                             f"shape {tuple(tgt_in.shape)}")
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).tril()
        cross_mask = keep[:, None, :].expand(-1, T, -1)
        h, weights = self._embed(tgt_in), []
        for b in self.decoder:
            h = h + b["attn"](b["norm1"](h), mask=causal)
            if self.cross:
                u = b["norm_x"](h)
                if want_weights:
                    weights.append(b["cross"].weights(u, memory, cross_mask))
                h = h + b["cross"](u, memory, cross_mask)
            h = h + b["mlp"](b["norm2"](h))
        return (self.norm_dec(h) @ self.embed.weight.T), weights

    def forward(self, src, tgt_in):
        """src (batch, S), tgt_in (batch, T) token ids -> logits (batch, T, vocab_size)."""
        memory, keep = self.encode(src)
        return self._decode(memory, keep, tgt_in)[0]

    def cross_weights(self, src, tgt_in):
        """Each decoder layer's cross-attention weights: a list of n_dec tensors (batch,
        n_heads, T, S), row t = output position t's softmax over the source tokens (0 at
        padding). Empty without cross-attention."""
        memory, keep = self.encode(src)
        return self._decode(memory, keep, tgt_in, want_weights=True)[1]

    @torch.no_grad()
    def greedy(self, src, n_steps, bos=1):
        """Greedy decoding: start from ``bos``, append the most likely next id, ``n_steps``
        times. src (batch, S) -> ids (batch, n_steps) (the BOS not included). The source is
        encoded once; the decoder re-reads its prefix at every step (no KV cache)."""
        n_steps = integer("n_steps", n_steps, maximum=10_000)
        bos = integer("bos", bos, minimum=0, maximum=self.vocab_size - 1)
        memory, keep = self.encode(src)
        out = torch.full((src.shape[0], 1), bos, dtype=torch.int64, device=src.device)
        for _ in range(n_steps):
            logits = self._decode(memory, keep, out)[0][:, -1]
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
        return out[:, 1:]
