"""seqlearn.cost: the log-log fit on exact and noisy power laws, the measuring helpers on
calls whose allocations are known, the comparison's models against torch. No timing is
asserted anywhere (timings belong to benchmarks/cost.py, not to tests)."""

import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlearn.cost import (attention_inputs, causal_linear_attention, causal_softmax_attention,
                           compare_costs, cost_curve, loglog_slope, peak_memory_bytes,
                           rnn_inputs, rnn_states, time_call)

POWERS_OF_TWO = 2 ** np.arange(4, 13)  # 16 ... 4096


# --- loglog_slope --------------------------------------------------------------------------

@pytest.mark.parametrize("p", [1.0, 2.0, 1.5, 0.5, -1.0])
def test_loglog_slope_recovers_an_exact_power(p):
    # y = log(3.7 L^p) and x = log L rounded (<= 13u * (|y| + |p x| + 1) ~ 5e-14 after the
    # means, n = 9), times sum|dx| / sum dx^2 = 0.48: <= 2.4e-14; 1e-12 leaves 40x
    assert loglog_slope(POWERS_OF_TWO, 3.7 * POWERS_OF_TWO ** p) == pytest.approx(p, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(p=st.floats(-3, 3), c=st.floats(1e-6, 1e6),
       lengths=st.lists(st.integers(1, 10**6), min_size=2, max_size=12, unique=True))
def test_loglog_slope_exact_power_any_lengths(p, c, lengths):
    L = np.array(lengths, dtype=float)
    # The logs x = log L, y = log(c L^p) and their centring round by <= (n + 4) u (|y| + |p x|
    # + 1) each, and the slope divides by the spread: error <= that * sum|dx| / sum dx^2. Two
    # lengths 1e6 - 1 and 1e6 give 1.8e-9, above the old fixed abs 1e-9; this bound (x10)
    # follows the spread.
    x = np.log(L)
    dx = x - x.mean()
    rounding = (L.size + 4) * np.finfo(float).eps / 2 * (
        abs(np.log(c)) + 2 * abs(p) * np.abs(x).max() + 1)
    tol = 10 * rounding * np.abs(dx).sum() / (dx @ dx)
    assert loglog_slope(lengths, c * L ** p) == pytest.approx(p, abs=tol)


@pytest.mark.parametrize("p", [1.0, 2.0, 1.5])
def test_loglog_slope_with_multiplicative_noise(p):
    rng = np.random.default_rng(int(10 * p))
    L = 2 ** np.arange(6, 16)
    noisy = 1e-7 * L ** p * np.exp(0.05 * rng.standard_normal(L.size))  # ~5 % jitter
    # statistical: the slope's standard error is 0.05 / sqrt(sum dx^2) = 0.05 / 6.3 = 0.008, so
    # 0.05 is 6 standard errors (seeded: the outcome is fixed; measured 0.015)
    assert loglog_slope(L, noisy) == pytest.approx(p, abs=0.05)


def test_loglog_slope_of_a_constant_is_zero():
    assert loglog_slope(POWERS_OF_TWO, np.full(POWERS_OF_TWO.size, 0.25)) == 0.0


def test_loglog_slope_equals_numpy_polyfit_and_tail_fits_the_largest_lengths_only():
    """c1 L + L^2 looks linear at small L and quadratic at large L."""
    L = 2.0 ** np.arange(0, 21)
    cost = 1e3 * L + L ** 2
    shuffled = np.random.default_rng(0).permutation(L.size)  # order must not matter
    L, cost = L[shuffled], cost[shuffled]
    full = np.polyfit(np.log(L), np.log(cost), 1)[0]
    largest = np.argsort(L)[-3:]
    tail = np.polyfit(np.log(L[largest]), np.log(cost[largest]), 1)[0]
    # Two algorithms on the same logs (|y| <= 28, |x| <= 14): the closed form errs by <= (n + 4)
    # u * 57 * sum|dx| / sum dx^2 (0.2 for all 21 points, 1.4 for the last 3) <= 6e-14, polyfit's
    # least squares by ~cond * u * |y| / |dx| <= 1.2e-13 on the 3 points: 1e-12 leaves >= 5x.
    # Rounding cannot move the tail slope 2 - 1e3 / L (L >= 2^18) by the 0.01 allowed.
    assert loglog_slope(L, cost) == pytest.approx(full, abs=1e-12)
    assert loglog_slope(L, cost, tail=3) == pytest.approx(tail, abs=1e-12)
    assert full < 1.7 and tail == pytest.approx(2.0, abs=0.01)
    assert loglog_slope(L, cost, tail=L.size) == pytest.approx(full, abs=1e-12)


@pytest.mark.parametrize("call, argument", [
    (lambda: loglog_slope([16], [1.0]), "lengths"),
    (lambda: loglog_slope([16, 0], [1.0, 2.0]), "lengths"),
    (lambda: loglog_slope([16, np.nan], [1.0, 2.0]), "lengths"),
    (lambda: loglog_slope(["a", "b"], [1.0, 2.0]), "lengths"),
    (lambda: loglog_slope([[16, 32]], [[1.0, 2.0]]), "lengths"),
    (lambda: loglog_slope([16, 16], [1.0, 2.0]), "lengths"),
    (lambda: loglog_slope([16, 32], [1.0, 2.0, 3.0]), "values"),
    (lambda: loglog_slope([16, 32], [1.0, 0.0]), "values"),
    (lambda: loglog_slope([16, 32], [1.0, -2.0]), "values"),
    (lambda: loglog_slope([16, 32], [1.0, np.inf]), "values"),
    (lambda: loglog_slope([16, 32], None), "values"),
    (lambda: loglog_slope([16, 32, 64], [1, 2, 3], tail=1), "tail"),
    (lambda: loglog_slope([16, 32, 64], [1, 2, 3], tail=4), "tail"),
    (lambda: loglog_slope([16, 32, 64], [1, 2, 3], tail=2.0), "tail"),
    (lambda: time_call(lambda: None, repeat=0), "repeat"),
    (lambda: time_call("not a function"), "fn"),
    (lambda: peak_memory_bytes(3), "fn"),
    (lambda: cost_curve(lambda L: (), lambda: None, [16, 0]), "lengths"),
    (lambda: cost_curve(lambda L: (), lambda: None, [16.0, 32.0]), "lengths"),
    (lambda: cost_curve(None, lambda: None, [16]), "make_inputs"),
    (lambda: compare_costs([16], rnn_forward=None), "rnn_forward"),
    (lambda: rnn_inputs(0), "L"),
    (lambda: attention_inputs(8, d=0), "d"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: expected"):
        call()


# --- the measuring helpers -----------------------------------------------------------------

def test_time_call_runs_repeat_times_and_returns_seconds():
    calls = []
    seconds = time_call(calls.append, "x", repeat=4)
    assert calls == ["x"] * 4
    assert isinstance(seconds, float) and seconds >= 0


def test_peak_memory_bytes_sees_a_numpy_allocation():
    n = 10**6
    peak = peak_memory_bytes(lambda m: np.ones(m).sum(), n)  # an 8 MB temporary
    assert 8 * n <= peak < 8 * n + 100_000


def test_peak_memory_bytes_does_not_count_the_arguments_and_nests():
    big = np.ones(10**6)
    tracemalloc.start()
    try:
        assert peak_memory_bytes(np.sum, big) < 100_000
        assert tracemalloc.is_tracing()  # left running for whoever started it
    finally:
        tracemalloc.stop()
    assert not tracemalloc.is_tracing()


def test_cost_curve_calls_make_inputs_once_per_length():
    asked = []

    def make_inputs(L):
        asked.append(L)
        return (L,)

    curve = cost_curve(make_inputs, lambda L: np.ones(L), [100, 10_000], repeat=2)
    assert asked == [100, 10_000]
    np.testing.assert_array_equal(curve["L"], [100, 10_000])
    assert curve["seconds"].shape == curve["bytes"].shape == (2,)
    assert curve["bytes"][1] >= 8 * 10_000  # the result is alive at the end of the call


# --- the three models of the comparison ----------------------------------------------------

def test_rnn_states_is_the_chapter_1_rnn_as_torch_computes_it():
    x, params = rnn_inputs(50, d=16, seed=3)
    torch_rnn = torch.nn.RNN(16, 16, nonlinearity="tanh", batch_first=True).double()
    with torch.no_grad():
        torch_rnn.weight_ih_l0.copy_(torch.tensor(params["W_ih"]))
        torch_rnn.weight_hh_l0.copy_(torch.tensor(params["W_hh"]))
        torch_rnn.bias_ih_l0.copy_(torch.tensor(params["b_ih"]))
        torch_rnn.bias_hh_l0.copy_(torch.tensor(params["b_hh"]))
        expected, _ = torch_rnn(torch.tensor(x))
    # float64, L = 50 steps of 34-term dots, sum|terms| <= 7.8: <= 50 * 34u * 7.8 ~ 1.5e-12 (tanh'
    # <= 1, rho(W_hh) = 1.06). 1e-12 was at that bound; 1e-10 leaves 70x (measured 6e-16)
    np.testing.assert_allclose(rnn_states(x, params), expected.numpy(), rtol=1e-10, atol=1e-10)


def test_the_two_attentions_match_torch():
    Q, K, V = attention_inputs(40, d=8, seed=4)
    expected = F.scaled_dot_product_attention(*map(torch.tensor, (Q, K, V)), is_causal=True)
    # float64: 8-term scores (|q||k| <~ 10, softmax slope <= 2 max|v|) and 40-term weighted sums
    # of |v| <~ 3: <~ 8u * 10 * 6 + 40u * 3 ~ 6e-14; 1e-10 leaves 1500x
    np.testing.assert_allclose(causal_softmax_attention(Q, K, V), expected.numpy(),
                               rtol=1e-10, atol=1e-10)
    phi_Q, phi_K = F.elu(torch.tensor(Q)) + 1, F.elu(torch.tensor(K)) + 1
    weights = torch.tril(phi_Q @ phi_K.T)  # phi(q_i) . phi(k_j), j <= i
    expected = (weights / weights.sum(dim=-1, keepdim=True)) @ torch.tensor(V)
    # positive weights, prefix sums over <= 40 positions x 8 features in two orders: <= 2
    # gamma_320 * |v| (<~ 3) ~ 2e-13; 1e-10 leaves 500x
    np.testing.assert_allclose(causal_linear_attention(Q, K, V), expected.numpy(),
                               rtol=1e-10, atol=1e-10)


def test_inputs_are_seeded():
    (x1, p1), (x2, p2) = rnn_inputs(20, seed=5), rnn_inputs(20, seed=5)
    np.testing.assert_array_equal(x1, x2)
    for name in p1:
        np.testing.assert_array_equal(p1[name], p2[name])
    assert not np.array_equal(attention_inputs(20, seed=5)[0], attention_inputs(20, seed=6)[0])
    x, params = rnn_inputs(20)
    assert x.shape == (1, 20, 64)
    assert {k: v.shape for k, v in params.items()} == {
        "W_ih": (64, 64), "W_hh": (64, 64), "b_ih": (64,), "b_hh": (64,)}


def test_compare_costs_memory_exponents():
    """Peak memory (deterministic, unlike time): RNN ~ L, softmax ~ L^2, linear ~ L.

    Softmax attention also allocates O(L d) (its output, ...): with d = 64 the L^2 term
    dominates clearly only from L ~ 512 (the fitted exponent is 1.89 on 256 ... 1024)."""
    lengths = [512, 1024, 2048]
    curves = compare_costs(lengths, repeat=1)
    assert set(curves) == {"rnn", "softmax attention", "linear attention"}
    for curve in curves.values():
        np.testing.assert_array_equal(curve["L"], lengths)
        assert np.all(curve["seconds"] > 0) and np.all(curve["bytes"] > 0)
    # not rounding: byte counts (tracemalloc) of the models' allocations, deterministic; the
    # O(L d) terms bend the fits by 0.014, 0.008 and 2e-5 here, well inside 0.1
    assert loglog_slope(lengths, curves["rnn"]["bytes"]) == pytest.approx(1, abs=0.1)
    assert loglog_slope(lengths, curves["softmax attention"]["bytes"]) == pytest.approx(2, abs=0.1)
    assert loglog_slope(lengths, curves["linear attention"]["bytes"]) == pytest.approx(1, abs=0.1)


def test_compare_costs_takes_the_rnn_forward_as_a_parameter():
    seen = []

    def forward(x, params):
        seen.append((x.shape, params["W_hh"].shape))
        return np.zeros_like(x)

    compare_costs([8], d=4, repeat=1, rnn_forward=forward)
    assert seen and all(s == ((1, 8, 4), (4, 4)) for s in seen)
