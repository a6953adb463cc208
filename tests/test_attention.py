"""seqlearn.attention against independent computations: torch's scaled_dot_product_attention
and MultiheadAttention, and brute-force loops over queries and keys."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.attention.bias import causal_lower_right

from seqlearn import attention
from seqlearn.attention import (CausalSelfAttention, KVCache, causal_mask, elu_feature_map, kv_cache_decode,
                                linear_attention_parallel, linear_attention_recurrent,
                                linear_attention_step, merge_heads, multi_head_attention,
                                scaled_dot_product_attention, sinusoidal_positions, softmax,
                                split_heads)
from seqlearn.models import MambaLM



# Rounding-error bounds (Higham's gamma_n = n u for a sum of n terms, u = eps / 2, first order
# in u) for two computations of the same attention that round differently: each side's error
# bound in units of u, times 2 for the two sides, which is the same number in units of eps.
def sdpa_error_bound(Q, K, V, mask=None):
    """|Y - Y'| for two computations of softmax(Q K^T / sqrt(d_k) + M) V in Q's dtype.

    Per side: a score errs by <= (d_k + 2) u S, S the largest sum_l |q_l k_l| / sqrt(d_k) +
    |M| (the d_k-term dot, the scaling, the mask); a score error e moves the normalised
    weights by <= 2e relatively, so y by <= 2 (d_k + 2) u S max|v|; exp (a few ulp), the
    softmax's sum of L_k terms and division and the sum over L_k keys add
    (2 L_k + 12) u max|v|."""
    eps = np.finfo(np.result_type(*(np.asarray(a) for a in (Q, K, V)))).eps
    Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
    d_k, L_k = Q.shape[-1], K.shape[-2]
    S = np.abs(Q) @ np.swapaxes(np.abs(K), -1, -2) / np.sqrt(d_k)
    if mask is not None and np.asarray(mask).dtype != bool:
        S = S + np.abs(np.asarray(mask, dtype=np.float64))
    return (2 * (d_k + 2) * S.max(initial=0) + 2 * L_k + 12) * eps * np.abs(V).max(initial=0)


def online_softmax_error_bound(Q, K, V, block_size):
    """sdpa_error_bound plus the online softmax's rescalings: acc and l are multiplied by the
    same exp(m_old - m_new) and summed once per block of keys, 2 roundings each: 4 u per
    block, relative to max|v|, on that side."""
    eps = np.finfo(np.result_type(*(np.asarray(a) for a in (Q, K, V)))).eps
    blocks = -(-np.shape(K)[-2] // block_size)
    return sdpa_error_bound(Q, K, V) + 2 * blocks * eps * np.abs(V).max(initial=0)


def mha_error_bound(x, Ws, bs, n_heads):
    """(bound on |y - y'|, bound on |A - A'|) for two computations of multi_head_attention.

    Per side: a projection (d_model + 1 terms) errs by <= (D + 1) u of its sum of absolute
    terms, bar = |x| |W|^T + |b|; a score q . k / sqrt(d) then errs by <= (D + 1) u
    (bar_q . |k| + |q| . bar_k) / sqrt(d) + (d + 2) u |q| . |k| / sqrt(d), which moves the
    weights by twice that relatively (plus (L + 6) u for the softmax); a head's output errs
    by that times max|v|, plus L u max|v| for its sum and (D + 1) u max bar_v for v's own
    error; the output projection multiplies by the largest row sum of |W_o| and adds
    (D + 1) u (|heads| |W_o|^T + |b_o|)."""
    x = np.asarray(x, dtype=np.float64)
    (W_q, W_k, W_v, W_o), (b_q, b_k, b_v, b_o) = ([np.asarray(a, dtype=np.float64) for a in t]
                                                  for t in (Ws, bs))
    eps = np.finfo(np.asarray(Ws[0]).dtype).eps
    D = x.shape[-1]
    d, L = D // n_heads, x.shape[-2]
    q, k, v = (np.abs(split_heads(x @ W.T + b, n_heads)) for W, b in
               ((W_q, b_q), (W_k, b_k), (W_v, b_v)))
    bq, bk, bv = (split_heads(np.abs(x) @ np.abs(W).T + np.abs(b), n_heads) for W, b in
                  ((W_q, b_q), (W_k, b_k), (W_v, b_v)))
    T = lambda a: np.swapaxes(a, -1, -2)  # noqa: E731
    score = ((D + 1) * (bq @ T(k) + q @ T(bk)) + (d + 2) * q @ T(k)).max() / np.sqrt(d)
    heads = (2 * score + 2 * L + 6) * v.max() + (D + 1) * bv.max()
    W_o_rows = np.abs(W_o).sum(1).max()
    y = heads * W_o_rows + (D + 1) * (v.max() * W_o_rows + np.abs(b_o).max())
    return y * eps, (2 * score + L + 6) * eps


def additive_error_bound(S, H, W, U, v):
    """(bound on |c - c'|, bound on |alpha - alpha'|) for two float64 computations of
    additive_attention. Per side: W s + U h errs by <= (max(d_s, d_h) + 1) u of
    |W| |s| + |U| |h| (M, its largest entry), tanh by 1 ulp more, e = v . tanh(.) by
    E = ((max(d_s, d_h) + 1) M + d_a + 2) u sum|v|; the weights move by 2E relatively
    (plus (L_k + 6) u, the softmax), c by that times max|h| plus L_k u max|h|."""
    M = ((np.abs(S) @ np.abs(W).T)[..., :, None, :]
         + (np.abs(H) @ np.abs(U).T)[..., None, :, :]).max()
    u = np.finfo(np.float64).eps / 2
    E = ((max(S.shape[-1], H.shape[-1]) + 1) * M + len(v) + 2) * u * np.abs(v).sum()
    L_k = H.shape[-2]
    alpha = 2 * (2 * E + (L_k + 6) * u)
    return alpha * np.abs(H).max() + 2 * L_k * u * np.abs(H).max(), alpha


batch_dims = st.lists(st.integers(1, 3), max_size=2).map(tuple)
sizes = st.integers(1, 9)
seeds = st.integers(0, 2**32 - 1)


def torch_sdpa(Q, K, V, **kwargs):
    """torch's scaled_dot_product_attention on NumPy arrays, answer as NumPy."""
    out = F.scaled_dot_product_attention(torch.tensor(Q), torch.tensor(K), torch.tensor(V),
                                         **kwargs)
    return out.numpy()


def brute_force_linear_attention(Q, K, V, phi, causal):
    """y_i = sum_j w_ij v_j / sum_j w_ij with w_ij = phi(q_i) . phi(k_j), j <= i if causal."""
    Y = np.zeros(Q.shape[:-1] + V.shape[-1:])
    for idx in np.ndindex(Q.shape[:-2]):
        for i in range(Q.shape[-2]):
            num, den = 0.0, 0.0
            for j in range(i + 1 if causal else K.shape[-2]):
                w = np.dot(phi(Q[idx + (i,)]), phi(K[idx + (j,)]))
                num = num + w * V[idx + (j,)]
                den = den + w
            Y[idx + (i,)] = num / den
    return Y


# --- softmax ------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), seed=seeds,
       scale=st.sampled_from([1.0, 30.0, 1000.0]), data=st.data())
