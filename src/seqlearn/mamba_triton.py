"""The selective scan as a fused Triton kernel (chapter 7), forward and backward.

What the kernel computes (per batch b, channel d, state n; see ``seqlearn.mamba``):

    Delta_t = softplus(delta_t + delta_bias)        (bias and softplus optional)
    h_t     = exp(Delta_t A) * h_{t-1} + Delta_t B_t u_t,   h_{-1} = 0
    y_t     = C_t . h_t + D u_t                      (. : sum over the state axis n)
    y_t    *= silu(z_t)                              (optional gate)

Layouts (those of ``mamba_ssm.selective_scan_fn``):
    u, delta, z : (batch, d, L)     A : (d, n)     B, C : (batch, n, L)
    D, delta_bias : (d,)            state h : (batch, d, n)

Why fuse (the memory-hierarchy argument of Gu & Dao 2024, section 3.3.2): a scan written
with tensor operations materialises exp(Delta A) and the states, (batch, d, L, n) numbers,
in GPU main memory (HBM) -- n times more than its inputs and outputs. Here one program owns
one batch index and a block of BLOCK_D channels and walks t = 0 .. L-1 sequentially:

  * u, delta, z (BLOCK_D numbers) and B_t, C_t (n numbers) are read from HBM once per step;
  * the state h, a (BLOCK_D, N) tile, lives in registers / on-chip SRAM for the whole scan;
  * y is written once per step; the (batch, d, L, n) tensor of states never reaches HBM.

The work is O(batch d L n) as before, but the memory traffic is O(batch d L + batch n L),
which is what bounds a scan. Parallelism comes from the (batch, channel-block) grid.

Two versions of the forward and backward kernels, one API (``kernel=``):

  v1 "sequential" (scan_fwd_kernel, scan_bwd_kernel): one time step per loop iteration,
     the clearest first read. Each step loads one number per channel from a (batch, d, L)
     tensor whose *time* axis is contiguous: BLOCK_D scattered 4-byte reads per step, and
     nothing inside a program runs in parallel over time.
  v2 "tiled" (scan_fwd_tiled_kernel, scan_bwd_tiled_kernel), the default: each iteration
     loads a time tile of TILE_L steps, (TILE_D, TILE_L) of u, delta, z and (n, TILE_L) of
     B, C, contiguous along L (coalesced), forms the (TILE_D, n, TILE_L) pairs
     (exp(Delta_t A), Delta_t B_t u_t), scans them in parallel with ``tl.associative_scan``
     and chapter 7's combine (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2), and carries h from
     tile to tile: h_t = P_t h_{s-1} + H_t, where s is the tile's first step and
     (P_t, H_t) = (a_s, b_s) o ... o (a_t, b_t) the in-tile prefix (P_t = a_s ... a_t, the
     decay since the tile began; H_t, the state from h_{s-1} = 0). The state h_{s-1}
     saved at every tile start is what the backward recomputes from. The backward runs
     the tiles last to first and gets g_t = dLoss/dh_t from the same scan on the tile
     flipped in time (``tl.flip``:
     ``associative_scan(reverse=True)`` has been reported wrong, triton #4362, #8412).

Backward: the states are *recomputed*, not stored (as in the paper). With gradients
enabled the forward also saves the state at chunk boundaries, every CHUNK steps:
(batch, d, ceil(L / CHUNK), n), a fraction 1 / CHUNK of all states. The backward kernel
walks the chunks in reverse; for each it recomputes the chunk's CHUNK states from the
boundary state into a small per-program scratch tile (CHUNK + 1, BLOCK_D, N), then runs
the reverse recurrence for g_t = dLoss/dh_t,

    g_t = dy_t C_t + exp(Delta_{t+1} A) g_{t+1},      g_{L-1} = dy_{L-1} C_{L-1} + dh_last

(dy: the gradient of the core output C_t . h_t) and accumulates the gradients of every
input. Sums across programs (dB, dC over channel blocks; dA, dD, d delta_bias over batch)
are written as per-program partial sums and added in PyTorch: deterministic, no atomics.

Glossary (code name -> symbol):
    u -> x_t (the scan input)      delta -> Delta_t before bias and softplus
    A -> A (d, n), real, <= 0      B, C -> B_t, C_t      D -> D (skip)
    z -> the gate z_t              delta_bias -> the Delta projection's bias
    h -> h_t                       BLOCK_D -> channels per program
    BLOCK_N -> n padded to a power of two (masked)     CHUNK -> recomputation chunk

Unchecked: the four @triton.jit kernels (scan_fwd_kernel, scan_bwd_kernel,
scan_fwd_tiled_kernel, scan_bwd_tiled_kernel) read memory by the sizes they are given and
check nothing. Launch them through ``selective_scan_triton``, which checks every argument
as ``seqlearn.mamba.selective_scan`` does (shapes, dtypes, devices, A <= 0, flags).

On a machine without CUDA this module sets TRITON_INTERPRET=1 before importing triton,
so the same kernels run (slowly: ~ms per step) on CPU tensors; ``aot_compile`` compiles
them for a CUDA target without a GPU, which catches code the interpreter accepts but the
GPU compiler rejects.
"""

