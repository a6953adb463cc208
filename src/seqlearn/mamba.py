"""Mamba (chapter 7): the selective scan, three ways, and the Mamba block.

A selective SSM (Gu & Dao 2024, "S6") is a diagonal SSM whose step Delta and
matrices B, C are functions of the input, so they carry a time index t.
Per batch b, channel d and state n (real, diagonal A = -exp(A_log) < 0):

    Delta_t = softplus(delta_t + delta_bias)      (both optional: delta_softplus, delta_bias)
    Ab_t    = exp(Delta_t A)                      zero-order hold for A
    Bb_t    = Delta_t B_t                         Euler for B, as the reference kernel does
    h_t     = Ab_t * h_{t-1} + Bb_t u_t,  h_{-1} = 0
    y_t     = C_t . h_t + D u_t                   (. : sum over the state axis n)
    y_t    *= silu(z_t)                           (optional gate)

(The exact zero-order hold would use Bb_t = (exp(Delta_t A) - 1) / A B_t, chapter 5;
for small Delta_t A the two agree to first order, and the paper's kernel uses Delta_t B_t.)

Layouts are those of the reference implementation (``mamba_ssm.selective_scan_fn``):
    u, delta, z : (batch, d, L)      A : (d, n)      B, C : (batch, n, L)
    D, delta_bias : (d,)             state h : (batch, d, n)

NaN or inf in the data (u, delta, B, C, z, a state) propagates to the outputs, as in torch;
the parameters A (finite, <= 0), D and delta_bias (finite) are refused otherwise.

Backends of ``selective_scan`` (one API, one set of tests comparing them):
    "numpy"            the reference: a loop over t that reads like the equations (float64)
    "torch_sequential" the same loop in PyTorch (autograd, float32 or float64)
    "torch"            a parallel scan: time cut into chunks; inside a chunk a work-efficient
                       (Blelloch-style) associative scan of the pairs (Ab_t, Bb_t u_t) with
                       (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2); the state is carried from
                       chunk to chunk. Only products of Ab's (in (0, 1]) are formed, never a
                       division by them, so nothing overflows for long L.
    "torch_recurrence" the torch training path (MambaBlock's "auto" on a GPU or without Numba): Ab_t and Bb_t u_t computed for
                       all t at once, then only the recurrence h_t = Ab_t h_{t-1} + Bb_t u_t
                       as a loop, the whole scan one autograd node (``ScanRecurrence``)
                       whose backward is written by hand: the same recurrence run backwards
                       in time. A handful of large operations instead of L small ones; on a
                       CPU the fastest torch backend at the shapes of benchmarks/scan.py.
    "numba"            the training path on a CPU (MambaBlock's default, "auto", where Numba is
                       installed): the same loop compiled by Numba (``seqlearn.mamba_numba``),
                       SIMD over channels, parallel over (batch, block of channels), with a
                       backward that recomputes the states chunk by chunk. CPU tensors only.
    "triton"           the fused Triton kernels (``seqlearn.mamba_triton``, v2 "tiled"): one
                       program per (batch, block of channels) loads time tiles contiguous
                       along L, scans each in parallel (tl.associative_scan with ``combine``)
                       and carries h from tile to tile in registers; (batch, d, L, n) is
                       never stored, the backward recomputes the states. Compiled on a GPU,
                       run by Triton's interpreter on a CPU.

Glossary (code name -> symbol in Gu & Dao 2024):
    u                 -> x, the scan's input (after in-projection, conv and SiLU)
    delta             -> Delta before softplus (s_Delta(x) = Linear(x) of rank dt_rank)
    delta_bias        -> the bias of the Delta projection (Parameter in tau_Delta(Parameter + s_Delta))
    A, A_log          -> A = -exp(A_log), (d, n), S4D-Real init A_n = -(n + 1)
    B, C              -> B_t = s_B(x_t), C_t = s_C(x_t), (batch, n, L)
    D                 -> the skip connection D u
    z                 -> the gate branch, y * silu(z)
    h, state          -> the hidden state h_t (batch, d, n)
    d, n, L           -> D (channels, d_inner), N (d_state), L (length)
    dt_rank           -> R, the rank of the Delta projection (ceil(d_model / 16))
"""

import math

import numpy as np
import torch
from scipy.special import expit
from torch import nn
from torch.nn import functional as F

