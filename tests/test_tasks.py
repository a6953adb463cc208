"""seqlearn.tasks against independent computations: a brute-force Euler loop for
Mackey-Glass, SciPy's solve_ivp for Lorenz, list look-ups for the vocabulary."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from seqlearn import tasks
from seqlearn.tasks import char_corpus, char_vocab, decode, encode, lorenz, mackey_glass


def euler_mackey_glass(T, h, tau=17.0, beta=0.2, gamma=0.1, n=10, x0=1.2):
    """x(t + h) = x(t) + h (beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t)), x = x0 for t <= 0.

    Returns x at t = 0, 1, ..., T (unit spacing)."""
    m = round(tau / h)
    xs = [x0] * (m + 1)  # xs[k] = x((k - m) h)
    for i in range(round(T / h)):
        x_delayed, x = xs[i], xs[-1]
        xs.append(x + h * (beta * x_delayed / (1 + x_delayed ** n) - gamma * x))
    return np.array(xs[m::round(1 / h)])


def test_mackey_glass_matches_brute_force_euler():
    # Euler is first order: its error halves with h. So the gap to our RK4 must
    # (a) be small, (b) halve when Euler's step halves (the gap is Euler's own
    # error), and (c) nearly vanish for the Richardson extrapolation 2 E(h/2) - E(h).
    ours = mackey_glass(301, discard=0)
    coarse, fine = euler_mackey_glass(300, 1e-3), euler_mackey_glass(300, 5e-4)
    gap_coarse, gap_fine = np.abs(ours - coarse).max(), np.abs(ours - fine).max()
    # All three are method errors, the same on every CPU: rounding over the 6e5 Euler steps is
    # <= 6e5 u * 1.3 ~ 1e-10, ~1e-9 after the chaotic growth over 300 time units (measured 35x
    # per 100). Euler's O(h) gap: 5.0e-4 (2x below 1e-3); its ratio: 1.9999. The extrapolation
    # leaves Euler's O(h^2) term, 3.4e-7: 2e-6 is 6x that, >= 2000x the rounding.
    assert gap_coarse < 1e-3
    assert 1.8 < gap_coarse / gap_fine < 2.2
    np.testing.assert_allclose(ours, 2 * fine - coarse, rtol=0, atol=2e-6)


def test_mackey_glass_other_parameters_match_brute_force_euler():
    ours = mackey_glass(101, tau=5, beta=0.25, gamma=0.15, n=8, x0=0.7, discard=0,
                        dt=1.0, substeps=20)
    coarse = euler_mackey_glass(100, 1e-3, tau=5, beta=0.25, gamma=0.15, n=8, x0=0.7)
    fine = euler_mackey_glass(100, 5e-4, tau=5, beta=0.25, gamma=0.15, n=8, x0=0.7)
    # as above: Euler's O(h^2) remainder after extrapolation (6e-9 here), rounding ~1e-10
    np.testing.assert_allclose(ours, 2 * fine - coarse, rtol=0, atol=2e-6)


@settings(max_examples=15, deadline=None)
@given(n_steps=st.integers(1, 40), discard=st.integers(0, 30), subsample=st.integers(1, 4))
def test_mackey_glass_discard_and_subsample_pick_the_right_samples(n_steps, discard, subsample):
    full = mackey_glass(discard + n_steps * subsample, discard=0)
    got = mackey_glass(n_steps, discard=discard, subsample=subsample)
    assert got.shape == (n_steps,)
    # the same RK4 steps from the same start, only sliced differently: identical (measured 0);
    # 1e-13 would still allow a few ulp of reordering per step
    np.testing.assert_allclose(got, full[discard::subsample][:n_steps], rtol=0, atol=1e-13)


def test_mackey_glass_stays_on_the_attractor_and_looks_chaotic():
    x = mackey_glass(6000)
    assert 0.2 < x.min() and x.max() < 1.4  # the tau = 17 attractor lies in about [0.4, 1.35]
    xc = x - x.mean()
    acf = np.array([xc[: len(xc) - k] @ xc[k:] / (xc @ xc) for k in range(1000)])
    assert np.argmax(acf < 0.5) < 20  # decorrelates within a pseudo-period
    assert acf[30:].max() < 0.9  # and never comes back: not periodic (measured: 0.82)
    # Sensitive dependence on the initial condition: 1e-9 grows to O(0.1). Dynamics, not
    # rounding (~1e-16 per step): measured 3.5e-8 over the first 100 (1e-6: 28x), 0.51 later
    y = mackey_glass(6000, x0=1.2 + 1e-9)
    assert np.abs(x - y)[:100].max() < 1e-6
    assert np.abs(x - y)[3000:].max() > 1e-2


def test_mackey_glass_rng_gives_other_reproducible_trajectories():
    a = mackey_glass(300, rng=np.random.default_rng(1))
    b = mackey_glass(300, rng=np.random.default_rng(1))
    c = mackey_glass(300, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3  # different trajectories: 0.7 apart, not rounding


def lorenz_rhs(t, s, sigma=10.0, rho=28.0, beta=8.0 / 3.0):
    x, y, z = s
    return [sigma * (y - x), x * (rho - z) - y, x * y - beta * z]


@pytest.mark.parametrize("x0, coefficients", [
    ((1.0, 1.0, 1.0), (10.0, 28.0, 8.0 / 3.0)),
    ((-3.0, 2.0, 20.0), (10.0, 28.0, 8.0 / 3.0)),
    ((0.5, -1.0, 3.0), (12.0, 20.0, 2.0)),
])
def test_lorenz_matches_solve_ivp_with_fourth_order_error(x0, coefficients):
    # Two time units (the error grows like e^{0.9 t} beyond), reference DOP853 at
    # rtol 1e-13. RK4's own truncation error is ~1e-5 of the state's size at
    # dt = 0.01; it must shrink ~16x when dt halves (fourth order), which tells
    # a truncation error from a wrong right-hand side (that would not shrink).
    sigma, rho, beta = coefficients
    errors = []
    for dt in (0.01, 0.005):
        n = round(2.0 / dt) + 1
        ref = solve_ivp(lorenz_rhs, (0, 2.0), x0, args=coefficients, method="DOP853",
                        rtol=1e-13, atol=1e-12, t_eval=np.arange(n) * dt).y.T
        got = lorenz(n, dt=dt, sigma=sigma, rho=rho, beta=beta, x0=x0)
        assert got.shape == (n, 3)
        np.testing.assert_array_equal(got[0], x0)
        errors.append(np.abs(got - ref).max() / np.abs(ref).max())
    # RK4's truncation error, the same on every CPU (rounding, ~1e-16 grown e^{0.9 * 2} ~ 6x,
    # and DOP853's 1e-13 are 1e8x smaller): measured 5e-6 .. 4.6e-5, ratios 16.1 .. 16.6
    assert errors[0] < 1e-4
    assert 12 < errors[0] / errors[1] < 20


def test_char_corpus():
    assert char_corpus() == "hello" and char_corpus("hello") == "hello"
    text = char_corpus("course")
    assert 2500 <= len(text) <= 4000
    assert text.isascii() and "recurren" in text
    chars, stoi = char_vocab(text)
    assert 20 <= len(chars) <= 60


def test_char_vocab_hello():
    chars, stoi = char_vocab("hello")
    assert chars == ["e", "h", "l", "o"]
    assert stoi == {"e": 0, "h": 1, "l": 2, "o": 3}
    np.testing.assert_array_equal(encode("hello", stoi), [1, 0, 2, 2, 3])


@settings(max_examples=50, deadline=None)
@given(text=st.text(min_size=1, max_size=40))
def test_encode_decode_round_trip(text):
    chars, stoi = char_vocab(text)
    assert chars == sorted(set(text)) and len(chars) == len(set(text))
    ids = encode(text, stoi)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert list(ids) == [chars.index(c) for c in text]  # brute-force look-up
    assert decode(ids, chars) == text
    assert decode(list(ids), chars) == text


def test_course_corpus_round_trip():
    text = char_corpus("course")
    chars, stoi = char_vocab(text)
    assert decode(encode(text, stoi), chars) == text


@pytest.mark.parametrize("call, argument", [
    (lambda: mackey_glass(0), "n_steps"),
    (lambda: mackey_glass(10.0), "n_steps"),
    (lambda: mackey_glass(10, tau=17.05), "tau"),
    (lambda: mackey_glass(10, tau=-1), "tau"),
    (lambda: mackey_glass(10, dt=0), "dt"),
    (lambda: mackey_glass(10, discard=-1), "discard"),
    (lambda: mackey_glass(10, subsample=0), "subsample"),
    (lambda: mackey_glass(10, substeps=0), "substeps"),
    (lambda: mackey_glass(10, x0=np.nan), "x0"),
    (lambda: mackey_glass(10, gamma="0.1"), "gamma"),
    (lambda: mackey_glass(10, rng=3), "rng"),
    (lambda: lorenz(0), "n_steps"),
    (lambda: lorenz(10, dt=-0.01), "dt"),
    (lambda: lorenz(10, x0=(1, 2)), "x0"),
    (lambda: lorenz(10, x0=("a", "b", "c")), "x0"),
    (lambda: lorenz(10, rho="28"), "rho"),
    (lambda: char_corpus("shakespeare"), "name"),
    (lambda: char_vocab(""), "text"),
    (lambda: char_vocab(["a"]), "text"),
    (lambda: encode("hex", char_vocab("hello")[1]), "text"),
    (lambda: encode("he", ["h", "e"]), "stoi"),
    (lambda: decode([0, 4], ["a", "b"]), "ids"),
    (lambda: decode([[0]], ["a"]), "ids"),
    (lambda: decode([0.5], ["a"]), "ids"),
])
def test_bad_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument}: expected"):
        call()


# ---------------------------------------------------------------- reliability review (issue 13)
@pytest.mark.parametrize("name", ["sigma", "rho", "beta"])
@pytest.mark.parametrize("bad", [float("nan"), -float("inf"), True, None])
def test_lorenz_refuses_non_finite_coefficients(name, bad):
    """Review finding 14a: NaN or -inf coefficients gave a NaN trajectory."""
    with pytest.raises(ValueError, match=f"^{name}: expected a finite real number"):
        tasks.lorenz(20, **{name: bad})


def test_lorenz_warns_for_an_unstable_step_and_refuses_an_overflow():
    """Review finding 14b: dt = 1 overflowed with no warning."""
    with pytest.warns(RuntimeWarning, match="^dt: RK4 on the Lorenz system is unstable"):
        tasks.lorenz(3, dt=0.11)
    with pytest.raises(ValueError, match="^dt: the RK4 trajectory overflowed"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tasks.lorenz(200, dt=1.0)


def test_lorenz_refuses_a_complex_start():
    """Review finding 14c: a complex x0 lost its imaginary part."""
    with pytest.raises(ValueError, match="^x0: expected real numbers"):
        tasks.lorenz(5, x0=(1 + 1j, 1.0, 1.0))


def test_selective_copying_refuses_fractional_marker_counts():
    """Review finding 14e: n_markers=(2.7, 3.2) was truncated to (2, 3)."""
    with pytest.raises(ValueError, match="^n_markers: expected"):
        tasks.selective_copying(4, n_markers=(2.7, 3.2))


def test_huge_data_sets_are_refused_up_front():
    with pytest.raises(ValueError, match="^n_samples: this asks for"):
        tasks.induction_heads(10**12)
    with pytest.raises(ValueError, match="^n_steps: expected an integer <="):
        tasks.mackey_glass(10**12)


def test_out_of_range_parameters_are_refused_by_name():
    """Reliability review, turn 3, finding 14: these gave NumPy, Python or torch errors."""
    import torch
    from seqlearn import rnn, ssd, train
    cases = [("vocab", lambda: tasks.induction_heads(4, vocab=2 ** 64)),
             ("n_classes", lambda: tasks.first_token_classification(4, 8, n_classes=2 ** 64)),
             ("x0", lambda: tasks.mackey_glass(20, x0=1e300)),
             ("max_len", lambda: rnn.RecurrentMixer("lstm", 4, max_len=2 ** 64)),
             ("dt_min", lambda: ssd.Mamba2Block(4, head_dim=4, dt_min=1e-300)),
             ("ignore", lambda: train.token_accuracy(torch.nn.Identity(), torch.zeros(1, 2).long(),
                                                     torch.zeros(1, 2).long(), ignore=2 ** 64))]
    for name, call in cases:
        with pytest.raises(ValueError, match=f"^{name}: expected"):
            call()
    assert np.isfinite(tasks.mackey_glass(20, x0=1e20, n=10, discard=0)).all()


@pytest.mark.parametrize("m, n_symbols", [(1, 5), (3, 1), (3, 4), (4, 5), (5, 3)])
def test_order_free_copy_accuracy_is_the_brute_force_expectation(m, n_symbols):
    """Every one of the n_symbols^m sequences, enumerated: the mean of max count / m."""
    import itertools
    from collections import Counter
    total = sum(max(Counter(seq).values())
                for seq in itertools.product(range(n_symbols), repeat=m))
    # exact Fractions converted once (correctly rounded) against int / int / m: <= 2 ulp apart
    # (4.4e-16); rel 1e-12 leaves 2000x
    assert tasks.order_free_copy_accuracy(m, n_symbols) == pytest.approx(
        total / n_symbols ** m / m, rel=1e-12)


def test_order_free_copy_accuracy_of_chapter_2s_task_by_sampling():
    """Chapter 2's copy task (8 tokens of 28): the exact value against 200,000 sampled
    sequences of tasks.selective_copying; 5 standard errors (sd of max count / m <= 0.5)."""
    m, n = 8, 200_000
    _, y = tasks.selective_copying(n, length=2 * m, n_markers=(m, m), vocab=30, rng=3)
    copied = y[:, m:]
    counts = np.stack([(copied == v).sum(1) for v in range(2, 30)], 1)
    sampled = counts.max(1).mean() / m
    se = counts.max(1).std() / m / np.sqrt(n)
    assert abs(tasks.order_free_copy_accuracy(m, 28) - sampled) < 5 * se


def test_order_free_copy_accuracy_names_bad_arguments():
    with pytest.raises(ValueError, match="m"):
        tasks.order_free_copy_accuracy(0, 5)
    with pytest.raises(ValueError, match="n_symbols"):
        tasks.order_free_copy_accuracy(4, 0)


def test_two_tone_kernel_is_its_formula_and_names_bad_arguments():
    K = tasks.two_tone_kernel(256)
    k = np.arange(256)
    np.testing.assert_array_equal(K, np.exp(-k / 40) * (np.cos(0.3 * k) + np.cos(2.5 * k)))
    spectrum = np.abs(np.fft.rfft(K, 4096))
    w = np.linspace(0, np.pi, len(spectrum))
    peaks = [i for i in range(1, len(w) - 1)
             if spectrum[i] > spectrum[i - 1] and spectrum[i] > spectrum[i + 1]]
    top = sorted(w[sorted(peaks, key=lambda i: -spectrum[i])[:2]])   # (the rest: side lobes)
    # not rounding: the peaks sit on bins pi / 2048 apart, so each is off by <= half a bin
    # (7.7e-4, measured 6.6e-4) plus the other tone's leakage; atol is 2 half-bins
    np.testing.assert_allclose(top, [0.3, 2.5], atol=2 * np.pi / 4096)
    with pytest.raises(ValueError, match="high"):
        tasks.two_tone_kernel(16, high=4.0)
    with pytest.raises(ValueError, match="decay"):
        tasks.two_tone_kernel(16, decay=0)


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_a_lorenz_overflow_names_the_coefficient_that_caused_it():
    """sigma = 1e300 overflows at the default step: the message names sigma, not dt
    (reliability review turn 3, lesser findings); a large step still names dt."""
    from seqlearn.tasks import lorenz
    with pytest.raises(ValueError, match="^sigma: "):
        lorenz(100, sigma=1e300)
    with pytest.raises(ValueError, match="^dt: "), pytest.warns(RuntimeWarning):
        lorenz(1000, dt=0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digit_reversal_against_python_lists(seed):
    src, tgt_in, tgt_out = tasks.digit_reversal(200, (2, 6), n_digits=7, rng=seed)
    assert src.shape == (200, 6) and tgt_in.shape == tgt_out.shape == (200, 7)
    lengths = set()
    for s, ti, to in zip(src.tolist(), tgt_in.tolist(), tgt_out.tolist()):
        digits = [v for v in s if v != tasks.PAD]
        n = len(digits)
        lengths.add(n)
        assert s == [tasks.PAD] * (6 - n) + digits              # right-aligned
        assert all(3 <= v < 10 for v in digits)
        rev = digits[::-1]
        assert ti == [tasks.BOS] + rev + [tasks.PAD] * (6 - n)
        assert to == rev + [tasks.EOS] + [tasks.IGNORE] * (6 - n)
    assert lengths == {2, 3, 4, 5, 6}


def test_digit_reversal_refuses_bad_lengths():
    with pytest.raises(ValueError, match="^lengths"):
        tasks.digit_reversal(3, (4, 2))
    with pytest.raises(ValueError, match="^lengths"):
        tasks.digit_reversal(3, 5)