import os
import sys

import torch

if not torch.cuda.is_available():
    if "triton" in sys.modules and os.environ.get("TRITON_INTERPRET") != "1":
        # triton reads the variable when it is imported; some torch modules import it
        raise ImportError(
            "seqlearn.mamba_triton: there is no GPU, so Triton must run its interpreter, "
            "but triton was already imported (perhaps by a torch module) without "
            "TRITON_INTERPRET=1. Restart the kernel and import seqlearn.mamba_triton first, "
            "or set TRITON_INTERPRET=1 in the environment.")
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402  (after TRITON_INTERPRET is set)
import triton.language as tl  # noqa: E402

from seqlearn import _scan_checks as scan_checks  # noqa: E402  (one definition of each check)

KERNELS = ("tiled", "sequential")
CHUNK = 32        # v1 (sequential): steps between saved states (backward recomputation)
BLOCK_D = 32      # v1: channels per program (at most; fewer when d is small)
TILE_L = 32       # v2 (tiled): steps per time tile, also between saved states
TILE_D = 8        # v2: channels per program; a tile holds TILE_D * n * TILE_L states
TILE_WARPS = 8    # v2: warps per program (with TILE_D, TILE_L: no register spills at n = 16)
DTYPES = (torch.float32, torch.float64)


@triton.jit
def _softplus(x):
    # softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow for large x, and no loss of
    # precision for negative x, where 1 + exp(x) rounds to 1 (Delta would be 0 for
    # x <= -17 in float32). tl has no log1p, so it is computed as
    #   log1p(e) = log(w) * e / (w - 1),  w = 1 + e   (exact to a few ulps; e if w == 1)
    # [Goldberg 1991, "What every computer scientist should know...", Theorem 4].
    e = tl.exp(-tl.abs(x))
    w = 1.0 + e
    log1p_e = tl.where(w == 1.0, e, tl.log(w) * (e / tl.where(w == 1.0, 1.0, w - 1.0)))
    return tl.maximum(x, 0.0) + log1p_e


@triton.jit
def scan_fwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                    y_ptr, last_ptr, chunk_ptr, d, L, n, n_chunks,
                    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, SAVE: tl.constexpr, CHUNK: tl.constexpr,
                    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)                     # batch index (64-bit offsets)
    rd = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)   # this program's channels
    rn = tl.arange(0, BLOCK_N)                            # states (padded, masked)
    md, mn = rd < d, rn < n
    mdn = md[:, None] & mn[None, :]
    A = tl.load(A_ptr + rd[:, None] * n + rn[None, :], mask=mdn, other=0.0)
    if HAS_D:
        Dd = tl.load(D_ptr + rd, mask=md, other=0.0)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + rd, mask=md, other=0.0)
    row = (b * d + rd) * L                                # u[b, rd, 0] etc.
    col = (b * n + rn) * L                                # B[b, rn, 0], C[b, rn, 0]
    h = tl.zeros((BLOCK_D, BLOCK_N), dtype=y_ptr.dtype.element_ty)   # h_{-1} = 0
    for t in range(0, L):
        if SAVE:
            if t % CHUNK == 0:                        # keep h_{t-1} for the backward
                c = (b * d + rd[:, None]) * n_chunks + t // CHUNK
                tl.store(chunk_ptr + c * n + rn[None, :], h, mask=mdn)
        dt = tl.load(delta_ptr + row + t, mask=md, other=0.0)
        if HAS_BIAS:
            dt += bias                                    # delta_t + delta_bias
        if SOFTPLUS:
            dt = _softplus(dt)                            # Delta_t
        u = tl.load(u_ptr + row + t, mask=md, other=0.0)
        Bt = tl.load(B_ptr + col + t, mask=mn, other=0.0)
        Ct = tl.load(C_ptr + col + t, mask=mn, other=0.0)
        # h_t = exp(Delta_t A) * h_{t-1} + Delta_t B_t u_t
        h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
        y = tl.sum(Ct[None, :] * h, axis=1)               # y_t = C_t . h_t
        if HAS_D:
            y += Dd * u                                   # + D u_t
        if HAS_Z:
            z = tl.load(z_ptr + row + t, mask=md, other=0.0)
            y *= z * tl.sigmoid(z)                        # * silu(z_t)
        tl.store(y_ptr + row + t, y, mask=md)
    tl.store(last_ptr + (b * d + rd[:, None]) * n + rn[None, :], h, mask=mdn)