def test_softmax_matches_torch(shape, seed, scale, data):
    z = scale * np.random.default_rng(seed).standard_normal(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    got = softmax(z, axis=axis)
    # float64: a weight e^-x / sum with score gap x errs by <= (x + n + 4) u per side (z - max
    # rounds by u x, exp 1 ulp, a sum of n <= 6, the division or reciprocal); weights above
    # atol = 1e-300 have x < 691: <= 2 * 701 u = 1.6e-13 relative for the two; rtol 1e-12 is 6x
    np.testing.assert_allclose(got, torch.softmax(torch.tensor(z), dim=axis).numpy(),
                               rtol=1e-12, atol=1e-300)
    # sum_j e_j / total is 1 / (1 + the rounding of total): (n + 1) u, the sum of the n <= 6
    # weights n u more: <= 13 u = 1.4e-15; rtol 1e-12 is 700x
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-12)


def test_softmax_of_huge_scores_does_not_overflow():
    # exact: exp(0) = 1, 1 / 2 = 0.5, exp(-2000) = 0 (bound 0; default rtol 1e-7)
    np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0, -1000.0])), [0.5, 0.5, 0])


def test_softmax_masked_entries_get_zero_and_an_all_masked_row_is_zero():
    z = np.array([[0.0, -np.inf, np.log(3.0)], [-np.inf, -np.inf, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value" warning either
        got = softmax(z)
    # float64: exp(-log 3) = (1 / 3)(1 + d), |d| <= 1 ulp of log 3 + 1 ulp of exp = 3.9e-16;
    # 0.25 = e / (e + 1) then errs by 3/4 |d| + 2 u = 5.1e-16 relative (the sum, the division),
    # 0.75 by 3.2e-16; rtol 4e-15 is 8x (1e-15 was 2x); the zeros must be exact (rtol 0 there)
    np.testing.assert_allclose(got, [[0.25, 0, 0.75], [0, 0, 0]], rtol=4e-15)


def test_softmax_keeps_float32():
    assert softmax(np.ones(3, np.float32)).dtype == np.float32


# --- causal mask and scaled dot-product attention ------------------------------------------

@settings(max_examples=40, deadline=None)
@given(L_q=sizes, L_k=sizes)
def test_causal_mask_is_the_bottom_right_triangle(L_q, L_k):
    expected = torch.ones(L_q, L_k, dtype=torch.bool).tril(diagonal=L_k - L_q).numpy()
    np.testing.assert_array_equal(causal_mask(L_q, L_k), expected)
    assert causal_mask(L_q, L_k)[-1].all()  # the newest query sees every key


def test_causal_mask_square_is_lower_triangle():
    np.testing.assert_array_equal(causal_mask(5), np.tril(np.ones((5, 5), bool)))


@settings(max_examples=60, deadline=None)
@given(batch=batch_dims, L_q=sizes, L_k=sizes, d_k=st.integers(1, 8), d_v=st.integers(1, 8),
       dtype=st.sampled_from([np.float32, np.float64]),
       mask_kind=st.sampled_from(["none", "bool", "float", "causal"]), seed=seeds)
def test_sdpa_matches_torch(batch, L_q, L_k, d_k, d_v, dtype, mask_kind, seed):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal(batch + (L_q, d_k)).astype(dtype)
    K = rng.standard_normal(batch + (L_k, d_k)).astype(dtype)
    V = rng.standard_normal(batch + (L_k, d_v)).astype(dtype)
    if mask_kind == "none":
        got, expected = scaled_dot_product_attention(Q, K, V), torch_sdpa(Q, K, V)
    elif mask_kind == "bool":  # some rows may be all False: both give 0 there
        mask = rng.random((L_q, L_k)) < 0.7
        got = scaled_dot_product_attention(Q, K, V, mask=mask)
        expected = torch_sdpa(Q, K, V, attn_mask=torch.tensor(mask))
    elif mask_kind == "float":
        mask = rng.standard_normal(batch + (L_q, L_k)).astype(dtype)
        got = scaled_dot_product_attention(Q, K, V, mask=mask)
        expected = torch_sdpa(Q, K, V, attn_mask=torch.tensor(mask))
    else:
        got = scaled_dot_product_attention(Q, K, V, causal=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "will produce NaNs when L_q > L_k": it gives 0
            bias = causal_lower_right(L_q, L_k)
        expected = torch_sdpa(Q, K, V, attn_mask=bias)
    assert got.shape == batch + (L_q, d_v) and got.dtype == dtype
    # two roundings of the same attention: sdpa_error_bound, from this draw's sizes (float32:
    # 1e-7 .. 6e-5 over 3000 draws, above the fixed 1e-5 this was; float64: 2e-15 .. 1.3e-13);
    # measured <= 5% of it
    bound = sdpa_error_bound(Q, K, V, mask if mask_kind == "float" else None)
    np.testing.assert_allclose(got, expected, rtol=0, atol=bound)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_causal_matches_torch_is_causal_for_square_attention(dtype):
    rng = np.random.default_rng(3)
    Q, K, V = (rng.standard_normal((2, 3, 11, 8)).astype(dtype) for _ in range(3))
    # sdpa_error_bound: 3.9e-5 in float32 (above the 1e-5 this was), 7.3e-14 in float64;
    # measured 0.6% of it
    np.testing.assert_allclose(scaled_dot_product_attention(Q, K, V, causal=True),
                               torch_sdpa(Q, K, V, is_causal=True), rtol=0,
                               atol=sdpa_error_bound(Q, K, V))


def test_sdpa_weights_rows_sum_to_one_and_respect_the_mask():
    rng = np.random.default_rng(4)
    Q, K, V = rng.standard_normal((6, 4)), rng.standard_normal((9, 4)), rng.standard_normal((9, 2))
    Y, A = scaled_dot_product_attention(Q, K, V, causal=True, return_weights=True)
    assert A.shape == (6, 9)
    # float64: the weights sum to 1 / (1 + the rounding of the softmax's total of <= 9 terms),
    # then each is divided and the 9 are summed: <= (8 + 1 + 8) u = 1.9e-15; rtol 1e-14 is 5x
    np.testing.assert_allclose(A.sum(axis=-1), 1.0, rtol=1e-14)
    assert np.all(A[~causal_mask(6, 9)] == 0)
    # Y is this very matmul (weights @ V) on the same arrays: bitwise equal, bound 0
    np.testing.assert_allclose(Y, A @ V, rtol=1e-14)


def test_query_that_sees_no_key_gets_zero_output():
    rng = np.random.default_rng(5)
    Q, K, V = rng.standard_normal((4, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 5))
    Y = scaled_dot_product_attention(Q, K, V, causal=True)
    np.testing.assert_array_equal(Y[:2], 0)  # L_q > L_k: the first 2 queries see nothing


def test_sdpa_batch_dims_broadcast():
    rng = np.random.default_rng(6)
    Q, K, V = (rng.standard_normal((2, 5, 4)), rng.standard_normal((5, 4)),
               rng.standard_normal((3, 1, 5, 2)))
    got = scaled_dot_product_attention(Q, K, V)
    assert got.shape == (3, 2, 5, 2)
    # batched matmuls may take another BLAS path than one 2-D product: two roundings, so
    # sdpa_error_bound = 1.7e-14 (rtol 1e-14 asked for equal bits, ill-posed near y = 0)
    np.testing.assert_allclose(got[2, 1], scaled_dot_product_attention(Q[1], K, V[2, 0]),
                               rtol=0, atol=sdpa_error_bound(Q[1], K, V[2, 0]))


# --- multi-head attention ------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(batch=batch_dims, L=sizes, n_heads=st.integers(1, 4), d_head=st.integers(1, 4),
       seed=seeds)
def test_split_heads_puts_consecutive_features_in_a_head_and_merge_undoes_it(
        batch, L, n_heads, d_head, seed):
    x = np.random.default_rng(seed).standard_normal(batch + (L, n_heads * d_head))
    heads = split_heads(x, n_heads)
    assert heads.shape == batch + (n_heads, L, d_head)
    for n in range(n_heads):
        np.testing.assert_array_equal(heads[..., n, :, :], x[..., n * d_head:(n + 1) * d_head])
    np.testing.assert_array_equal(merge_heads(heads), x)


def torch_mha(x, Ws, bs, n_heads, causal, dtype):
    """torch.nn.MultiheadAttention loaded with our weights: (output, per-head weights)."""
    d_model = x.shape[-1]
    mha = torch.nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    mha = mha.to(torch.float64 if dtype == np.float64 else torch.float32)
    W_q, W_k, W_v, W_o = (torch.tensor(W) for W in Ws)
    b_q, b_k, b_v, b_o = (torch.tensor(b) for b in bs)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([W_q, W_k, W_v]))
        mha.in_proj_bias.copy_(torch.cat([b_q, b_k, b_v]))
        mha.out_proj.weight.copy_(W_o)
        mha.out_proj.bias.copy_(b_o)
        L = x.shape[1]
        mask = torch.nn.Transformer.generate_square_subsequent_mask(L) if causal else None
        xt = torch.tensor(x)
        y, A = mha(xt, xt, xt, attn_mask=None if mask is None else mask.to(xt.dtype),
                   need_weights=True, average_attn_weights=False)
    return y.numpy(), A.numpy()


def random_mha_weights(rng, d_model, dtype):
    Ws = [(rng.standard_normal((d_model, d_model)) / np.sqrt(d_model)).astype(dtype)
          for _ in range(4)]
    bs = [(0.1 * rng.standard_normal(d_model)).astype(dtype) for _ in range(4)]
    return Ws, bs


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_heads", [1, 4])
def test_multi_head_attention_matches_torch(causal, dtype, n_heads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 10, 16)).astype(dtype)
    Ws, bs = random_mha_weights(rng, 16, dtype)
    b_q, b_k, b_v, b_o = bs
    y, A = multi_head_attention(x, *Ws, n_heads, causal=causal, b_q=b_q, b_k=b_k, b_v=b_v,
                                b_o=b_o, return_weights=True)
    y_torch, A_torch = torch_mha(x, Ws, bs, n_heads, causal, dtype)
    assert y.dtype == dtype and A.shape == (3, n_heads, 10, 10)
    # mha_error_bound (y / A): float64 4.1e-12 / 2.5e-13 (1 head), 2.9e-12 / 1.7e-13 (4);
    # float32 2.2e-3 / 1.3e-4 and 1.5e-3 / 9.3e-5, above the 1e-5 this was: the projections'
    # 17-term sums of |x| |W| ~ 4 dominate the worst case (measured 5e-7 / 1.2e-7)
    bound_y, bound_A = mha_error_bound(x, Ws, bs, n_heads)
    np.testing.assert_allclose(y, y_torch, rtol=0, atol=bound_y)
    np.testing.assert_allclose(A, A_torch, rtol=0, atol=bound_A)


def test_multi_head_attention_biases_default_to_zero():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 6, 8))
    Ws, _ = random_mha_weights(rng, 8, np.float64)
    y_torch, _ = torch_mha(x, Ws, [np.zeros(8)] * 4, 2, True, np.float64)
    # float64: mha_error_bound(x, Ws, zeros, 2) = 1.0e-12; atol 1e-10 is 100x
    np.testing.assert_allclose(multi_head_attention(x, *Ws, 2, causal=True), y_torch,
                               rtol=1e-10, atol=1e-10)


