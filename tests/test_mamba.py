"""seqlearn.mamba against independent references: a scalar loop per (batch, channel, state)
in plain Python, the closed form of the linear recurrence, loops over ``combine``, the
recurrent steps, torch.autograd.gradcheck; every torch backend against the NumPy one.
(The "triton" backend has its own tests.)"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlearn import mamba
from seqlearn.models import MambaLM
from seqlearn.mamba import (MambaBlock, RMSNorm, associative_scan, combine,
                            inverse_softplus, scan_numpy, scan_torch_parallel,
                            scan_torch_sequential, selective_scan, selective_scan_step)
from scan_bounds import err, magnitude

TORCH_BACKENDS = ["torch_sequential", "torch", "torch_recurrence"]
OPTIONS = ["D", "z", "delta_bias", "delta_softplus"]
OPTION_SETS = [(), ("D",), ("z",), ("delta_bias",), ("delta_softplus",),
               ("delta_bias", "delta_softplus"), tuple(OPTIONS)]


def rel(a, b):
    """max |a - b| / max |b| (atol scaled to the size of the reference)."""
    a, b = (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
            for x in (a, b))
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def make_inputs(batch, d, n, L, seed=0, options=OPTIONS):
    """Random float64 NumPy inputs of a stable scan; options not chosen are None/False.

    Delta (before softplus) and the bias are positive, so Delta > 0 either way and
    exp(Delta A) is in (0, 1): the reference states stay bounded for any L.
    """
    rng = np.random.default_rng(seed)
    args = dict(u=rng.standard_normal((batch, d, L)),
                delta=rng.uniform(0.05, 0.6, (batch, d, L)),
                A=-rng.uniform(0.1, 2.0, (d, n)),
                B=rng.standard_normal((batch, n, L)),
                C=rng.standard_normal((batch, n, L)),
                D=rng.standard_normal(d), z=rng.standard_normal((batch, d, L)),
                delta_bias=rng.uniform(0.0, 0.3, d))
    for name in ("D", "z", "delta_bias"):
        if name not in options:
            args[name] = None
    args["delta_softplus"] = "delta_softplus" in options
    return args


def to_torch(args, dtype=torch.float64, requires_grad=False):
    return {k: (torch.tensor(v, dtype=dtype, requires_grad=requires_grad)
                if isinstance(v, np.ndarray) else v) for k, v in args.items()}


# ---------------------------------------------------------------- independent references
def _softplus(x):
    return x if x > 30 else math.log1p(math.exp(x))


def _silu(x):
    return x / (1 + math.exp(-x))


def brute_force(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """The selective scan, one scalar state at a time, in plain Python floats:
    for each (b, c, k): h = exp(Dt A[c, k]) h + Dt B[b, k, t] u[b, c, t];
    y[b, c, t] = sum_k C[b, k, t] h_k + D[c] u[b, c, t], then * silu(z[b, c, t])."""
    batch, d, L = u.shape
    n = A.shape[1]
    y = np.zeros((batch, d, L))
    last = np.zeros((batch, d, n))
    for b in range(batch):
        for c in range(d):
            dts = []
            for t in range(L):
                dt = float(delta[b, c, t]) + (0.0 if delta_bias is None else float(delta_bias[c]))
                dts.append(_softplus(dt) if delta_softplus else dt)
            for k in range(n):
                h = 0.0
                for t in range(L):
                    h = math.exp(dts[t] * A[c, k]) * h + dts[t] * B[b, k, t] * u[b, c, t]
                    y[b, c, t] += C[b, k, t] * h
                last[b, c, k] = h
            for t in range(L):
                if D is not None:
                    y[b, c, t] += D[c] * u[b, c, t]
                if z is not None:
                    y[b, c, t] *= _silu(float(z[b, c, t]))
    return y, last


def closed_form(u, delta, A, B, C):
    """h_t = sum_{s <= t} prod_{r = s+1..t} exp(Delta_r A) Delta_s B_s u_s,  y_t = C_t . h_t,
    with the product as exp(A sum_{r=s+1..t} Delta_r) (Delta already final)."""
    batch, d, L = u.shape
    y = np.zeros((batch, d, L))
    for t in range(L):
        h = 0.0
        for s in range(t + 1):
            decay = np.exp(delta[:, :, s + 1:t + 1].sum(-1)[..., None] * A)      # (batch, d, n)
            h = h + decay * (delta[:, :, s] * u[:, :, s])[..., None] * B[:, None, :, s]
        y[:, :, t] = (C[:, None, :, t] * h).sum(-1)
    return y


# ---------------------------------------------------------------- the NumPy reference
@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("batch,d,n,L", [(1, 1, 1, 1), (2, 3, 4, 7), (1, 2, 3, 20)])
def test_numpy_backend_matches_brute_force(options, batch, d, n, L):
    args = make_inputs(batch, d, n, L, seed=L + d, options=options)
    y_ref, h_ref = brute_force(**args)
    y, h = selective_scan(**args, return_last_state=True, backend="numpy")
    assert y.shape == (batch, d, L) and h.shape == (batch, d, n)
    # float64, the same recurrence (np.exp vs math.exp, softplus and silu by other formulas):
    # running bound, <= (2 |Delta A| + 15) u per step on the damped |h|, then the sum over n
    # and the gate, times sum|C h| / max|y| (<= 10.3): <= 2.5e-14 here; 1e-12 leaves 40x
    assert rel(y, y_ref) < 1e-12 and rel(h, h_ref) < 1e-12
    y_only = selective_scan(**args, backend="numpy")
    assert isinstance(y_only, np.ndarray) and np.array_equal(y_only, y)


@pytest.mark.parametrize("batch,d,n,L", [(1, 1, 1, 1), (2, 3, 4, 9), (1, 2, 5, 25)])
def test_scan_numpy_matches_closed_form(batch, d, n, L):
    args = make_inputs(batch, d, n, L, seed=3, options=())
    core = {k: args[k] for k in ("u", "delta", "A", "B", "C")}
    y, h = scan_numpy(**core)
    # exp(A sum Delta) vs a product of exps: a term's decay errs by (t - s) u + |x| e^-|x| L u
    # <= (L + L / e) u; over L = 25 terms with sum|C h| / max|y| <= 3: <= 1.2e-13; 8x
    assert rel(y, closed_form(**core)) < 1e-12
    assert rel(h, brute_force(**core)[1]) < 1e-12


def test_numpy_backend_takes_lists_and_float32_and_computes_in_float64():
    args = make_inputs(1, 2, 3, 4, options=("D",))
    y = selective_scan(**args)
    lists = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    assert np.array_equal(selective_scan(**lists), y)
    f32 = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    y32 = selective_scan(**f32)
    # float32 numbers convert to float64 exactly, then the same float64 operations: equal to
    # the scan of their float64 copies (bound 0; 1e-15 ~ 9u of slack). The old reference, y of
    # the unrounded inputs, differs by the inputs' rounding, ~(3 + 2 L |Delta A|) u32 * cond
    # ~ 1e-6, which cannot tell float32 arithmetic (~ the same size) from float64.
    up = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v) for k, v in f32.items()}
    assert y32.dtype == np.float64 and rel(y32, selective_scan(**up)) < 1e-15


# ---------------------------------------------------------------- torch backends vs NumPy
def run_backend(args, backend, dtype, chunk_size=64, return_last_state=True):
    return selective_scan(**to_torch(args, dtype), return_last_state=return_last_state,
                          backend=backend, chunk_size=chunk_size)


# Scan tolerances, relative to ``magnitude`` (so independent of cancellation): running error
# bound of h_t = a_t h_{t-1} + b_t, <= (2 |Delta A| + 3) u on a_t |h_{t-1}| (exp and the input's
# rounding) and ~9 u on |h_t| per step (the products, the add, float32 inputs), plus ~2 log2(T)
# + 2 for the parallel scan's tree, damped by a_t, then the sum over n and the gate.
# On these inputs (memory up to L): <= 1.9e-5 in float32 (1e-4 leaves 5x), 3.4e-14 in
# float64 (1e-12 leaves 29x; was 1e-10 relative to max|y|, which ignored cancellation).
@pytest.mark.parametrize("backend", TORCH_BACKENDS)
@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
def test_torch_backends_match_numpy_with_each_option(backend, options, dtype, tol):
    args = make_inputs(2, 3, 4, 37, seed=len(options), options=options)
    y_ref, h_ref = selective_scan(**args, return_last_state=True)
    y_mag, h_mag = magnitude(args)
    y, h = run_backend(args, backend, dtype, chunk_size=7)
    assert y.dtype == dtype and h.dtype == dtype
    assert y.shape == (2, 3, 37) and h.shape == (2, 3, 4)
    assert err(y, y_ref, y_mag) < tol and err(h, h_ref, h_mag) < tol   # bound: see above
    y_only = run_backend(args, backend, dtype, chunk_size=7, return_last_state=False)
    assert isinstance(y_only, torch.Tensor) and torch.equal(y_only, y)


# The running bound above on these inputs: <= 1.3e-5 in float32 (1e-4 leaves 7x), 2.4e-14 in
# float64 (1e-12 leaves 40x; was 1e-10 relative to max|y|)
@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
@pytest.mark.parametrize("L", [1, 2, 5, 37, 130])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-4)])
def test_parallel_scan_chunk_sizes_and_lengths(chunk_size, L, dtype, tol):
    args = make_inputs(2, 3, 5, L, seed=L * chunk_size)
    y_ref, h_ref = selective_scan(**args, return_last_state=True)
    y_mag, h_mag = magnitude(args)
    y, h = run_backend(args, "torch", dtype, chunk_size=chunk_size)
    assert err(y, y_ref, y_mag) < tol and err(h, h_ref, h_mag) < tol   # bound: see above
    y_seq, h_seq = run_backend(args, "torch_sequential", dtype)
    assert err(y_seq, y_ref, y_mag) < tol and err(h_seq, h_ref, h_mag) < tol


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 3), d=st.integers(1, 4), n=st.integers(1, 5), L=st.integers(1, 50),
       chunk_size=st.integers(1, 20), options=st.sets(st.sampled_from(OPTIONS)),
       backend=st.sampled_from(TORCH_BACKENDS), seed=st.integers(0, 2**32 - 1))
def test_torch_backends_match_numpy_property(batch, d, n, L, chunk_size, options, backend, seed):
    args = make_inputs(batch, d, n, L, seed=seed, options=options)
    y_ref, h_ref = selective_scan(**args, return_last_state=True)
    y_mag, h_mag = magnitude(args)
    y, h = run_backend(args, backend, torch.float64, chunk_size=chunk_size)
    # float64, L <= 50, the running bound above (no damping credit): ~(15 + 12) L u <= 1.5e-13
    # of the magnitude (5e-14 over 2000 draws); 1e-12 leaves 7x. (Was 1e-10 relative to max|y|,
    # which a draw whose outputs nearly cancel can push past any bound.)
    assert err(y, y_ref, y_mag) < 1e-12 and err(h, h_ref, h_mag) < 1e-12


@pytest.mark.parametrize("L", [1, 6, 19])
def test_scan_functions_agree_without_the_wrapper(L):
    args = make_inputs(2, 3, 4, L, seed=1, options=())
    core = {k: args[k] for k in ("u", "delta", "A", "B", "C")}
    y_ref, h_ref = scan_numpy(**core)
    tc = to_torch(core)
    for y, h in (scan_torch_sequential(**tc), scan_torch_parallel(**tc, chunk_size=4),
                 scan_torch_parallel(**tc)):
        # float64, L <= 19, the running bound above: <= 8e-14 of max|y| here; 12x
        assert rel(y, y_ref) < 1e-12 and rel(h, h_ref) < 1e-12


# ---------------------------------------------------------------- the associative scan
def loop_prefixes(a, b):
    """(A_t, H_t) by the recurrence H_t = a_t H_{t-1} + b_t, A_t = a_t A_{t-1} (a loop)."""
    A_out, H_out = [a[0]], [b[0]]
    for t in range(1, a.shape[0]):
        A_out.append(A_out[-1] * a[t])
        H_out.append(a[t] * H_out[-1] + b[t])
    return torch.stack(A_out), torch.stack(H_out)


@pytest.mark.parametrize("T", [1, 2, 3, 4, 5, 8, 11, 16, 31, 64, 100])
def test_associative_scan_matches_a_loop(T):
    g = torch.Generator().manual_seed(T)
    a = torch.rand(T, 2, 3, generator=g, dtype=torch.float64) * 0.9 + 0.1
    b = torch.randn(T, 2, 3, generator=g, dtype=torch.float64)
    A_pre, H_pre = associative_scan(a, b)
    A_ref, H_ref = loop_prefixes(a, b)
    assert A_pre.shape == a.shape and H_pre.shape == b.shape
    # float64 products of <= T = 100 factors in two orders: <= 2 T u; H: (2 T + 4 log2 T) u per
    # term times sum|terms| / max|H| (<= 1.7): <= 4.3e-14; 1e-12 leaves 23x
    assert rel(A_pre, A_ref) < 1e-12 and rel(H_pre, H_ref) < 1e-12


def test_combine_is_associative_and_means_apply_left_then_right():
    g = torch.Generator().manual_seed(0)
    x, y, z = ((torch.randn(5, 4, generator=g, dtype=torch.float64),
                torch.randn(5, 4, generator=g, dtype=torch.float64)) for _ in range(3))
    left = combine(combine(x, y), z)
    right = combine(x, combine(y, z))
    # float64, 2-3 roundings per side on terms of size <= 8.4 (b) and 1.5 (a): <= 3e-15; 300x
    for p, q in zip(left, right):
        assert torch.allclose(p, q, rtol=1e-12, atol=1e-12)
    h0 = torch.randn(5, 4, generator=g, dtype=torch.float64)
    a, b = combine(x, y)
    # <= 4 u * (sum of |terms| <= 3.8) = 1.7e-15; 600x
    assert torch.allclose(a * h0 + b, y[0] * (x[0] * h0 + x[1]) + y[1], rtol=1e-12, atol=1e-12)
    assert combine((2.0, 3.0), (5.0, 7.0)) == (10.0, 22.0)  # scalars: (2 * 5, 5 * 3 + 7)
    arrays = combine((np.array([2.0]), np.array([3.0])), (np.array([5.0]), np.array([7.0])))
    assert arrays[0][0] == 10.0 and arrays[1][0] == 22.0


# ---------------------------------------------------------------- numerical safety
def test_long_sequence_with_underflowing_decays_stays_finite():
    """L = 5000, Delta |A| up to 5000: exp(Delta A) underflows to 0 on some channels and is
    ~1 on others (long memory). The parallel scan (float32) must equal the loop, no NaN."""
    rng = np.random.default_rng(0)
    batch, d, n, L = 1, 4, 8, 5000
    A = -np.outer([1.0, 1.0, 10.0, 100.0], np.arange(1.0, n + 1))     # (d, n)
    delta = np.empty((batch, d, L))
    delta[:, 0] = rng.uniform(1e-3, 1e-2, L)            # decays ~ 1: long memory
    delta[:, 1] = rng.uniform(0.01, 0.5, L)
    delta[:, 2] = rng.uniform(20.0, 50.0, L)            # exp(-20 * 10 n) = 0 in float32
    delta[:, 3] = rng.choice([1e-3, 50.0], L)           # mixes forgetting and remembering
    args = dict(u=rng.standard_normal((batch, d, L)), delta=delta, A=A,
                B=rng.standard_normal((batch, n, L)), C=rng.standard_normal((batch, n, L)))
    assert np.exp(np.float32(delta[:, 2].min() * A[2].max())) == 0  # underflows indeed
    y_ref, h_ref = selective_scan(**args, return_last_state=True)
    for chunk_size in (256, 5000):
        y, h = run_backend(args, "torch", torch.float32, chunk_size=chunk_size)
        assert torch.isfinite(y).all() and torch.isfinite(h).all()
        # float32, L = 5000 but damped: the running bound (as above, memory <= ~180 steps in
        # channel 0) is <= 1.1e-5 of max|y| (sum|C h| / max|y| = 1.45); 1e-4 leaves 9x
        assert rel(y, y_ref) < 1e-4 and rel(h, h_ref) < 1e-4
    targs = to_torch(args, torch.float32, requires_grad=True)
    selective_scan(**targs, backend="torch").square().mean().backward()
    for name in ("u", "delta", "A", "B", "C"):
        assert torch.isfinite(targs[name].grad).all(), name


# ---------------------------------------------------------------- gradients
GRAD_NAMES = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]


@pytest.mark.parametrize("backend,chunk_size", [("torch_sequential", 64), ("torch", 2),
                                                ("torch", 64), ("torch_recurrence", 64)])
@pytest.mark.parametrize("L", [1, 5])
def test_gradcheck(backend, chunk_size, L):
    args = make_inputs(2, 3, 2, L, seed=7)
    targs = to_torch(args, torch.float64, requires_grad=True)
    names = GRAD_NAMES

    def fn(*tensors):
        kw = dict(targs, **dict(zip(names, tensors)))
        y, h = selective_scan(**kw, return_last_state=True, backend=backend,
                              chunk_size=chunk_size)
        return y, h

    # central differences, eps = 1e-6: truncation eps^2 |f'''| / 6 ~ 1e-11 plus cancellation
    # u |f| / eps ~ 2.2e-10 |f| (|f| <= 4.3): ~1e-9; atol 1e-7 leaves 100x (rtol: default 1e-3)
    assert torch.autograd.gradcheck(fn, tuple(targs[k] for k in names), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("options", [(), tuple(OPTIONS)])
def test_parallel_gradients_equal_sequential_gradients(options):
    args = make_inputs(2, 4, 3, 23, seed=11, options=options)
    grads = {}
    for backend in TORCH_BACKENDS:
        targs = to_torch(args, torch.float64, requires_grad=True)
        y, h = selective_scan(**targs, return_last_state=True, backend=backend, chunk_size=5)
        w = torch.linspace(-1, 1, y.numel(), dtype=torch.float64).reshape(y.shape)
        ((w * y).sum() + h.square().sum()).backward()
        grads[backend] = {k: v.grad for k, v in targs.items() if isinstance(v, torch.Tensor)}
    assert set(grads["torch"]) == {"u", "delta", "A", "B", "C"} | set(options) - {"delta_softplus"}
    # float64 forward + reverse recurrences, L = 23: ~40 u per step (no damping credit) times
    # sum|terms| / max|g| (<= 8.5, for A and delta_bias): <= 8.7e-13; 1e-10 leaves 110x
    for name, g in grads["torch_sequential"].items():
        assert rel(grads["torch"][name], g) < 1e-10, name
        assert rel(grads["torch_recurrence"][name], g) < 1e-10, name


def test_recurrence_backward_leaves_its_saved_tensors_intact():
    """ScanRecurrence works in place on fresh buffers only: a second backward through the
    same graph (retain_graph=True) gives the same gradients, and the forward's inputs are
    unchanged."""
    args = make_inputs(2, 4, 3, 9, seed=12, options=tuple(OPTIONS))
    targs = to_torch(args, torch.float64, requires_grad=True)
    before = {k: v.detach().clone() for k, v in targs.items() if isinstance(v, torch.Tensor)}
    y, h = selective_scan(**targs, return_last_state=True, backend="torch_recurrence")
    loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)).sum() + h.sum()
    first = torch.autograd.grad(loss, [targs["u"], targs["A"], targs["B"]], retain_graph=True)
    second = torch.autograd.grad(loss, [targs["u"], targs["A"], targs["B"]])
    for g1, g2 in zip(first, second):
        assert torch.equal(g1, g2)
    for k, v in before.items():
        assert torch.equal(targs[k].detach(), v), k

# ---------------------------------------------------------------- the recurrent step
@pytest.mark.parametrize("options", [(), tuple(OPTIONS)])
def test_steps_equal_the_scan_numpy_and_torch(options):
    batch, d, n, L = 2, 3, 4, 9
    args = make_inputs(batch, d, n, L, seed=5, options=options)
    y_ref, h_ref = brute_force(**args)
    for kind in ("numpy", "torch"):
        a = to_torch(args) if kind == "torch" else args
        state = torch.zeros(batch, d, n, dtype=torch.float64) if kind == "torch" \
            else np.zeros((batch, d, n))
        ys = []
        for t in range(L):
            y_t, state = selective_scan_step(
                state, a["u"][:, :, t], a["delta"][:, :, t], a["A"], a["B"][:, :, t],
                a["C"][:, :, t], a["D"], None if a["z"] is None else a["z"][:, :, t],
                a["delta_bias"], a["delta_softplus"])
            assert isinstance(y_t, torch.Tensor if kind == "torch" else np.ndarray)
            assert y_t.shape == (batch, d) and state.shape == (batch, d, n)
            ys.append(y_t)
        y = torch.stack(ys, -1) if kind == "torch" else np.stack(ys, -1)
        # float64, L = 9, the running bound of the NumPy tests: <= 3.3e-14 of max|y|; 30x
        assert rel(y, y_ref) < 1e-12 and rel(state, h_ref) < 1e-12
        if kind == "torch":
            y_scan = selective_scan(**a, backend="torch")
            assert rel(y, y_scan) < 1e-12   # the same bound plus the tree's ~10 u per term


# ---------------------------------------------------------------- the Mamba block and LM
def test_inverse_softplus_inverts_softplus():
    x = torch.tensor([1e-4, 1e-3, 0.01, 0.1, 1.0, 5.0, 20.0, 50.0], dtype=torch.float64)
    # y = x + log(-expm1(-x)) errs by u |y| + 3u (|y| <= 9.2), and softplus has relative
    # condition <= 1 in y: <= 13 u = 1.4e-15 relative; 1e-12 leaves 700x
    assert torch.allclose(F.softplus(inverse_softplus(x)), x, rtol=1e-12, atol=0)
    y = torch.linspace(-20, 20, 41, dtype=torch.float64)
    # back in the other order: log of softplus(y) (relative error ~3u) gives y to ~3u absolute,
    # and adding x (<= 20) to the log rounds by u |y|: <= ~5u * 20 = 1.1e-14 absolute;
    # atol 1e-13 leaves 9x (was rtol = atol = 1e-9, 1e5x the bound)
    assert torch.allclose(inverse_softplus(F.softplus(y)), y, rtol=0, atol=1e-13)
    x32 = x.float()
    # the first check in float32: 13 u32 = 7.7e-7; 1e-5 leaves 13x
    assert torch.allclose(F.softplus(inverse_softplus(x32)), x32, rtol=1e-5, atol=0)


def test_rmsnorm_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    norm = RMSNorm(6, eps=1e-3).double()
    with torch.no_grad():
        norm.weight.copy_(torch.randn(6, generator=g, dtype=torch.float64))
    x = torch.randn(2, 5, 6, generator=g, dtype=torch.float64)
    ref = np.empty((2, 5, 6))
    xn, w = x.numpy(), norm.weight.detach().numpy()
    for i in range(2):
        for j in range(5):
            ref[i, j] = xn[i, j] / math.sqrt(sum(v * v for v in xn[i, j]) / 6 + 1e-3) * w
    # a sum of 6 squares (6u), /6, +eps, rsqrt vs 1/sqrt (~4u after halving), two products:
    # <= ~12 u = 1.3e-15 per entry, relative; 1e-13 leaves 75x
    assert rel(norm(x), ref) < 1e-13
    with pytest.raises(ValueError, match="^eps"):
        RMSNorm(4, eps=0)


def test_mamba_block_init():
    torch.manual_seed(0)
    block = MambaBlock(32, d_state=5, expand=3, dt_min=2e-3, dt_max=5e-2)
    assert block.d_inner == 96 and block.dt_rank == 2
    A = -torch.exp(block.A_log)
    assert A.shape == (96, 5)
    # float32 exp(log n): relative error <= (|log n| + 2) u32 <= 3.6 u32 = 2.1e-7; 1e-6: 5x
    assert torch.allclose(A, -torch.arange(1.0, 6.0).expand(96, 5), rtol=1e-6)
    dt = F.softplus(block.dt_proj.bias.double())
    assert dt.shape == (96,)
    # float32 dt = exp(log-uniform) (<= (|log dt| + 1) u32 = 4.9e-7 relative at the ends), its
    # inverse softplus (~|log dt| u32 absolute, i.e. relative in dt: 3.7e-7): <= 1e-6; 1e-5: 10x
    assert (dt >= 2e-3 * (1 - 1e-5)).all() and (dt <= 5e-2 * (1 + 1e-5)).all()
    assert dt.max() / dt.min() > 3  # spread log-uniformly, not a constant
    assert torch.equal(block.D, torch.ones(96))
    conv_state, h = block.initial_state(3)
    assert conv_state.shape == (3, 96, 4) and h.shape == (3, 96, 5)
    assert not conv_state.any() and not h.any()
    assert MambaBlock(17).dt_rank == 2 and MambaBlock(16).dt_rank == 1


@pytest.mark.parametrize("backend", TORCH_BACKENDS)
def test_mamba_block_forward_shape_and_step_equals_forward(backend):
    torch.manual_seed(1)
    block = MambaBlock(8, d_state=4, d_conv=3, backend=backend).double()
    x = torch.randn(2, 13, 8, dtype=torch.float64)
    y = block(x)
    assert y.shape == (2, 13, 8) and y.dtype == torch.float64
    state = block.initial_state(2)
    outs = []
    for t in range(13):
        out, state = block.step(x[:, t], state)
        outs.append(out)
    # float64: the layers' sums (8, 3, 16, 16 terms) in another order, the scan (~1e-15 of
    # max|y|: D u dominates), out_proj's sum|W y| / max|out| = 1.6: ~150 u * 1.6 = 3e-14; 40x
    assert rel(torch.stack(outs, 1), y) < 1e-12
    assert y.float().shape == block.float()(x.float()).shape


def test_mamba_block_backends_agree_and_are_causal():
    torch.manual_seed(2)
    block = MambaBlock(8, d_state=4, backend="torch").double()
    x = torch.randn(1, 40, 8, dtype=torch.float64)
    y = block(x)
    block.backend = "torch_sequential"
    # only the scan differs (tree vs loop, L = 40): <= 1.3e-15 of max|y|, then out_proj
    # (16 terms): ~2e-15; 1e-12 leaves 500x
    assert rel(block(x), y) < 1e-12
    block.backend = "torch"
    x2 = x.clone()
    x2[:, 20] += 1.0
    y2 = block(x2)
    # exact: the outputs before t = 20 are the same operations on the same numbers (the
    # scan's prefix t reads elements <= t only). The change at t = 20 (0.07) is 1e4x the
    # default tolerance 1e-8 + 1e-5 |y| of allclose.
    assert torch.equal(y2[:, :20], y[:, :20]) and not torch.allclose(y2[:, 20], y[:, 20])


@pytest.mark.parametrize("mixer", ["mamba", "s4d"])
def test_mamba_lm_step_equals_forward_and_is_causal(mixer):
    torch.manual_seed(3)
    model = MambaLM(11, 8, 2, d_state=4, mixer=mixer).double()
    ids = torch.randint(0, 11, (2, 12))
    logits = model(ids)
    assert logits.shape == (2, 12, 11) and logits.dtype == torch.float64
    state = model.initial_state(2)
    assert len(state) == 2
    steps = []
    for t in range(12):
        out, state = model.step(ids[:, t], state)
        steps.append(out)
    # float64, 2 layers of 12 steps (s4d: FFT n = 24 vs a recurrence), RMSNorms, the tied head
    # (8 terms): ~300 u * (sum|terms| / max|logit| <= ~5) ~ 2e-13; 1e-10 leaves 500x
    assert rel(torch.stack(steps, 1), logits) < 1e-10
    for t in (0, 5, 11):
        ids2 = ids.clone()
        ids2[:, t] = (ids2[:, t] + 1) % 11
        logits2 = model(ids2)  # "s4d" convolves by FFT: earlier logits move by rounding only
        # the FFT (n = 24) mixes every step into every output: ~3 log2(24) u * 4 * cond ~ 1e-14
        # of max|logit|; 1e-12 leaves 100x. Then the change at t is an effect of order 1.
        assert ((logits2[:, :t] - logits[:, :t]).abs() <= 1e-12 * logits.abs().max()).all()
        assert not torch.allclose(logits2[:, t], logits[:, t])


def test_mamba_lm_head_is_tied_and_state_is_constant_size():
    torch.manual_seed(4)
    model = MambaLM(7, 8, 3, d_state=4).double()
    ids = torch.tensor([[0, 1, 2, 1, 0]])  # tokens 3..6 never read
    logits = model(ids)
    with torch.no_grad():
        model.embed.weight[5] += 1.0      # the head is E^T: only the logit of token 5 moves
    moved = (model(ids) - logits).abs().amax(dim=(0, 1))
    # an effect: logit 5 moves by sum_i h_i, of order 1 (1e-3 >> float64 rounding); the other
    # logits are the same products of unchanged rows of E: bitwise equal
    assert moved[5] > 1e-3 and torch.equal(moved[torch.arange(7) != 5], torch.zeros(6).double())
    state = model.initial_state(1)
    size = sum(t.numel() for s in state for t in s)
    for t in range(5):
        _, state = model.step(ids[:, t], state)
    assert sum(t.numel() for s in state for t in s) == size == 3 * 16 * (4 + 4)


# ---------------------------------------------------------------- bad input
def bad_args(**changes):
    args = to_torch(make_inputs(2, 3, 4, 5))
    args.update(changes)
    return args


SHAPE_ERRORS = [
    ("u", (2, 3)), ("delta", (2, 3, 6)), ("A", (4, 4)), ("A", (3,)), ("B", (2, 5, 5)),
    ("C", (2, 4, 4)), ("D", (4,)), ("z", (2, 3, 4)), ("delta_bias", (3, 1)),
]


@pytest.mark.parametrize("backend", ["numpy"] + TORCH_BACKENDS)
@pytest.mark.parametrize("name,shape", SHAPE_ERRORS)
def test_selective_scan_refuses_bad_shapes(backend, name, shape):
    bad = -torch.rand(shape, dtype=torch.float64) if name == "A" \
        else torch.rand(shape, dtype=torch.float64)
    args = bad_args(**{name: bad})
    if backend == "numpy":
        args = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in args.items()}
    with pytest.raises(ValueError, match=f"^{name}:"):
        selective_scan(**args, backend=backend)


@pytest.mark.parametrize("backend", ["numpy"] + TORCH_BACKENDS)
def test_selective_scan_refuses_bad_values_and_flags(backend):
    def call(chunk_size=4, **changes):
        args = bad_args(**changes)
        if backend == "numpy":
            args = {k: (v.numpy() if isinstance(v, torch.Tensor) else v)
                    for k, v in args.items()}
        return selective_scan(**args, backend=backend, chunk_size=chunk_size)

    A = bad_args()["A"].clone()
    A[1, 2] = 0.5
    with pytest.raises(ValueError, match="^A:"):
        call(A=A)
    A[1, 2] = float("nan")
    with pytest.raises(ValueError, match="^A:"):
        call(A=A)
    call(A=torch.zeros(3, 4, dtype=torch.float64))  # A = 0 (no decay) is allowed
    for flag in ("delta_softplus", "return_last_state"):
        for value in (1, "yes", None):
            with pytest.raises(ValueError, match=f"^{flag}:"):
                call(**{flag: value})
    for chunk in (0, -1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="^chunk_size:"):
            call(chunk_size=chunk)
    for backend_name in ("cuda", "Torch", None, 3):
        with pytest.raises(ValueError, match="^backend:"):
            selective_scan(**bad_args(), backend=backend_name)


@pytest.mark.parametrize("backend", TORCH_BACKENDS)
def test_torch_backends_refuse_bad_dtypes(backend):
    good = bad_args()
    with pytest.raises(ValueError, match="^u:"):
        selective_scan(**dict(good, u=good["u"].long()), backend=backend)
    with pytest.raises(ValueError, match="^u:"):
        selective_scan(**dict(good, u=good["u"].half()), backend=backend)
    for name in ("delta", "A", "B", "C", "D", "z", "delta_bias"):
        with pytest.raises(ValueError, match=f"^{name}:"):
            selective_scan(**dict(good, **{name: good[name].float()}), backend=backend)
        with pytest.raises(ValueError, match=f"^{name}:"):
            selective_scan(**dict(good, **{name: good[name].numpy()}), backend=backend)
        with pytest.raises(ValueError, match=f"^{name}:"):
            selective_scan(**dict(good, **{name: good[name].int()}), backend=backend)
    with pytest.raises(ValueError, match="^u:"):
        selective_scan(**{k: (v.numpy() if isinstance(v, torch.Tensor) else v)
                          for k, v in good.items()}, backend=backend)


def test_numpy_backend_refuses_non_numbers():
    good = make_inputs(2, 3, 4, 5)
    with pytest.raises(ValueError, match="^B:"):
        selective_scan(**dict(good, B=good["B"].astype(str)))
    with pytest.raises(ValueError, match="^z:"):
        selective_scan(**dict(good, z=good["z"] + 1j))


def step_args(kind="torch"):
    a = to_torch(make_inputs(2, 3, 4, 1)) if kind == "torch" else make_inputs(2, 3, 4, 1)
    zeros = torch.zeros if kind == "torch" else np.zeros
    state = zeros((2, 3, 4), dtype=torch.float64) if kind == "torch" else zeros((2, 3, 4))
    return dict(state=state, u_t=a["u"][..., 0], delta_t=a["delta"][..., 0], A=a["A"],
                B_t=a["B"][..., 0], C_t=a["C"][..., 0], D=a["D"], z_t=a["z"][..., 0],
                delta_bias=a["delta_bias"], delta_softplus=True)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_selective_scan_step_refuses_bad_input(kind):
    good = step_args(kind)
    selective_scan_step(**good)
    full = torch.ones if kind == "torch" else np.ones
    kw = dict(dtype=torch.float64) if kind == "torch" else {}
    for name, shape in [("state", (2, 3)), ("state", (2, 3, 4, 1)), ("u_t", (2, 4)),
                        ("delta_t", (3, 3)), ("A", (3, 5)), ("B_t", (2, 3)), ("C_t", (1, 4)),
                        ("D", (2,)), ("z_t", (2, 3, 1)), ("delta_bias", (4,))]:
        with pytest.raises(ValueError, match=f"^{name}:"):
            value = -full(shape, **kw) if name == "A" else full(shape, **kw)
            selective_scan_step(**dict(good, **{name: value}))
    A = good["A"] * 1
    A[0, 0] = 1.0
    with pytest.raises(ValueError, match="^A:"):
        selective_scan_step(**dict(good, A=A))
    with pytest.raises(ValueError, match="^delta_softplus:"):
        selective_scan_step(**dict(good, delta_softplus=1))


def test_selective_scan_step_refuses_bad_dtypes_naming_the_argument():
    good = step_args("torch")
    for name in ("u_t", "delta_t", "A", "B_t", "C_t", "D", "z_t", "delta_bias"):
        with pytest.raises(ValueError, match=f"^{name}:"):
            selective_scan_step(**dict(good, **{name: good[name].float()}))
        with pytest.raises(ValueError, match=f"^{name}:"):
            selective_scan_step(**dict(good, **{name: good[name].numpy()}))


def test_selective_scan_step_refuses_a_bad_state_dtype_naming_state():
    good = step_args("torch")
    with pytest.raises(ValueError, match="^state:"):
        selective_scan_step(**dict(good, state=good["state"].long()))


def test_mamba_block_and_lm_refuse_bad_input():
    block = MambaBlock(8, d_state=4)
    for x in (torch.zeros(2, 5, 7), torch.zeros(5, 8), np.zeros((2, 5, 8))):
        with pytest.raises(ValueError, match="^x:"):
            block(x)
    state = block.initial_state(2)
    for x_t in (torch.zeros(2, 7), torch.zeros(2, 1, 8)):
        with pytest.raises(ValueError, match="^x_t:"):
            block.step(x_t, state)
    for kwargs, name in [(dict(d_model=0), "d_model"), (dict(d_model=8, d_state=0), "d_state"),
                         (dict(d_model=8, expand=1.5), "expand"),
                         (dict(d_model=8, dt_min=0.1, dt_max=0.01), "dt_max"),
                         (dict(d_model=8, dt_min=-1.0), "dt_min"),
                         (dict(d_model=8, backend="numpy"), "backend"),
                         (dict(d_model=8, backend="cuda"), "backend")]:
        with pytest.raises(ValueError, match=f"^{name}:"):
            MambaBlock(**kwargs)
    model = MambaLM(10, 8, 1, d_state=4)
    for ids in (torch.tensor([[0, 10]]), torch.tensor([[-1, 2]]), torch.zeros(1, 3),
                torch.zeros(3, dtype=torch.long), [[1, 2]]):
        with pytest.raises(ValueError, match="^x:"):     # SequenceModel.forward(x)
            model(ids)
    state = model.initial_state(1)
    for ids_t in (torch.tensor([10]), torch.tensor([0.0]), torch.tensor([[1]])):
        with pytest.raises(ValueError, match="^x_t:"):
            model.step(ids_t, state)
    for kwargs, name in [(dict(vocab=0, d_model=8, n_layers=1), "vocab"),
                         (dict(vocab=5, d_model=8, n_layers=-1), "n_layers"),
                         (dict(vocab=5, d_model=8, n_layers=1, mixer="s6"), "mixer")]:
        with pytest.raises(ValueError, match=f"^{name}:"):
            MambaLM(**kwargs)


def test_step_sizes_are_the_softplus_the_scan_uses():
    """Delta from step_sizes, fed to the NumPy reference scan with the block's other
    inputs, reproduces the block's forward; and MambaLM.step_sizes follows the residual."""
    torch.manual_seed(8)
    block = MambaBlock(6, d_state=3).double()
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    delta = block.step_sizes(x)
    assert delta.shape == (2, 12, 9) and (delta > 0).all()
    u, z = block._branches(x)
    _, B, C = block.ssm_inputs(u.transpose(1, 2))
    y = selective_scan(u.detach().numpy(), delta.detach().numpy(),
                       (-torch.exp(block.A_log)).detach().numpy(),
                       B.transpose(1, 2).detach().numpy(), C.transpose(1, 2).detach().numpy(),
                       block.D.detach().numpy(), z.detach().numpy())
    expected = block.out_proj(torch.tensor(y).transpose(1, 2))
    # float64: the same scan (numba's vs NumPy's loop, L = 9, ~1e-15 of max|y|: D u dominates)
    # and out_proj (12 terms): ~3e-14 of max|out|; 1e-10 leaves 3000x
    assert rel(block(x), expected) < 1e-10
    model = MambaLM(5, 6, 2, d_state=3).double()
    ids = torch.randint(0, 5, (2, 7))
    deltas = model.step_sizes(ids)
    h = model.embed(ids)
    h1 = h + model.layers[0](model.norms[0](h))
    # the same float64 operations on the same numbers (bitwise equal in practice); at worst the
    # residual's layers summed in another order: ~50 u * cond ~ 1e-14; 1e-12 leaves 100x
    assert rel(deltas[1], model.layers[1].step_sizes(model.norms[1](h1))) < 1e-12
    with pytest.raises(ValueError, match="mixer='mamba' only"):
        MambaLM(5, 6, 1, mixer="s4d").step_sizes(ids)