@triton.jit
def scan_bwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                    chunk_ptr, dy_ptr, dlast_ptr, scratch_ptr,
                    du_ptr, ddelta_ptr, dz_ptr, dA_ptr, dD_ptr, dbias_ptr, dB_ptr, dC_ptr,
                    d, L, n, n_chunks, n_blocks,
                    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                    SOFTPLUS: tl.constexpr, CHUNK: tl.constexpr,
                    BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr):
    """Reverse pass; one program per (batch, channel block), like the forward.

    Outputs: du, ddelta, dz (batch, d, L) exact; dA (batch, d, n), dD, dbias (batch, d)
    partial over the batch; dB, dC (batch, n_blocks, n, L) partial over channel blocks.
    """
    b = tl.program_id(0).to(tl.int64)
    blk = tl.program_id(1)
    rd = blk * BLOCK_D + tl.arange(0, BLOCK_D)
    rn = tl.arange(0, BLOCK_N)
    md, mn = rd < d, rn < n
    mdn = md[:, None] & mn[None, :]
    dn = rd[:, None] * n + rn[None, :]                    # offsets in a (d, n) tile
    A = tl.load(A_ptr + dn, mask=mdn, other=0.0)
    if HAS_D:
        Dd = tl.load(D_ptr + rd, mask=md, other=0.0)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + rd, mask=md, other=0.0)
    row = (b * d + rd) * L
    col = (b * n + rn) * L
    part = ((b * n_blocks + blk) * n + rn) * L            # dB, dC partials [b, blk, rn, 0]
    pid = b * n_blocks + blk
    tile = tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + rn[None, :]
    scratch = scratch_ptr + pid * (CHUNK + 1) * BLOCK_D * BLOCK_N + tile
    step = BLOCK_D * BLOCK_N
    # carry = exp(Delta_{t+1} A) g_{t+1}; at t = L - 1 it is dLoss/dh_{L-1} (last state)
    carry = tl.load(dlast_ptr + (b * d + rd[:, None]) * n + rn[None, :], mask=mdn, other=0.0)
    dA = tl.zeros((BLOCK_D, BLOCK_N), dtype=carry.dtype)
    dD = tl.zeros((BLOCK_D,), dtype=carry.dtype)
    dbias = tl.zeros((BLOCK_D,), dtype=carry.dtype)
    for cc in range(0, n_chunks):
        c = n_chunks - 1 - cc
        s = c * CHUNK
        T = tl.minimum(L - s, CHUNK)
        # recompute h_{s-1}, h_s, ..., h_{s+T-1} into scratch slots 0 .. T
        h = tl.load(chunk_ptr + ((b * d + rd[:, None]) * n_chunks + c) * n + rn[None, :],
                    mask=mdn, other=0.0)
        tl.store(scratch, h)
        for k in range(0, T):
            t = s + k
            dt = tl.load(delta_ptr + row + t, mask=md, other=0.0)
            if HAS_BIAS:
                dt += bias
            if SOFTPLUS:
                dt = _softplus(dt)
            u = tl.load(u_ptr + row + t, mask=md, other=0.0)
            Bt = tl.load(B_ptr + col + t, mask=mn, other=0.0)
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * Bt[None, :]
            tl.store(scratch + (k + 1) * step, h)
        tl.debug_barrier()                                # scratch written before read
        for kk in range(0, T):
            k = T - 1 - kk
            t = s + k
            raw = tl.load(delta_ptr + row + t, mask=md, other=0.0)
            if HAS_BIAS:
                raw += bias
            dt = raw
            if SOFTPLUS:
                dt = _softplus(raw)
            u = tl.load(u_ptr + row + t, mask=md, other=0.0)
            Bt = tl.load(B_ptr + col + t, mask=mn, other=0.0)
            Ct = tl.load(C_ptr + col + t, mask=mn, other=0.0)
            h_t = tl.load(scratch + (k + 1) * step)
            h_prev = tl.load(scratch + k * step)
            dy = tl.load(dy_ptr + row + t, mask=md, other=0.0)
            if HAS_Z:                                     # y = (C.h + D u) * silu(z)
                z = tl.load(z_ptr + row + t, mask=md, other=0.0)
                sig = tl.sigmoid(z)
                y_core = tl.sum(Ct[None, :] * h_t, axis=1)
                if HAS_D:
                    y_core += Dd * u
                dz = dy * y_core * sig * (1.0 + z * (1.0 - sig))
                tl.store(dz_ptr + row + t, dz, mask=md)
                dy = dy * z * sig                         # gradient of C.h + D u
            du = tl.zeros((BLOCK_D,), dtype=carry.dtype)
            if HAS_D:
                du += dy * Dd
                dD += dy * u
            tl.store(dC_ptr + part + t, tl.sum(dy[:, None] * h_t, axis=0), mask=mn)
            g = dy[:, None] * Ct[None, :] + carry         # g_t = dLoss/dh_t
            a = tl.exp(dt[:, None] * A)                   # exp(Delta_t A)
            ga = g * h_prev * a                           # through exp(Delta_t A)
            dA += ga * dt[:, None]
            gB = tl.sum(g * Bt[None, :], axis=1)          # through Delta_t B_t u_t
            ddt = tl.sum(ga * A, axis=1) + gB * u
            du += gB * dt
            tl.store(dB_ptr + part + t, tl.sum(g * (dt * u)[:, None], axis=0), mask=mn)
            if SOFTPLUS:
                ddt = ddt * tl.sigmoid(raw)               # softplus' = sigmoid
            dbias += ddt
            tl.store(du_ptr + row + t, du, mask=md)
            tl.store(ddelta_ptr + row + t, ddt, mask=md)
            carry = a * g
        tl.debug_barrier()                                # reads done before next writes
    tl.store(dA_ptr + (b * d + rd[:, None]) * n + rn[None, :], dA, mask=mdn)
    tl.store(dD_ptr + b * d + rd, dD, mask=md)
    tl.store(dbias_ptr + b * d + rd, dbias, mask=md)


