"""seqlearn.recurrence against independent computations: SciPy's IIR filter,
closed forms, and a brute-force double sum."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from scipy.signal import lfilter

from seqlearn.recurrence import ema, ema_kernel, linear_recurrence

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


def brute_force(a, b, h0):
    """h_t = sum_s (prod_{r=s+1..t} a_r) b_s + (prod_{r=0..t} a_r) h0, entry by entry."""
    L = b.shape[-1]
    h = np.zeros_like(b)
    for t in range(L):
        h[..., t] = np.prod(a[..., : t + 1], axis=-1) * h0
        for s in range(t + 1):
            h[..., t] += np.prod(a[..., s + 1: t + 1], axis=-1) * b[..., s]
    return h


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 0.999])
def test_ema_matches_scipy_iir_filter(alpha):
    x = np.random.default_rng(1).standard_normal((4, 257))
    expected = lfilter([1 - alpha], [1, -alpha], x, axis=-1)
    # both are the float64 recurrence h = alpha h + (1 - alpha) x (lfilter: direct form II); each
    # step rounds <= 3 times, alpha < 1 damps it: per side <= 1.5 eps S_t, S_t = sum_k alpha^k
    # (|h| + |b|) <= 7.5 here; entrywise 3 eps S_t <= 0.2 (1e-14 + 1e-12 |h_t|): 5x to spare
    np.testing.assert_allclose(ema(x, alpha), expected, rtol=1e-12, atol=1e-14)


def test_ema_step_response_closed_form():
    alpha, L = 0.8, 30
    # float64, h = 1 - alpha^(t+1) >= 0.2: the recurrence errs by <= 1.5 eps sum_k alpha^k
    # (|h| + |b|) <= 1.5 eps 1.2 / 0.2 = 9 eps, pow and 1 - . by ~2 eps: <= 11 eps / 0.2
    # = 1.2e-14 relative; rtol 1e-13 is 8x
    np.testing.assert_allclose(ema(np.ones(L), alpha), 1 - alpha ** np.arange(1, L + 1), rtol=1e-13)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.95])
def test_ema_kernel_closed_form(alpha):
    # float64: K[k] from k multiplications by alpha (<= k u relative, k < 40, adding 0 is exact),
    # alpha**k by pow (~1 ulp) times (1 - alpha): <= 43 u = 4.8e-15 relative; rtol 1e-13 is 20x;
    # atol 1e-300 only lets alpha = 0 (exact zeros on both sides) through
    np.testing.assert_allclose(ema_kernel(alpha, 40), (1 - alpha) * alpha ** np.arange(40),
                               rtol=1e-13, atol=1e-300)


def test_recurrent_view_equals_convolutional_view():
    x = np.random.default_rng(2).standard_normal(300)
    alpha = 0.93
    # float64: np.convolve sums <= L = 300 terms K[k] x[t-k], each K[k] within k u (recurrence):
    # error <= 2 L u sum_k |K[k] x[t-k]| <= 300 eps 1.13 = 7.5e-14 (the recurrence adds ~eps 1.13);
    # atol 1e-12 is 13x that
    np.testing.assert_allclose(ema(x, alpha), np.convolve(x, ema_kernel(alpha, 300))[:300],
                               rtol=1e-10, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_linear_recurrence_matches_brute_force(data):
    shape = data.draw(array_shapes(min_dims=1, max_dims=3, max_side=6))
    b = data.draw(arrays(np.float64, shape, elements=finite))
    a = data.draw(arrays(np.float64, shape, elements=st.floats(-1.5, 1.5)))
    h0 = data.draw(arrays(np.float64, shape[:-1], elements=finite))
    got = linear_recurrence(a, b, h0)
    assert got.shape == shape
    # float64, L <= 6, |a| <= 1.5, |b|, |h0| <= 10: h_t sums <= 7 terms, sum |terms| <= 10 *
    # (1.5^7 - 1) / 0.5 = 322; a term meets <= 12 roundings per side (loop: a mul and an add per
    # step; brute: np.prod, then +=): |diff| <= 12 eps 322 = 8.6e-13; atol 1e-11 is 12x
    np.testing.assert_allclose(got, brute_force(a, b, h0), rtol=0, atol=1e-11)


@settings(max_examples=40, deadline=None)
@given(x=arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=7), elements=finite),
       alpha=st.floats(0, 0.99))
def test_ema_shape_and_batch_independence(x, alpha):
    h = ema(x, alpha)
    assert h.shape == x.shape and h.dtype == np.float64
    flat = x.reshape(-1, x.shape[-1])
    for row, h_row in zip(flat, h.reshape(-1, x.shape[-1])):
        # the same elementwise IEEE multiply and add on the same numbers, batched or not: bitwise
        # equal on any CPU (bound 0); 1e-12 (|h| <= 10) is slack for "the same numbers"
        np.testing.assert_allclose(h_row, ema(row, alpha), rtol=1e-12, atol=1e-12)


def test_scalar_decay_broadcasts_and_complex_works():
    b = np.array([1 + 1j, 0, 0])
    # exact: times 1j only swaps and negates parts, adding 0 is exact (bound 0; default rtol 1e-7)
    np.testing.assert_allclose(linear_recurrence(1j, b), [1 + 1j, -1 + 1j, -1 - 1j])


@pytest.mark.parametrize("call, argument", [
    (lambda: ema(np.ones(4), 1.0), "alpha"),
    (lambda: ema(np.ones(4), -0.1), "alpha"),
    (lambda: ema(np.ones(4), np.nan), "alpha"),
    (lambda: ema(np.ones(4), "0.5"), "alpha"),
    (lambda: ema(np.ones(4), [0.5, 0.5]), "alpha"),
    (lambda: ema(2.0, 0.5), "x"),
    (lambda: ema(["a", "b"], 0.5), "x"),
    (lambda: linear_recurrence(np.ones(3), np.ones(4)), "a"),
    (lambda: linear_recurrence(0.5, np.ones((2, 4)), h0=np.ones(3)), "h0"),
    (lambda: linear_recurrence(0.5, 1.0), "b"),
    (lambda: ema_kernel(0.5, 0), "L"),
    (lambda: ema_kernel(0.5, 2.5), "L"),
    (lambda: ema_kernel(0.5, True), "L"),
    (lambda: ema(np.ones(4), True), "alpha"),
    (lambda: ema(np.ones(4), None), "alpha"),
    (lambda: ema(None, 0.5), "x"),
    (lambda: linear_recurrence(None, np.ones(4)), "a"),
    (lambda: linear_recurrence(0.5, None), "b"),
    (lambda: linear_recurrence(0.5, np.ones(4), h0="abc"), "h0"),
    (lambda: linear_recurrence(True, np.ones(4)), "a"),
    (lambda: linear_recurrence(0.5, np.ones(4), h0=np.bool_(True)), "h0"),
    (lambda: linear_recurrence(0.5, np.array([True, False])), "b"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: expected"):
        call()


def test_sizes_that_cannot_finish_are_refused_up_front():
    with pytest.raises(ValueError, match="^L: "):
        ema_kernel(0.5, 10**12)
    with pytest.raises(ValueError, match="^b: "):
        linear_recurrence(0.5, np.broadcast_to(0.0, (1, 2 * 10**7)))


def test_torch_tensors_are_taken_like_arrays():
    import torch

    x = np.arange(5.0)
    # the same float64 numbers through the same loop: bitwise equal (error 0 < default rtol 1e-7)
    np.testing.assert_allclose(ema(torch.tensor(x), torch.tensor(0.5)), ema(x, 0.5))
    with pytest.raises(ValueError, match="^alpha: .*detach"):
        ema(x, torch.tensor(0.5, requires_grad=True))
