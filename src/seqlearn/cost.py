"""Cost curves: how the time and the memory of a sequence model grow with the length L.

A cost that grows like a power of L is a straight line on log-log axes,

    cost(L) ~ c * L**p    <=>    log cost = log c + p * log L,

so the exponent p is the least-squares slope of (log L, log cost):

    p = sum_i (x_i - mean x)(y_i - mean y) / sum_i (x_i - mean x)**2,   x = log L, y = log cost.

The three models the book compares (d = 64, one sequence, NumPy):

    tanh RNN           h_t = tanh(W_ih x_t + W_hh h_{t-1} + b)    time O(L d^2), memory O(L d)
    softmax attention  Y = softmax(Q K^T / sqrt(d) + M_causal) V  time O(L^2 d), memory O(L^2)
    linear attention   y_t = phi(q_t)^T S_t / phi(q_t)^T z_t,     time O(L d^2), memory O(L d^2)
                       S_t, z_t prefix sums (cumsum)              (the parallel form keeps all S_t)

Time is wall-clock (``time.perf_counter``), best of a few runs; memory is the
peak of what Python and NumPy allocate during the call (``tracemalloc``).
For smooth time curves use one BLAS thread (``OPENBLAS_NUM_THREADS=1`` in the
environment before NumPy is imported, as ``benchmarks/cost.py`` does): on small
virtual machines, waking BLAS worker threads can add ~10 ms to a matrix product
and swamp the timings at small L.

NaN or inf in the inputs propagates to the outputs (no error), as in the modules the
models come from.

Glossary (code -> math)
    lengths, L     the sequence lengths L
    values         cost(L), seconds or bytes
    tail           fit only the ``tail`` largest L (where the leading term dominates)
    d              model width d (= d_k = d_v = hidden size)
    x, params      RNN input (1, L, d) and the weights of seqlearn.rnn (W_ih, W_hh, b_ih, b_hh)
    Q, K, V        attention queries, keys, values (L, d)
"""

import time
import tracemalloc

import numpy as np

from seqlearn._checks import affordable, integer

from seqlearn import rnn
from seqlearn.attention import linear_attention_parallel, scaled_dot_product_attention


def time_call(fn, *args, repeat=3):
    """Seconds taken by ``fn(*args)``: ``min_r (t_end,r - t_start,r)`` over ``repeat`` runs.

    The minimum, not the mean: other processes only ever add time, so the
    fastest run is the best estimate of the call's own cost.

    fn     : callable
    args   : its arguments
    repeat : int >= 1
    returns float, seconds (time.perf_counter)
    """
    if not callable(fn):
        raise ValueError(f"fn: expected a function, got {type(fn).__name__}")
    repeat = integer("repeat", repeat, maximum=1000)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory_bytes(fn, *args):
    """Peak bytes allocated while ``fn(*args)`` runs: ``max_t allocated(t) - allocated(start)``.

    Measured with ``tracemalloc``, so it sees **Python and NumPy allocations
    only** (NumPy reports its array buffers to tracemalloc); memory taken by
    BLAS workspaces, torch, or other C libraries is invisible. The result of
    ``fn`` counts (it is alive at the end of the call). Run it apart from
    ``time_call``: tracing slows Python code down.

    fn   : callable
    args : its arguments (allocated before, so not counted)
    returns int, bytes
    """
    if not callable(fn):
        raise ValueError(f"fn: expected a function, got {type(fn).__name__}")
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started_here:
            tracemalloc.stop()
    return peak - before


def cost_curve(make_inputs, fn, lengths, repeat=3):
    """Time and peak memory of ``fn(*make_inputs(L))`` for each L in ``lengths``.

    seconds[i] = time_call(fn, *make_inputs(L_i)), bytes[i] = peak_memory_bytes(fn, ...)

    make_inputs : callable, L -> tuple of arguments for fn (built before measuring)
    fn          : callable, the computation measured
    lengths     : (n,) positive ints
    repeat      : int >= 1, timing runs per length (best kept)
    returns dict with "L" (n,) int, "seconds" (n,) float, "bytes" (n,) int
    """
    if not callable(make_inputs):
        raise ValueError(f"make_inputs: expected a function L -> arguments, "
                         f"got {type(make_inputs).__name__}")
    lengths = _lengths_array("lengths", lengths)
    seconds, nbytes = [], []
    for L in lengths:
        args = make_inputs(int(L))
        seconds.append(time_call(fn, *args, repeat=repeat))
        nbytes.append(peak_memory_bytes(fn, *args))
    return {"L": lengths, "seconds": np.array(seconds), "bytes": np.array(nbytes)}


def _lengths_array(name, lengths):
    arr = np.asarray(lengths) if lengths is not None else np.zeros(0)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) \
            or np.any(arr < 1):
        raise ValueError(f"{name}: expected a non-empty 1-D list of positive integers, "
                         f"got {lengths!r}")
    return arr.astype(np.int64)


