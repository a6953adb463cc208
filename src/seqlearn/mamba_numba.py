"""The selective scan compiled for a CPU (chapter 7): the loop of ``mamba.scan_numpy``,
written out element by element and compiled by Numba (``backend="numba"``).

The same equations as ``seqlearn.mamba`` (Gu & Dao 2024, S6), per batch b, step t,
channel c and state k:

    Delta = softplus(delta[b, t, c] + delta_bias[c])     (as selected)
    h[k, c] = exp(Delta A[k, c]) h[k, c] + Delta u[b, t, c] B[b, t, k]
    y[b, t, c] = (sum_k C[b, t, k] h[k, c] + D[c] u[b, t, c]) silu(z[b, t, c])

Three choices make it fast on one core, none of them a change to the math:

1. **Time-major layout.** u, delta, z, y are (batch, L, d) and B, C (batch, L, n): the
   layout in which ``MambaBlock`` computes them (a Linear layer's output), so the
   ``(batch, d, L)`` arguments of ``selective_scan`` are transposed *views* of it and
   nothing is copied. The innermost loop runs over a block of channels c, contiguous in
   memory: each of its iterations is independent, so the compiler turns it into SIMD
   instructions (8 or 16 channels at a time), with B[b, t, k] and C[b, t, k] one number
   broadcast to every lane.
2. **Our own exp.** ``math.exp`` is a call into the C library, one number at a time,
   which the compiler cannot put in SIMD lanes; ``_exp_f32`` is plain arithmetic (a
   Taylor polynomial after range reduction), which it can. In float32 it is exact to
   about one unit in the last place; float64 keeps ``math.exp`` (it is the checking dtype).
3. **States recomputed, not stored.** The forward keeps only h at the start of every
   ``CHUNK`` steps (the states (batch, L, d, n) never exist); the backward walks the
   chunks from last to first, recomputes a chunk's states and exp(Delta A) into a small
   buffer that stays in cache, and runs the recurrence of the gradient backwards through
   it (the idea of the paper's kernel, on a CPU): exp is computed once per (t, c, k) in
   the forward and once in the backward.

Work is split over (batch, block of ``BLOCK`` channels), run in parallel by Numba's
``prange`` on ``torch.get_num_threads()`` threads. Every block's numbers are computed in
the same order whatever the thread count, and the forward has no reductions across
SIMD lanes, so its output is the same on every thread count and on every CPU with fused
multiply-add (x86-64 since 2013, ARM64). The backward sums dB and dC over channels with
reassociation allowed (so the compiler can vectorise the sum, 15-20 % faster than a sum
in a fixed order): those two gradients may differ in the last bits between CPUs whose
SIMD widths differ, as torch's own kernels do.

Glossary (code name -> symbol in Gu & Dao 2024): as in ``seqlearn.mamba``; ``a`` is
Ab_t = exp(Delta_t A), ``du`` is Delta_t u_t, ``g`` is dLoss/dh_t.

Threads come from Numba's own pool ("workqueue" unless NUMBA_THREADING_LAYER says
otherwise), which serves one caller at a time: call the scan from one Python thread at
a time (DataLoader workers are processes, and fine).

If Numba is not installed, ``AVAILABLE`` is False and ``selective_scan(...,
backend="numba")`` raises a ValueError saying so; ``MambaBlock``'s default backend
("auto") then falls back to "torch_recurrence" with one warning.
"""

import math
import os
import warnings

import numpy as np
import torch

from seqlearn._checks import numeric_array

try:
    import numba
    from llvmlite import ir
    from numba import njit, prange, types
    from numba.extending import intrinsic, overload
    AVAILABLE = True
    if "NUMBA_THREADING_LAYER" not in os.environ:
        # Numba's own thread pool: its OpenMP layer would load a second OpenMP runtime
        # next to torch's, whose start resets torch.get_num_threads() (seen with
        # torch 2.13 and numba 0.68: 1 became 2) and whose idle threads spin.
        numba.config.THREADING_LAYER = "workqueue"