# ---------------------------------------------------------------- reliability review (issue 13)
@pytest.mark.parametrize("backend", ["numpy", "torch", "torch_sequential", "torch_recurrence"])
@pytest.mark.parametrize("missing", ["u", "delta", "A", "B", "C"])
def test_none_for_a_required_array_is_named(backend, missing):
    """Review finding 9: None gave "'NoneType' object has no attribute 'ndim'"."""
    rng = np.random.default_rng(0)
    args = dict(u=rng.standard_normal((1, 2, 5)), delta=rng.random((1, 2, 5)),
                A=-np.ones((2, 3)), B=rng.standard_normal((1, 3, 5)),
                C=rng.standard_normal((1, 3, 5)))
    if backend != "numpy":
        args = {k: torch.from_numpy(v) for k, v in args.items()}
    args[missing] = None
    with pytest.raises(ValueError, match=f"^{missing}: expected an array"):
        selective_scan(**args, backend=backend)


@pytest.mark.parametrize("missing", ["state", "u_t", "delta_t", "A", "B_t", "C_t"])
def test_selective_scan_step_names_a_missing_array(missing):
    args = dict(state=np.zeros((1, 2, 3)), u_t=np.ones((1, 2)), delta_t=np.ones((1, 2)),
                A=-np.ones((2, 3)), B_t=np.ones((1, 3)), C_t=np.ones((1, 3)))
    args[missing] = None
    with pytest.raises(ValueError, match=f"^{missing}: expected an array"):
        selective_scan_step(**args)