def loglog_slope(lengths, values, tail=None):
    """The exponent p of ``values ~ c * lengths**p``: least-squares slope of log values on log L.

        p = sum (x - mean x)(y - mean y) / sum (x - mean x)^2,   x = log L, y = log value

    lengths : (n,) positive numbers (any order)
    values  : (n,) positive numbers, the costs at those lengths
    tail    : None (use all n points) or int in [2, n], fit only the ``tail``
              points with the largest lengths, where the leading power dominates
    returns float p
    """
    L = np.asarray(lengths, dtype=float) if _is_numeric(lengths) else None
    if L is None or L.ndim != 1 or L.size < 2 or not np.all(np.isfinite(L)) or np.any(L <= 0):
        raise ValueError(f"lengths: expected a 1-D list of at least 2 positive numbers, "
                         f"got {lengths!r}")
    v = np.asarray(values, dtype=float) if _is_numeric(values) else None
    if v is None or v.shape != L.shape:
        raise ValueError(f"values: expected {L.size} numbers, one per length, got {values!r}")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"values: expected positive finite numbers (their log is fitted), "
                         f"got {values!r}")
    if tail is not None:
        tail = integer("tail", tail, minimum=2)
        if tail > L.size:
            raise ValueError(f"tail: expected at most {L.size} (the number of points), got {tail}")
        keep = np.argsort(L, kind="stable")[-tail:]
        L, v = L[keep], v[keep]
    x, y = np.log(L), np.log(v)
    if np.ptp(x) == 0:
        raise ValueError(f"lengths: expected at least two different lengths, got {lengths!r}")
    dx = x - x.mean()
    return float(np.sum(dx * (y - y.mean())) / np.sum(dx * dx))


def _is_numeric(value):
    try:
        arr = np.asarray(value)
    except Exception:
        return False
    return arr.dtype != object and np.issubdtype(arr.dtype, np.number) \
        and not np.iscomplexobj(arr)


# --- the three models the book compares ---------------------------------------------------

D = 64  # the width used throughout the comparison


def rnn_inputs(L, d=D, seed=0):
    """Seeded inputs of ``rnn_states``: x (1, L, d) and the parameters of ``seqlearn.rnn``.

    x ~ N(0, 1); W_ih, W_hh ~ N(0, 1/d) (W_hh's spectral radius about 1, tanh does not
    saturate); b_ih ~ N(0, 0.01), b_hh = 0.

    L, d : ints >= 1; seed : the random generator's seed
    returns (x, params), params a dict with W_ih (d, d), W_hh (d, d), b_ih (d,), b_hh (d,)
    """
    L, d = integer("L", L), integer("d", d)
    affordable("L" if L >= d else "d", L * d + 2 * d * d, what="numbers")
    rng = np.random.default_rng(integer("seed", seed, 0))
    x = rng.standard_normal((1, L, d))
    params = {"W_ih": rng.standard_normal((d, d)) / np.sqrt(d),
              "W_hh": rng.standard_normal((d, d)) / np.sqrt(d),
              "b_ih": 0.1 * rng.standard_normal(d), "b_hh": np.zeros(d)}
    return x, params


def rnn_states(x, params):
    """The tanh RNN of chapter 1 (``seqlearn.rnn.rnn_forward``) from h_{-1} = 0.

    x : (batch, L, d);  params : as ``rnn_inputs`` makes them
    returns the hidden states (batch, L, d)
    """
    return rnn.rnn_forward(x, None, params)[0]


def attention_inputs(L, d=D, seed=0):
    """Seeded inputs of the two attentions: Q, K, V, each (L, d), entries ~ N(0, 1).

    L, d : ints >= 1; seed : the random generator's seed
    """
    L, d = integer("L", L), integer("d", d)
    affordable("L" if L >= d else "d", 3 * L * d, what="numbers")
    rng = np.random.default_rng(integer("seed", seed, 0))
    return tuple(rng.standard_normal((L, d)) for _ in range(3))


def causal_softmax_attention(Q, K, V):
    """``Y = softmax(Q K^T / sqrt(d) + M_causal) V``, single head. Q, K, V (L, d) -> Y (L, d)."""
    return scaled_dot_product_attention(Q, K, V, causal=True)


def causal_linear_attention(Q, K, V):
    """Causal linear attention, parallel cumsum form, phi = elu + 1. Q, K, V (L, d) -> Y (L, d)."""
    return linear_attention_parallel(Q, K, V, causal=True)


def compare_costs(lengths, d=D, repeat=3, rnn_forward=rnn_states):
    """Cost curves of the tanh RNN, causal softmax attention and causal linear attention.

    lengths     : (n,) positive ints, e.g. [64, 128, ..., 4096]
    d           : int, the width of every model
    repeat      : int >= 1, timing runs per length (best kept)
    rnn_forward : the RNN measured, called as ``rnn_forward(x, params)`` with the
                  inputs of ``rnn_inputs``; by default ``rnn_states``
    returns dict name -> ``cost_curve`` result, names "rnn", "softmax attention",
    "linear attention"
    """
    d = integer("d", d)
    if not callable(rnn_forward):
        raise ValueError(f"rnn_forward: expected a function (x, params) -> states, "
                         f"got {type(rnn_forward).__name__}")
    return {
        "rnn": cost_curve(lambda L: rnn_inputs(L, d), rnn_forward, lengths, repeat),
        "softmax attention": cost_curve(lambda L: attention_inputs(L, d),
                                        causal_softmax_attention, lengths, repeat),
        "linear attention": cost_curve(lambda L: attention_inputs(L, d),
                                       causal_linear_attention, lengths, repeat),
    }
