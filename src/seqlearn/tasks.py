"""Synthetic sequence data: two chaotic systems and a small character corpus.

    Mackey-Glass (delay differential equation, chaotic for tau >= 17):
        dx/dt = beta * x(t - tau) / (1 + x(t - tau)**n) - gamma * x(t)
    Lorenz (ordinary differential equation, chaotic at sigma, rho, beta = 10, 28, 8/3):
        dx/dt = sigma (y - x),   dy/dt = x (rho - z) - y,   dz/dt = x y - beta z

Both are integrated with the classical fourth-order Runge-Kutta method (RK4).
The character corpus feeds the character-level RNN of chapter 1. The classification and
recall tasks of chapters 1, 2, 7, 8 and 9 follow, and chapter 10's long-range tasks:
ListOps (nested MAX/MIN/MED/SM expressions), a handwritten digit read pixel by pixel
(scikit-learn's bundled digits on a larger canvas) and a small Pathfinder.
Everything is seeded or deterministic; nothing is downloaded.

Glossary (code name -> symbol):
    tau, beta, gamma, n -> tau, beta, gamma, n of Mackey-Glass
    sigma, rho, beta    -> sigma, rho, beta of Lorenz (a different beta)
    dt                  -> the spacing of the samples (Mackey-Glass) / the RK4 step (Lorenz)
    h = dt / substeps   -> the Mackey-Glass RK4 step
    chars, stoi         -> the vocabulary (sorted characters) and its index, char -> id
"""

import functools
import importlib.resources
import math
from fractions import Fraction

import numpy as np

from seqlearn._checks import MAX_STEPS, affordable, integer, number, numeric_array, positive, warn_once

ID_MAX = int(np.iinfo(np.int64).max)   # token ids are int64: no vocabulary is larger


def mackey_glass(n_steps, tau=17, beta=0.2, gamma=0.1, n=10, dt=1.0, x0=1.2, discard=500,
                 subsample=1, rng=None, substeps=10):
    """Samples of the Mackey-Glass delay differential equation, integrated with RK4.

        dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t)

    The history is constant, ``x(t) = x0`` for ``t <= 0``. The equation is
    integrated with RK4 at step ``h = dt / substeps`` (``tau`` must be a
    multiple of ``h``, so every delayed point ``x(t - tau)`` at a step
    boundary is a stored one). RK4's half-step stages also need the delayed
    value half way between two stored points; it comes from the cubic
    Hermite interpolant through the two neighbours and their slopes,
    ``x(t - tau + h/2) ~ (x_k + x_{k+1}) / 2 + h (f_k - f_{k+1}) / 8``,
    which keeps the method fourth order.

    Parameters
    ----------
    n_steps : int >= 1, the number of samples returned.
    tau, beta, gamma, n : the delay and the coefficients (tau = 17 is the classic chaotic case).
    dt : float > 0, the time between samples before subsampling.
    x0 : float, the constant history.
    discard : int >= 0, samples (spaced dt) dropped at the start: the transient.
    subsample : int >= 1, keep every subsample-th sample (spacing dt * subsample).
    rng : numpy Generator or None; if given, the constant history is
        ``x0 + U(-0.1, 0.1)`` instead of ``x0`` (another trajectory on the attractor).
    substeps : int >= 1, RK4 steps per dt.

    Returns
    -------
    x : array (n_steps,), float64, ``x(t_k)`` at ``t_k = (discard + k * subsample) * dt``.
    """
    n_steps = integer("n_steps", n_steps, 1, maximum=MAX_STEPS)
    discard = integer("discard", discard, 0, maximum=MAX_STEPS)
    subsample = integer("subsample", subsample, 1)
    substeps = integer("substeps", substeps, 1)
    tau = positive("tau", tau)
    beta = positive("beta", beta, allow_zero=True)
    gamma = positive("gamma", gamma, allow_zero=True)
    n = positive("n", n)
    dt = positive("dt", dt)
    x0 = positive("x0", x0)
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: expected a numpy Generator or None, got {type(rng).__name__}")
        x0 = x0 + rng.uniform(-0.1, 0.1)
    if n > 100:   # x^n with x ~ 1: n past a hundred only overflows
        raise ValueError(f"n: expected an exponent <= 100 (the classic is 10), got {n}")
    if n * np.log10(x0 + 0.1) > 300:   # x0^n must stay a float64 (+ 0.1: rng's offset)
        raise ValueError(f"x0: expected x0^n to fit in a float64, x0 < 10^(300 / n) - 0.1 = "
                         f"{10 ** (300 / n) - 0.1:.3g} for n = {n:g}, got {x0:g}")
    h = dt / substeps
    m = round(tau / h)  # the delay in steps
    if abs(tau / h - m) > 1e-9 * max(1.0, tau / h):
        raise ValueError(f"tau: expected a multiple of the RK4 step dt / substeps = {h}, got {tau}")
    n_total = (discard + (n_steps - 1) * subsample) * substeps
    affordable("n_steps", m + 1 + n_total, MAX_STEPS, what="RK4 steps (with the history of "
               "tau / h steps, the discarded ones, subsample and substeps)")

    def f(x, x_delayed):
        return beta * x_delayed / (1.0 + x_delayed ** n) - gamma * x

    xs = [x0] * (m + 1) + [0.0] * n_total  # xs[k] = x((k - m) h): the history, then the solution
    fs = [0.0] * (m + 1 + n_total)  # fs[k] = dx/dt at xs[k], from the right
    for i in range(n_total):
        j = m + i  # t_i = i h is xs[j]; t_i - tau is xs[i]
        x, xd0, xd1 = xs[j], xs[i], xs[i + 1]
        k1 = f(x, xd0)
        fs[j] = k1
        if i < m:  # the delayed time lies in the constant history
            xd_half = xd0
        else:
            xd_half = 0.5 * (xd0 + xd1) + h * (fs[i] - fs[i + 1]) / 8.0
        k2 = f(x + 0.5 * h * k1, xd_half)
        k3 = f(x + 0.5 * h * k2, xd_half)
        k4 = f(x + h * k3, xd1)
        xs[j + 1] = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    keep = [m + (discard + k * subsample) * substeps for k in range(n_steps)]
    return np.array([xs[k] for k in keep])