# --- KV cache ------------------------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 3), L=st.integers(1, 12), n_heads=st.sampled_from([1, 2, 4]),
       seed=seeds)
def test_kv_cache_decode_equals_full_causal_attention(batch, L, n_heads, seed):
    rng = np.random.default_rng(seed)
    d_model = 8
    x = rng.standard_normal((batch, L, d_model))
    Ws, (b_q, b_k, b_v, b_o) = random_mha_weights(rng, d_model, np.float64)
    biases = dict(b_q=b_q, b_k=b_k, b_v=b_v, b_o=b_o)
    y, cache = kv_cache_decode(x, *Ws, n_heads, **biases)
    # float64, one token at a time vs all at once (other matmul shapes, other roundings):
    # mha_error_bound from this draw (9e-14 .. 3e-12 over 500 draws, the differences <= 0.4%
    # of it; a fixed 1e-10 would not follow the draws' sizes)
    np.testing.assert_allclose(y, multi_head_attention(x, *Ws, n_heads, causal=True, **biases),
                               rtol=0, atol=mha_error_bound(x, Ws, list(biases.values()),
                                                            n_heads)[0])
    assert cache.K.shape == cache.V.shape == (batch, n_heads, L, d_model // n_heads)
    assert cache.n_numbers == 2 * batch * L * d_model
    assert cache.n_bytes == 8 * cache.n_numbers


def test_kv_cache_attend_matches_torch_for_one_query():
    rng = np.random.default_rng(9)
    K, V, q = rng.standard_normal((2, 7, 4)), rng.standard_normal((2, 7, 3)), \
        rng.standard_normal((2, 4))
    cache = KVCache()
    assert cache.n_numbers == 0 and cache.n_bytes == 0
    for t in range(7):
        cache.append(K[:, t], V[:, t])
    # float64: sdpa_error_bound(q[:, None], K, V) = 3.2e-14; atol 1e-10 is 3000x
    np.testing.assert_allclose(cache.attend(q), torch_sdpa(q[:, None], K, V)[:, 0],
                               rtol=1e-10, atol=1e-10)
    assert cache.n_numbers == 2 * 7 * 4 + 2 * 7 * 3  # K (2, 7, 4) and V (2, 7, 3)


# --- linear attention ----------------------------------------------------------------------

def test_elu_feature_map_matches_torch_and_is_positive():
    x = np.linspace(-30, 30, 601)
    got = elu_feature_map(x)
    # torch adds 1 to elu(x) = expm1(x), which cancels for x << 0: its answer is exact only
    # to about one unit in the last place of 1.0 (absolute), whereas exp(x) is accurate.
    # float64: torch's expm1 errs by <= 1 ulp of |expm1| < 1 (1.1e-16), the + 1 is exact there
    # (or adds <= 5.6e-17 near 0); ours by 1 ulp of exp(x) (<= 2.2e-16 exp(x)): atol 1e-15 is
    # 9x the 1.1e-16 at x << 0 (3e-16 was 2.7x), rtol 1e-15 4x the 2.2e-16 near 0; x > 0: x + 1
    # on both sides, equal bits
    np.testing.assert_allclose(got, F.elu(torch.tensor(x)).numpy() + 1, rtol=1e-15, atol=1e-15)
    assert np.all(got > 0)


@settings(max_examples=40, deadline=None)
@given(batch=batch_dims, L=sizes, d_k=st.integers(1, 6), d_v=st.integers(1, 6), seed=seeds)
def test_linear_attention_parallel_equals_recurrent_equals_brute_force(batch, L, d_k, d_v, seed):
    rng = np.random.default_rng(seed)
    Q, K = rng.standard_normal(batch + (L, d_k)), rng.standard_normal(batch + (L, d_k))
    V = rng.standard_normal(batch + (L, d_v))
    parallel = linear_attention_parallel(Q, K, V, causal=True)
    recurrent = linear_attention_recurrent(Q, K, V)
    assert parallel.shape == recurrent.shape == batch + (L, d_v)
    # float64 y = num / den, positive weights w = phi(q) . phi(k) (phi >= exp(-6) for these
    # draws): num and den sum <= L = 9 terms of d_k <= 6 products, so per side |dy| <=
    # (2 (L + d_k + 2) + 1) u max|V| = 35 u 5 = 2e-14; 1e-10 is 2500x the two sides' 4e-14
    np.testing.assert_allclose(parallel, recurrent, rtol=1e-10, atol=1e-10)
    expected = brute_force_linear_attention(Q, K, V, elu_feature_map, causal=True)
    np.testing.assert_allclose(parallel, expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(batch=batch_dims, L_q=sizes, L_k=sizes, d_k=st.integers(1, 6), d_v=st.integers(1, 6),
       seed=seeds)
def test_non_causal_linear_attention_equals_brute_force(batch, L_q, L_k, d_k, d_v, seed):
    rng = np.random.default_rng(seed)
    Q, K = rng.standard_normal(batch + (L_q, d_k)), rng.standard_normal(batch + (L_k, d_k))
    V = rng.standard_normal(batch + (L_k, d_v))
    # float64, as the causal test: (2 (L_k + d_k + 2) + 1) u max|V| per side <= 2e-14; 1e-10
    # is 2500x the two sides' 4e-14
    np.testing.assert_allclose(linear_attention_parallel(Q, K, V, causal=False),
                               brute_force_linear_attention(Q, K, V, elu_feature_map, False),
                               rtol=1e-10, atol=1e-10)


def test_linear_attention_step_by_step_equals_brute_force():
    rng = np.random.default_rng(10)
    Q, K, V = rng.standard_normal((2, 9, 3)), rng.standard_normal((2, 9, 3)), \
        rng.standard_normal((2, 9, 4))
    state, ys = None, []
    for t in range(9):
        S_before = None if state is None else state[0].copy()
        y_t, new_state = linear_attention_step(state, Q[:, t], K[:, t], V[:, t])
        if state is not None:
            np.testing.assert_array_equal(state[0], S_before)  # input state untouched
        assert new_state[0].shape == (2, 3, 4) and new_state[1].shape == (2, 3)
        state = new_state
        ys.append(y_t)
    # float64, L = 9, d_k = 3: (2 (L + d_k + 2) + 1) u max|V| = 29 u 2.5 = 8e-15 per side;
    # 1e-10 is 6000x the two sides' 1.6e-14
    np.testing.assert_allclose(np.stack(ys, axis=1),
                               brute_force_linear_attention(Q, K, V, elu_feature_map, True),
                               rtol=1e-10, atol=1e-10)


def test_constant_feature_map_gives_the_running_mean():
    """phi = 1 weighs every visible key equally: y_i is the mean of v_0 .. v_i."""
    rng = np.random.default_rng(11)
    Q, K, V = rng.standard_normal((12, 3)), rng.standard_normal((12, 3)), \
        rng.standard_normal((12, 2))
    ones = lambda x: np.ones_like(x)  # noqa: E731
    running_mean = np.cumsum(V, axis=0) / np.arange(1, 13)[:, None]
    # float64: the causal forms accumulate phi(k) v = v in the order of np.cumsum (sequential
    # by definition), so they hold the reference's sums bit for bit; 3 equal sums over d_k
    # and the divisions add <= 3 u = 3.3e-16 relative; rtol 1e-12 is 3000x. Non-causal: the
    # BLAS sum and np.mean's of 12 terms differ by <= 22 u sum|v| = 22 u 6.0 |sum v| (this V):
    # 1.5e-14 relative; 1e-12 is 70x
    np.testing.assert_allclose(linear_attention_parallel(Q, K, V, feature_map=ones),
                               running_mean, rtol=1e-12)
    np.testing.assert_allclose(linear_attention_recurrent(Q, K, V, feature_map=ones),
                               running_mean, rtol=1e-12)
    np.testing.assert_allclose(linear_attention_parallel(Q, K, V, False, ones),
                               np.broadcast_to(V.mean(axis=0), (12, 2)), rtol=1e-12)


def test_feature_map_may_change_the_width():
    """phi(x) = [relu(x), relu(-x)] + 0.1 doubles d_k; all three forms still agree."""
    phi = lambda x: np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], axis=-1) + 0.1  # noqa
    rng = np.random.default_rng(12)
    Q, K, V = rng.standard_normal((7, 3)), rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    expected = brute_force_linear_attention(Q, K, V, phi, causal=True)
    # float64, L = 7, d_phi = 6: (2 (L + d_phi + 2) + 1) u max|V| = 31 u 2 = 7e-15 per side;
    # 1e-10 is 7000x the two sides' 1.4e-14
    np.testing.assert_allclose(linear_attention_parallel(Q, K, V, feature_map=phi), expected,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(linear_attention_recurrent(Q, K, V, feature_map=phi), expected,
                               rtol=1e-10, atol=1e-10)


def test_linear_attention_keeps_float32():
    Q = np.random.default_rng(13).standard_normal((5, 4)).astype(np.float32)
    assert linear_attention_parallel(Q, Q, Q).dtype == np.float32
    assert linear_attention_recurrent(Q, Q, Q).dtype == np.float32


def test_no_keys_at_all_gives_zero_output():
    Y, A = scaled_dot_product_attention(np.ones((3, 4)), np.ones((0, 4)), np.ones((0, 2)),
                                        causal=True, return_weights=True)
    assert A.shape == (3, 0)
    np.testing.assert_array_equal(Y, np.zeros((3, 2)))
    assert causal_mask(0, 3).shape == (0, 3)


def _cache_of(k):
    cache = KVCache()
    cache.append(k, k)
    return cache


# --- bad input -----------------------------------------------------------------------------

_x = np.ones((2, 5, 8))
_W = np.eye(8)


@pytest.mark.parametrize("call, argument", [
    (lambda: softmax(3.0), "z"),
    (lambda: softmax(["a"]), "z"),
    (lambda: softmax(np.ones(3), axis=1), "axis"),
    (lambda: causal_mask(-1), "L_q"),
    (lambda: causal_mask(3, 2.5), "L_k"),
    (lambda: causal_mask(True), "L_q"),
    (lambda: scaled_dot_product_attention(np.ones(4), np.ones((3, 4)), np.ones((3, 2))), "Q"),
    (lambda: scaled_dot_product_attention(np.ones((2, 7, 16)), np.ones((2, 7, 8)),
                                          np.ones((2, 7, 3))), "K"),
    (lambda: scaled_dot_product_attention(np.ones((5, 4)), np.ones((3, 4)), np.ones((4, 2))),
     "V"),
    (lambda: scaled_dot_product_attention(np.ones((2, 5, 4)), np.ones((3, 3, 4)),
                                          np.ones((3, 2))), "K"),
    (lambda: scaled_dot_product_attention(np.ones((5, 4)), np.ones((3, 4)), np.ones((3, 2)),
                                          mask=np.ones((3, 5), bool)), "mask"),
    (lambda: scaled_dot_product_attention(np.ones((5, 4)), np.ones((3, 4)), np.ones((3, 2)),
                                          mask=np.ones((5, 3), int)), "mask"),
    (lambda: split_heads(np.ones((5, 6)), 4), "n_heads"),
    (lambda: split_heads(np.ones(6), 2), "x"),
    (lambda: merge_heads(np.ones((5, 6))), "x"),
    (lambda: multi_head_attention(np.ones((5, 8)), _W, _W, _W, _W, 2), "x"),
    (lambda: multi_head_attention(_x, _W, np.eye(4), _W, _W, 2), "W_k"),
    (lambda: multi_head_attention(_x, _W, _W, _W, _W, 3), "n_heads"),
    (lambda: multi_head_attention(_x, _W, _W, _W, _W, 2, b_o=np.ones(4)), "b_o"),
    (lambda: kv_cache_decode(_x, _W, _W, np.eye(8)[:4], _W, 2), "W_v"),
    (lambda: KVCache().attend(np.ones(3)), "q_t"),
    (lambda: _cache_of(np.ones((2, 3))).attend(np.ones((3, 3))), "q_t"),
    (lambda: KVCache().append(np.ones((2, 3)), np.ones((3, 3))), "v_t"),
    (lambda: linear_attention_parallel(np.ones((5, 4)), np.ones((6, 4)), np.ones((6, 2))), "K"),
    (lambda: linear_attention_recurrent(np.ones((5, 4)), np.ones((6, 4)), np.ones((6, 2))),
     "K"),
    (lambda: linear_attention_parallel(np.ones((5, 4)), np.ones((5, 4)), np.ones((5, 2)),
                                       feature_map="elu"), "feature_map"),
    (lambda: linear_attention_step((np.ones((4, 2)),), np.ones(4), np.ones(4), np.ones(2)),
     "state"),
    (lambda: linear_attention_step((np.ones((4, 3)), np.ones(4)), np.ones(4), np.ones(4),
                                   np.ones(2)), "state"),
    (lambda: linear_attention_step(None, np.ones(4), np.ones(3), np.ones(2)), "k_t"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: expected"):
        call()


def test_kv_cache_rejects_a_token_of_another_shape():
    cache = KVCache()
    cache.append(np.ones((2, 3)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="^k_t: expected"):
        cache.append(np.ones((2, 4)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="^v_t: expected"):
        cache.append(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize("t, heads, d_head", [(0, 1, 4), (1, 2, 3), (7, 4, 2)])
def test_kv_cache_numbers_counts_what_the_cache_holds(t, heads, d_head):
    from seqlearn.attention import kv_cache_numbers
    rng = np.random.default_rng(t)
    cache = KVCache()
    for _ in range(t):
        cache.append(rng.standard_normal((heads, d_head)), rng.standard_normal((heads, d_head)))
    assert kv_cache_numbers(t, heads * d_head) == cache.n_numbers
    assert kv_cache_numbers(t, heads * d_head, n_layers=3) == 3 * cache.n_numbers
    assert list(kv_cache_numbers(np.array([t, t + 1]), 5)) == [10 * t, 10 * t + 10]
    for bad, name in [(dict(t=-1), "t"), (dict(t=1.5), "t"), (dict(d_model=0), "d_model"),
                      (dict(n_layers=0), "n_layers")]:
        with pytest.raises(ValueError, match=f"^{name}:"):
            kv_cache_numbers(**{**dict(t=2, d_model=4), **bad})


# ---------------------------------------------------------------- the torch mixer, positions
def test_sinusoidal_positions_by_the_formula_and_relative_offsets():
    P = sinusoidal_positions(50, 6)
    for t in (0, 7, 49):
        for i in range(3):
            w = 1 / 10000 ** (2 * i / 6)
            # float64: w and the code's 10000 ** (-2i / 6) differ by <= 2 pow ulps and the
            # division (<= 5 u relative); with the product t w: <= 7 u t w <= 7 u 2.3 = 1.8e-15
            # for i >= 1 (i = 0: w = 1 exactly), sin / cos 1 ulp more: <= 2e-15 (abs 1e-15
            # was below it); abs 1e-14 is 5x
            assert P[t, 2 * i] == pytest.approx(np.sin(t * w), abs=1e-14)
            assert P[t, 2 * i + 1] == pytest.approx(np.cos(t * w), abs=1e-14)
    # sum_i sin a sin b + cos a cos b = sum_i cos(a - b): the dot product sees only t - s
    G = P @ P.T
    # float64 dots of 6 terms of size <= 1 (<= 6 u 3) whose arguments t w, t <= 40, err by
    # <= 3 u 40 w: each G entry within ~4e-15, the pair within 8e-15; the diagonal sums of
    # sin^2 + cos^2 within 8 u 3 = 2.7e-15; atol 1e-12 is > 100x
    np.testing.assert_allclose(G[10, 3], G[40, 33], atol=1e-12)
    np.testing.assert_allclose(np.diag(G), 3.0, atol=1e-12)
    with pytest.raises(ValueError, match="d_model: expected an even"):
        sinusoidal_positions(4, 5)


def test_causal_self_attention_equals_chapter_2_multi_head_attention():
    torch.manual_seed(0)
    layer = CausalSelfAttention(8, n_heads=2).double()
    x = torch.randn(3, 7, 8, dtype=torch.float64)
    W_q, W_k, W_v = layer.W_qkv.weight.detach().numpy().reshape(3, 8, 8)
    expected = multi_head_attention(x.numpy(), W_q, W_k, W_v, layer.W_o.weight.detach().numpy(),
                                    2, causal=True)
    # float64 torch vs NumPy: mha_error_bound(x, ..., zeros, 2) = 9.7e-14; atol 1e-12 is 10x
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="n_heads: expected a divisor"):
        CausalSelfAttention(8, n_heads=3)
    with pytest.raises(ValueError, match="x: expected a tensor"):
        layer(x[0])


def test_attention_language_model_is_causal_and_has_no_constant_state():
    torch.manual_seed(1)
    model = MambaLM(9, 8, 2, mixer="attention").double()
    ids = torch.randint(0, 9, (2, 10))
    logits = model(ids)
    ids2 = ids.clone()
    ids2[:, 6] = (ids2[:, 6] + 1) % 9
    logits2 = model(ids2)
    # equal bits, though the later tokens differ: same shapes, so the same summation orders,
    # and the causal mask turns their terms into exact zeros (exp(-inf) = 0, 0 v = 0)
    assert torch.equal(logits2[:, :6], logits[:, :6])
    # the changed token moves its logits by O(1) (12 here), allclose's default 1e-5 + 1e-8 is
    # 1e6 times smaller: float64 rounding (~1e-15) cannot make them close
    assert not torch.allclose(logits2[:, 6], logits[:, 6])
    # one layer of attention alone is blind to the order of the earlier tokens at the last
    # position; with the positions added, swapping two of them changes its output
    one = MambaLM(9, 8, 1, mixer="attention").double()
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    swapped = torch.tensor([[2, 1, 3, 4, 5]])
    # the swap moves the last logits by 0.07 here, 1e3 times allclose's default 1e-5 + 1e-8
    assert not torch.allclose(one(ids)[:, -1], one(swapped)[:, -1])
    with pytest.raises(ValueError, match="no constant-size state"):
        model.initial_state(2)
    with pytest.raises(ValueError, match="d_model: expected an even"):
        MambaLM(9, 7, 1, mixer="attention")


# ---------------------------------------------------------------- reliability review (issue 13)
@pytest.mark.parametrize("bad", ["no", 1, None, np.array([True, False])])
def test_flags_must_be_bools(bad):
    """Review finding 4: causal="no" applied the mask (any truthy object was True)."""
    rng = np.random.default_rng(0)
    Q, K, V = rng.standard_normal((3, 4, 2))
    x, W = rng.standard_normal((1, 4, 4)), np.eye(4)
    with pytest.raises(ValueError, match="^causal: expected True or False"):
        attention.scaled_dot_product_attention(Q, K, V, causal=bad)
    with pytest.raises(ValueError, match="^return_weights: expected True or False"):
        attention.scaled_dot_product_attention(Q, K, V, return_weights=bad)
    with pytest.raises(ValueError, match="^causal: expected True or False"):
        attention.multi_head_attention(x, W, W, W, W, 2, causal=bad)
    with pytest.raises(ValueError, match="^causal: expected True or False"):
        attention.linear_attention_parallel(Q, K, V, causal=bad)


def test_linear_attention_step_checks_its_arguments_together():
    """Review finding 11: batch mismatches and a feature map returning None were numpy errors."""
    with pytest.raises(ValueError, match="^k_t: expected leading"):
        attention.linear_attention_step(None, np.ones((2, 4)), np.ones((3, 4)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="^v_t: expected leading"):
        attention.linear_attention_step(None, np.ones((2, 4)), np.ones((2, 4)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="^feature_map: expected"):
        attention.linear_attention_step(None, np.ones(4), np.ones(4), np.ones(3),
                                        feature_map=lambda x: None)
    S, z = np.zeros((5, 4, 3)), np.zeros((5, 4))
    with pytest.raises(ValueError, match="^state: expected leading"):
        attention.linear_attention_step((S, z), np.ones((2, 4)), np.ones((2, 4)), np.ones((2, 3)))


def test_a_mask_may_not_broadcast_the_scores_up():
    """Review finding 11: a mask of more batch axes than the scores passed, then failed in matmul."""
    Q = K = V = np.ones((4, 2))
    with pytest.raises(ValueError, match="^mask: expected a shape broadcastable"):
        attention.scaled_dot_product_attention(Q, K, V, mask=np.ones((3, 4, 4), bool))


def test_zero_key_width_is_refused():
    """Review finding 12: d_k = 0 divided by sqrt(0) and returned NaN silently."""
    with pytest.raises(ValueError, match="^Q: expected a key width d_k >= 1"):
        attention.scaled_dot_product_attention(np.ones((3, 0)), np.ones((3, 0)), np.ones((3, 2)))


def test_huge_sizes_are_refused_up_front():
    with pytest.raises(ValueError, match="^L_q: this asks for"):
        attention.causal_mask(10**7)
    with pytest.raises(ValueError, match="^L: this asks for"):
        attention.sinusoidal_positions(10**12, 4)


# ---------------------------------------------------------------- chapter 2, issue 12 additions
def test_self_attention_without_positions_is_permutation_equivariant():
    """Permute the tokens and the outputs permute the same way: attention sees a set."""
    rng = np.random.default_rng(20)
    x = rng.standard_normal((2, 7, 8))
    Ws = [rng.standard_normal((8, 8)) / 3 for _ in range(4)]
    perm = rng.permutation(7)
    y = multi_head_attention(x, *Ws, 2)
    # float64, permuted rows sum the softmax and the values in another order: two roundings,
    # mha_error_bound = 1.2e-12, above the 1e-12 this was (measured 7e-16)
    np.testing.assert_allclose(multi_head_attention(x[:, perm], *Ws, 2), y[:, perm],
                               rtol=0, atol=mha_error_bound(x, Ws, [np.zeros(8)] * 4, 2)[0])
    # with positions added the symmetry is broken
    P = sinusoidal_positions(7, 8)
    y_pos = multi_head_attention(x + P, *Ws, 2)
    # the positions move y by O(1) (0.97 here), 1e3 times atol 1e-3 (rounding: ~1e-12)
    assert not np.allclose(multi_head_attention(x[:, perm] + P, *Ws, 2), y_pos[:, perm],
                           atol=1e-3)


@pytest.mark.parametrize("k", [0, 1, 5, -3, 37])
def test_position_rotation_maps_position_t_to_t_plus_k(k):
    P = sinusoidal_positions(80, 10)
    R = attention.position_rotation(k, 10)
    lo, hi = max(0, -k), min(80, 80 - k)
    # float64: the arguments t w, k w, (t + k) w (all <= 79 w, w <= 1) err by <= 3 u 79 each,
    # the 2-term rotation by 2 u: <= 3 (3 u 79) + 4 u = 8e-14; atol 1e-12 is 12x. R R^T: the
    # off-diagonal c s - s c is exactly 0, the diagonal c^2 + s^2 within 3 u + 2 ulps = 8e-16
    np.testing.assert_allclose(P[lo + k:hi + k], P[lo:hi] @ R.T, atol=1e-12)
    np.testing.assert_allclose(R @ R.T, np.eye(10), atol=1e-12)     # a rotation
    # -k w = -(k w) exactly, and sin / cos of -a are -sin a / cos a (bitwise with symmetric
    # argument reduction; else within 1 ulp <= 2.2e-16 of |entries| <= 1): atol 1e-15 is 4.5x
    np.testing.assert_allclose(R, attention.position_rotation(-k, 10).T, atol=1e-15)


def _additive_loop(S, H, W, U, v):
    """e_ij = v . tanh(W s_i + U h_j), alpha = softmax_j, c_i = sum_j alpha_ij h_j, by loops."""
    L_q, L_k = len(S), len(H)
    e = np.array([[v @ np.tanh(W @ S[i] + U @ H[j]) for j in range(L_k)] for i in range(L_q)])
    alpha = np.exp(e - e.max(1, keepdims=True))
    alpha /= alpha.sum(1, keepdims=True)
    return np.array([sum(alpha[i, j] * H[j] for j in range(L_k)) for i in range(L_q)]), alpha


@pytest.mark.parametrize("L_q, L_k, d_s, d_h, d_a", [(1, 1, 1, 1, 1), (4, 7, 3, 5, 6),
                                                    (6, 2, 8, 4, 3)])
def test_additive_attention_equals_a_hand_loop(L_q, L_k, d_s, d_h, d_a):
    rng = np.random.default_rng(L_q * 10 + L_k)
    S, H = rng.standard_normal((L_q, d_s)), rng.standard_normal((L_k, d_h))
    W, U, v = (rng.standard_normal((d_a, d_s)), rng.standard_normal((d_a, d_h)),
               rng.standard_normal(d_a))
    c, alpha = attention.additive_attention(S, H, W, U, v, return_weights=True)
    c_ref, alpha_ref = _additive_loop(S, H, W, U, v)
    assert c.shape == (L_q, d_h) and alpha.shape == (L_q, L_k)
    # float64, batched matmuls vs a loop of small ones: additive_error_bound, <= 2.5e-13 for c
    # (scores from 9-term sums of |W s| + |U h| <= 11), within 4x of the 1e-12 this was
    bound_c, bound_alpha = additive_error_bound(S, H, W, U, v)
    np.testing.assert_allclose(c, c_ref, rtol=0, atol=bound_c)
    np.testing.assert_allclose(alpha, alpha_ref, rtol=0, atol=bound_alpha)
    # the weights sum to 1 / (1 + the rounding of the total) and are summed: (2 L_k + 2) u
    # <= 1.8e-15; atol 1e-12 is 500x
    np.testing.assert_allclose(alpha.sum(-1), 1, atol=1e-12)
    # a batch of three, each row as the loop; and a mask
    Sb, Hb = rng.standard_normal((3, L_q, d_s)), rng.standard_normal((3, L_k, d_h))
    cb = attention.additive_attention(Sb, Hb, W, U, v)
    for b in range(3):
        # as above, additive_error_bound of this batch row
        np.testing.assert_allclose(cb[b], _additive_loop(Sb[b], Hb[b], W, U, v)[0], rtol=0,
                                   atol=additive_error_bound(Sb[b], Hb[b], W, U, v)[0])
    mask = np.ones((L_q, L_k), bool)
    mask[:, 0] = L_k == 1
    _, a_m = attention.additive_attention(S, H, W, U, v, mask=mask, return_weights=True)
    if L_k > 1:
        np.testing.assert_array_equal(a_m[:, 0], 0)
        # as above: (2 L_k + 2) u <= 1.8e-15; atol 1e-12 is 500x
        np.testing.assert_allclose(a_m.sum(-1), 1, atol=1e-12)


def test_additive_attention_refuses_mismatched_weights():
    S, H = np.ones((2, 3)), np.ones((4, 5))
    for kwargs, name in [(dict(W=np.ones((6, 4))), "W"), (dict(U=np.ones((6, 3))), "U"),
                         (dict(v=np.ones(5)), "v")]:
        args = {**dict(W=np.ones((6, 3)), U=np.ones((6, 5)), v=np.ones(6)), **kwargs}
        with pytest.raises(ValueError, match=f"^{name}: expected"):
            attention.additive_attention(S, H, **args)


@pytest.mark.parametrize("L_q, L_k, block", [(1, 1, 1), (7, 7, 3), (13, 13, 4), (5, 11, 2),
                                             (11, 5, 3), (9, 9, 100), (17, 17, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_online_softmax_equals_full_softmax_attention(L_q, L_k, block, causal):
    rng = np.random.default_rng(L_q + 31 * L_k + block)
    Q, K, V = (rng.standard_normal((2, L_q, 6)), rng.standard_normal((2, L_k, 6)),
               rng.standard_normal((2, L_k, 3)))
    expected = scaled_dot_product_attention(Q, K, V, causal=causal)
    got = attention.online_softmax_attention(Q, K, V, block_size=block, causal=causal)
    # float64, blocks of scores and rescaled running sums vs one softmax: two roundings of the
    # same attention, online_softmax_error_bound <= 1.3e-13 here; atol 1e-12 is 7x
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # torch as a second, independent reference (top-left = bottom-right when L_q = L_k)
    if L_q == L_k:
        # the same bound (1e-12 + 1e-10 |y|) is 7x or more
        np.testing.assert_allclose(got, torch_sdpa(Q, K, V, is_causal=causal),
                                   rtol=1e-10, atol=1e-12)


def test_online_softmax_does_not_overflow_on_large_scores():
    rng = np.random.default_rng(3)
    Q, K, V = 40 * rng.standard_normal((9, 8)), 40 * rng.standard_normal((9, 8)), \
        rng.standard_normal((9, 2))
    assert np.abs(Q @ K.T).max() / np.sqrt(8) > 1e3        # exp of these overflows
    with np.errstate(over="raise", invalid="raise"):
        got = attention.online_softmax_attention(Q, K, V, block_size=2, causal=True)
    # float64 scores up to ~1e4 err by (d_k + 2) u S, S = 7.5e3: online_softmax_error_bound =
    # 5.1e-11, above the 1e-12 (+ 1e-10 |y|, |y| >= 0.009) this was; the block and full
    # products happen to round alike on this BLAS
    np.testing.assert_allclose(got, scaled_dot_product_attention(Q, K, V, causal=True),
                               rtol=0, atol=online_softmax_error_bound(Q, K, V, 2))
    f32 = attention.online_softmax_attention(Q.astype(np.float32), K.astype(np.float32),
                                             V.astype(np.float32), 4)
    assert f32.dtype == np.float32 and np.isfinite(f32).all()


def test_online_softmax_query_without_keys_gives_zero():
    Y = attention.online_softmax_attention(np.ones((5, 2)), np.ones((3, 2)), np.ones((3, 4)),
                                           block_size=2, causal=True)
    np.testing.assert_array_equal(Y[:2], 0)               # queries 0, 1 see no key
    # equal scores: exp(0) = 1, acc and l are the same small integer sums: y = 1 exactly
    # (bound 0; default rtol 1e-7)
    np.testing.assert_allclose(Y[2:], 1)


@pytest.mark.parametrize("capacity", [1, 2, 16])
def test_preallocated_kv_cache_equals_concatenation_and_grows_by_doubling(capacity):
    rng = np.random.default_rng(capacity)
    ks, vs = rng.standard_normal((40, 2, 3)), rng.standard_normal((40, 2, 5))
    cache = KVCache(capacity=capacity)
    allocations = set()
    for t in range(40):
        cache.append(ks[t], vs[t])
        allocations.add(cache._K.shape[-2])
        np.testing.assert_array_equal(cache.K, np.moveaxis(ks[:t + 1], 0, -2))
        np.testing.assert_array_equal(cache.V, np.moveaxis(vs[:t + 1], 0, -2))
        q = rng.standard_normal((2, 3))
        expected = scaled_dot_product_attention(q[:, None], cache.K, cache.V)[:, 0]
        np.testing.assert_array_equal(cache.attend(q), expected)
    assert cache.n_numbers == 40 * 2 * (3 + 5)
    assert len(allocations) <= 7                      # doublings, not one copy per token


def test_kv_cache_can_be_filled_directly_then_appended():
    cache = KVCache()
    cache.K, cache.V = np.ones((1, 2, 5, 4)), np.zeros((1, 2, 5, 3))
    cache.append(np.ones((1, 2, 4)), np.ones((1, 2, 3)))
    assert cache.K.shape == (1, 2, 6, 4) and cache.V[..., -1, :].sum() == 6
    with pytest.raises(ValueError, match="^V: expected"):
        KVCache().V = np.ones((2, 3))


def test_causal_self_attention_weights_are_the_ones_forward_uses():
    torch.manual_seed(2)
    layer = CausalSelfAttention(8, n_heads=2).double()
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    W_q, W_k, W_v = layer.W_qkv.weight.detach().numpy().reshape(3, 8, 8)
    _, A = multi_head_attention(x.numpy(), W_q, W_k, W_v, layer.W_o.weight.detach().numpy(),
                                2, causal=True, return_weights=True)
    # float64 torch vs NumPy weights: mha_error_bound's = 2.1e-14; atol 1e-12 is 48x
    np.testing.assert_allclose(layer.weights(x).detach().numpy(), A, rtol=1e-12, atol=1e-12)


def test_transformer_block_is_pre_norm_residual_attention_then_mlp():
    torch.manual_seed(3)
    block = attention.TransformerBlock(8, n_heads=2, d_ff=16).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    ln = lambda u, norm: F.layer_norm(u, (8,), norm.weight, norm.bias, norm.eps)  # noqa: E731
    h = x + block.attn(ln(x, block.norm1))
    m = block.mlp
    expected = h + F.linear(F.gelu(F.linear(ln(h, block.norm2), m[0].weight, m[0].bias)),
                            m[2].weight, m[2].bias)
    # the same torch kernels (layer_norm, the attention module, linear, gelu) on the same
    # float64 numbers in the same order: bitwise equal, bound 0; 1e-12 is slack
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)


def test_causal_mask_refuses_a_huge_side_even_when_the_other_is_zero():
    # found by the two-mutation fuzz test: L_q = 0 made L_q * L_k = 0 pass the size check
    with pytest.raises(ValueError, match="L_k: this asks for"):
        causal_mask(0, 10**12)
    assert causal_mask(0, 3).shape == (0, 3)


def test_kv_cache_numbers_refuses_an_array_whose_count_overflows_int64():
    """Reliability review, turn 3, finding 8: 10**17 tokens wrapped to a negative count in
    an array (the scalar form, a Python int, is exact)."""
    from seqlearn.attention import kv_cache_numbers
    assert kv_cache_numbers(10 ** 17, 1000) == 2 * 10 ** 20
    with pytest.raises(ValueError, match="^t: expected at most"):
        kv_cache_numbers(np.array([10 ** 17]), 1000)
    most = np.iinfo(np.int64).max // 2000
    assert kv_cache_numbers(np.array([most]), 1000)[0] == 2000 * most


# ------------------------------------------------------------ encoder-decoder (chapter 2)
def _brute_attention(layer, x, memory, mask):
    """MultiHeadAttention by loops over batch, head, query and key, float64 throughout."""
    W_q, W_k, W_v = (w.detach().numpy() for w in layer.W_qkv.weight.chunk(3, dim=0))
    W_o = layer.W_o.weight.detach().numpy()
    x, memory = x.numpy(), memory.numpy()
    batch, L_q, d = x.shape
    L_k, h = memory.shape[1], layer.n_heads
    dh = d // h
    out = np.zeros((batch, L_q, d))
    for b in range(batch):
        heads = np.zeros((L_q, d))
        for head in range(h):
            sl = slice(head * dh, (head + 1) * dh)
            for i in range(L_q):
                q = W_q[sl] @ x[b, i]
                scores, values = [], []
                for j in range(L_k):
                    m = mask if mask is None or mask.ndim == 2 else mask[b]
                    if m is None or bool(m[i, j]):
                        scores.append(q @ (W_k[sl] @ memory[b, j]) / np.sqrt(dh))
                        values.append(W_v[sl] @ memory[b, j])
                w = np.exp(np.array(scores) - max(scores))
                heads[i, sl] = (w / w.sum()) @ np.array(values)
        out[b] = heads @ W_o.T
    return out


@pytest.mark.parametrize("mask_kind", ["none", "shared", "per_batch"])
def test_cross_attention_equals_a_loop_over_queries_and_keys(mask_kind):
    torch.manual_seed(0)
    layer = attention.MultiHeadAttention(8, n_heads=2).double()
    x, memory = torch.randn(3, 4, 8, dtype=torch.float64), torch.randn(3, 6, 8, dtype=torch.float64)
    rng = np.random.default_rng(1)
    mask = {"none": None,
            "shared": torch.tensor(rng.random((4, 6)) < 0.6),
            "per_batch": torch.tensor(rng.random((3, 4, 6)) < 0.6)}[mask_kind]
    if mask is not None:
        mask[..., 0] = True                         # every query sees a key
    with torch.no_grad():
        y = layer(x, memory, mask).numpy()
    # float64, d_head = 4, 6 keys: both sides err by a few hundred eps at most; 1e-12 is ~4,000 eps
    np.testing.assert_allclose(y, _brute_attention(layer, x, memory, mask), rtol=0, atol=1e-12)
    w = layer.weights(x, memory, mask).detach()
    assert w.shape == (3, 2, 4, 6)
    if mask is not None:
        assert (w.masked_select(~mask.reshape(-1, 1, 4, 6).expand_as(w)) == 0).all()
    # a sum of 6 positive float64 weights: error <= 6 eps ~ 1.3e-15
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 4, dtype=torch.float64),
                               rtol=0, atol=1e-14)


def test_self_attention_with_the_causal_mask_is_causal_self_attention():
    torch.manual_seed(0)
    layer = attention.MultiHeadAttention(8, n_heads=2).double()
    causal = CausalSelfAttention(8, n_heads=2).double()
    causal.load_state_dict(layer.state_dict())
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    # the same float64 operations in the same order: equal up to the masking's ulp (1e-12 is far)
    torch.testing.assert_close(layer(x, mask=torch.tensor(causal_mask(5))), causal(x),
                               rtol=0, atol=1e-12)


def test_attention_mask_is_refused_when_a_query_sees_no_key_or_the_shape_is_wrong():
    layer = attention.MultiHeadAttention(4, n_heads=2)
    x = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="^mask: every query"):
        layer(x, mask=torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="^mask: expected"):
        layer(x, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="^mask: expected"):
        layer(x, mask=torch.ones(3, 3))
    with pytest.raises(ValueError, match="^memory: expected a batch"):
        layer(x, torch.randn(1, 3, 4))


def _seq2seq_batch(n=6, seed=0):
    from seqlearn import tasks
    return [torch.as_tensor(a) for a in tasks.digit_reversal(n, (2, 5), rng=seed)]


def test_encoder_decoder_shapes_and_the_cross_weights_ignore_padding():
    torch.manual_seed(0)
    model = attention.EncoderDecoder(13, 16, n_heads=2, n_enc=2, n_dec=2).double()
    src, tgt_in, _ = _seq2seq_batch()
    assert model(src, tgt_in).shape == (6, 6, 13)
    ws = model.cross_weights(src, tgt_in)
    assert len(ws) == 2 and ws[0].shape == (6, 2, 6, 5)
    pad = (src == 0)[:, None, None, :].expand_as(ws[0])
    assert all((w.masked_select(pad) == 0).all() for w in ws)
    assert attention.EncoderDecoder(13, 16, cross=False).cross_weights(src, tgt_in) == []


def test_encoder_decoder_output_at_t_does_not_see_later_decoder_inputs():
    torch.manual_seed(0)
    model = attention.EncoderDecoder(13, 16, n_dec=2).double()
    src, tgt_in, _ = _seq2seq_batch()
    with torch.no_grad():
        y = model(src, tgt_in)
        for t in range(tgt_in.shape[1] - 1):
            changed = tgt_in.clone()
            changed[:, t + 1:] = 3 + (changed[:, t + 1:] + 4) % 10     # other future inputs
            y2 = model(src, changed)
            assert torch.equal(y[:, :t + 1], y2[:, :t + 1])            # the past: bit for bit
            assert not torch.allclose(y[:, t + 1:], y2[:, t + 1:])


def test_encoder_decoder_ignores_what_the_padding_holds_and_uses_the_source():
    torch.manual_seed(0)
    model = attention.EncoderDecoder(13, 16).double()
    src, tgt_in, _ = _seq2seq_batch()
    with torch.no_grad():
        y = model(src, tgt_in)
        model.embed.weight[0] = torch.randn(16, dtype=torch.float64)   # what PAD holds
        # the decoder's own padding comes after every output it is scored on
        real_out = (tgt_in != 0) | (torch.arange(tgt_in.shape[1]) == 0)
        # masked keys get weight exactly 0, so the padding's vector cannot reach the outputs
        # at all (float64, the same operations: the results agree to the last bit)
        # (the tied head's logit of PAD itself, column 0, changes with it)
        y2 = model(src, tgt_in)
        assert torch.equal(y2[real_out][:, 1:], y[real_out][:, 1:])
        src2 = src.clone()
        src2[:, -1] = 3 + (src2[:, -1] - 3 + 1) % 10          # change a real digit
        assert not torch.allclose(model(src2, tgt_in), y2)
    no_cross = attention.EncoderDecoder(13, 16, cross=False).double()
    with torch.no_grad():
        assert torch.equal(no_cross(src2, tgt_in), no_cross(src, tgt_in))   # never reads it


def test_greedy_decoding_equals_argmax_of_the_teacher_forced_logits_on_its_own_output():
    torch.manual_seed(0)
    model = attention.EncoderDecoder(13, 16).double()
    src, _, _ = _seq2seq_batch()
    out = model.greedy(src, 5, bos=1)
    tgt_in = torch.cat([torch.ones(6, 1, dtype=torch.int64), out[:, :-1]], dim=1)
    with torch.no_grad():
        assert torch.equal(model(src, tgt_in).argmax(-1), out)


def test_encoder_decoder_refuses_an_all_padding_source_and_bad_ids():
    model = attention.EncoderDecoder(13, 16)
    src, tgt_in, _ = _seq2seq_batch()
    with pytest.raises(ValueError, match="^src: every sequence"):
        model(torch.zeros_like(src), tgt_in)
    with pytest.raises(ValueError, match="^tgt_in: expected token ids"):
        model(src, tgt_in + 20)
    with pytest.raises(ValueError, match="^tgt_in: expected a batch"):
        model(src, tgt_in[:2])
    with pytest.raises(ValueError, match="^d_model: expected an even"):
        attention.EncoderDecoder(13, 15)