except ImportError:  # pragma: no cover - exercised by a test that hides numba
    numba = None
    AVAILABLE = False

BLOCK = 64      # channels per task: a row of h is BLOCK numbers (4 AVX-512 / 8 AVX2 vectors)
CHUNK = 64      # steps between saved states; the backward's buffers are CHUNK x n x BLOCK

MISSING = ("backend 'numba' needs the package numba (pip install numba==0.68.1), which is "
           "not importable here")


# ---------------------------------------------------------------- exp, softplus, sigmoid
# The float32 constants are np.float32 so that Numba keeps the arithmetic in float32.
LOG2E = np.float32(1.4426950408889634)          # 1 / ln 2
LN2_HI = np.float32(0.693359375)                # ln 2 = LN2_HI + LN2_LO, LN2_HI exact in
LN2_LO = np.float32(-2.12194440e-4)             # 10 bits so k * LN2_HI is exact
TAYLOR = tuple(np.float32(1 / math.factorial(j)) for j in range(8))   # 1/0! .. 1/7!
ONE, TWO, ZERO, HALF = np.float32(1), np.float32(2), np.float32(0), np.float32(0.5)
LOW, HIGH = np.float32(-88.0), np.float32(89.0)
K_MIN, K_MAX = np.float32(-126), np.float32(127)      # 2^k a normal float32
ATANH = tuple(np.float32(1 / (2 * j + 1)) for j in range(8))          # 1, 1/3, .., 1/15


def _exp_f32(x):
    """exp(x) in float32 from +, *, and one integer-to-float bit copy (so SIMD-able):

        k = round(x / ln 2)  (in [-126, 127]),  r = x - k ln 2  (|r| <= ln2 / 2)
        exp(x) = 2^k exp(r),  exp(r) ~ sum_{j<=7} r^j / j!

    The Taylor remainder is below |r|^8 / 8! e^|r| < 7e-9 exp(r) (float32's unit
    roundoff is 6e-8); 2^k is built from its bits, (k + 127) << 23. Below -88 the result
    is 0 (exp(-88) = 6e-39, under float32's smallest normal number), above ~88.72 it is
    inf, and NaN stays NaN. In the last 0.35 before overflow (x > 127.5 ln 2 = 88.37) k
    stays 127 and |r| grows to 0.69: the remainder there is up to 1.3e-6 (about 22 units
    in the last place); the scan's exp(Delta A) has x <= 0.

    Unchecked: a scalar kernel of the compiled scan, compiled only (``_bits_to_f32`` is
    an LLVM instruction); ``tests/test_mamba_numba.py`` checks it against NumPy."""
    xc = x if x > LOW else LOW                   # also turns NaN into LOW
    xc = xc if xc < HIGH else HIGH
    k = np.floor(xc * LOG2E + HALF)
    k = k if k < K_MAX else K_MAX
    k = k if k > K_MIN else K_MIN
    r = (xc - k * LN2_HI) - k * LN2_LO
    p = TAYLOR[7]
    for j in range(6, -1, -1):                   # Horner: ((r/7! + 1/6!) r + ..) r + 1
        p = p * r + TAYLOR[j]
    res = p * _bits_to_f32(np.int32(k) + np.int32(127))
    res = res if x >= LOW else ZERO
    return res if x == x else x


def _log1p_f32(x):
    """log(1 + x) for x in [0, 1] (what softplus needs), + and * only:

        s = x / (2 + x) in [0, 1/3],  log(1 + x) = 2 atanh(s) = 2 (s + s^3/3 + .. + s^15/15)

    The first term left out is below s^17 / 17 <= 2 s (1/9)^8 / 17: relative 1.4e-9.

    Unchecked: a scalar kernel of the compiled scan (for float32 inside ``_softplus``)."""
    s = x / (TWO + x)
    q = s * s
    p = ATANH[7]
    for j in range(6, -1, -1):
        p = p * q + ATANH[j]
    return TWO * s * p