def lorenz(n_steps, dt=0.01, sigma=10.0, rho=28.0, beta=8.0 / 3.0, x0=(1.0, 1.0, 1.0)):
    """The Lorenz system integrated with RK4 at step ``dt``.

        dx/dt = sigma (y - x),   dy/dt = x (rho - z) - y,   dz/dt = x y - beta z

    Parameters
    ----------
    n_steps : int >= 1, the number of states returned (the first is x0).
    dt : float > 0, the RK4 step and the sample spacing. Above 0.1 it warns (RK4 is stable
        only for dt below about 0.12 here); a trajectory that overflows is refused.
    sigma, rho, beta : finite real numbers, the coefficients (10, 28, 8/3: the butterfly
        attractor).
    x0 : (3,), the state at t = 0.

    Returns
    -------
    states : array (n_steps, 3), float64, ``(x, y, z)`` at ``t = 0, dt, ..., (n_steps - 1) dt``.
    """
    n_steps = integer("n_steps", n_steps, 1, maximum=MAX_STEPS)
    dt = positive("dt", dt)
    sigma, rho, beta = (number(name, value) for name, value in
                        (("sigma", sigma), ("rho", rho), ("beta", beta)))
    state = numeric_array("x0", x0, what="three finite real numbers (x, y, z)")
    if state.shape != (3,) or not np.all(np.isfinite(state)):
        raise ValueError(f"x0: expected three finite real numbers (x, y, z), got {x0!r}")
    if dt > 0.1:   # RK4's stability limit 2.79 / |lambda|, lambda = -22.8 at the origin
        warn_once(f"dt: RK4 on the Lorenz system is unstable above dt = 0.12 (2.79 / 22.8, "
                  f"the fastest decay rate at the origin) and the trajectory can overflow; "
                  f"got dt = {dt}", key=("lorenz dt", dt))

    def f(s):
        x, y, z = s
        return np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    out = np.zeros((n_steps, 3))
    out[0] = state
    for t in range(1, n_steps):
        k1 = f(state)
        k2 = f(state + 0.5 * dt * k1)
        k3 = f(state + 0.5 * dt * k2)
        k4 = f(state + dt * k3)
        state = state + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        out[t] = state
        if not np.all(np.isfinite(state)):
            # blame a coefficient far above the butterfly's (10, 28, 8/3), else the step
            given = {"sigma": sigma, "rho": rho, "beta": beta}
            usual = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
            name = max(given, key=lambda k: abs(given[k]) / usual[k])
            if abs(given[name]) / usual[name] <= 10:
                raise ValueError(f"dt: the RK4 trajectory overflowed at step {t} with dt = "
                                 f"{dt} (unstable); use a smaller step, e.g. 0.01")
            raise ValueError(f"{name}: the RK4 trajectory overflowed at step {t} with {name} "
                             f"= {given[name]:g} and dt = {dt}; use coefficients near the "
                             "butterfly's (10, 28, 8/3) or a much smaller step")
    return out


def char_corpus(name="hello"):
    """A text to train a character-level model on.

    name : "hello" (the five-character example of a character-level RNN:
        from "hell" predict "ello") or "course" (a few thousand characters
        of plain prose about sequences, memory and recurrence, written for
        this course, in ``seqlearn/data/text.txt``).
    returns : str
    """
    if name == "hello":
        return "hello"
    if name == "course":
        path = importlib.resources.files("seqlearn").joinpath("data/text.txt")
        return path.read_text(encoding="utf-8")
    raise ValueError(f"name: expected 'hello' or 'course', got {name!r}")


def char_vocab(text):
    """The vocabulary of ``text``: its distinct characters, sorted, and their ids.

    text : str, non-empty
    returns (chars, stoi) : chars a list (V,) of single characters in sorted
        order; stoi the dict {chars[i]: i}
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"text: expected a non-empty str, got {text!r:.40}")
    chars = sorted(set(text))
    return chars, {c: i for i, c in enumerate(chars)}


def encode(text, stoi):
    """Ids of the characters of ``text``: ``ids[t] = stoi[text[t]]``.

    text : str of length L; stoi : dict char -> int (from ``char_vocab``)
    returns ids : int64 array (L,)
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a str, got {type(text).__name__}")
    if not isinstance(stoi, dict):
        raise ValueError(f"stoi: expected a dict char -> id, got {type(stoi).__name__}")
    missing = sorted(set(text) - set(stoi))
    if missing:
        raise ValueError(f"text: expected only characters in the vocabulary, got {missing[:5]!r}")
    return np.array([stoi[c] for c in text], dtype=np.int64)