# ---------------------------------------------------------------- v2: time tiles
@triton.jit
def _combine(a1, b1, a2, b2):
    # (a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2): "step 1, then step 2" of h -> a h + b
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _channel_params(A_ptr, D_ptr, bias_ptr, rd, rn, n, md, mdn, HAS_D: tl.constexpr,
                    HAS_BIAS: tl.constexpr):
    # A (BLOCK_D, BLOCK_N), D and delta_bias (BLOCK_D,) of a block of channels; D and
    # delta_bias are 0 when absent, so y += D u and raw += bias need no branch
    A = tl.load(A_ptr + rd[:, None] * n + rn[None, :], mask=mdn, other=0.0)
    Dd = tl.zeros(rd.shape, dtype=A.dtype)
    if HAS_D:
        Dd = tl.load(D_ptr + rd, mask=md, other=0.0)
    bias = tl.zeros(rd.shape, dtype=A.dtype)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + rd, mask=md, other=0.0)
    return A, Dd, bias


@triton.jit
def _tile_delta(delta_ptr, offs, mask, bias, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    # Delta on a (BLOCK_D, BLOCK_L) tile; 0 where masked, so that exp(Delta A) = 1 and
    # Delta B u = 0 there: padded steps are the identity (1, 0) of the scan
    raw = tl.load(delta_ptr + offs, mask=mask, other=0.0)
    if HAS_BIAS:
        raw += bias[:, None]
    dt = raw
    if SOFTPLUS:
        dt = _softplus(raw)
    return tl.where(mask, dt, 0.0), raw


@triton.jit
def scan_fwd_tiled_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr,
                          bias_ptr, y_ptr, last_ptr, tile_ptr, d, L, n, n_tiles,
                          HAS_D: tl.constexpr, HAS_Z: tl.constexpr,
                          HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                          SAVE: tl.constexpr, BLOCK_D: tl.constexpr,
                          BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    rd = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)   # channels
    rn = tl.arange(0, BLOCK_N)                                # states
    rl = tl.arange(0, BLOCK_L)                                # steps within a tile
    md, mn = rd < d, rn < n
    mdn = md[:, None] & mn[None, :]
    A, Dd, bias = _channel_params(A_ptr, D_ptr, bias_ptr, rd, rn, n, md, mdn,
                                  HAS_D, HAS_BIAS)            # D, bias: 0 if absent
    row = (b * d + rd) * L                                    # u[b, rd, 0] etc.
    col = (b * n + rn) * L                                    # B[b, rn, 0], C[b, rn, 0]
    hd = (b * d + rd[:, None]) * n_tiles * n + rn[None, :]    # tile[b, rd, 0, rn]
    h = tl.zeros((BLOCK_D, BLOCK_N), dtype=y_ptr.dtype.element_ty)  # h_{-1} = 0
    for i in range(0, n_tiles):
        t = i * BLOCK_L + rl                                  # this tile's steps
        ud = row[:, None] + t[None, :]                        # (BLOCK_D, BLOCK_L)
        bn = col[:, None] + t[None, :]                        # (BLOCK_N, BLOCK_L)
        mdt = md[:, None] & (t < L)[None, :]
        mnt = mn[:, None] & (t < L)[None, :]
        if SAVE:                                              # h_{s-1}, for backward
            tl.store(tile_ptr + hd + i * n, h, mask=mdn)
        dt, raw = _tile_delta(delta_ptr, ud, mdt, bias, HAS_BIAS, SOFTPLUS)
        u = tl.load(u_ptr + ud, mask=mdt, other=0.0)
        Bt = tl.load(B_ptr + bn, mask=mnt, other=0.0)
        Ct = tl.load(C_ptr + bn, mask=mnt, other=0.0)
        a = tl.exp(dt[:, None, :] * A[:, :, None])            # (BLOCK_D, N, BLOCK_L)
        x = (dt * u)[:, None, :] * Bt[None, :, :]             # Delta_t B_t u_t
        a, x = tl.associative_scan((a, x), axis=2, combine_fn=_combine)  # in the tile
        hs = a * h[:, :, None] + x                            # h_t = P_t h_{s-1} + H_t
        y = tl.sum(Ct[None, :, :] * hs, axis=1)               # y_t = C_t . h_t
        y += Dd[:, None] * u                                  # + D u_t
        if HAS_Z:
            z = tl.load(z_ptr + ud, mask=mdt, other=0.0)
            y *= z * tl.sigmoid(z)                            # * silu(z_t)
        tl.store(y_ptr + ud, y, mask=mdt)
        last = rl[None, None, :] == BLOCK_L - 1               # (padding is identity)
        h = tl.sum(tl.where(last, hs, 0.0), axis=2)           # carried to next tile
    tl.store(last_ptr + (b * d + rd[:, None]) * n + rn[None, :], h, mask=mdn)