def test_a_tensor_requiring_grad_is_refused_by_the_numpy_backend():
    """The contract: NumPy functions refuse it (and say to detach) instead of detaching it."""
    u = torch.ones(1, 2, 5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"^u: .*requires grad.*detach"):
        selective_scan(u, torch.ones(1, 2, 5), -torch.ones(2, 3), torch.ones(1, 3, 5),
                       torch.ones(1, 3, 5), backend="numpy")


def test_mamba_block_refuses_absurd_step_sizes():
    """Review finding 14d: dt_max=1e300 gave NaN parameters."""
    with pytest.raises(ValueError, match="^dt_max: expected a step size <= 1000"):
        MambaBlock(4, dt_max=1e300)
    with pytest.raises(ValueError, match="^d_model: this asks for"):
        MambaBlock(10**6)


# ---------------------------------------------------------------- parameters are finite
@pytest.mark.parametrize("backend", ["numpy", "torch_sequential", "torch", "torch_recurrence",
                                     "numba", "triton"])
@pytest.mark.parametrize("name, bad", [("D", np.nan), ("D", np.inf), ("delta_bias", np.nan),
                                       ("delta_bias", -np.inf), ("A", -np.inf)])
def test_non_finite_parameters_are_refused_by_name(backend, name, bad):
    """D, delta_bias and A are parameters: NaN or inf in them is refused, on every backend
    and in the one-step form (reliability review, turn 3, finding 12); NaN in the data
    still propagates (tests above)."""
    args = make_inputs(1, 3, 2, 4)
    args[name] = args[name].copy()
    args[name].flat[0] = bad
    if backend != "numpy":
        args = to_torch(args, dtype=torch.float32)
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        selective_scan(**args, backend=backend)
    if backend in ("numpy", "torch_sequential"):
        state = np.zeros((1, 3, 2)) if backend == "numpy" else torch.zeros(1, 3, 2)
        first = {k: args[k][..., 0] for k in ("u", "delta", "B", "C", "z")}   # step t = 0
        with pytest.raises(ValueError, match=f"^{name}: expected"):
            selective_scan_step(state, first["u"], first["delta"], args["A"], first["B"],
                                first["C"], args["D"], first["z"], args["delta_bias"],
                                args["delta_softplus"])