from seqlearn._checks import (affordable, integer, layer_input,
                              numeric_array, positive, torch_tensor)
from seqlearn._scan_checks import (_block_state, _check_parameters, _check_shapes,  # noqa: F401
                                  _check_torch_args, _expect, _flag, _require, _shape_str,
                                  _to_numpy_args)

BACKENDS = ("numpy", "torch_sequential", "torch", "torch_recurrence", "numba", "triton")
DEFAULT_CHUNK = 256


# ---------------------------------------------------------------- the selective scan
def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, backend="numpy", chunk_size=DEFAULT_CHUNK):
    """The selective scan, y = S6(u); see the module docstring for the equations.

    u, delta : (batch, d, L);  A : (d, n), real, <= 0;  B, C : (batch, n, L)
    D, delta_bias : (d,) or None;  z : (batch, d, L) or None
    delta_softplus : apply Delta = softplus(delta + delta_bias)
    return_last_state : also return h_{L-1}, (batch, d, n)
    backend : one of ``BACKENDS``. "numpy" takes array-likes and computes in float64;
        the others take torch tensors of one dtype (float32 or float64) on one device
        and support autograd.
    chunk_size : int >= 1, the chunk length of the "torch" backend's parallel scan
        (memory ~ batch * d * chunk_size * n per chunk).

    Returns y (batch, d, L), or (y, last_state) with ``return_last_state``.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    delta_softplus = _flag("delta_softplus", delta_softplus)
    return_last_state = _flag("return_last_state", return_last_state)
    chunk_size = integer("chunk_size", chunk_size)
    args = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias)
    if backend == "numpy":
        args = _to_numpy_args(args)
    else:
        _check_torch_args(args)
    _check_shapes(**args)
    batch, d, L = args["u"].shape
    n = args["A"].shape[1]
    if backend == "torch":        # its largest tensors: a chunk's (T, batch, d, n) pairs
        affordable("chunk_size", batch * d * min(chunk_size, L) * n,
                   what="numbers in a chunk's states (batch d min(chunk_size, L) n)")
    elif backend == "torch_recurrence":      # it stores a and the states for all t
        affordable("u", batch * d * L * n, what="numbers in the states (batch d L n) that "
                   "backend 'torch_recurrence' stores")
    if backend == "numba":
        from seqlearn import mamba_numba  # imported late: compiling costs seconds once
        if not mamba_numba.AVAILABLE:
            raise ValueError(f"backend: {mamba_numba.MISSING}; use 'torch_recurrence'")
        if args["u"].device.type != "cpu":
            raise ValueError(f"u: expected CPU tensors for backend 'numba', got device "
                             f"{args['u'].device} (use 'torch_recurrence' or 'triton')")
        y, h = mamba_numba._scan_numba(**args, delta_softplus=delta_softplus)
        return (y, h) if return_last_state else y
    if backend == "triton":
        from seqlearn import mamba_triton  # imported late: it may set TRITON_INTERPRET
        y, h = mamba_triton.selective_scan_triton(**args, delta_softplus=delta_softplus)
        return (y, h) if return_last_state else y
    if backend == "numpy":
        delta = _effective_delta_numpy(args["delta"], args["delta_bias"], delta_softplus)
        y, h = scan_numpy(args["u"], delta, args["A"], args["B"], args["C"])
        out = _finish(y, args["u"], args["D"], args["z"], silu_numpy)
    else:
        delta = _effective_delta_torch(args["delta"], args["delta_bias"], delta_softplus)
        if backend == "torch_sequential":
            y, h = scan_torch_sequential(args["u"], delta, args["A"], args["B"], args["C"])
        elif backend == "torch_recurrence":
            y, h = scan_torch_recurrence(args["u"], delta, args["A"], args["B"], args["C"])
        else:
            y, h = scan_torch_parallel(args["u"], delta, args["A"], args["B"], args["C"],
                                       chunk_size)
        out = _finish(y, args["u"], args["D"], args["z"], F.silu)
    return (out, h) if return_last_state else out


def softplus_numpy(x):
    """softplus(x) = log(1 + exp(x)), computed without overflow; x array-like, any shape."""
    return np.logaddexp(0.0, numeric_array("x", x))


def silu_numpy(x):
    """silu(x) = x sigmoid(x); x array-like, any shape."""
    x = numeric_array("x", x)
    return x * expit(x)


def _effective_delta_numpy(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    return softplus_numpy(delta) if delta_softplus else delta


def _effective_delta_torch(delta, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    return F.softplus(delta) if delta_softplus else delta


def _finish(y, u, D, z, silu):
    """y + D u, then * silu(z)."""
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * silu(z)
    return y


def scan_numpy(u, delta, A, B, C):
    """The reference loop (no D, no gate; Delta already final):

        h_t = exp(Delta_t A) * h_{t-1} + Delta_t B_t u_t,   y_t = sum_n C_t[n] h_t[n]

    u, delta : (batch, d, L);  A : (d, n);  B, C : (batch, n, L)
    returns y (batch, d, L) and the last state h (batch, d, n)

    Unchecked: a kernel behind ``selective_scan``, which checks the arguments.
    """
    batch, d, L = u.shape
    n = A.shape[1]
    h = np.zeros((batch, d, n))
    y = np.zeros((batch, d, L))
    for t in range(L):
        Ab = np.exp(delta[:, :, t, None] * A)                              # (batch, d, n)
        Bu = delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]   # (batch, d, n)
        h = Ab * h + Bu
        y[:, :, t] = (C[:, None, :, t] * h).sum(-1)
    return y, h


def written_and_kept(delta, A, t0):
    """The weight with which the input at step t0 sits in each state at the last step:

        w[b, d, n] = Delta[b, d, t0] * exp(A[d, n] * sum_{t > t0} Delta[b, d, t])

    what the token wrote (B-bar = Delta B, with B = u = 1) times what survived the steps
    after it: the last state of ``scan_numpy`` for a unit impulse at t0 (chapter 7 uses it
    to tell a state that keeps a token from one that never wrote it).

    delta : tensor (batch, d, L), the final step sizes (after softplus);  A : tensor (d, n),
    negative;  t0 : (batch,) ints in [0, L), one position per sequence
    returns w : tensor (batch, d, n)
    """
    torch_tensor("delta", delta, ndim=3, axes="(batch, d, L)")
    torch_tensor("A", A, ndim=2, dtype=delta.dtype, axes="(d, n)")
    batch, d, L = delta.shape
    if A.shape[0] != d:
        raise ValueError(f"A: expected a tensor ({d}, n) (delta has d = {d}), got shape "
                         f"{tuple(A.shape)}")
    try:
        t0 = torch.as_tensor(t0)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"t0: expected {batch} integer positions in [0, {L}), got "
                         f"{type(t0).__name__}") from None
    if t0.dtype.is_floating_point or t0.is_complex() or t0.dtype == torch.bool or t0.shape != (batch,) \
            or int(t0.min()) < 0 or int(t0.max()) >= L:
        raise ValueError(f"t0: expected {batch} integer positions in [0, {L}), got "
                         f"{t0.tolist() if t0.numel() <= 8 else tuple(t0.shape)}")
    steps = torch.arange(L, device=delta.device)
    written = delta.gather(2, t0.view(batch, 1, 1).expand(batch, d, 1))     # (batch, d, 1)
    after = (delta * (steps > t0[:, None]).to(delta.dtype)[:, None, :]).sum(2)  # (batch, d)
    return written * torch.exp(A * after[:, :, None])


def scan_torch_sequential(u, delta, A, B, C):
    """``scan_numpy`` in PyTorch (the same loop, with autograd).

    Unchecked: a kernel behind ``selective_scan``, which checks the arguments.
    """
    batch, d, L = u.shape
    h = u.new_zeros(batch, d, A.shape[1])
    ys = []
    for t in range(L):
        Ab = torch.exp(delta[:, :, t, None] * A)
        Bu = delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        h = Ab * h + Bu
        ys.append((C[:, None, :, t] * h).sum(-1))
    return torch.stack(ys, dim=-1), h


def combine(left, right):
    """The associative operator of h_t = a_t h_{t-1} + b_t on pairs (a, b):

        (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2)

    "first apply step 1, then step 2": h -> a2 (a1 h + b1) + b2. Works on scalars,
    NumPy arrays and tensors alike.

    Unchecked: the combine of the scan kernels (``associative_scan``), one line of math.
    """
    a1, b1 = left
    a2, b2 = right
    return a1 * a2, a2 * b1 + b2


def associative_scan(a, b):
    """All prefixes of ``combine`` along axis 0 (time), work-efficiently (Blelloch):

        (P_t, H_t) = (a_0, b_0) o (a_1, b_1) o ... o (a_t, b_t),   so H_t = h_t for h_{-1} = 0
        and P_t = a_0 a_1 ... a_t (P: a product, not the matrix A).

    Up-sweep: combine neighbours (0,1), (2,3), ... into a sequence half as long and scan
    it (recursively); its prefixes are the prefixes at the odd positions. Down-sweep:
    each even position 2k > 0 is the odd prefix 2k - 1 combined with element 2k.
    O(T) combines in O(log T) levels. a, b : tensors (T, ...) of one shape; returns (A, H).
    Time is the first axis so that every a[t] is one contiguous block; an odd T is padded
    with the identity (1, 0) at the end, which leaves the prefixes before it unchanged.
    Unchecked: a kernel behind ``scan_torch_parallel`` and ``selective_scan``.
    """
    T = a.shape[0]
    if T == 1:
        return a, b
    if T % 2:
        A, H = associative_scan(torch.cat([a, torch.ones_like(a[:1])]),
                                torch.cat([b, torch.zeros_like(b[:1])]))
        return A[:T], H[:T]
    a_even, a_odd = a.unflatten(0, (T // 2, 2)).unbind(1)          # positions 0, 2, .. / 1, 3, ..
    b_even, b_odd = b.unflatten(0, (T // 2, 2)).unbind(1)
    A_odd, H_odd = associative_scan(*combine((a_even, b_even), (a_odd, b_odd)))  # up-sweep
    A_even, H_even = combine((A_odd[:-1], H_odd[:-1]), (a_even[1:], b_even[1:]))  # down-sweep
    A_even, H_even = torch.cat([a_even[:1], A_even]), torch.cat([b_even[:1], H_even])
    return (torch.stack([A_even, A_odd], 1).flatten(0, 1),
            torch.stack([H_even, H_odd], 1).flatten(0, 1))


def scan_torch_parallel(u, delta, A, B, C, chunk_size=DEFAULT_CHUNK):
    """``scan_numpy`` as a chunked parallel scan (autograd):

    for each chunk [s, s + T):  a_t = exp(Delta_t A),  b_t = Delta_t B_t u_t   (T, batch, d, n)
        (P_t, H_t) = associative_scan(a, b);   h_t = P_t h_{s-1} + H_t;   y_t = C_t . h_t
    (s: the chunk's first step; P_t = a_s ... a_t, H_t the state from h_{s-1} = 0)
    Memory per chunk T * batch * d * n; L need not be a multiple of T.

    Unchecked: a kernel behind ``selective_scan`` (backend "torch"), which validates the
    arguments first.
    """
    batch, d, L = u.shape
    u_, delta_ = u.permute(2, 0, 1), delta.permute(2, 0, 1)          # (L, batch, d)
    B_, C_ = B.permute(2, 0, 1)[:, :, None, :], C.permute(2, 0, 1)[:, :, None, :]  # (L, b, 1, n)
    h = u.new_zeros(batch, d, A.shape[1])
    ys = []
    for s in range(0, L, chunk_size):
        e = min(s + chunk_size, L)
        dlt = delta_[s:e, ..., None]                                        # (T, b, d, 1)
        a = torch.exp(dlt * A)                                              # (T, b, d, n)
        b = dlt * u_[s:e, ..., None] * B_[s:e]
        A_pre, H_pre = associative_scan(a, b)
        hs = A_pre * h + H_pre                                              # (T, b, d, n)
        ys.append((hs * C_[s:e]).sum(-1))                                   # (T, b, d)
        h = hs[-1]
    return torch.cat(ys).permute(1, 2, 0), h


def _recurrence_forward_(a, x):
    """h_t = a_t * h_{t-1} + x_t along axis 0, h_{-1} = 0, written over x (returned as h).

    a, x contiguous (L, ...). In place: a new (L, batch, d, n) tensor costs a pass of page
    faults on a CPU, as much as the arithmetic.
    """
    for t in range(1, x.shape[0]):
        x[t].addcmul_(a[t], x[t - 1])
    return x


def _recurrence_backward_(a, gh):
    """g_{L-1} = gh_{L-1},  g_t = gh_t + a_{t+1} * g_{t+1}: the recurrence run backwards,
    written over gh (returned as g)."""
    for t in range(gh.shape[0] - 2, -1, -1):
        gh[t].addcmul_(a[t + 1], gh[t + 1])
    return gh


class ScanRecurrence(torch.autograd.Function):
    """``scan_numpy`` as one autograd node with a hand-written backward, time first:

        dlt, u (L, batch, d);  A (d, n);  B, C (L, batch, n)  ->  y (L, batch, d), h_{L-1} (batch, d, n)

    Unchecked: the kernel behind ``scan_torch_recurrence`` and ``selective_scan``, which
    validate the arguments first.

    Forward, for all t at once except the recurrence itself:
        a_t = exp(dlt_t A),  x_t = (dlt_t u_t) B_t       (L, batch, d, n)
        h_t = a_t * h_{t-1} + x_t  (loop),  y_t = h_t C_t  (a batched matrix-vector product)
    Backward, with gy = dLoss/dy and gH = dLoss/dh_{L-1} (the returned state):
        g_t = gy_t C_t + a_{t+1} * g_{t+1},  plus gH at t = L-1   (= dLoss/dh_t, every path)
        dC_t = sum_d h_t gy_t;   dx_t = g_t;   da_t = g_t * h_{t-1}
        dB_t = sum_d g_t (dlt_t u_t);   d(dlt_t u_t) = sum_n g_t B_t
        dA = sum_{t, batch} (da_t a_t) dlt_t;   d(dlt_t) = sum_n (da_t a_t) A + d(dlt_t u_t) u_t
    The contractions over n or d are batched matrix products (``torch.bmm``), the rest is
    elementwise: a handful of large operations, where autograd through the loop would
    record L small ones. Saved: the inputs, a and h. The recurrences run in place on
    buffers made for them (h over x, g over gh), never on a saved tensor, so a second
    backward through the same graph (retain_graph=True) gives the same gradients.
    """

    @staticmethod
    def forward(ctx, dlt, u, A, B, C):
        L, batch, d = u.shape
        n = A.shape[1]
        a = torch.mul(dlt[..., None], A).exp_()                             # (L, b, d, n)
        du = dlt * u
        x = torch.bmm(du.reshape(L * batch, d, 1), B.reshape(L * batch, 1, n))
        h = _recurrence_forward_(a, x.view(L, batch, d, n))
        y = torch.bmm(h.view(L * batch, d, n), C.reshape(L * batch, n, 1)).view(L, batch, d)
        ctx.save_for_backward(dlt, u, A, B, C, a, h)
        ctx.set_materialize_grads(False)          # an unused output's gradient stays None
        return y, h[-1].clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy, gH):
        dlt, u, A, B, C, a, h = ctx.saved_tensors
        L, batch, d = u.shape
        n = A.shape[1]
        gy = u.new_zeros(L, batch, d) if gy is None else gy.contiguous()  # (y.sum(): stride 0)
        flat = lambda x, *shape: x.reshape(L * batch, *shape)                # noqa: E731
        gh = torch.bmm(flat(gy, d, 1), flat(C, 1, n)).view(L, batch, d, n)
        if gH is not None:
            gh[-1] += gH
        g = _recurrence_backward_(a, gh)
        gC = torch.bmm(flat(h, d, n).transpose(1, 2), flat(gy, d, 1)).view(L, batch, n)
        gdu = torch.bmm(flat(g, d, n), flat(B, n, 1)).view(L, batch, d)
        gB = torch.bmm(flat(g, d, n).transpose(1, 2), flat(dlt * u, d, 1)).view(L, batch, n)
        gz = torch.empty_like(a)                          # dLoss/d(dlt_t A) = da_t * a_t
        gz[0] = 0
        torch.mul(g[1:], h[:-1], out=gz[1:])
        gz.mul_(a)
        gz_d = gz.view(L * batch, d, n).transpose(0, 1)                     # (d, L b, n)
        gA = torch.bmm(dlt.reshape(L * batch, d).T[:, None, :], gz_d)[:, 0]  # (d, 1, L b)
        gdlt = torch.bmm(gz_d, A[:, :, None])[..., 0].T.view(L, batch, d) + gdu * u
        return gdlt, gdu * dlt, gA, gB, gC


def scan_torch_recurrence(u, delta, A, B, C):
    """``scan_numpy`` as ``ScanRecurrence`` (one autograd node, hand-written backward).

    u, delta : (batch, d, L);  A : (d, n);  B, C : (batch, n, L)
    returns y (batch, d, L) and the last state h (batch, d, n)

    Unchecked: a kernel behind ``selective_scan``, which checks the arguments.
    """
    time_first = lambda x: x.permute(2, 0, 1).contiguous()              # noqa: E731
    y, h = ScanRecurrence.apply(time_first(delta), time_first(u), A.contiguous(),
                                time_first(B), time_first(C))
    return y.permute(1, 2, 0), h


def selective_scan_step(state, u_t, delta_t, A, B_t, C_t, D=None, z_t=None, delta_bias=None,
                        delta_softplus=False):
    """One recurrent step of the selective scan (generation with O(1) memory per token):

        Delta = softplus(delta_t + delta_bias)   (as selected)
        h = exp(Delta A) * state + Delta B_t u_t,   y_t = C_t . h + D u_t,   y_t *= silu(z_t)

    NumPy arrays or torch tensors (the result has the same kind):
    state : (batch, d, n);  u_t, delta_t, z_t : (batch, d);  A : (d, n);  B_t, C_t : (batch, n)
    D, delta_bias : (d,) or None.  Returns (y_t (batch, d), h (batch, d, n)).
    """
    delta_softplus = _flag("delta_softplus", delta_softplus)
    args = dict(state=state, u_t=u_t, delta_t=delta_t, A=A, B_t=B_t, C_t=C_t, D=D, z_t=z_t,
                delta_bias=delta_bias)
    is_torch = isinstance(state, torch.Tensor)
    if is_torch:
        _check_torch_args(args, first="state")
        exp, softplus, silu = torch.exp, F.softplus, F.silu
    else:
        args = _to_numpy_args(args)
        exp, softplus, silu = np.exp, softplus_numpy, silu_numpy
    state, u_t, delta_t, A = args["state"], args["u_t"], args["delta_t"], args["A"]
    if state.ndim != 3:
        raise ValueError(f"state: expected 3 axes (batch, d, n), got {_shape_str(state.shape)}")
    batch, d, n = state.shape
    _expect("u_t", u_t, (batch, d), "(batch, d)")
    _expect("delta_t", delta_t, (batch, d), "(batch, d)")
    _expect("A", A, (d, n), "(d, n)")
    for name in ("B_t", "C_t"):
        _expect(name, args[name], (batch, n), "(batch, n)")
    for name, shape, names in (("D", (d,), "(d,)"), ("delta_bias", (d,), "(d,)"),
                               ("z_t", (batch, d), "(batch, d)")):
        if args[name] is not None:
            _expect(name, args[name], shape, names)
    _check_parameters(A, args["D"], args["delta_bias"])
    if args["delta_bias"] is not None:
        delta_t = delta_t + args["delta_bias"]
    if delta_softplus:
        delta_t = softplus(delta_t)
    h = exp(delta_t[..., None] * A) * state + (delta_t * u_t)[..., None] * args["B_t"][:, None]
    y = (args["C_t"][:, None] * h).sum(-1)
    if args["D"] is not None:
        y = y + args["D"] * u_t
    if args["z_t"] is not None:
        y = y * silu(args["z_t"])
    return y, h


# ---------------------------------------------------------------- the Mamba block
BLOCK_BACKENDS = ("auto",) + BACKENDS[1:]      # a block trains: every backend but "numpy"


def _resolve_backend(backend, device):
    """The ``selective_scan`` backend a block runs: ``backend`` itself, or for "auto"
    "numba" (compiled, on a CPU, where Numba is installed) else "torch_recurrence"."""
    if backend != "auto":
        return backend
    if torch.device(device).type != "cpu":
        return "torch_recurrence"
    from seqlearn import mamba_numba
    if mamba_numba.AVAILABLE:
        return "numba"
    mamba_numba._warn_missing_once()
    return "torch_recurrence"


def inverse_softplus(x):
    """softplus^{-1}(x) = x + log(1 - exp(-x)) for x > 0 (a float tensor in, tensor out)."""
    torch_tensor("x", x, nonempty=False)
    if not bool((x > 0).all()):
        raise ValueError(f"x: expected entries > 0 (softplus takes only positive values), "
                         f"got a smallest entry {float(x.min())}")
    return x + torch.log(-torch.expm1(-x))


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x^2) + eps) * weight, over the last axis (Zhang & Sennrich 2019)."""

    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = positive("eps", eps)
        self.weight = nn.Parameter(torch.ones(integer("d_model", d_model, maximum=10**7)))

    def forward(self, x):
        """x (..., d_model) -> (..., d_model), a float tensor of the weight's dtype."""
        torch_tensor("x", x, dtype=self.weight.dtype)
        if x.ndim < 1 or x.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"x: expected a tensor (..., d_model = {self.weight.shape[0]}), "
                             f"got shape {tuple(x.shape)}")
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaBlock(nn.Module):
    """The Mamba block (Gu & Dao 2024, Fig. 3), x (batch, L, d_model) -> (batch, L, d_model):

        u, z = in_proj(x)                       each (batch, d_inner, L), d_inner = expand * d_model
        u = silu(conv1d(u))                     causal, depthwise, kernel d_conv
        delta_low, B, C = x_proj(u)             ranks dt_rank, d_state, d_state
        delta = dt_proj.weight @ delta_low      (batch, d_inner, L); dt_proj.bias is delta_bias
        y = selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True)
        out = out_proj(y)

    A = -exp(A_log), A_log = log(1 .. d_state) per channel (S4D-Real); D = 1; the Delta
    bias is softplus^{-1} of Delta ~ LogUniform(dt_min, dt_max) (floored at dt_init_floor).
    backend : the ``selective_scan`` backend for ``forward`` (``step`` is always one step),
        or "auto" (default): "numba" for CPU tensors where Numba is installed, else
        "torch_recurrence" (with one warning on a CPU that Numba is missing).
    selective : True (Mamba). False: the LTI ablation of the same block, whose Delta, B
        and C do not depend on the input: x_proj reads a learned vector p (d_inner,) in
        place of u_t, the same at every step (delta_low, B, C = x_proj(p)), so the scan is
        a time-invariant SSM; the conv, the gate z and every other weight are unchanged
        (chapter 7's block-matched comparison; p ~ N(0, 1), one parameter vector more).
    """

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank=None, dt_min=1e-3,
                 dt_max=1e-1, dt_init_floor=1e-4, backend="auto", selective=True):
        super().__init__()
        self.selective = _flag("selective", selective)
        self.d_model = integer("d_model", d_model)
        self.d_state = integer("d_state", d_state)
        self.d_conv = integer("d_conv", d_conv)
        self.d_inner = integer("expand", expand) * self.d_model
        self.dt_rank = (math.ceil(self.d_model / 16) if dt_rank is None
                        else integer("dt_rank", dt_rank))
        dt_min, dt_max = positive("dt_min", dt_min), positive("dt_max", dt_max)
        if dt_max < dt_min:
            raise ValueError(f"dt_max: expected a value >= dt_min = {dt_min}, got {dt_max}")
        if dt_max > 1e3:   # softplus^{-1}(Delta) = Delta for large Delta: 1e3 is already huge
            raise ValueError(f"dt_max: expected a step size <= 1000 (Delta A with A <= -1 "
                             f"already forgets everything at Delta = 50), got {dt_max}")
        dt_init_floor = positive("dt_init_floor", dt_init_floor)
        di, n = self.d_inner, self.d_state
        affordable("d_model", di * (3 * self.d_model + self.d_conv + 3 * self.dt_rank + 3 * n),
                   what="parameters")
        if not isinstance(backend, str) or backend not in BLOCK_BACKENDS:
            raise ValueError(f"backend: expected one of {BLOCK_BACKENDS}, got {backend!r}")
        self.backend = backend
        di, n, R = self.d_inner, self.d_state, self.dt_rank
        self.in_proj = nn.Linear(self.d_model, 2 * di, bias=False)
        self.conv1d = nn.Conv1d(di, di, self.d_conv, groups=di, padding=self.d_conv - 1)
        self.x_proj = nn.Linear(di, R + 2 * n, bias=False)
        self.dt_proj = nn.Linear(R, di, bias=True)
        nn.init.uniform_(self.dt_proj.weight, -R ** -0.5, R ** -0.5)
        dt = torch.exp(torch.rand(di) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(inverse_softplus(dt.clamp(min=dt_init_floor)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32))
                                  .repeat(di, 1))
        self.D = nn.Parameter(torch.ones(di))
        self.out_proj = nn.Linear(di, self.d_model, bias=False)
        if not self.selective:
            self.lti_input = nn.Parameter(torch.randn(di))

    def _check(self, name, x, ndim):
        layer_input(name, x, "(batch, L, d_model)" if ndim == 3 else "(batch, d_model)",
                    self.d_model, self.A_log)

    def ssm_inputs(self, u):
        """From the conv output u (batch, [L,] d_inner): delta (..., d_inner) and
        B, C (..., d_state)."""
        axes = "(batch, d_inner)" if getattr(u, "ndim", None) == 2 else "(batch, L, d_inner)"
        layer_input("u", u, axes, self.d_inner, self.A_log)
        x_dbl = self.x_proj(u if self.selective else self.lti_input.expand_as(u))
        delta_low, B, C = x_dbl.split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return delta_low @ self.dt_proj.weight.T, B, C

    def _branches(self, x):
        """x (batch, L, d_model) -> (u = silu(conv1d(x)), z), each (batch, d_inner, L)."""
        L = x.shape[1]
        u, z = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)       # (batch, d_inner, L)
        return F.silu(self.conv1d(u)[..., :L]), z

    def step_sizes(self, x):
        """Delta_t = softplus(s_Delta(u_t) + delta_bias), (batch, d_inner, L), for x (batch, L,
        d_model): how far each channel's state moves at each token (large: take the token
        in, small: ignore it and keep the state; chapter 7)."""
        self._check("x", x, 3)
        u, _ = self._branches(x)
        delta, _, _ = self.ssm_inputs(u.transpose(1, 2))
        return _effective_delta_torch(delta.transpose(1, 2), self.dt_proj.bias, True)

    def forward(self, x):
        """x (batch, L, d_model) -> (batch, L, d_model)."""
        self._check("x", x, 3)
        u, z = self._branches(x)
        delta, B, C = self.ssm_inputs(u.transpose(1, 2))             # (batch, L, .)
        y = selective_scan(u, delta.transpose(1, 2), -torch.exp(self.A_log),
                           B.transpose(1, 2), C.transpose(1, 2), self.D, z,
                           delta_bias=self.dt_proj.bias, delta_softplus=True,
                           backend=_resolve_backend(self.backend, x.device))
        return self.out_proj(y.transpose(1, 2))

    def initial_state(self, batch):
        """(conv_state (batch, d_inner, d_conv), ssm_state (batch, d_inner, d_state)), zeros."""
        batch = integer("batch", batch)
        affordable("batch", batch * self.d_inner * (self.d_conv + self.d_state),
                   what="state numbers")
        w = self.A_log
        return (w.new_zeros(batch, self.d_inner, self.d_conv),
                w.new_zeros(batch, self.d_inner, self.d_state))

    def step(self, x_t, state):
        """One token: x_t (batch, d_model) -> (out (batch, d_model), new state).

        The conv keeps its last d_conv inputs; the SSM keeps h (batch, d_inner, d_state):
        memory per token is constant, whatever the position.
        """
        self._check("x_t", x_t, 2)
        batch = x_t.shape[0]
        conv_state, h = _block_state(state, (batch, self.d_inner, self.d_conv),
                                    (batch, self.d_inner, self.d_state), self.A_log.dtype)
        x, z = self.in_proj(x_t).chunk(2, dim=-1)                     # (batch, d_inner)
        conv_state = torch.cat([conv_state[..., 1:], x[..., None]], dim=-1)
        x = F.silu((conv_state * self.conv1d.weight[:, 0, :]).sum(-1) + self.conv1d.bias)
        delta, B, C = self.ssm_inputs(x)
        y, h = selective_scan_step(h, x, delta, -torch.exp(self.A_log), B, C, self.D, z,
                                   delta_bias=self.dt_proj.bias, delta_softplus=True)
        return self.out_proj(y), (conv_state, h)