@triton.jit
def scan_bwd_tiled_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                          tile_ptr, dy_ptr, dlast_ptr,
                          du_ptr, ddelta_ptr, dz_ptr, dA_ptr, dD_ptr, dbias_ptr, dB_ptr,
                          dC_ptr, d, L, n, n_tiles, n_blocks,
                          HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
                          SOFTPLUS: tl.constexpr, BLOCK_D: tl.constexpr,
                          BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr):
    """Reverse pass over the tiles, last first; per tile:

    recompute h_t = P_t h_{s-1} + H_t (the forward's in-tile scan, from the saved h_{s-1});
    g_t = dy_t C_t + a_{t+1} g_{t+1} (dLoss/dh_t) as the same scan on the flipped tile,
    with a_{t+1} read one step ahead and g carried in from the tile after (dh_last at the
    end, a_L = 1); then every input's gradient, using a_t h_{t-1} = h_t - Delta_t B_t u_t.
    Outputs as ``scan_bwd_kernel``'s: du, ddelta, dz exact; dA, dD, dbias partial over the
    batch; dB, dC (batch, n_blocks, n, L) partial over channel blocks.
    """
    b = tl.program_id(0).to(tl.int64)
    blk = tl.program_id(1)
    rd = blk * BLOCK_D + tl.arange(0, BLOCK_D)
    rn = tl.arange(0, BLOCK_N)
    rl = tl.arange(0, BLOCK_L)
    md, mn = rd < d, rn < n
    mdn = md[:, None] & mn[None, :]
    A, Dd, bias = _channel_params(A_ptr, D_ptr, bias_ptr, rd, rn, n, md, mdn,
                                  HAS_D, HAS_BIAS)            # D, bias: 0 if absent
    row = (b * d + rd) * L
    col = (b * n + rn) * L
    part = ((b * n_blocks + blk) * n + rn) * L            # dB, dC partials [b, blk, rn, 0]
    hd = (b * d + rd[:, None]) * n_tiles * n + rn[None, :]
    g_next = tl.load(dlast_ptr + (b * d + rd[:, None]) * n + rn[None, :], mask=mdn,
                     other=0.0)                           # g_{s+BLOCK_L}; dh_last at the end
    dA = tl.zeros((BLOCK_D, BLOCK_N), dtype=g_next.dtype)
    dD = tl.zeros((BLOCK_D,), dtype=g_next.dtype)
    dbias = tl.zeros((BLOCK_D,), dtype=g_next.dtype)
    for ii in range(0, n_tiles):
        i = n_tiles - 1 - ii
        t = i * BLOCK_L + rl
        mdt = md[:, None] & (t < L)[None, :]
        mnt = mn[:, None] & (t < L)[None, :]
        offs = row[:, None] + t[None, :]                      # (BLOCK_D, BLOCK_L)
        bn = col[:, None] + t[None, :]                        # (BLOCK_N, BLOCK_L)
        dt, raw = _tile_delta(delta_ptr, offs, mdt, bias, HAS_BIAS, SOFTPLUS)
        u = tl.load(u_ptr + offs, mask=mdt, other=0.0)
        Bt = tl.load(B_ptr + bn, mask=mnt, other=0.0)
        Ct = tl.load(C_ptr + bn, mask=mnt, other=0.0)
        # recompute the tile's states from h_{s-1}
        a = tl.exp(dt[:, None, :] * A[:, :, None])
        x = (dt * u)[:, None, :] * Bt[None, :, :]
        a_pre, x_pre = tl.associative_scan((a, x), axis=2, combine_fn=_combine)
        h0 = tl.load(tile_ptr + hd + i * n, mask=mdn, other=0.0)
        hs = a_pre * h0[:, :, None] + x_pre                   # h_t
        dy = tl.load(dy_ptr + offs, mask=mdt, other=0.0)
        if HAS_Z:                                             # y = (C.h + D u) * silu(z)
            z = tl.load(z_ptr + offs, mask=mdt, other=0.0)
            sig = tl.sigmoid(z)
            y_core = tl.sum(Ct[None, :, :] * hs, axis=1) + Dd[:, None] * u
            tl.store(dz_ptr + offs, dy * y_core * sig * (1.0 + z * (1.0 - sig)), mask=mdt)
            dy = dy * z * sig                                 # gradient of C.h + D u
        tl.store(dC_ptr + part[:, None] + t[None, :], tl.sum(dy[:, None, :] * hs, axis=0),
                 mask=mnt)
        # g_t = dy_t C_t + a_{t+1} g_{t+1}: a forward scan of the flipped tile
        dt_next, _ = _tile_delta(delta_ptr, offs + 1, md[:, None] & (t + 1 < L)[None, :],
                                 bias, HAS_BIAS, SOFTPLUS)
        a_next = tl.exp(dt_next[:, None, :] * A[:, :, None])  # a_{t+1}; 1 past the end
        c_pre, g_pre = tl.associative_scan(
            (tl.flip(a_next, 2), tl.flip(dy[:, None, :] * Ct[None, :, :], 2)), axis=2,
            combine_fn=_combine)
        g = tl.flip(c_pre * g_next[:, :, None] + g_pre, 2)    # dLoss/dh_t
        ga = g * (hs - x)                                     # g_t a_t h_{t-1}
        dA += tl.sum(ga * dt[:, None, :], axis=2)
        gB = tl.sum(g * Bt[None, :, :], axis=1)               # through Delta_t B_t u_t
        ddt = tl.sum(ga * A[:, :, None], axis=1) + gB * u
        if SOFTPLUS:
            ddt = ddt * tl.sigmoid(raw)                       # softplus' = sigmoid
        ddt = tl.where(mdt, ddt, 0.0)
        dbias += tl.sum(ddt, axis=1)
        dD += tl.sum(dy * u, axis=1)
        tl.store(du_ptr + offs, gB * dt + dy * Dd[:, None], mask=mdt)
        tl.store(ddelta_ptr + offs, ddt, mask=mdt)
        tl.store(dB_ptr + part[:, None] + t[None, :],
                 tl.sum(g * (dt * u)[:, None, :], axis=0), mask=mnt)
        first = rl[None, None, :] == 0
        g_next = tl.sum(tl.where(first, g, 0.0), axis=2)      # g_s, for the tile before
    tl.store(dA_ptr + (b * d + rd[:, None]) * n + rn[None, :], dA, mask=mdn)
    tl.store(dD_ptr + b * d + rd, dD, mask=md)
    tl.store(dbias_ptr + b * d + rd, dbias, mask=md)