if AVAILABLE:
    @intrinsic
    def _bits_to_f32(typingctx, bits):
        """The float32 whose bits are ``bits << 23``, for an integer bits in [1, 254]:
        the power of two 2^(bits - 127) (exponent field = bits, mantissa 0)."""
        if not isinstance(bits, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            i32 = ir.IntType(32)
            v = args[0] if bits.bitwidth == 32 else builder.trunc(args[0], i32)
            return builder.bitcast(builder.shl(v, ir.Constant(i32, 23)), ir.FloatType())
        return types.float32(bits), codegen

    def _exp(x):
        """exp(x). In compiled code the overload below picks ``_exp_f32`` for float32 and
        ``math.exp`` for float64; called from Python it is ``math.exp``."""
        return math.exp(x)

    def _log1p(x):
        """log(1 + x), dispatched by dtype like ``_exp``."""
        return math.log1p(x)

    @overload(_exp, inline="always")
    def _exp_overload(x):
        if x == types.float32:
            return _exp_f32
        return lambda x: math.exp(x)

    @overload(_log1p, inline="always")
    def _log1p_overload(x):
        if x == types.float32:
            return _log1p_f32
        return lambda x: math.log1p(x)

    @njit(inline="always")
    def _softplus_jit(x):
        """softplus(x) = max(x, 0) + log(1 + exp(-|x|)): no overflow for any x."""
        return (x if x > 0 else ZERO) + _log1p(_exp(-abs(x)))

    @njit(inline="always")
    def _sigmoid_jit(x):
        """sigmoid(x) = 1 / (1 + exp(-x)); exp(-x) = inf for x < -89 gives 0, as it should."""
        return ONE / (ONE + _exp(-x))


# ---------------------------------------------------------------- the kernels
def _forward_kernel(u, delta, A, B, C, D, z, bias, softplus, gate, y, h_last, saved):
    """The forward scan, one task per (batch, block of channels).

    u, delta, z : (batch, L, d);  A : (n, d);  B, C : (batch, L, n);  D, bias : (d,)
    softplus, gate : apply softplus to delta + bias / multiply by silu(z)
    writes y (batch, L, d), h_last (batch, n, d), and, if saved.shape[1] > 0, the state
    before every CHUNK-th step: saved (batch, ceil(L / CHUNK), n, d)
    """
    batch, L, d = u.shape
    n = A.shape[0]
    blocks = (d + BLOCK - 1) // BLOCK
    for task in prange(batch * blocks):
        b, c0 = task // blocks, max(0, task % blocks) * BLOCK   # max: tells LLVM c0 >= 0
        w = min(BLOCK, d - c0)
        h = np.zeros((n, w), dtype=u.dtype)
        dt = np.empty(w, dtype=u.dtype)
        du = np.empty(w, dtype=u.dtype)
        acc = np.empty(w, dtype=u.dtype)
        for t in range(L):
            if saved.shape[1] > 0 and t % CHUNK == 0:
                saved[b, t // CHUNK, :, c0:c0 + w] = h
            for c in range(w):
                x = delta[b, t, c0 + c] + bias[c0 + c]
                dt[c] = _softplus_jit(x) if softplus else x
                du[c] = dt[c] * u[b, t, c0 + c]
                acc[c] = 0
            for k in range(n):
                Bk, Ck = B[b, t, k], C[b, t, k]
                for c in range(w):                              # SIMD over channels
                    h[k, c] = _exp(dt[c] * A[k, c0 + c]) * h[k, c] + du[c] * Bk
                    acc[c] += Ck * h[k, c]
            for c in range(w):
                out = acc[c] + D[c0 + c] * u[b, t, c0 + c]
                if gate:
                    zz = z[b, t, c0 + c]
                    out = out * zz * _sigmoid_jit(zz)
                y[b, t, c0 + c] = out
        h_last[b, :, c0:c0 + w] = h


def _backward_kernel(u, delta, A, B, C, D, z, bias, softplus, gate, saved, gy, gh_last,
                     du_out, ddelta_out, dz_out, dA_part, dB_part, dC_part, dD_part,
                     dbias_part):
    """The backward scan, one task per (batch, block of channels); chunks last to first.

    Inputs as ``_forward_kernel``, plus saved (batch, chunks, n, d) from the forward,
    gy = dLoss/dy (batch, L, d) and gh_last = dLoss/dh_{L-1} (batch, n, d).
    Writes du_out, ddelta_out, dz_out (batch, L, d) and partial sums, added up by the
    caller: dA_part (batch, n, d), dD_part, dbias_part (batch, d) over batch; dB_part,
    dC_part (blocks, batch, L, n) over blocks of channels.

    In a chunk, first the states are recomputed (hs[j] = h before step s + j, a[j] =
    exp(Delta A) of step s + j, pre[j] = the output before the gate), then, from its last
    step back, with g = dLoss/dh_t carried from later steps:
        dy = gy * silu(z)  (the gate's input),  dz = gy * pre * silu'(z)
        g += dy C_t;   dC_t += dy h_t;   dB_t += g du;   d(du) = sum_k g B_t
        d(Delta A) = g h_{t-1} a_t  ->  dA += d(Delta A) Delta,  dDelta += sum_k d(Delta A) A
        g *= a_t  (dLoss/dh_{t-1} from this step)
    """
    batch, L, d = u.shape
    n = A.shape[0]
    blocks = (d + BLOCK - 1) // BLOCK
    chunks = saved.shape[1]
    for task in prange(batch * blocks):
        blk = task % blocks
        b, c0 = task // blocks, max(0, blk) * BLOCK       # max: tells LLVM c0 >= 0
        w = min(BLOCK, d - c0)
        g = np.empty((n, w), dtype=u.dtype)
        g[:, :] = gh_last[b, :, c0:c0 + w]
        gA = np.zeros((n, w), dtype=u.dtype)
        gD = np.zeros(w, dtype=u.dtype)
        gbias = np.zeros(w, dtype=u.dtype)
        hs = np.empty((CHUNK + 1, n, w), dtype=u.dtype)
        a = np.empty((CHUNK, n, w), dtype=u.dtype)
        dts = np.empty((CHUNK, w), dtype=u.dtype)
        pre = np.empty((CHUNK, w), dtype=u.dtype)
        dy = np.empty(w, dtype=u.dtype)
        zero = np.zeros(1, dtype=u.dtype)[0]                   # 0 in the dtype of u
        gdu = np.empty(w, dtype=u.dtype)
        dut = np.empty(w, dtype=u.dtype)
        gdt = np.empty(w, dtype=u.dtype)
        for ch in range(chunks - 1, -1, -1):
            s, e = ch * CHUNK, min(ch * CHUNK + CHUNK, L)
            hs[0] = saved[b, ch, :, c0:c0 + w]
            for j in range(e - s):                              # recompute the chunk
                t = s + j
                for c in range(w):
                    x = delta[b, t, c0 + c] + bias[c0 + c]
                    dts[j, c] = _softplus_jit(x) if softplus else x
                    pre[j, c] = D[c0 + c] * u[b, t, c0 + c]
                for k in range(n):
                    Bk, Ck = B[b, t, k], C[b, t, k]
                    for c in range(w):
                        ak = _exp(dts[j, c] * A[k, c0 + c])
                        a[j, k, c] = ak
                        hk = ak * hs[j, k, c] + dts[j, c] * u[b, t, c0 + c] * Bk
                        hs[j + 1, k, c] = hk
                        pre[j, c] += Ck * hk
            for j in range(e - s - 1, -1, -1):                  # and back through it
                t = s + j
                for c in range(w):
                    gyt = gy[b, t, c0 + c]
                    if gate:
                        zz = z[b, t, c0 + c]
                        sg = _sigmoid_jit(zz)
                        dy[c] = gyt * zz * sg
                        dz_out[b, t, c0 + c] = gyt * pre[j, c] * sg * (ONE + zz * (ONE - sg))
                    else:
                        dy[c] = gyt
                    gD[c] += dy[c] * u[b, t, c0 + c]
                    dut[c] = dts[j, c] * u[b, t, c0 + c]
                    gdu[c] = 0
                    gdt[c] = 0
                for k in range(n):
                    Bk, Ck = B[b, t, k], C[b, t, k]
                    sB, sC = zero, zero
                    for c in range(w):
                        g[k, c] += dy[c] * Ck
                        sC += dy[c] * hs[j + 1, k, c]
                        sB += g[k, c] * dut[c]
                        gdu[c] += g[k, c] * Bk
                        gz = g[k, c] * hs[j, k, c] * a[j, k, c]
                        gA[k, c] += gz * dts[j, c]
                        gdt[c] += gz * A[k, c0 + c]
                        g[k, c] *= a[j, k, c]
                    dB_part[blk, b, t, k] = sB
                    dC_part[blk, b, t, k] = sC
                for c in range(w):
                    uu = u[b, t, c0 + c]
                    gdt[c] += gdu[c] * uu
                    du_out[b, t, c0 + c] = gdu[c] * dts[j, c] + dy[c] * D[c0 + c]
                    gx = gdt[c]
                    if softplus:
                        gx = gx * _sigmoid_jit(delta[b, t, c0 + c] + bias[c0 + c])
                    ddelta_out[b, t, c0 + c] = gx
                    gbias[c] += gx
        dA_part[b, :, c0:c0 + w] = gA
        dD_part[b, c0:c0 + w] = gD
        dbias_part[b, c0:c0 + w] = gbias


if AVAILABLE:
    # cache=True keeps the machine code in __pycache__: a notebook's second run, and
    # every later process, skips the compile (measured in benchmarks/scan.py).
    # fastmath "contract": a * b + c may become one fused multiply-add (every x86-64 CPU
    # since 2013 has it; the same code fuses the same operations on each). "reassoc" (the
    # backward only): the sums of dB and dC over channels may be reordered into SIMD lanes.
    _forward = njit(parallel=True, cache=True, fastmath={"contract"})(_forward_kernel)
    _backward = njit(parallel=True, cache=True,
                     fastmath={"contract", "reassoc", "nsz"})(_backward_kernel)


def _run(kernel, *args):
    """Call a kernel on torch's thread count. The first call compiles it (or loads it
    from the cache); Numba's SSA pass then emits a pedantic NumbaIRAssumptionWarning
    about the inlined exp ("variable ... is not in scope"), which is silenced here."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.core.errors.NumbaIRAssumptionWarning)
        kernel(*args)


# ---------------------------------------------------------------- autograd
def _np(x):
    return x.detach().contiguous().numpy()


class ScanNumba(torch.autograd.Function):
    """The selective scan as one autograd node running the compiled kernels, time-major:

        u, delta, z (batch, L, d);  A (d, n);  B, C (batch, L, n);  D, delta_bias (d,)
        -> y (batch, L, d), h_{L-1} (batch, d, n)

    D, z, delta_bias may be None; keep_states: save the states at chunk starts for a
    backward (False under torch.no_grad()).

    Unchecked: the kernel behind ``_scan_numba``; ``selective_scan`` checks the arguments.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, keep_states):
        batch, L, d = u.shape
        n = A.shape[1]
        dtype = u.dtype
        zeros_d = torch.zeros(d, dtype=dtype)
        args = [_np(u), _np(delta), _np(A.T), _np(B), _np(C),
                _np(zeros_d if D is None else D),
                _np(u if z is None else z), _np(zeros_d if delta_bias is None else delta_bias),
                bool(delta_softplus), z is not None]
        y = torch.empty(batch, L, d, dtype=dtype)
        h_last = torch.empty(batch, n, d, dtype=dtype)
        saved = torch.empty(batch, -(-L // CHUNK) if keep_states else 0, n, d, dtype=dtype)
        _run(_forward, *args, y.numpy(), h_last.numpy(), saved.numpy())
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, saved)
        ctx.delta_softplus = bool(delta_softplus)
        ctx.set_materialize_grads(False)
        return y, h_last.transpose(1, 2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy, gh):
        u, delta, A, B, C, D, z, delta_bias, saved = ctx.saved_tensors
        batch, L, d = u.shape
        n = A.shape[1]
        dtype = u.dtype
        blocks = -(-d // BLOCK)
        zeros_d = torch.zeros(d, dtype=dtype)
        gy = torch.zeros(batch, L, d, dtype=dtype) if gy is None else gy
        gh = torch.zeros(batch, d, n, dtype=dtype) if gh is None else gh
        du, ddelta = torch.empty(batch, L, d, dtype=dtype), torch.empty(batch, L, d, dtype=dtype)
        dz = torch.empty(batch, L, d, dtype=dtype) if z is not None else torch.empty(1, 1, 1,
                                                                                    dtype=dtype)
        dA = torch.empty(batch, n, d, dtype=dtype)
        dB = torch.empty(blocks, batch, L, n, dtype=dtype)
        dC = torch.empty(blocks, batch, L, n, dtype=dtype)
        dD, dbias = torch.empty(batch, d, dtype=dtype), torch.empty(batch, d, dtype=dtype)
        _run(_backward, _np(u), _np(delta), _np(A.T), _np(B), _np(C), _np(zeros_d if D is None else D),
                  _np(u if z is None else z),
                  _np(zeros_d if delta_bias is None else delta_bias), ctx.delta_softplus,
                  z is not None, saved.numpy(), _np(gy), _np(gh.transpose(1, 2)),
                  du.numpy(), ddelta.numpy(), dz.numpy(), dA.numpy(), dB.numpy(), dC.numpy(),
                  dD.numpy(), dbias.numpy())
        return (du, ddelta, dA.sum(0).T, dB.sum(0), dC.sum(0),
                None if D is None else dD.sum(0), dz if z is not None else None,
                None if delta_bias is None else dbias.sum(0), None, None)


def _exp_loop(x, out):
    """out[i] = exp(x[i]) for 1-D float32 arrays, by the scan's own exponential."""
    for i in range(x.shape[0]):
        out[i] = _exp(x[i])


if AVAILABLE:
    _exp_loop = njit(cache=True)(_exp_loop)


def exp_f32(x):
    """exp(x) by the compiled scan's own float32 exponential (``_exp_f32``), elementwise,
    for a reader or a test to compare with np.exp: x array-like of real numbers, any
    shape -> a float32 ndarray of that shape. NaN stays NaN; below -88 it is 0, above
    about 88.72 inf. Refused (ValueError) where Numba is missing."""
    if not AVAILABLE:
        raise ValueError(f"x: cannot be computed here: {MISSING}")
    x = numeric_array("x", x, keep_float32=True).astype(np.float32)
    out = np.empty_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.core.errors.NumbaIRAssumptionWarning)
        _exp_loop(x.reshape(-1), out.reshape(-1))
    return out


def _scan_numba(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """``selective_scan`` compiled for the CPU, on the layouts of ``seqlearn.mamba``:

    u, delta, z : (batch, d, L);  A : (d, n);  B, C : (batch, n, L);  D, delta_bias : (d,)
    returns y (batch, d, L) and the last state h (batch, d, n); y is a transposed view of
    a time-major (batch, L, d) tensor, and time-major arguments (transposed views, as in
    ``MambaBlock``) are read without a copy.

    Unchecked: the kernel behind ``selective_scan(..., backend="numba")``, which checks the
    arguments (CPU float tensors) first.
    """
    if not AVAILABLE:
        raise ValueError(f"backend: {MISSING}")
    tm = lambda x: None if x is None else x.transpose(1, 2)          # noqa: E731
    args = (tm(u), tm(delta), A, tm(B), tm(C), D, tm(z), delta_bias)
    keep = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in args)
    y, h = ScanNumba.apply(*args, delta_softplus, keep)
    return y.transpose(1, 2), h


_warned = False


def _warn_missing_once():
    """One warning per process that the compiled scan is unavailable (the fallback runs)."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"{MISSING}; MambaBlock falls back to backend 'torch_recurrence' "
                      f"(same results, about 10-30x slower on a CPU)", RuntimeWarning,
                      stacklevel=3)