def decode(ids, chars):
    """The text whose characters have ids ``ids``: ``text[t] = chars[ids[t]]``.

    ids : ints (L,); chars : sequence (V,) of characters (from ``char_vocab``)
    returns text : str of length L
    """
    if chars is None or isinstance(chars, (int, float)) or not hasattr(chars, "__len__"):
        raise ValueError(f"chars: expected a sequence of characters (from char_vocab), got "
                         f"{type(chars).__name__}")
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise ValueError(f"ids: expected a 1-D array of integers, got shape {ids.shape}, "
                         f"dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= len(chars)):
        raise ValueError(f"ids: expected ids in [0, {len(chars)}), got "
                         f"[{ids.min()}, {ids.max()}]")
    return "".join(chars[i] for i in ids)


def first_token_classification(n_samples, length, n_classes=4, n_noise=8, rng=0):
    """A long-range classification task: the class is the first token; the rest is noise.

    Sample ``i`` is a sequence of ``length`` token ids over a vocabulary of
    ``n_classes + n_noise`` tokens:

        x[i, 0]  = y[i]                                  (a class token, in [0, n_classes))
        x[i, t] ~ Uniform{n_classes, ..., n_classes + n_noise - 1}   for t = 1, ..., length - 1

    and its label is ``y[i] = x[i, 0]``. The label is a function of the first
    token only; the ``length - 1`` tokens after it are distractors drawn
    independently of the label (and never equal to a class token). A model
    that reads the sequence left to right must carry one token across
    ``length - 1`` steps of noise to answer at the end.

    The labels are balanced: ``y`` is a random permutation of
    ``np.arange(n_samples) % n_classes``, so every class occurs
    ``n_samples // n_classes`` or one more times.

    Parameters
    ----------
    n_samples : int >= 1, the number of sequences.
    length : int >= 1, the number of tokens per sequence (long-range: 1024 and more).
    n_classes : int >= 2, the number of classes (class tokens 0 .. n_classes - 1).
    n_noise : int >= 1, the number of distractor tokens (ids n_classes .. n_classes + n_noise - 1).
    rng : numpy Generator or int seed >= 0. The labels are drawn first, then the
        noise, so a given seed gives the same labels (and first tokens) for every ``length``.

    Returns
    -------
    x : int64 array (n_samples, length), the token ids.
    y : int64 array (n_samples,), the labels, ``y == x[:, 0]``.
    """
    n_samples = integer("n_samples", n_samples, 1)
    length = integer("length", length, 1)
    affordable("n_samples", n_samples * length, what="tokens (n_samples length)")
    n_classes = integer("n_classes", n_classes, 2, maximum=ID_MAX)
    n_noise = integer("n_noise", n_noise, 1, maximum=ID_MAX - n_classes)
    if not isinstance(rng, np.random.Generator):
        if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)) or rng < 0:
            raise ValueError(f"rng: expected a numpy Generator or a non-negative integer seed, "
                             f"got {rng!r}")
        rng = np.random.default_rng(int(rng))
    y = rng.permutation(np.arange(n_samples, dtype=np.int64) % n_classes)
    x = rng.integers(n_classes, n_classes + n_noise, size=(n_samples, length), dtype=np.int64)
    x[:, 0] = y
    return x, y


#: the target id that a loss and an accuracy skip (``torch.nn.functional.cross_entropy``'s default)
IGNORE = -100


def _generator(rng, name="rng"):
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)) or rng < 0:
        raise ValueError(f"{name}: expected a numpy Generator or a non-negative integer seed, "
                         f"got {rng!r}")
    return np.random.default_rng(int(rng))


def selective_copying(n_samples, length=64, n_markers=(3, 5), vocab=30, rng=0):
    """Selective copying (Gu & Dao 2024, section 3.1): remember the few tokens that matter,
    in order, among blanks at random places, and recall them when asked.

    Token ids: 0 = blank (noise), 1 = marker ("recall the next one now"), 2 .. vocab - 1 =
    content. Sample ``i`` has m markers, m drawn uniformly from n_markers = (lo, hi)
    (inclusive), and m content tokens:

        x[i, p_1], ..., x[i, p_m]  = c_1, ..., c_m   at random sorted positions p_1 < ... < p_m
                                                     in [0, length - m); every other one blank
        x[i, length - m:]          = 1 (markers)
        y[i, length - m + j]       = c_{j+1}         (the j-th marker asks for the j-th token)
        y[i, t]                    = IGNORE elsewhere

    A model reads x left to right and must output c_1 .. c_m at the markers. The
    positions vary from sample to sample, so a fixed (time-invariant) convolution cannot
    know where to look: it has to select by content.

    Parameters
    ----------
    n_samples : int >= 1.
    length : int, tokens per sequence (>= 2 * hi).
    n_markers : (lo, hi) with 1 <= lo <= hi, the number of tokens to copy per sample.
    vocab : int >= 3, the vocabulary size (content tokens 2 .. vocab - 1).
    rng : numpy Generator or int seed >= 0.

    Returns
    -------
    x : int64 (n_samples, length), the inputs;  y : int64 (n_samples, length), the targets,
    ``IGNORE`` except at the markers.
    """
    n_samples = integer("n_samples", n_samples)
    vocab = integer("vocab", vocab, 3)
    try:
        lo, hi = (integer("n_markers", v) for v in n_markers)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"n_markers: expected a pair (lo, hi) of integers, got "
                         f"{n_markers!r}") from exc
    if not 1 <= lo <= hi:
        raise ValueError(f"n_markers: expected 1 <= lo <= hi, got {n_markers!r}")
    length = integer("length", length, 2 * hi)
    affordable("n_samples", n_samples * length, what="tokens (n_samples length)")
    rng = _generator(rng)
    x = np.zeros((n_samples, length), dtype=np.int64)
    y = np.full((n_samples, length), IGNORE, dtype=np.int64)
    for i in range(n_samples):
        m = int(rng.integers(lo, hi + 1))
        pos = np.sort(rng.choice(length - m, size=m, replace=False))
        tokens = rng.integers(2, vocab, size=m)
        x[i, pos] = tokens
        x[i, length - m:] = 1
        y[i, length - m:] = tokens
    return x, y