def _blocks(d, n, block_d):
    block_d = min(block_d, triton.next_power_of_2(d))
    return block_d, triton.next_power_of_2(n), triton.cdiv(d, block_d)


def _flags(D, z, delta_bias, softplus):
    return dict(HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None,
                SOFTPLUS=softplus)


def _forward(u, delta, A, B, C, D, z, delta_bias, softplus, save, kernel, chunk, block_d):
    batch, d, L = u.shape
    n = A.shape[1]
    BD, BN, n_blocks = _blocks(d, n, block_d)
    n_chunks = triton.cdiv(L, chunk)
    y = torch.empty_like(u)
    last = u.new_empty(batch, d, n)
    chunks = u.new_empty(batch, d, n_chunks, n) if save else u.new_empty(1)
    args = (u, delta, A, B, C, u if D is None else D, u if z is None else z,
            u if delta_bias is None else delta_bias, y, last, chunks, d, L, n, n_chunks)
    flags = _flags(D, z, delta_bias, softplus)
    if kernel == "tiled":
        scan_fwd_tiled_kernel[(batch, n_blocks)](*args, **flags, SAVE=save, BLOCK_D=BD,
                                                 BLOCK_N=BN, BLOCK_L=chunk,
                                                 num_warps=TILE_WARPS)
    else:
        scan_fwd_kernel[(batch, n_blocks)](*args, **flags, SAVE=save, CHUNK=chunk,
                                           BLOCK_D=BD, BLOCK_N=BN)
    return y, last, chunks


