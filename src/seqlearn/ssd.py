"""Mamba-2 (chapter 9): structured state space duality (SSD), three ways, and its block.

A selective SSM whose decay is one scalar per head (Dao & Gu 2024, "Transformers are
SSMs"). Per batch b and head h, with head_dim P channels x_t (P,) sharing one decay and
one pair B_t, C_t (N,) of the head's group:

    a_t = exp(dt_t A)                            a scalar in (0, 1]; A <= 0 per head
    h_t = a_t h_{t-1} + dt_t x_t B_t^T,  h_{-1} = 0      h_t : (P, N)
    y_t = h_t C_t                                 y_t : (P,)

(the paper writes the state as (N, P), h_t = a_t h_{t-1} + B_t x_t^T, the transpose of
ours; we keep the layout of Mamba-2's code, state (batch, heads, head_dim, d_state)). Unrolled, y_t = sum_{s<=t} L_ts (C_t . B_s) dt_s x_s
with the 1-semiseparable mask L_ts = a_{s+1} ... a_t = exp(sum_{k=s+1}^{t} dt_k A) for
s <= t and 0 above the diagonal: Y = (L o C B^T) (dt X), masked linear attention with
queries C, keys B and values dt X.

A = 0 is allowed and means no decay (a_t = 1): with dt = 1, B = phi(K), C = phi(Q),
X = V, SSD is the numerator of chapter 2's causal linear attention (``linear_attention``).

Layout of Mamba-2's ``mamba_chunk_scan_combined`` (state-spaces/mamba):
    X : (batch, L, heads, head_dim)     dt : (batch, L, heads), >= 0, already the step
    A : (heads,), <= 0                  B, C : (batch, L, groups, d_state)
    heads a multiple of groups; head k uses group k // (heads // groups).
    state : (batch, heads, head_dim, d_state)

Backends of ``ssd_scan`` (one API, one set of tests comparing them):
    "numpy"      the recurrence, a loop over t that reads like the equations (float64)
    "quadratic"  the attention form Y = (L o C B^T)(dt X), O(L^2) per head (NumPy, float64)
    "torch"      the chunked algorithm (autograd, float32 or float64): time cut into chunks
                 of chunk_size; (1) inside each chunk the quadratic form (small masked
                 matmuls); (2) each chunk's final state from its inputs; (3) the states
                 passed from chunk to chunk (a scan over L / chunk_size chunks); (4) each
                 chunk's output from the state that entered it. Almost all work is matmuls.

NaN or inf in the data (X, dt, B, C) propagates to the outputs; A must be finite and <= 0.

Glossary (code name -> symbol in Dao & Gu 2024):
    X            -> X, the input (x in the Mamba-2 block, after conv and SiLU), P per head
    dt           -> Delta, the step (softplus(dt_proj + dt_bias) in the block)
    A, A_log     -> A = -exp(A_log), one scalar per head (the "scalar times identity" A)
    dA           -> Delta A = log a, the log decay
    B, C         -> B, C (keys and queries of the attention form), shared within a group
    L (the mask) -> L, the 1-semiseparable matrix (``semiseparable_mask``)
    heads, head_dim, groups, d_state -> H, P, G, N;  chunk_size -> Q (the block length)
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqlearn._checks import (affordable, dense_tensor, finite, function, integer,
                              layer_input, numeric_array, option, positive)
from seqlearn.attention import elu_feature_map
from seqlearn.mamba import RMSNorm, inverse_softplus
from seqlearn._scan_checks import _block_state, _shape_str

BACKENDS = ("numpy", "quadratic", "torch")
DEFAULT_CHUNK = 64


# ---------------------------------------------------------------- validation
def _as_arrays(args, is_torch, first):
    """NumPy float64 arrays, or torch tensors of the dtype and device of ``first``."""
    if not is_torch:
        return {k: numeric_array(k, v) for k, v in args.items()}
    ref = args[first]
    if not isinstance(ref, torch.Tensor) or ref.dtype not in (torch.float32, torch.float64):
        got = ref.dtype if isinstance(ref, torch.Tensor) else type(ref).__name__
        raise ValueError(f"{first}: expected a torch tensor of dtype torch.float32 or "
                         f"torch.float64, got {got}")
    for name, value in args.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{name}: expected a torch tensor (like {first}), "
                             f"got {type(value).__name__}")
        dense_tensor(name, value)
        if value.dtype != ref.dtype or value.device != ref.device:
            raise ValueError(f"{name}: expected dtype {ref.dtype} on {ref.device} (like "
                             f"{first}), got {value.dtype} on {value.device}")
    return args


def _check_A(A, heads):
    if tuple(A.shape) != (heads,):
        raise ValueError(f"A: expected shape (heads,) = ({heads},), got {_shape_str(A.shape)}")
    if isinstance(A, torch.Tensor):
        A = A.detach()
    finite("A", A, "finite entries <= 0")
    top = float(A.max())
    if top > 0:
        raise ValueError(f"A: expected entries <= 0 (a decay a = exp(dt A) <= 1; A = 0 means "
                         f"no decay), got a largest entry {top}")


def _check_dt(dt):
    if bool((dt < 0).any()):
        raise ValueError(f"dt: expected steps >= 0, got a smallest entry {float(dt.min())}")


def _check_scan(X, dt, A, B, C):
    if X.ndim != 4 or 0 in X.shape:
        raise ValueError(f"X: expected a non-empty (batch, L, heads, head_dim), got shape "
                         f"{_shape_str(X.shape)}")
    batch, L, heads, P = X.shape
    if tuple(dt.shape) != (batch, L, heads):
        raise ValueError(f"dt: expected shape (batch, L, heads) = ({batch}, {L}, {heads}), "
                         f"got {_shape_str(dt.shape)}")
    _check_A(A, heads)
    _check_BC(B, C, (batch, L), "(batch, L, groups, d_state)", heads)
    _check_dt(dt)
    affordable("X", batch * L * heads * P * B.shape[-1], what="state numbers over time")


def _check_BC(B, C, lead, axes, heads, names=("B", "C")):
    nb, nc = names
    n = len(lead)
    if B.ndim != n + 2 or tuple(B.shape[:n]) != tuple(lead) or 0 in B.shape:
        raise ValueError(f"{nb}: expected shape {axes} with {_shape_str(lead)} first, got "
                         f"{_shape_str(B.shape)}")
    groups = B.shape[-2]
    if heads % groups:
        raise ValueError(f"{nb}: expected groups dividing heads = {heads}, got {groups} groups")
    if tuple(C.shape) != tuple(B.shape):
        raise ValueError(f"{nc}: expected shape {_shape_str(B.shape)} like {nb}, got "
                         f"{_shape_str(C.shape)}")


# ---------------------------------------------------------------- the semiseparable mask
def semiseparable_mask(dA):
    """The 1-semiseparable mask of one head, from the log decays dA_t = dt_t A (<= 0):

        L[t, s] = exp(dA_{s+1} + ... + dA_t) = a_{s+1} ... a_t   for s <= t  (1 on the diagonal)
        L[t, s] = 0                                                for s > t

    dA : (..., L), finite or -inf (a = 0); NumPy array-like or torch tensor
    returns (..., L, L) of the same kind. Sums of dA, never ratios of cumulative products,
    so nothing overflows for long L (Mamba-2's ``segsum``). NaN in dA is refused.
    """
    is_torch = isinstance(dA, torch.Tensor)
    x = dA if is_torch else torch.from_numpy(numeric_array("dA", dA, min_ndim=1,
                                                           what="an array (..., L)"))
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"dA: expected an array (..., L) with L >= 1, got shape "
                         f"{_shape_str(x.shape)}")
    if is_torch and x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dA: expected dtype torch.float32 or torch.float64, got {x.dtype}")
    affordable("dA", x.numel() * x.shape[-1])
    if bool(torch.isnan(x).any()):
        raise ValueError("dA: expected log decays <= 0 (or -inf), got NaN")
    if bool((x > 0).any()):
        raise ValueError(f"dA: expected log decays <= 0 (dt A with A <= 0), got a largest "
                         f"entry {float(x.max())}")
    out = _mask(x)
    return out if is_torch else out.numpy()


def _mask(dA):
    """``semiseparable_mask``, unchecked (torch). Row t, column s: the sum over k in
    (s, t] of dA_k, built as a cumsum down the columns of dA_k masked to k > s."""
    L = dA.shape[-1]
    x = dA[..., :, None].expand(*dA.shape, L)                            # x[t, s] = dA_t
    below = torch.tril(torch.ones(L, L, dtype=torch.bool, device=dA.device), -1)
    segsum = torch.cumsum(x.masked_fill(~below, 0), dim=-2)              # sum_{s<k<=t} dA_k
    keep = torch.tril(torch.ones(L, L, dtype=torch.bool, device=dA.device))
    return torch.exp(segsum.masked_fill(~keep, -math.inf))


# ---------------------------------------------------------------- the three SSD forms
def ssd_scan(X, dt, A, B, C, chunk_size=DEFAULT_CHUNK, backend="torch",
             return_final_state=False):
    """Y = SSD(X): per head h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T, y_t = h_t C_t.

    X : (batch, L, heads, head_dim);  dt : (batch, L, heads), >= 0;  A : (heads,), <= 0
    (A = 0: no decay);  B, C : (batch, L, groups, d_state), groups dividing heads.
    chunk_size : int >= 1, the block length Q of the "torch" backend (any L: the last chunk
        is padded with dt = 0, which leaves the state unchanged).
    backend : "numpy" (the loop), "quadratic" (the masked attention form), both NumPy
        float64 on array-likes; "torch" (the chunked algorithm) on torch tensors of one
        dtype (float32 or float64) and device, with autograd.
    Returns Y (batch, L, heads, head_dim), or (Y, final state (batch, heads, head_dim,
    d_state)) with ``return_final_state``. NaN or inf in X, dt, B, C pass through.

    NaN: with backend "quadratic" or "torch", a NaN or inf at one step makes every
    output NaN in its head, earlier steps too: the causal mask multiplies it by 0, and 0
    * NaN = NaN (IEEE 754); backend "numpy" (a scan) keeps it causal.
    """
    option("backend", backend, BACKENDS)
    chunk_size = integer("chunk_size", chunk_size)
    if not isinstance(return_final_state, (bool, np.bool_)):
        raise ValueError(f"return_final_state: expected True or False, got "
                         f"{return_final_state!r}")
    args = _as_arrays(dict(X=X, dt=dt, A=A, B=B, C=C), backend == "torch", "X")
    _check_scan(**args)
    X, dt, A, B, C = (args[k] for k in ("X", "dt", "A", "B", "C"))
    batch, L, heads = X.shape[:3]
    if backend == "quadratic":
        affordable("X", batch * heads * L * L, what="mask entries (batch heads L^2) of the "
                   "quadratic form")
    elif backend == "torch":
        _chunk_cost(batch, heads, L, chunk_size)
    if backend == "torch":
        Y, h = _ssd_chunked(X, dt, A, B, C, chunk_size)
    elif backend == "numpy":
        Y, h = _ssd_loop(X, dt, A, B, C)
    else:
        Y, h = _ssd_quadratic(X, dt, A, B, C)
    return (Y, h) if return_final_state else Y


def _heads(B, heads):
    """B (..., groups, N) -> (..., heads, N): head k reads group k // (heads // groups)."""
    rep = heads // B.shape[-2]
    if isinstance(B, torch.Tensor):
        return B.repeat_interleave(rep, dim=-2)
    return np.repeat(B, rep, axis=-2)


def _ssd_loop(X, dt, A, B, C):
    """The recurrence, one step per t (NumPy). Unchecked: behind ``ssd_scan``."""
    batch, L, heads, P = X.shape
    Bh, Ch = _heads(B, heads), _heads(C, heads)
    h = np.zeros((batch, heads, P, B.shape[-1]))
    Y = np.zeros(X.shape)
    for t in range(L):
        h, Y[:, t] = _step(h, X[:, t], dt[:, t], A, Bh[:, t], Ch[:, t], np.exp)
    return Y, h


def _step(h, x_t, dt_t, A, B_t, C_t, exp):
    """h = exp(dt A) h + dt x B^T, y = h C; B_t, C_t already per head. Unchecked."""
    a = exp(dt_t * A)[..., None, None]                                    # (batch, heads, 1, 1)
    h = a * h + (dt_t[..., None] * x_t)[..., None] * B_t[..., None, :]   # (batch, heads, P, N)
    return h, (h * C_t[..., None, :]).sum(-1)


def _ssd_quadratic(X, dt, A, B, C):
    """Y = (L o C B^T)(dt X) per head, with the full L x L mask (NumPy). Unchecked."""
    heads = X.shape[2]
    Bh, Ch = _heads(B, heads), _heads(C, heads)
    dA = np.moveaxis(dt * A, 1, -1)                                       # (batch, heads, L)
    Lmask = _mask(torch.from_numpy(dA)).numpy()                           # (batch, heads, L, L)
    scores = np.einsum("bthn,bshn->bhts", Ch, Bh) * Lmask
    Y = np.einsum("bhts,bshp->bthp", scores, dt[..., None] * X)
    # the final state: h_{L-1} = sum_s L[L-1, s] dt_s x_s B_s^T
    h = np.einsum("bhs,bshp,bshn->bhpn", Lmask[:, :, -1, :], dt[..., None] * X, Bh)
    return Y, h


def _chunk_cost(batch, heads, L, chunk_size):
    """Refuse a chunk length whose masks, batch heads (L / Q) Q^2 numbers with
    Q = min(chunk_size, L), could not fit: the chunked form's largest tensors."""
    Q = min(chunk_size, L)
    affordable("chunk_size", batch * heads * (-(-L // Q)) * Q * Q,
               what="mask entries (batch heads chunks chunk_size^2) of the chunked form")


def _ssd_chunked(X, dt, A, B, C, chunk_size):
    """The chunked SSD algorithm (torch, autograd). Unchecked: behind ``ssd_scan``.

    With c chunks of length Q and, inside chunk j, the cumulative log decay
    cum_l = dA_0 + ... + dA_l (l = 0 .. Q-1):
        (1) Y_diag  = (L_j o C B^T)(dt X) within the chunk             small masked matmuls
        (2) S_j     = sum_l exp(cum_{Q-1} - cum_l) dt_l x_l B_l^T      the chunk's own state
        (3) H_j     = the state entering chunk j: H_0 = 0,
                      H_{j+1} = exp(cum_{Q-1}) H_j + S_j               a scan over chunks
        (4) Y_off_l = exp(cum_l) H_j C_l                                the past, via the state
    Y = Y_diag + Y_off; the final state is H_c.
    """
    batch, L, heads, P = X.shape
    Q = min(chunk_size, L)
    pad = (-L) % Q
    Bh, Ch = _heads(B, heads), _heads(C, heads)
    if pad:  # dt = 0 on the padding: a = 1 and no input, the state is unchanged
        X, dt, Bh, Ch = (F.pad(t, (0, 0) * (t.ndim - 2) + (0, pad)) for t in (X, dt, Bh, Ch))
    c = X.shape[1] // Q
    Xd = (X * dt[..., None]).unflatten(1, (c, Q))                         # (b, c, Q, h, P)
    Bh, Ch = Bh.unflatten(1, (c, Q)), Ch.unflatten(1, (c, Q))             # (b, c, Q, h, N)
    dA = (dt * A).unflatten(1, (c, Q)).permute(0, 3, 1, 2)                # (b, h, c, Q)
    cum = torch.cumsum(dA, dim=-1)
    # (1) diagonal blocks
    Lmask = _mask(dA)                                                     # (b, h, c, Q, Q)
    scores = torch.einsum("bclhn,bcshn->bhcls", Ch, Bh) * Lmask
    Y_diag = torch.einsum("bhcls,bcshp->bclhp", scores, Xd)
    # (2) each chunk's final state from its own inputs
    decay_to_end = torch.exp(cum[..., -1:] - cum)                         # (b, h, c, Q)
    S = torch.einsum("bhcl,bclhp,bclhn->bchpn", decay_to_end, Xd, Bh)
    # (3) pass the states between chunks: H_j = sum_{i<j} exp(sum of chunk totals) S_i
    totals = F.pad(cum[..., -1], (1, 0))                                  # (b, h, c + 1)
    chunk_mask = _mask(totals)                                            # (b, h, c+1, c+1)
    S = torch.cat([torch.zeros_like(S[:, :1]), S], dim=1)                 # (b, c + 1, h, P, N)
    H = torch.einsum("bhzc,bchpn->bzhpn", chunk_mask, S)
    # (4) the state entering each chunk, read out at every position
    Y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", Ch, H[:, :-1], torch.exp(cum))
    Y = (Y_diag + Y_off).flatten(1, 2)[:, :L]
    return Y, H[:, -1]


def ssd_step(state, x_t, dt_t, A, B_t, C_t):
    """One token of SSD: h = exp(dt_t A) h + dt_t x_t B_t^T, y_t = h C_t (per head).

    NumPy arrays or torch tensors (the result has the same kind):
    state : (batch, heads, head_dim, d_state);  x_t : (batch, heads, head_dim)
    dt_t : (batch, heads), >= 0;  A : (heads,), <= 0;  B_t, C_t : (batch, groups, d_state)
    Returns (y_t (batch, heads, head_dim), new state). NaN or inf in the data (state, x_t,
    dt_t, B_t, C_t) pass through.
    """
    is_torch = isinstance(state, torch.Tensor)
    args = _as_arrays(dict(state=state, x_t=x_t, dt_t=dt_t, A=A, B_t=B_t, C_t=C_t),
                      is_torch, "state")
    state, x_t, dt_t, A, B_t, C_t = (args[k] for k in ("state", "x_t", "dt_t", "A", "B_t",
                                                        "C_t"))
    if state.ndim != 4 or 0 in state.shape:
        raise ValueError(f"state: expected a non-empty (batch, heads, head_dim, d_state), got "
                         f"shape {_shape_str(state.shape)}")
    batch, heads, P, N = state.shape
    if tuple(x_t.shape) != (batch, heads, P):
        raise ValueError(f"x_t: expected shape (batch, heads, head_dim) = ({batch}, {heads}, "
                         f"{P}), got {_shape_str(x_t.shape)}")
    if tuple(dt_t.shape) != (batch, heads):
        raise ValueError(f"dt_t: expected shape (batch, heads) = ({batch}, {heads}), got "
                         f"{_shape_str(dt_t.shape)}")
    _check_A(A, heads)
    _check_BC(B_t, C_t, (batch,), "(batch, groups, d_state)", heads, ("B_t", "C_t"))
    if B_t.shape[-1] != N:
        raise ValueError(f"B_t: expected d_state = {N} (the state's), got {B_t.shape[-1]}")
    if bool((dt_t < 0).any()):
        raise ValueError(f"dt_t: expected steps >= 0, got a smallest entry {float(dt_t.min())}")
    h, y = _step(state, x_t, dt_t, A, _heads(B_t, heads), _heads(C_t, heads),
                 torch.exp if is_torch else np.exp)
    return y, h


def linear_attention(Q, K, V, feature_map=elu_feature_map, decay=0.0):
    """Causal linear attention computed by SSD (NumPy, float64), the duality of chapter 9:

        y_i = sum_{j<=i} g^{i-j} (phi(q_i) . phi(k_j)) v_j / sum_{j<=i} g^{i-j} phi(q_i) . phi(k_j)

    with g = exp(-decay): ``ssd_scan`` with one head, dt = 1, A = -decay, B = phi(K),
    C = phi(Q), and X = [V, 1] (the column of ones yields the normaliser).
    decay = 0 is chapter 2's ``linear_attention_parallel(Q, K, V, causal=True)``;
    decay > 0 is a RetNet-style fixed decay (there without a normaliser).

    Q, K : (batch, L, d_k);  V : (batch, L, d_v);  feature_map : phi, (..., d_k) -> (..., d_phi)
    decay : float >= 0.  Returns Y (batch, L, d_v). NaN or inf in Q, K, V pass through.
    """
    Q, K, V = (numeric_array(n, v) for n, v in (("Q", Q), ("K", K), ("V", V)))
    if Q.ndim != 3 or 0 in Q.shape:
        raise ValueError(f"Q: expected a non-empty (batch, L, d_k), got {_shape_str(Q.shape)}")
    if K.shape != Q.shape:
        raise ValueError(f"K: expected shape {_shape_str(Q.shape)} like Q, got "
                         f"{_shape_str(K.shape)}")
    if V.ndim != 3 or V.shape[:2] != Q.shape[:2] or V.shape[2] == 0:
        raise ValueError(f"V: expected shape (batch, L, d_v) = ({Q.shape[0]}, {Q.shape[1]}, "
                         f"d_v), got {_shape_str(V.shape)}")
    function("feature_map", feature_map, "a function (..., d_k) -> (..., d_phi)")
    decay = positive("decay", decay, allow_zero=True)
    phi_Q = numeric_array("feature_map", feature_map(Q))
    phi_K = numeric_array("feature_map", feature_map(K))
    if phi_Q.shape[:2] != Q.shape[:2] or phi_Q.ndim != 3 or phi_K.shape != phi_Q.shape:
        raise ValueError(f"feature_map: expected (batch, L, d_k) -> (batch, L, d_phi), got "
                         f"{_shape_str(Q.shape)} -> {_shape_str(phi_Q.shape)}")
    batch, L, _ = Q.shape
    affordable("Q", batch * L * L, what="mask entries (batch L^2) of the quadratic form")
    X = np.concatenate([V, np.ones((batch, L, 1))], axis=-1)[:, :, None]   # one head
    Y = ssd_scan(X, np.ones((batch, L, 1)), np.array([-decay]), phi_K[:, :, None],
                 phi_Q[:, :, None], backend="quadratic")[:, :, 0]
    return Y[..., :-1] / Y[..., -1:]


# ---------------------------------------------------------------- the Mamba-2 block
class Mamba2Block(nn.Module):
    """The Mamba-2 block (Dao & Gu 2024, Fig. 6), x (batch, L, d_model) -> (batch, L, d_model):

        z, xBC, dt = in_proj(x)        one projection, in parallel: z, x (d_inner each),
                                       B, C (groups d_state each), dt (heads)
        x, B, C = silu(conv1d(xBC))    causal depthwise conv over x, B and C together
        dt = softplus(dt + dt_bias)    (batch, L, heads)
        y = ssd_scan(x, dt, A, B, C) + D x      heads = d_inner / head_dim, A = -exp(A_log)
        out = out_proj(RMSNorm(y * silu(z)))    the norm before the output projection

    Against ``MambaBlock``: A is one scalar per head (not a (d, n) matrix), B, C and dt come
    from the block's input (not from x after the conv through x_proj and dt_proj), B and C
    are shared by the heads of a group, and a norm precedes out_proj.
    A_log = log U(1, 16) per head; dt_bias = softplus^{-1}(LogUniform(dt_min, dt_max)).

    NaN: a NaN or inf at one step makes every output NaN, earlier steps too: the chunked
    SSD multiplies it by its causal mask's zeros, and 0 * NaN = NaN (IEEE 754); ``step``
    keeps it causal.
    """

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, head_dim=16, n_groups=1,
                 chunk_size=DEFAULT_CHUNK, dt_min=1e-3, dt_max=1e-1):
        super().__init__()
        self.d_model = integer("d_model", d_model)
        self.d_state = integer("d_state", d_state)
        self.d_conv = integer("d_conv", d_conv)
        self.d_inner = integer("expand", expand) * self.d_model
        self.head_dim = integer("head_dim", head_dim)
        self.n_groups = integer("n_groups", n_groups)
        self.chunk_size = integer("chunk_size", chunk_size, maximum=10**6)
        if self.d_inner % self.head_dim:
            raise ValueError(f"head_dim: expected a divisor of d_inner = expand d_model = "
                             f"{self.d_inner}, got {self.head_dim}")
        self.heads = self.d_inner // self.head_dim
        if self.heads % self.n_groups:
            raise ValueError(f"n_groups: expected a divisor of heads = {self.heads}, got "
                             f"{self.n_groups}")
        dt_min, dt_max = positive("dt_min", dt_min), positive("dt_max", dt_max)
        if dt_min < np.finfo(np.float32).tiny:   # the step bias is a float32 parameter
            raise ValueError(f"dt_min: expected a step >= 1.2e-38 (float32's smallest normal "
                             f"number; softplus^-1 of less is -inf), got {dt_min}")
        if not dt_min <= dt_max <= 1e3:
            raise ValueError(f"dt_max: expected a step in [dt_min = {dt_min}, 1000], got {dt_max}")
        self.conv_dim = self.d_inner + 2 * self.n_groups * self.d_state
        d_in_proj = self.d_inner + self.conv_dim + self.heads
        affordable("d_model", self.d_model * (d_in_proj + self.d_inner)
                   + self.conv_dim * self.d_conv, what="parameters")
        self.in_proj = nn.Linear(self.d_model, d_in_proj, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, self.d_conv,
                                groups=self.conv_dim, padding=self.d_conv - 1)
        dt = torch.exp(torch.rand(self.heads) * (math.log(dt_max) - math.log(dt_min))
                       + math.log(dt_min))
        self.dt_bias = nn.Parameter(inverse_softplus(dt))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.heads).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm = RMSNorm(self.d_inner)
        self.out_proj = nn.Linear(self.d_inner, self.d_model, bias=False)

    def _split(self, zxbcdt):
        return zxbcdt.split([self.d_inner, self.conv_dim, self.heads], dim=-1)

    def _ssm_inputs(self, xBC, dt):
        """x (..., heads, head_dim), B, C (..., groups, d_state), dt (..., heads)."""
        x, B, C = xBC.split([self.d_inner, self.n_groups * self.d_state,
                             self.n_groups * self.d_state], dim=-1)
        return (x.unflatten(-1, (self.heads, self.head_dim)),
                B.unflatten(-1, (self.n_groups, self.d_state)),
                C.unflatten(-1, (self.n_groups, self.d_state)),
                F.softplus(dt + self.dt_bias))

    def _finish(self, y, x, z):
        y = (y + self.D[:, None] * x).flatten(-2)
        return self.out_proj(self.norm(y * F.silu(z)))

    def forward(self, x):
        """x (batch, L, d_model) -> (batch, L, d_model); NaN or inf in x pass through."""
        layer_input("x", x, "(batch, L, d_model)", self.d_model, self.A_log)
        L = x.shape[1]
        z, xBC, dt = self._split(self.in_proj(x))
        xBC = F.silu(self.conv1d(xBC.transpose(1, 2))[..., :L].transpose(1, 2))
        xs, B, C, dt = self._ssm_inputs(xBC, dt)
        _chunk_cost(x.shape[0], self.heads, L, self.chunk_size)
        y = _ssd_chunked(xs, dt, -torch.exp(self.A_log), B, C, self.chunk_size)[0]
        return self._finish(y, xs, z)

    def initial_state(self, batch):
        """(conv_state (batch, conv_dim, d_conv), ssm_state (batch, heads, head_dim,
        d_state)), zeros; conv_dim = d_inner + 2 n_groups d_state."""
        batch = integer("batch", batch)
        affordable("batch", batch * (self.conv_dim * self.d_conv + self.d_inner * self.d_state),
                   what="state numbers")
        w = self.A_log
        return (w.new_zeros(batch, self.conv_dim, self.d_conv),
                w.new_zeros(batch, self.heads, self.head_dim, self.d_state))

    def step(self, x_t, state):
        """One token: x_t (batch, d_model) -> (out (batch, d_model), new state); constant
        memory per token (the conv's last d_conv inputs and the (P, N) state per head).
        NaN or inf in x_t pass through."""
        layer_input("x_t", x_t, "(batch, d_model)", self.d_model, self.A_log)
        batch = x_t.shape[0]
        conv_state, h = _block_state(state, (batch, self.conv_dim, self.d_conv),
                                    (batch, self.heads, self.head_dim, self.d_state),
                                    self.A_log.dtype)
        z, xBC, dt = self._split(self.in_proj(x_t))
        conv_state = torch.cat([conv_state[..., 1:], xBC[..., None]], dim=-1)
        xBC = F.silu((conv_state * self.conv1d.weight[:, 0, :]).sum(-1) + self.conv1d.bias)
        xs, B, C, dt = self._ssm_inputs(xBC, dt)
        A = -torch.exp(self.A_log)
        h, y = _step(h, xs, dt, A, _heads(B, self.heads), _heads(C, self.heads), torch.exp)
        return self._finish(y, xs, z), (conv_state, h)