def _partitions(m, largest=None):
    """The partitions of m into parts <= largest, as tuples in non-increasing order."""
    largest = m if largest is None else largest
    if m == 0:
        yield ()
        return
    for part in range(min(m, largest), 0, -1):
        for rest in _partitions(m - part, part):
            yield (part,) + rest


def order_free_copy_accuracy(m, n_symbols):
    """The best accuracy at copying m tokens, each drawn uniformly (with replacement) from
    n_symbols, by a model that knows which tokens occurred and how often, but not in which
    order (chapter 2's attention without positions):

        accuracy = E[max_v count(v)] / m

    Without order, each of the m slots is equally likely to hold any of the m tokens, so
    slot j holds token v with probability count(v) / m, and the best guess, a most
    frequent token, is right with probability max_v count(v) / m. The expectation is exact:
    a sum over the partitions of m (the multiset of counts), the number of sequences with
    k distinct tokens of counts (c_1, ..., c_k) being
    n_symbols! / (n_symbols - k)! / prod_i r_i! * m! / prod_j c_j!  (r_i: how many counts
    equal i), out of n_symbols^m.

    m : int in [1, 30];  n_symbols : int >= 1.  Returns a float.
    """
    m = integer("m", m, maximum=30)
    n_symbols = integer("n_symbols", n_symbols, maximum=10**9)
    expected = Fraction(0)
    for counts in _partitions(m):
        k = len(counts)
        if k > n_symbols:
            continue
        ways = Fraction(math.perm(n_symbols, k) * math.factorial(m))
        for c in counts:
            ways /= math.factorial(c)
        for c in set(counts):
            ways /= math.factorial(counts.count(c))
        expected += ways * counts[0]
    return float(expected / n_symbols ** m / m)


def induction_heads(n_samples, length=64, vocab=16, rng=0):
    """Induction heads (Olsson et al. 2022; Gu & Dao 2024, section 4.1): after a special
    token, which appeared once before, output the token that followed it then.

    Token ids: 0 = the special token, 1 .. vocab - 1 = content. Sample ``i``:

        x[i, t] ~ Uniform{1, ..., vocab - 1}       (content noise)
        x[i, p] = 0, x[i, p + 1] = v                p ~ Uniform{0, ..., length - 3}
        x[i, length - 1] = 0                        (the special token again)
        y[i, length - 1] = v, IGNORE elsewhere

    The special token occurs exactly twice. Models trained at one length can be tested
    at longer ones (the same generator with a larger ``length``).

    n_samples : int >= 1;  length : int >= 3;  vocab : int >= 2;  rng : Generator or seed.
    Returns x, y : int64 (n_samples, length).
    """
    n_samples = integer("n_samples", n_samples)
    length = integer("length", length, 3)
    affordable("n_samples", n_samples * length, what="tokens (n_samples length)")
    vocab = integer("vocab", vocab, 2, maximum=ID_MAX)
    rng = _generator(rng)
    x = rng.integers(1, vocab, size=(n_samples, length), dtype=np.int64)
    p = rng.integers(0, length - 2, size=n_samples)
    rows = np.arange(n_samples)
    x[rows, p] = 0
    x[:, -1] = 0
    y = np.full((n_samples, length), IGNORE, dtype=np.int64)
    y[:, -1] = x[rows, p + 1]
    return x, y


# ---------------------------------------------------------------- chapter 8 tasks
def noise_padded_patterns(n_samples, pad, n_classes=8, pattern_length=16, noise=0.3,
                          rng=0, template_seed=0):
    """Memory across padding (chapter 8; a synthetic stand-in for the noise-padded
    sequential CIFAR of Yu, Mahoney & Erichson 2025): a class's pattern, then noise, and
    the class is asked for at the end.

    The templates are fixed by ``template_seed``: T[c] in {-1, +1}^pattern_length, one per
    class. Sample ``i`` (length pattern_length + pad, one feature):

        x[i, t, 0] = T[y_i, t] + noise * e_{i,t}          t < pattern_length
        x[i, t, 0] = e_{i,t}                              t >= pattern_length (padding)
        e ~ N(0, 1) independent,  y_i uniform in [0, n_classes)

    The padding is independent of the class, so a model that does not carry the pattern
    across ``pad`` steps scores 1 / n_classes (chance).

    n_samples : int >= 1;  pad : int >= 0;  n_classes : int >= 2;  pattern_length : int >= 1
    noise : float >= 0;  rng, template_seed : Generator or int seed
    Returns x : float32 (n_samples, pattern_length + pad, 1), y : int64 (n_samples,).
    """
    n_samples = integer("n_samples", n_samples)
    pad = integer("pad", pad, minimum=0)
    n_classes = integer("n_classes", n_classes, minimum=2)
    pattern_length = integer("pattern_length", pattern_length)
    noise = number("noise", noise, 0)
    length = pattern_length + pad
    affordable("n_samples", n_samples * length, what="numbers (n_samples (pattern + pad))")
    affordable("n_classes", n_classes * pattern_length,
               what="template numbers (n_classes pattern_length)")
    templates = _generator(template_seed, "template_seed").choice([-1.0, 1.0],
                                                                  (n_classes, pattern_length))
    rng = _generator(rng)
    y = rng.integers(0, n_classes, n_samples)
    x = rng.standard_normal((n_samples, length))
    x[:, :pattern_length] = templates[y] + noise * x[:, :pattern_length]
    return x[..., None].astype(np.float32), y.astype(np.int64)