def _backward(u, delta, A, B, C, D, z, delta_bias, chunks, dy, dlast, softplus, kernel,
              chunk, block_d):
    batch, d, L = u.shape
    n = A.shape[1]
    BD, BN, n_blocks = _blocks(d, n, block_d)
    n_chunks = triton.cdiv(L, chunk)
    du, ddelta = torch.empty_like(u), torch.empty_like(u)
    dz = torch.empty_like(u) if z is not None else u.new_empty(1)
    dA = u.new_empty(batch, d, n)
    dD, dbias = u.new_empty(batch, d), u.new_empty(batch, d)
    dB, dC = u.new_zeros(batch, n_blocks, n, L), u.new_zeros(batch, n_blocks, n, L)
    inputs = (u, delta, A, B, C, u if D is None else D, u if z is None else z,
              u if delta_bias is None else delta_bias, chunks, dy, dlast)
    outputs = (du, ddelta, dz, dA, dD, dbias, dB, dC, d, L, n, n_chunks, n_blocks)
    flags = _flags(D, z, delta_bias, softplus)
    if kernel == "tiled":
        scan_bwd_tiled_kernel[(batch, n_blocks)](*inputs, *outputs, **flags, BLOCK_D=BD,
                                                 BLOCK_N=BN, BLOCK_L=chunk,
                                                 num_warps=TILE_WARPS)
    else:
        scratch = u.new_empty(batch * n_blocks * (chunk + 1) * BD * BN)
        scan_bwd_kernel[(batch, n_blocks)](*inputs, scratch, *outputs, **flags,
                                           CHUNK=chunk, BLOCK_D=BD, BLOCK_N=BN)
    return (du, ddelta, dA.sum(0), dB.sum(1), dC.sum(1),
            dD.sum(0) if D is not None else None, dz if z is not None else None,
            dbias.sum(0) if delta_bias is not None else None)


class _SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus, kernel, chunk, block_d):
        save = any(ctx.needs_input_grad[:8])
        y, last, chunks = _forward(u, delta, A, B, C, D, z, delta_bias, softplus, save,
                                   kernel, chunk, block_d)
        if save:
            ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, chunks)
            ctx.config = (softplus, kernel, chunk, block_d)
        return y, last

    @staticmethod
    def backward(ctx, dy, dlast):
        u, delta, A, B, C, D, z, delta_bias, chunks = ctx.saved_tensors
        grads = _backward(u, delta, A, B, C, D, z, delta_bias, chunks, dy.contiguous(),
                          dlast.contiguous(), *ctx.config)
        grads = [g if need else None for g, need in zip(grads, ctx.needs_input_grad)]
        return (*grads, None, None, None, None)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def _power_of_two(name, value):
    if value & (value - 1):
        raise ValueError(f"{name}: expected a power of two, got {value}")
    return value


def selective_scan_triton(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                          delta_softplus=False, *, kernel="tiled", chunk=None, block_d=None):
    """The selective scan by the fused kernels; returns (y (batch, d, L), h_{L-1} (batch, d, n)).

    Shapes are those of ``seqlearn.mamba.selective_scan``, and so are the checks (shapes,
    dtypes, devices, A <= 0, flags): the kernels read memory by the shapes, so an argument
    that does not fit is refused here, never read past its end. NaN or inf in the data
    propagates to the outputs (as in the other backends). Tensors of one dtype (float32 or
    float64) on one device; autograd for every input and for both outputs (the last
    state's gradient seeds the reverse scan).
    kernel : "tiled" (v2, the default: time tiles of ``chunk`` steps loaded along L and
        scanned in parallel with tl.associative_scan) or "sequential" (v1: one step at
        a time, the clearest first read).
    chunk : steps between the states saved for the backward (memory batch d n L / chunk);
        for "tiled" also the tile length, a power of two. Default TILE_L (32) for
        "tiled", CHUNK (32) for "sequential".
    block_d : channels per program, a power of two; default TILE_D (8) for "tiled",
        BLOCK_D (32) for "sequential".
    """

    args = dict(u=u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias)
    scan_checks._check_torch_args(args)
    scan_checks._check_shapes(**args)
    delta_softplus = scan_checks._flag("delta_softplus", delta_softplus)
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")
    tiled = kernel == "tiled"
    chunk = _positive_int("chunk", (TILE_L if tiled else CHUNK) if chunk is None else chunk)
    if tiled:
        _power_of_two("chunk", chunk)
    block_d = _power_of_two("block_d", _positive_int(
        "block_d", (TILE_D if tiled else BLOCK_D) if block_d is None else block_d))
    if os.environ.get("TRITON_INTERPRET") != "1" and u.device.type != "cuda":
        raise ValueError(f"u: expected a CUDA tensor for the compiled triton backend "
                         f"(or TRITON_INTERPRET=1), got device {u.device}")
    args = [None if x is None else x.contiguous() for x in (u, delta, A, B, C, D, z,
                                                             delta_bias)]
    return _SelectiveScan.apply(*args, bool(delta_softplus), kernel, chunk, block_d)