@pytest.mark.parametrize("backend", ["torch_sequential", "torch", "torch_recurrence", "numba"])
@pytest.mark.parametrize("name", ["u", "D", "B"])
@pytest.mark.parametrize("kind", ["sparse", "meta"])
def test_sparse_and_meta_tensors_are_refused_by_name(backend, name, kind):
    """A sparse argument gave wrong results and a meta one torch-internal errors
    (reliability review, turn 3, finding 10): refused by name."""
    args = to_torch(make_inputs(1, 3, 2, 4), dtype=torch.float32)
    args[name] = args[name].to_sparse() if kind == "sparse" else args[name].to("meta")
    with pytest.raises(ValueError, match=f"^{name}: expected a dense tensor"):
        selective_scan(**args, backend=backend)
    if backend == "torch_sequential":
        first = {k: v[..., 0] if k in ("u", "delta", "B", "C", "z") else v   # step t = 0
                 for k, v in args.items() if k != "delta_softplus"}
        with pytest.raises(ValueError, match=f"^{name}(_t)?: expected a dense tensor"):
            selective_scan_step(torch.zeros(1, 3, 2), first["u"], first["delta"], first["A"],
                                first["B"], first["C"], first["D"], first["z"],
                                first["delta_bias"], True)


def test_written_and_kept_is_the_last_state_of_an_impulse():
    """written_and_kept against the reference loop run on a unit impulse at t0 (B = 1):
    the closed form and the loop agree to rounding (float64, a few ulps of each factor)."""
    rng = np.random.default_rng(0)
    batch, d, n, L = 3, 4, 5, 17
    delta = rng.uniform(0.01, 0.5, (batch, d, L))
    A = -rng.uniform(0.5, 3.0, (d, n))
    t0 = np.array([0, 7, 16])
    u = np.zeros((batch, d, L))
    u[np.arange(batch), :, t0] = 1.0
    _, h = mamba.scan_numpy(u, delta, A, np.ones((batch, n, L)), np.ones((batch, n, L)))
    w = mamba.written_and_kept(torch.tensor(delta), torch.tensor(A), torch.tensor(t0))
    # exp(A sum Delta) (a sum of <= 16 positive terms: 16 u |x|, |x| <= 24) vs a product of 16
    # exps ((|x_t| + 3) u each): <= 16 u * 24 + 72 u = 5e-14 relative; 1e-12 leaves 20x
    np.testing.assert_allclose(w.numpy(), h, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="^t0:"):
        mamba.written_and_kept(torch.tensor(delta), torch.tensor(A), torch.tensor([0, 1, L]))