def two_tone_kernel(L=256, low=0.3, high=2.5, decay=40.0):
    """Chapter 8's frequency-bias target, a kernel with one low- and one high-frequency
    component:  K*_k = exp(-k / decay) (cos(low k) + cos(high k)),  k = 0 .. L - 1.

    L : int >= 1;  low, high : frequencies in rad/step, in [0, pi];  decay : float > 0.
    Returns float64 (L,).
    """
    L = integer("L", L, maximum=MAX_STEPS)
    low = number("low", low, 0, np.pi)
    high = number("high", high, 0, np.pi)
    decay = positive("decay", decay)
    k = np.arange(L)
    return np.exp(-k / decay) * (np.cos(low * k) + np.cos(high * k))


# ---------------------------------------------------------------- chapter 9 tasks
def mqar(n_samples, length=64, n_pairs=4, n_keys=16, n_values=16, rng=0):
    """Multi-query associative recall (MQAR; Arora et al. 2024, "Zoology"): a list of
    key-value pairs, then the keys again, in another order, among filler tokens; at each
    query, output the value its key was paired with.

    Token ids: 0 = filler, 1 .. n_keys = keys, n_keys + 1 .. n_keys + n_values = values
    (vocabulary n_keys + n_values + 1). Sample ``i``:

        x[i, 0:2 n_pairs] = k_1 v_1 k_2 v_2 ... k_n v_n     distinct keys, values uniform
        x[i, t] = k_j at n_pairs positions t >= 2 n_pairs (uniform, each key once),
        0 elsewhere;   y[i, t] = v_j there, IGNORE elsewhere

    The value of a key is independent of the key, so a model without memory scores
    1 / n_values (chance); the query sits up to length - 1 tokens after its pair.

    n_samples : int >= 1;  length : int >= 3 n_pairs;  n_pairs : int in [1, n_keys];
    n_keys, n_values : ints >= 1;  rng : Generator or seed.
    Returns x, y : int64 (n_samples, length).
    """
    n_samples = integer("n_samples", n_samples)
    n_keys = integer("n_keys", n_keys, maximum=10**6)
    n_values = integer("n_values", n_values, maximum=10**6)
    n_pairs = integer("n_pairs", n_pairs)
    if n_pairs > n_keys:
        raise ValueError(f"n_pairs: expected at most n_keys = {n_keys} (distinct keys), "
                         f"got {n_pairs}")
    length = integer("length", length, 3 * n_pairs)
    affordable("n_samples", n_samples * length, what="tokens (n_samples length)")
    rng = _generator(rng)
    rows = np.arange(n_samples)[:, None]
    keys = np.argsort(rng.random((n_samples, n_keys)), axis=1)[:, :n_pairs] + 1
    values = rng.integers(n_keys + 1, n_keys + n_values + 1, size=(n_samples, n_pairs))
    x = np.zeros((n_samples, length), dtype=np.int64)
    x[:, 0:2 * n_pairs:2] = keys
    x[:, 1:2 * n_pairs:2] = values
    slots = np.argsort(rng.random((n_samples, length - 2 * n_pairs)), axis=1)[:, :n_pairs]
    order = np.argsort(rng.random((n_samples, n_pairs)), axis=1)       # queries reordered
    pos = 2 * n_pairs + slots
    x[rows, pos] = keys[rows, order]
    y = np.full((n_samples, length), IGNORE, dtype=np.int64)
    y[rows, pos] = values[rows, order]
    return x, y


# ---------------------------------------------------------------- chapter 2: seq2seq
PAD, BOS, EOS = 0, 1, 2
"""Special ids of ``digit_reversal``: padding, begin and end of the target."""