# ---------------------------------------------------------------- ahead-of-time compile
def _signature(kernel, dtype, constexprs):
    """The argument types of ``kernel`` for triton.compile: pointers, i32 sizes, constexprs."""
    ptr = "*fp64" if dtype == torch.float64 else "*fp32"
    sig = {}
    for name in kernel.arg_names:
        if name in constexprs:
            sig[name] = "constexpr"
        elif name.endswith("_ptr"):
            sig[name] = ptr
        else:
            sig[name] = "i32"
    return sig


def aot_compile(kernel_name="forward", target=("cuda", 90, 32), dtype=torch.float32,
                num_warps=None, **constexprs):
    """Compile a kernel for a GPU target without a GPU; returns the compiled kernel.

    kernel_name : "forward", "backward" (v1, sequential), "forward_tiled",
        "backward_tiled" (v2), or a @triton.jit function (for tests);
    target : (backend, arch, warp size), e.g. ("cuda", 80, 32) for an A100;
    num_warps : warps per program (default: TILE_WARPS for v2, 4 otherwise);
    constexprs : overrides of the defaults (all features on, CHUNK, BLOCK_D or TILE_D,
        TILE_L, BLOCK_N = 16).
    Must run in a process where TRITON_INTERPRET is not "1" (the interpreter replaces the
    compiler); ``compiled.asm["ptx"]`` holds the PTX, ``resource_usage(compiled)`` the
    registers. Raises on code the GPU compiler rejects.
    """
    kernels = {"forward": scan_fwd_kernel, "backward": scan_bwd_kernel,
               "forward_tiled": scan_fwd_tiled_kernel, "backward_tiled": scan_bwd_tiled_kernel}
    if isinstance(kernel_name, str):
        if kernel_name not in kernels:
            raise ValueError(f"kernel_name: expected one of {tuple(kernels)} or a @triton.jit "
                             f"function, got {kernel_name!r}")
        kernel = kernels[kernel_name]
    elif hasattr(kernel_name, "arg_names") and hasattr(kernel_name, "fn"):
        kernel = kernel_name
    else:
        raise ValueError(f"kernel_name: expected one of {tuple(kernels)} or a @triton.jit "
                         f"function, got {type(kernel_name).__name__}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype!r}")
    if (not isinstance(target, tuple) or len(target) != 3 or not isinstance(target[0], str)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in target[1:])):
        raise ValueError(f"target: expected (backend, arch, warp size) like ('cuda', 90, 32), "
                         f"got {target!r}")
    tiled = kernel in (scan_fwd_tiled_kernel, scan_bwd_tiled_kernel)
    defaults = dict(HAS_D=True, HAS_Z=True, HAS_BIAS=True, SOFTPLUS=True, SAVE=True,
                    CHUNK=CHUNK, BLOCK_D=TILE_D if tiled else BLOCK_D, BLOCK_N=16,
                    BLOCK_L=TILE_L)
    names = set(kernel.arg_names)
    consts = {k: v for k, v in defaults.items() if k in names}
    for name, value in constexprs.items():
        if name not in names:
            raise ValueError(f"{name}: not a parameter of {kernel.fn.__name__} (its "
                             f"constexprs: {sorted(k for k in names if k.isupper())})")
        if name.startswith("BLOCK"):      # tl.arange needs a power of two
            _power_of_two(name, _positive_int(name, value))
        consts[name] = value
    if num_warps is None:
        num_warps = TILE_WARPS if tiled else 4
    num_warps = _power_of_two("num_warps", _positive_int("num_warps", num_warps))
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError("aot_compile: TRITON_INTERPRET=1 in this process; run it in a "
                           "process with TRITON_INTERPRET=0")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    src = ASTSource(kernel, _signature(kernel, dtype, consts), consts)
    return triton.compile(src, target=GPUTarget(*target), options=dict(num_warps=num_warps))


def resource_usage(compiled):
    """Registers per thread and stack bytes (spills) of an ``aot_compile``d kernel.

    Read from its cubin by ``cuobjdump -res-usage`` (shipped in the triton wheel); returns
    a dict like {"REG": 178, "STACK": 0, "SHARED": 1024}. STACK > 0 means the tile did
    not fit in registers and spills to local memory (slow on a GPU).
    """
    import re
    import subprocess
    import tempfile
    from pathlib import Path

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.TemporaryDirectory() as tmp:
        cubin = Path(tmp) / "kernel.cubin"
        cubin.write_bytes(compiled.asm["cubin"])
        out = subprocess.run([str(tool), "-res-usage", str(cubin)], capture_output=True,
                             text=True, check=True).stdout
    return {k: int(v) for k, v in re.findall(r"(REG|STACK|SHARED):(\d+)", out)}