def digit_reversal(n_samples, lengths=(3, 8), n_digits=10, rng=0):
    """A toy translation: read a short sequence of digits, write it backwards (the
    encoder-decoder of chapter 2, with teacher forcing).

    Token ids: 0 = PAD, 1 = BOS, 2 = EOS, 3 .. n_digits + 2 = the digits 0 .. n_digits - 1.
    Sample ``i`` has n digits c_1 .. c_n, n uniform in lengths = (lo, hi) (inclusive),
    the digits uniform and independent:

        src[i]     = PAD ... PAD   c_1 c_2 ... c_n            (batch, hi), right-aligned
        tgt_in[i]  = BOS c_n ... c_1   PAD ... PAD            (batch, hi + 1), the decoder's input
        tgt_out[i] = c_n ... c_1 EOS   IGNORE ... IGNORE      (batch, hi + 1), what it must emit

    so tgt_out[i, t] follows tgt_in[i, :t + 1] (teacher forcing). The source is padded in
    front, so its last digit always sits at position hi - 1: output t of a correct model
    reads source position hi - 1 - t whatever n, the anti-diagonal.

    n_samples : int >= 1;  lengths : (lo, hi), 1 <= lo <= hi;  n_digits : int >= 1;
    rng : numpy Generator or int seed >= 0. Returns src, tgt_in, tgt_out, int64.
    """
    n_samples = integer("n_samples", n_samples)
    n_digits = integer("n_digits", n_digits, maximum=10**6)
    try:
        lo, hi = (integer("lengths", v, maximum=10**4) for v in lengths)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"lengths: expected a pair (lo, hi) of integers, got "
                         f"{lengths!r}") from exc
    if not 1 <= lo <= hi:
        raise ValueError(f"lengths: expected 1 <= lo <= hi, got {lengths!r}")
    affordable("n_samples", n_samples * (2 * hi + 1), what="tokens (n_samples (2 hi + 1))")
    rng = _generator(rng)
    n = rng.integers(lo, hi + 1, size=n_samples)                       # (n_samples,)
    digits = rng.integers(3, n_digits + 3, size=(n_samples, hi))
    t = np.arange(hi)
    real = t[None, :] < n[:, None]                                     # (n_samples, hi)
    c = np.where(real, digits, PAD)                                    # c_1 .. c_n PAD ..
    src = np.take_along_axis(c, (t[None, :] + n[:, None]) % hi, axis=1)    # PAD .. c_1 .. c_n
    rev = np.where(real, np.take_along_axis(c, np.clip(n[:, None] - 1 - t, 0, hi - 1),
                                             axis=1), PAD)             # c_n .. c_1 PAD ..
    tgt_in = np.concatenate([np.full((n_samples, 1), BOS), rev], axis=1)
    tgt_out = np.concatenate([np.where(real, rev, IGNORE),
                              np.full((n_samples, 1), IGNORE)], axis=1)
    tgt_out[np.arange(n_samples), n] = EOS
    return src.astype(np.int64), tgt_in.astype(np.int64), tgt_out.astype(np.int64)


# ---------------------------------------------------------------------------------------
# Chapter 10's long-range tasks: ListOps, a digit read pixel by pixel, a small Pathfinder.

LISTOPS_TOKENS = ("<pad>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
                  "[MAX", "[MIN", "[MED", "[SM", "]")
"""ListOps' vocabulary, by id: 0 the padding, 1 .. 10 the digits 0 .. 9, 11 .. 14 the four
operators (each opens a bracket), 15 the closing bracket."""
LISTOPS_OPERATORS = ("MAX", "MIN", "MED", "SM")


def listops_value(op, args):
    """One ListOps operator on a list of digits (Nangia & Bowman 2018): MAX, MIN, MED (the
    median, rounded down for an even count), SM (the sum modulo 10). Returns an int 0..9."""
    if not isinstance(op, str) or op not in LISTOPS_OPERATORS:
        raise ValueError(f"op: expected one of {LISTOPS_OPERATORS}, got {op!r}")
    if isinstance(args, (str, bytes)) or not hasattr(args, "__iter__"):
        raise ValueError(f"args: expected a list of digits 0..9, got {args!r:.100}")
    args = [integer("args", a, 0, maximum=9) for a in args]
    if not args:
        raise ValueError("args: expected at least one digit, got none")
    if op == "MAX":
        return max(args)
    if op == "MIN":
        return min(args)
    if op == "MED":
        return int(np.median(args))
    return sum(args) % 10


def _listops_tree(rng, depth, max_depth, max_args, p_leaf):
    """(tokens, value) of a random expression: a digit with probability p_leaf (always at
    max_depth), else an operator over 2 .. max_args sub-expressions."""
    if depth >= max_depth or (depth > 0 and rng.random() < p_leaf):
        d = int(rng.integers(10))
        return [d + 1], d
    op = int(rng.integers(4))
    tokens, values = [11 + op], []
    for _ in range(int(rng.integers(2, max_args + 1))):
        t, v = _listops_tree(rng, depth + 1, max_depth, max_args, p_leaf)
        tokens += t
        values.append(v)
    tokens.append(15)
    return tokens, listops_value(LISTOPS_OPERATORS[op], values)


def listops(n_samples, length=512, min_length=None, max_depth=10, max_args=5, p_leaf=0.7,
            rng=0):
    """ListOps (Nangia & Bowman 2018; the Long Range Arena's version, Tay et al. 2021): a
    nested expression of MAX, MIN, MED and SM (sum mod 10) over digits; the label is its
    value, 10 classes. Example, 13 tokens:  [MAX 4 3 [MIN 2 3 ] 1 0 ]  -> 4.

    Each expression is a random tree: the root is an operator, every other node a digit with
    probability p_leaf (always at depth max_depth), else an operator with 2 .. max_args
    children, drawn uniformly. Expressions are drawn until one has min_length .. length
    tokens; it is left-padded with id 0 to ``length``, so its last token sits at the end.
    Token ids: ``LISTOPS_TOKENS``.

    n_samples : int >= 1;  length : int >= 5;  min_length : int in [5, length] (default
    length // 4);  max_depth, max_args : ints >= 1, >= 2;  p_leaf : in (0, 1);
    rng : Generator or seed.  Returns x int64 (n_samples, length), y int64 (n_samples,).
    """
    n_samples = integer("n_samples", n_samples)
    length = integer("length", length, 5, maximum=MAX_STEPS)
    min_length = integer("min_length", length // 4 if min_length is None else min_length,
                         5, maximum=length)
    max_depth = integer("max_depth", max_depth, maximum=50)
    max_args = integer("max_args", max_args, 2, maximum=100)
    p_leaf = number("p_leaf", p_leaf, 0, 1, strict=True)
    if p_leaf >= 1:
        raise ValueError(f"p_leaf: expected a probability below 1, got {p_leaf}")
    affordable("n_samples", n_samples * length, what="tokens (n_samples length)")
    rng = _generator(rng)
    x = np.zeros((n_samples, length), dtype=np.int64)
    y = np.zeros(n_samples, dtype=np.int64)
    tries = 0
    for i in range(n_samples):
        while True:
            tries += 1
            if tries > 1000 * n_samples + 1000:
                raise ValueError(f"length: expressions of {min_length} .. {length} tokens are "
                                 f"too rare at max_depth={max_depth}, max_args={max_args}, "
                                 f"p_leaf={p_leaf}; widen the range or change the tree's "
                                 f"shape")
            tokens, value = _listops_tree(rng, 0, max_depth, max_args, p_leaf)
            if min_length <= len(tokens) <= length:
                break
        x[i, length - len(tokens):] = tokens
        y[i] = value
    return x, y


def _listops_ids(ids):
    """ids as a 1-d list of ListOps ids, or a ValueError naming ``ids``."""
    try:
        a = np.asarray(ids)
    except (TypeError, ValueError):
        a = np.asarray([None])
    if a.ndim != 1 or a.size == 0 or a.dtype.kind not in "iu" or (
            a.min() < 0 or a.max() >= len(LISTOPS_TOKENS)):
        raise ValueError(f"ids: expected a non-empty 1-d array of ListOps ids "
                         f"0..{len(LISTOPS_TOKENS) - 1}, got {a.dtype} of shape {a.shape}")
    return a.tolist()


def listops_text(ids):
    """A ListOps row (L,) as text, padding left out: ``listops_text(x[0])`` -> "[MAX 4 3 ]"."""
    return " ".join(LISTOPS_TOKENS[i] for i in _listops_ids(ids) if i)


def listops_evaluate(ids):
    """The value of a ListOps row (L,), read left to right with a stack (independent of the
    tree ``listops`` drew it from): a digit is pushed, an operator pushed as a mark, and a
    closing bracket pops back to the mark and pushes the operator's value."""
    stack = []
    for i in _listops_ids(ids):
        if 1 <= i <= 10:
            stack.append(i - 1)
        elif 11 <= i <= 14:
            stack.append(LISTOPS_OPERATORS[i - 11])
        elif i == 15:
            args = []
            while stack and not isinstance(stack[-1], str):
                args.append(stack.pop())
            if not stack or not args:
                raise ValueError("ids: expected a well-formed expression, got a ']' without "
                                 "an operator and its arguments before it")
            stack.append(listops_value(stack.pop(), args[::-1]))
    if len(stack) != 1 or isinstance(stack[0], str):
        raise ValueError(f"ids: expected one complete expression, got {len(stack)} open items")
    return stack[0]


DIGIT_LEVELS = 17
"""A digit image's grey levels 0 .. 16 (scikit-learn's digits), the image tasks' token ids."""
DIGIT_SPLITS = {"train": (0, 1257), "val": (1257, 1527), "test": (1527, 1797)}
"""Which of the 1,797 digit images (in a fixed shuffled order) each split draws from:
70 / 15 / 15 %, so validation and test digits were written by no training example."""


@functools.lru_cache(maxsize=1)
def _digit_images():
    """scikit-learn's 1,797 handwritten 8 x 8 digits (UCI optdigits' test set; levels 0..16),
    shuffled once with seed 0: (images (1797, 8, 8) int64, labels (1797,) int64)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digit image task reads scikit-learn's bundled digits: "
                          "pip install scikit-learn") from None
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    images, labels = d.images.astype(np.int64)[order], d.target.astype(np.int64)[order]
    images.flags.writeable = labels.flags.writeable = False       # shared by every call
    return images, labels


def digit_canvas(n_samples, size=32, scale=2, n_strokes=4, split="train", rng=0):
    """A handwritten digit read pixel by pixel (the Long Range Arena's "Image" task, on data
    a package ships): one of scikit-learn's 8 x 8 digits, enlarged ``scale`` times, at a
    random place on a ``size`` x ``size`` canvas with ``n_strokes`` distracting strokes
    (straight lines of random grey level, 3 .. size // 2 pixels long); read row by row,
    a sequence of L = size**2 grey levels 0 .. 16 (``DIGIT_LEVELS`` token ids). The label is
    the digit, 10 classes.

    split : "train", "val" or "test": the digit images come from ``DIGIT_SPLITS[split]``.
    n_samples : int >= 1;  size : int >= 8 scale;  scale : int >= 1;  n_strokes : int >= 0;
    rng : Generator or seed.  Returns x int64 (n_samples, size**2), y int64 (n_samples,).
    """
    n_samples = integer("n_samples", n_samples)
    scale = integer("scale", scale, maximum=16)
    size = integer("size", size, 8 * scale, maximum=256)
    n_strokes = integer("n_strokes", n_strokes, 0, maximum=1000)
    if not isinstance(split, str) or split not in DIGIT_SPLITS:
        raise ValueError(f"split: expected one of {sorted(DIGIT_SPLITS)}, got {split!r:.100}")
    affordable("n_samples", n_samples * size * size, what="pixels (n_samples size**2)")
    rng = _generator(rng)
    images, labels = _digit_images()
    lo, hi = DIGIT_SPLITS[split]
    pick = rng.integers(lo, hi, size=n_samples)
    big = np.kron(images[pick], np.ones((scale, scale), dtype=np.int64))   # (n, 8s, 8s)
    canvas = np.zeros((n_samples, size, size), dtype=np.int64)
    side = 8 * scale
    for i in range(n_samples):
        for _ in range(n_strokes):
            n = int(rng.integers(3, max(4, size // 2 + 1)))
            r0, c0 = rng.integers(0, size, size=2)
            angle = rng.uniform(0, np.pi)
            rr = np.clip(np.round(r0 + np.sin(angle) * np.arange(n)), 0, size - 1).astype(int)
            cc = np.clip(np.round(c0 + np.cos(angle) * np.arange(n)), 0, size - 1).astype(int)
            canvas[i, rr, cc] = rng.integers(4, DIGIT_LEVELS)
        r, c = rng.integers(0, size - side + 1, size=2)
        patch = canvas[i, r:r + side, c:c + side]
        canvas[i, r:r + side, c:c + side] = np.where(big[i] > 0, big[i], patch)
    return canvas.reshape(n_samples, size * size), labels[pick].copy()


PATHFINDER_TOKENS = ("background", "path", "dot")
"""A Pathfinder image's pixel values, by id."""


def _path_pixels(rng, size, n_steps, turn):
    """One smooth random path: (rows, cols) of n_steps unit steps whose heading turns by a
    normal(0, turn) angle each step, starting at a random pixel and heading."""
    pos = rng.uniform(2, size - 2, size=2)
    heading = rng.uniform(0, 2 * np.pi)
    points = [pos.copy()]
    for _ in range(n_steps):
        heading += rng.normal(0, turn)
        step = np.array([np.sin(heading), np.cos(heading)])
        if not (0 <= (pos + step)[0] <= size - 1 and 0 <= (pos + step)[1] <= size - 1):
            heading += np.pi                     # turn back at the border
            step = -step
        pos = pos + step
        points.append(pos.copy())
    p = np.round(np.array(points)).astype(int)
    return p[:, 0], p[:, 1]


def pathfinder(n_samples, size=32, n_paths=3, path_length=(14, 28), turn=0.35, rng=0):
    """A small Pathfinder (Linsley et al. 2018; the Long Range Arena's version, Tay et al.
    2021): are the two dots joined by a path? ``n_paths`` smooth random paths (unit steps,
    heading turned by a normal(0, turn) angle per step, path_length = (lo, hi) steps) on a
    ``size`` x ``size`` image; the two dots (2 x 2 pixels) are put on the two ends of one
    path, or on one end of each of two paths, with probability 1/2. The label is 1 when the
    dots lie in one 8-connected component of the drawn pixels (so two paths that cross
    join their dots: the label is what the image shows, computed with scipy.ndimage.label),
    else 0; examples are drawn until the labels are balanced. Read row by row: a sequence
    of L = size**2 pixel ids (``PATHFINDER_TOKENS``: 0 background, 1 path, 2 dot).

    n_samples : int >= 1;  size : int >= 8;  n_paths : int >= 2;  path_length : (lo, hi)
    ints, 2 <= lo <= hi;  turn : >= 0 radians;  rng : Generator or seed.
    Returns x int64 (n_samples, size**2), y int64 (n_samples,) in {0, 1}.
    """
    from scipy import ndimage

    n_samples = integer("n_samples", n_samples)
    size = integer("size", size, 8, maximum=256)
    n_paths = integer("n_paths", n_paths, 2, maximum=100)
    if (not isinstance(path_length, (tuple, list)) or len(path_length) != 2):
        raise ValueError(f"path_length: expected (lo, hi), got {path_length!r}")
    lo = integer("path_length", path_length[0], 2, maximum=100 * size)
    hi = integer("path_length", path_length[1], lo, maximum=100 * size)
    turn = number("turn", turn, 0, 10)
    affordable("n_samples", n_samples * size * size, what="pixels (n_samples size**2)")
    rng = _generator(rng)
    x = np.zeros((n_samples, size, size), dtype=np.int64)
    y = np.zeros(n_samples, dtype=np.int64)
    want = rng.permutation(np.arange(n_samples) % 2)            # the balanced labels
    eight = np.ones((3, 3), dtype=int)
    for i in range(n_samples):
        for _ in range(10_000):
            image = np.zeros((size, size), dtype=np.int64)
            ends = []
            for _ in range(n_paths):
                rr, cc = _path_pixels(rng, size, int(rng.integers(lo, hi + 1)), turn)
                image[rr, cc] = 1
                ends.append(((rr[0], cc[0]), (rr[-1], cc[-1])))
            if rng.random() < 0.5:
                a, b = ends[0]
            else:
                a, b = ends[0][int(rng.integers(2))], ends[1][int(rng.integers(2))]
            for r, c in (a, b):
                image[max(r - 1, 0):r + 1, max(c - 1, 0):c + 1] = 1
            components, _ = ndimage.label(image > 0, structure=eight)
            joined = int(components[a] == components[b])
            if joined == want[i]:
                break
        else:
            raise ValueError("path_length: could not draw a balanced set with these settings")
        for r, c in (a, b):
            image[max(r - 1, 0):r + 1, max(c - 1, 0):c + 1] = 2
        x[i], y[i] = image, joined
    return x.reshape(n_samples, size * size), y
