"""S4 and S4D (chapter 6): structured state space kernels, fast, and the layers built on them.

    continuous   x'(t) = A x(t) + B u(t),   y(t) = C x(t) + D u(t)
    discrete     x_k = Ab x_{k-1} + Bb u_k,  y_k = C x_k + D u_k     (``seqlearn.discretize``)
    kernel       K[k] = C Ab^k Bb,  k = 0 .. L-1,   y = K * u + D u   (``seqlearn.ssm``)

NPLR (Gu, Goel, Re 2022, "S4"): a HiPPO matrix is normal plus low rank,

    A = V diag(Lambda) V^* - P P^*,    V unitary,
    so  V^* A V = diag(Lambda) - Pt Pt^*   (DPLR, Pt = V^* P), a conjugation that keeps K.

    legs  P_n = sqrt(n + 1/2) (rank 1):  A + P P^T = -I/2 + S, S skew-symmetric
    legt  P = (r_even, r_odd) (rank 2, r_n = sqrt(2n + 1) on n of that parity, else 0):
          A + P^T P = S skew-symmetric (Re Lambda = 0)

S4's kernel, for A = diag(Lambda) - P Q^* and the bilinear discretisation (Algorithm 1).
The truncated generating function at the L-th roots of unity z_j = exp(-2 pi i j / L):

    Khat(z) = sum_{k<L} K[k] z^k = Ct (I - Ab z)^{-1} Bb,       Ct = C (I - Ab^L)  (z^L = 1)
            = 2 / (1 + z) * Ct (g I - A)^{-1} B,                g = (2 / dt) (1 - z) / (1 + z)
    (g I - A)^{-1} = R - R P (I + Q^* R P)^{-1} Q^* R,          R = diag(1 / (g - Lambda_n))
    so with the Cauchy kernel k(v)(g) = sum_n v_n / (g - Lambda_n)  (``cauchy``):
    Khat = 2 / (1 + z) [k(Ct B) - k(Ct P) (I + k(Q^* P))^{-1} k(Q^* B)],   K = ifft(Khat)

S4D (Gu, Gupta, Goel, Re 2022): A diagonal, K[k] = sum_n C_n Bb_n Ab_n^k, a Vandermonde
product; with conjugate pairs kept once (N/2 modes), K = 2 Re(sum over the kept modes).

    s4d_lin  A_n = -1/2 + i pi n
    s4d_inv  A_n = -1/2 + i (N / pi) (N / (2n + 1) - 1),   n = 0 .. N-1 (N modes kept)

NaN or inf in data (the input u, u_t, the state) pass through to the outputs; NaN or inf
in a parameter given as an argument (Lambda, P, Q, B, C, A_diag, the log-parameters of
``s4d_kernel_torch``) is refused. The layers check their inputs (dtype = the parameters',
L >= 1), not their own parameters.

Glossary (code name -> symbol):
    kind              -> the HiPPO measure ("legs", "legt"), ``seqlearn.hippo``
    Lambda            -> the eigenvalues Lambda_n of the normal part (N,)
    P, Q              -> the low-rank factors P, Q (N,) or (r, N): rows p_i, A = .. - sum p_i q_i^*
    V                 -> the unitary eigenvectors V (N, N)
    A_diag            -> a diagonal A (S4D), lambda_n
    B, C, D, dt, L    -> input, output row, feed-through, step Delta, kernel length
    Ct                -> C tilde = C (I - Ab^L)
    omega, v          -> the Cauchy kernel's evaluation points and numerators
    H, N              -> channels (d_model), state size (d_state)
"""

import math
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqlearn._checks import (MAX_EIG_SIZE, affordable, dense_tensor, finite, flag, integer, layer_input,
                               number, numeric_array, option, positive, torch_tensor)
from seqlearn.discretize import discretize_diag
from seqlearn.hippo import hippo_matrix

NPLR_KINDS = ("legs", "legt")
MAX_LAYERS = 1_000
"""The most layers a ``SequenceClassifier`` may stack."""


# ---------------------------------------------------------------- NPLR and the DPLR kernel
def nplr(kind, N):
    """The normal-plus-low-rank form of the HiPPO matrix A = hippo_matrix(kind, N)[0]:

        A = V diag(Lambda) V^* - P^T P^*     (for P (N,): A = V diag(Lambda) V^* - P P^*)

    kind : "legs" (rank 1) or "legt" (rank 2, theta = 1)
    N : int in [1, ``MAX_EIG_SIZE``]
    returns (Lambda, P, B, V) : Lambda (N,) complex128 (Re = -1/2 legs, 0 legt);
        P (N,) for legs, (2, N) for legt, float64; B (N,) the HiPPO B, float64;
        V (N, N) complex128 unitary. P and B are in the ORIGINAL (HiPPO) basis, not
        transformed: the DPLR system is (Lambda, V^* P, V^* P, V^* B, C V).
    """
    option("kind", kind, NPLR_KINDS)
    N = integer("N", N, maximum=MAX_EIG_SIZE)
    A, B = hippo_matrix(kind, N)
    n = np.arange(N)
    if kind == "legs":
        P = np.sqrt(n + 0.5)
        S = A + np.outer(P, P)
    else:
        r = np.sqrt(2 * n + 1.0)
        P = np.stack([np.where(n % 2 == 0, r, 0.0), np.where(n % 2 == 1, r, 0.0)])
        S = A + P.T @ P
    shift = np.trace(S) / N  # -1/2 (legs) or 0 (legt): S - shift I is skew-symmetric
    skew = S - shift * np.eye(N)
    w, V = np.linalg.eigh(1j * skew)  # i skew = V diag(w) V^*  ->  skew = V diag(-i w) V^*
    return shift - 1j * w, P, B, V


def cauchy(v, omega, Lambda):
    """The Cauchy kernel ``k[..., j] = sum_n v[..., n] / (omega[..., j] - Lambda[..., n])``.

    v : (..., N); omega : (..., M); Lambda : (..., N), broadcastable; all NumPy array-likes
        (real or complex), or all torch tensors (float or complex, on one device)
    returns k : (..., M), complex; O(M N) work, as a dense (M, N) sum. NaN or inf in the
        inputs, or omega_j = Lambda_n (a pole), give NaN or inf in the result.
    """
    names = ("v", "omega", "Lambda")
    args = (v, omega, Lambda)
    if any(isinstance(a, torch.Tensor) for a in args):
        for name, a in zip(names, args):
            if not isinstance(a, torch.Tensor) or not (a.is_floating_point() or a.is_complex()):
                got = a.dtype if isinstance(a, torch.Tensor) else type(a).__name__
                raise ValueError(f"{name}: expected a float or complex torch tensor (like the "
                                 f"other arguments), got {got}")
            if a.device != v.device:
                raise ValueError(f"{name}: expected a tensor on {v.device} (v's device), got "
                                 f"one on {a.device}")
    else:
        v, omega, Lambda = (numeric_array(name, a, allow_complex=True)
                            for name, a in zip(names, args))
    for name, a in zip(names, (v, omega, Lambda)):
        if a.ndim == 0:
            raise ValueError(f"{name}: expected an array with at least one axis, got a scalar")
    if v.shape[-1] != Lambda.shape[-1] and 1 not in (v.shape[-1], Lambda.shape[-1]):
        raise ValueError(f"Lambda: expected N = {v.shape[-1]} on the last axis (v's), got "
                         f"shape {tuple(Lambda.shape)}")
    try:
        shape = np.broadcast_shapes(tuple(v.shape[:-1]) + (1, v.shape[-1]),
                                    tuple(omega.shape) + (1,),
                                    tuple(Lambda.shape[:-1]) + (1, Lambda.shape[-1]))
    except ValueError:
        raise ValueError(f"omega: expected leading axes broadcastable with v's "
                         f"{tuple(v.shape)} and Lambda's {tuple(Lambda.shape)}, got "
                         f"{tuple(omega.shape)}") from None
    # two complex (..., M, N) temporaries (omega - Lambda, then v / it): four reals each
    affordable("omega", 4 * math.prod(shape), what="numbers (two complex (M, N) temporaries)")
    return _cauchy(v, omega, Lambda)


def _cauchy(v, omega, Lambda):
    """``cauchy``, unchecked."""
    return (v[..., None, :] / (omega[..., :, None] - Lambda[..., None, :])).sum(-1)



def _dplr_kernel_t(Lambda, P, Q, B, C, dt, L):
    """Torch core, unchecked. Lambda, B, C (H, N); P, Q (H, r, N); dt (H,) -> K (H, L).

    An even L is computed as the first L entries of the kernel of length L + 1. With L
    even, z = -1 is a node and Ab^L -> I as dt |A| grows (Ab's eigenvalues tend to -1), so
    C (I - Ab^L) cancels while the resolvent (I + Ab)^{-1} at that node blows up: the
    kernel lost about eps dt |A| relative accuracy (1.3e-6 at dt = 1e8, 3e-2 at 1e12 for
    LegS N = 8). With L + 1 odd, Ab^(L+1) -> -I and no node sits at z = -1."""
    if L % 2 == 0:
        return _dplr_kernel_t(Lambda, P, Q, B, C, dt, L + 1)[..., :L]
    N = Lambda.shape[-1]
    eye = torch.eye(N, dtype=Lambda.dtype)
    A = torch.diag_embed(Lambda) - torch.einsum("hrn,hrm->hnm", P, Q.conj())
    half = (dt / 2)[:, None, None].to(Lambda.dtype) * A
    Ab = torch.linalg.solve(eye - half, eye + half)
    Ct = C - torch.einsum("hn,hnm->hm", C, torch.linalg.matrix_power(Ab, L))
    angle = -2 * math.pi * torch.arange(L, dtype=dt.dtype) / L
    z = torch.polar(torch.ones_like(angle), angle)  # sin(pi) != 0: z is never exactly -1,
    g = (2 / dt[:, None]) * (1 - z) / (1 + z)       # so g is finite (node L/2: see below)
    Lam = Lambda[:, None, :]
    k00 = _cauchy(Ct * B, g, Lambda)                                      # (H, L)
    k01 = _cauchy(Ct[:, None, :] * P, g[:, None, :], Lam)                # (H, r, L)
    k10 = _cauchy(Q.conj() * B[:, None, :], g[:, None, :], Lam)          # (H, r, L)
    QP = Q.conj()[:, :, None, :] * P[:, None, :, :]                      # (H, r, r, N)
    k11 = _cauchy(QP, g[:, None, None, :], Lambda[:, None, None, :])     # (H, r, r, L)
    r = P.shape[1]
    M = torch.eye(r, dtype=Lambda.dtype) + k11.permute(0, 3, 1, 2)       # (H, L, r, r)
    sol = torch.linalg.solve(M, k10.permute(0, 2, 1)[..., None])[..., 0]  # (H, L, r)
    res = k00 - (k01.permute(0, 2, 1) * sol).sum(-1)
    return torch.fft.ifft(2 / (1 + z) * res, dim=-1)


def dplr_kernel(Lambda, P, Q, B, C, dt, L):
    """S4's kernel of the DPLR system A = diag(Lambda) - P Q^*, bilinear discretisation:

        K[k] = C Ab^k Bb,  k = 0 .. L-1,   Ab = (I - dt A/2)^{-1} (I + dt A/2),
        Bb = (I - dt A/2)^{-1} dt B,  by the Cauchy kernel + Woodbury at the L-th roots of
        unity (the (L+1)-th for an even L, see ``_dplr_kernel_t``), then an inverse FFT
        (module docstring). C is the plain output row: C tilde =
        C (I - Ab^L) is computed inside by a dense power of Ab (O(N^3 log L), fine for the
        N of a layer; S4's code learns C tilde directly instead).

    Lambda : (N,) complex, N >= 1;  P, Q : (N,) or (r, N), r >= 1,
        A = diag(Lambda) - sum_i P[i] Q[i]^*;  B, C : (N,)  (all finite)
    dt : float > 0;  L : int >= 1 (L N (1 + r)^2 at most ``MAX_ELEMENTS``)
    returns K : (L,) complex128 (real up to rounding when the system is similar to a real
        one, e.g. from ``nplr``; take .real)
    """
    Lambda = numeric_array("Lambda", Lambda, min_ndim=1, allow_complex=True)
    if Lambda.ndim != 1 or Lambda.shape[0] == 0:
        raise ValueError(f"Lambda: expected shape (N,) with N >= 1, got {Lambda.shape}")
    finite("Lambda", Lambda)
    N = Lambda.shape[0]
    out = []
    for name, X, shapes in (("P", P, 2), ("Q", Q, 2), ("B", B, 1), ("C", C, 1)):
        X = numeric_array(name, X, allow_complex=True)
        if X.ndim == 0 or X.ndim > shapes or X.shape[-1] != N or X.size == 0:
            want = f"({N},) or (r, {N}), r >= 1" if shapes == 2 else f"({N},)"
            raise ValueError(f"{name}: expected shape {want} (N = {N} from Lambda), "
                             f"got {X.shape}")
        finite(name, X)
        out.append(X.reshape(1, -1, N) if shapes == 2 else X.reshape(1, N))
    P, Q, B, C = out
    if P.shape != Q.shape:
        raise ValueError(f"Q: expected P's shape {P.shape[1:]}, got {Q.shape[1:]}")
    dt = positive("dt", dt)
    L = integer("L", L)
    affordable("L", L * N * (1 + P.shape[1]) ** 2)
    t = [torch.as_tensor(x, dtype=torch.complex128) for x in (Lambda[None], P, Q, B, C)]
    try:
        K = _dplr_kernel_t(*t, torch.tensor([dt], dtype=torch.float64), L)
    except torch.linalg.LinAlgError:
        raise ValueError(f"dt: expected a step with I - dt A / 2 and the Woodbury matrix "
                         f"invertible, got a singular one at dt = {dt}") from None
    return K[0].numpy()


# ---------------------------------------------------------------- S4D
def s4d_lin_init(N, alpha=1.0):
    """S4D-Lin: ``A_n = -1/2 + i alpha pi n``, n = 0 .. N-1 (N = modes kept, d_state / 2).

    alpha (chapter 8, Yu et al. 2025, "Tuning frequency bias"): scales the imaginary parts,
    the frequencies the modes sit at; alpha > 1 less low-frequency bias, alpha < 1 more.
    After discretisation mode n turns by alpha pi n dt radians per step: past pi (the
    Nyquist frequency) it aliases to a lower one, so ``S4DLayer`` warns there.

    N : int >= 1;  alpha : float > 0 (1: S4D-Lin as published)
    returns A_diag : (N,) complex128
    """
    n = np.arange(affordable("N", integer("N", N)))
    alpha = positive("alpha", alpha)
    return -0.5 + 1j * alpha * np.pi * n


def sobolev_filter(G, s, beta):
    """The Sobolev-norm filter of the transfer function (chapter 8; Yu et al. 2025,
    "Tuning frequency bias"): ``(1 + |s|)^beta G(i s)``. beta > 0 weights high
    frequencies more (less frequency bias, and the gradient kernel of Im a_j decays
    like |s - Im a_j|^{-2 + beta}); beta < 0 weights low frequencies more.

    G : complex array (...), samples of G(i s);  s : real array broadcastable with G,
        the frequencies;  beta : float (0: no filter)
    returns complex array, the broadcast shape
    """
    G = finite("G", numeric_array("G", G, allow_complex=True))
    s = finite("s", numeric_array("s", s))
    beta = number("beta", beta)
    try:
        return (1 + np.abs(s)) ** beta * G
    except ValueError:
        raise ValueError(f"s: expected a shape broadcastable with G {G.shape}, got "
                         f"{s.shape}") from None


def nyquist_margin(A_im, dt):
    """The fastest mode's turn per step over pi, ``max |Im A_n| dt / pi`` (chapter 8):
    above 1 that mode's discrete frequency exceeds Nyquist and aliases.

    A_im : array of imaginary parts (finite);  dt : float > 0 (the largest step used)
    returns float >= 0
    """
    A_im = finite("A_im", numeric_array("A_im", A_im, min_ndim=1))
    if A_im.size == 0:
        raise ValueError("A_im: expected at least one imaginary part, got an empty array")
    return float(np.abs(A_im).max() * positive("dt", dt) / np.pi)


def s4d_inv_init(N):
    """S4D-Inv: ``A_n = -1/2 + i (d / pi) (d / (2n + 1) - 1)``, n = 0 .. N-1, where N is the
    number of modes kept and d = 2N the state size (S4D keeps one mode of each conjugate
    pair). The formula uses the full state size d, as ``dplr(init='inv')`` in the S4
    code does: it approximates the imaginary parts of the LegS eigenvalues of size d
    (``nplr("legs", 2 * N)``), largest first; all are positive.

    returns A_diag : (N,) complex128
    """
    N = affordable("N", integer("N", N))
    d = 2 * N
    n = np.arange(N)
    return -0.5 + 1j * (d / np.pi) * (d / (2 * n + 1.0) - 1)


def s4d_kernel(A_diag, B, C, dt, L, method="zoh", conj_pairs=False):
    """The diagonal (S4D) kernel, a Vandermonde product:

        K[k] = sum_n C_n Bb_n Ab_n^k,   (Ab, Bb) = discretize_diag(A_diag, B, dt, method)
        conj_pairs=True: K[k] = 2 Re(sum_n ...), the kernel of the real system whose modes
        are A_diag and conj(A_diag) (B, C conjugated alike): S4D keeps N/2 modes so.

    A_diag : (..., N) real or complex;  B, C : broadcastable with it, e.g. (N,) or (H, N)
        (all finite)
    dt : float > 0, or an array broadcastable with A_diag (e.g. (H, 1))
    L : int >= 1;  method : as in ``seqlearn.discretize``;  conj_pairs : bool
    returns K : (..., L), complex128 if anything is complex and not conj_pairs, else float64
    """
    L = integer("L", L)
    conj_pairs = flag("conj_pairs", conj_pairs)
    A_diag = finite("A_diag", numeric_array("A_diag", A_diag, min_ndim=1,
                                            what="an array (..., N)", allow_complex=True))
    B = finite("B", numeric_array("B", B, allow_complex=True))
    C = finite("C", numeric_array("C", C, allow_complex=True))
    Ab, Bb = discretize_diag(A_diag, B, dt, method)
    try:
        shape = np.broadcast_shapes(C.shape, Bb.shape, Ab.shape)
    except ValueError:
        raise ValueError(f"C: expected a shape broadcastable with {Ab.shape}, "
                         f"got {C.shape}") from None
    affordable("L", math.prod(shape) * L)
    CB = np.broadcast_arrays(C * Bb, Ab)[0]
    # Ab^k as exp(k log Ab): one complex exponential per entry, about 5x faster than
    # complex ** (the official S4D kernel does the same with exp(dt A k)).
    k = np.arange(L)
    with np.errstate(divide="ignore", invalid="ignore"):
        powers = np.exp(np.log(Ab.astype(np.complex128))[..., None] * k)
    powers = np.where(Ab[..., None] == 0, k == 0, powers)  # 0^0 = 1, 0^k = 0
    K = (CB[..., None] * powers).sum(-2)
    if conj_pairs:
        return 2 * K.real
    return K if np.iscomplexobj(CB) or np.iscomplexobj(Ab) else K.real


# ---------------------------------------------------------------- torch layers
def _fft_conv(u, K):
    """Causal convolution y[b, k, h] = sum_j K[h, j] u[b, k - j, h], zero-padded FFT."""
    L = u.shape[1]
    uf = torch.fft.rfft(u.transpose(1, 2), n=2 * L)
    return torch.fft.irfft(uf * torch.fft.rfft(K, n=2 * L), n=2 * L)[..., :L].transpose(1, 2)


def s4d_kernel_torch(log_dt, log_A_re, A_im, C, L):
    """The S4DLayer kernel, ZOH, B = 1, conjugate pairs:

        A = -exp(log_A_re) + i A_im,  dt = exp(log_dt),
        K[h, k] = 2 Re sum_n C_n (exp(dt A_n) - 1) / A_n exp(k dt A_n)

    log_dt : (H,);  log_A_re, A_im : (H, N2);  C : (H, N2, 2) (real, imag): finite torch
        tensors of one float dtype (float32 or float64) and device
    L : int >= 1 (H N2 L at most ``MAX_ELEMENTS``)
    returns K : (H, L), real, of the parameters' dtype

    In float32 the exponents k dt A_n (up to L dt |A_n|: thousands of radians at long L)
    are formed in float64 and exp(k dt A_n) rounded to complex64 only then: formed in
    float32, their rounding error, k dt |A_n| eps, reached 1e-2 of K at L = 1e5 with weak
    damping (Re A = -1e-6, dt = 0.1); now float32 keeps ~1e-7.
    (On Apple's MPS, which has no float64, they stay in float32.)
    """
    torch_tensor("log_dt", log_dt, ndim=1, axes="(H,)")
    H, dtype = log_dt.shape[0], log_dt.dtype
    torch_tensor("log_A_re", log_A_re, ndim=2, dtype=dtype, axes=f"(H, N2) with H = {H}")
    N2 = log_A_re.shape[1]
    for name, x, shape in (("log_A_re", log_A_re, (H, N2)), ("A_im", A_im, (H, N2)),
                           ("C", C, (H, N2, 2))):
        torch_tensor(name, x, ndim=len(shape), dtype=dtype, axes=f"of shape {shape}")
        if tuple(x.shape) != shape:
            raise ValueError(f"{name}: expected a tensor of shape {shape} (H from log_dt, "
                             f"N2 from log_A_re), got {tuple(x.shape)}")
        if x.device != log_dt.device:
            raise ValueError(f"{name}: expected a tensor on {log_dt.device} (log_dt's "
                             f"device), got one on {x.device}")
    for name, x in (("log_dt", log_dt), ("log_A_re", log_A_re), ("A_im", A_im), ("C", C)):
        finite(name, x)
    L = integer("L", L)
    affordable("L", H * N2 * L)
    return _s4d_kernel_t(log_dt, log_A_re, A_im, C, L)


def _s4d_kernel_t(log_dt, log_A_re, A_im, C, L):
    """``s4d_kernel_torch``, unchecked."""
    A = torch.complex(-torch.exp(log_A_re), A_im)
    dtA = A * torch.exp(log_dt)[:, None]
    CB = torch.view_as_complex(C.contiguous()) * torch.expm1(dtA) / A
    if log_dt.dtype == torch.float32 and log_dt.device.type != "mps":
        A64 = torch.complex(-torch.exp(log_A_re.double()), A_im.double())
        dtA64 = A64 * torch.exp(log_dt.double())[:, None]
        k = torch.arange(L, dtype=torch.float64, device=log_dt.device)
        powers = torch.exp(dtA64[..., None] * k).to(CB.dtype)
    else:
        k = torch.arange(L, dtype=log_dt.dtype, device=log_dt.device)
        powers = torch.exp(dtA[..., None] * k)
    return 2 * (CB[..., None] * powers).sum(-2).real


def _dt_range(dt_min, dt_max):
    dt_min, dt_max = positive("dt_min", dt_min), positive("dt_max", dt_max)
    if dt_max < dt_min:
        raise ValueError(f"dt_max: expected a value >= dt_min = {dt_min}, got {dt_max}")
    return dt_min, dt_max


def _log_dt(H, dt_min, dt_max):
    dt_min, dt_max = _dt_range(dt_min, dt_max)
    return torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)


def _dropout_arg(dropout):
    dropout = positive("dropout", dropout, allow_zero=True)
    if dropout >= 1:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
    return dropout


class _SSMLayer(nn.Module):
    """Shared: forward = Linear(dropout(GELU(ssm_forward(u)))), u (batch, L, H)."""

    def __init__(self, d_model, dropout):
        super().__init__()
        self.H = integer("d_model", d_model)
        affordable("d_model", self.H * (self.H + 2))
        dropout = _dropout_arg(dropout)
        self.D = nn.Parameter(torch.randn(self.H))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(self.H, self.H)

    def _check(self, name, u, axes):
        """u a tensor with ``axes`` ("(batch, L, H)" or "(batch, H)"), the last of size H,
        none empty, of the parameters' dtype and device."""
        layer_input(name, u, axes, self.H, self.D)

    def kernel(self, L):
        """K (H, L), real;  L : int >= 1."""
        L = integer("L", L)
        self._affordable("L", L)
        return self._kernel(L)

    def forward(self, u, kernel=None):
        """y = W dropout(GELU(ssm_forward(u))) + b;  u (batch, L, H) -> (batch, L, H).

        u : the layer's dtype, L >= 1; NaN or inf in it pass through.
        kernel : None (the layer's own), or K (H, L) to use in its place (chapter 8: the
            kernel of a reduced-order model).
        """
        return self.out(self.dropout(F.gelu(self.ssm_forward(u, kernel))))

    def ssm_forward(self, u, kernel=None):
        """The linear part, y = K * u + D u (causal, per channel); (batch, L, H).
        kernel : None or K (H, L), a tensor of u's dtype, in place of the layer's own."""
        self._check("u", u, "(batch, L, H)")
        self._affordable("u", u.shape[1])
        if kernel is None:
            return _fft_conv(u, self._kernel(u.shape[1])) + self.D * u
        L = u.shape[1]
        torch_tensor("kernel", kernel, ndim=2, dtype=u.dtype, axes=f"(H, L) = ({self.H}, {L})")
        if tuple(kernel.shape) != (self.H, L):
            raise ValueError(f"kernel: expected a tensor of shape (H, L) = ({self.H}, {L}), "
                             f"got {tuple(kernel.shape)}")
        return _fft_conv(u, kernel) + self.D * u

    def initial_state(self, batch):
        """Zeros (batch, H, N) complex (N = C.shape[1], the modes kept)."""
        batch = integer("batch", batch)
        affordable("batch", batch * self.H * self.C.shape[1])
        dtype = torch.complex128 if self.C.dtype == torch.float64 else torch.complex64
        return torch.zeros(batch, self.H, self.C.shape[1], dtype=dtype, device=self.C.device)

    def _check_step(self, u_t, state):
        """u_t (batch, H), state (batch, H, N) complex, as from ``initial_state(batch)``."""
        self._check("u_t", u_t, "(batch, H)")
        shape = (u_t.shape[0], self.H, self.C.shape[1])
        dtype = torch.complex128 if self.C.dtype == torch.float64 else torch.complex64
        if isinstance(state, torch.Tensor):
            dense_tensor("state", state)
        if (not isinstance(state, torch.Tensor) or tuple(state.shape) != shape
                or state.dtype != dtype or state.device != u_t.device):
            got = (f"{state.dtype} of shape {tuple(state.shape)}"
                   if isinstance(state, torch.Tensor) else type(state).__name__)
            raise ValueError(f"state: expected a {dtype} tensor of shape {shape} as from "
                             f"initial_state({shape[0]}), got {got}")

    def step(self, u_t, state):
        """The whole layer, recurrently: u_t (batch, H) -> (y_t (batch, H), state)."""
        y, state = self.ssm_step(u_t, state)
        return self.out(self.dropout(F.gelu(y))), state


class S4DLayer(_SSMLayer):
    """S4D: per channel h a diagonal SSM with N2 = d_state // 2 complex modes (conjugate
    pairs kept once, y = 2 Re(C x) + D u), ZOH, B = 1 fixed (as S4D), C learnable complex:

        A = -exp(log_A_re) + i A_im (S4D-Lin or S4D-Inv init), dt = exp(log_dt),
        log_dt ~ U(log dt_min, log dt_max);  K = ``s4d_kernel_torch``

    forward: u (batch, L, H) -> Linear(dropout(GELU(K * u + D u))) (batch, L, H).
    d_model : H >= 1;  d_state : int >= 2;  dt_min <= dt_max : > 0;  dropout : in [0, 1);
    init : "lin" or "inv";  alpha : float > 0, scales Im A at initialisation (chapter 8's
    frequency-bias tuning; 1 = S4D as published); warns when alpha > 1 makes a mode turn
    by more than pi per step at dt_max (``nyquist_margin`` > 1). Inputs must have the layer's
    dtype (float32 unless converted).

    NaN: a NaN or inf at one step makes every output NaN in its channel, earlier steps
    too: the FFT convolution multiplies it by the zero padding, and 0 * NaN = NaN (IEEE
    754). The step-by-step ``step`` keeps a NaN causal.
    """

    def __init__(self, d_model, d_state=64, dt_min=1e-3, dt_max=1e-1, dropout=0.0,
                 init="lin", alpha=1.0):
        d_state = integer("d_state", d_state, minimum=2)
        inits = {"lin": s4d_lin_init, "inv": s4d_inv_init}
        option("init", init, tuple(inits))
        alpha = positive("alpha", alpha)
        _dt_range(dt_min, dt_max)
        super().__init__(d_model, dropout)
        affordable("d_state", self.H * d_state)
        A = inits[init](d_state // 2)
        A = A.real + 1j * alpha * A.imag
        margin = nyquist_margin(A.imag, dt_max)
        if alpha > 1 and margin > 1:   # (S4D-Lin's own top modes pass pi at dt_max = 0.1
            #                               once d_state > 20: the published default)
            warnings.warn(f"alpha = {alpha:g}: the fastest mode turns by {margin:.3g} pi per "
                          f"step at dt_max = {dt_max:g}, past the Nyquist frequency pi (it "
                          f"aliases to a lower one); lower alpha or dt_max", stacklevel=2)
        A = np.tile(A, (self.H, 1))
        self.log_dt = nn.Parameter(_log_dt(self.H, dt_min, dt_max))
        self.log_A_re = nn.Parameter(torch.tensor(np.log(-A.real), dtype=torch.float32))
        self.A_im = nn.Parameter(torch.tensor(A.imag, dtype=torch.float32))
        self.C = nn.Parameter(torch.randn(self.H, d_state // 2, 2) * math.sqrt(0.5))

    def _affordable(self, name, L):
        affordable(name, self.H * self.C.shape[1] * L)

    def _kernel(self, L):
        return _s4d_kernel_t(self.log_dt, self.log_A_re, self.A_im, self.C, L)

    def _discrete(self):
        A = torch.complex(-torch.exp(self.log_A_re), self.A_im)
        dtA = A * torch.exp(self.log_dt)[:, None]
        return torch.exp(dtA), torch.expm1(dtA) / A  # Ab, Bb (B = 1)

    def ssm_step(self, u_t, state):
        """x = Ab x + Bb u_t,  y_t = 2 Re(C x) + D u_t;  u_t (batch, H) -> (y_t, x)."""
        self._check_step(u_t, state)
        Ab, Bb = self._discrete()
        x = Ab * state + Bb * u_t[..., None]
        return 2 * (torch.view_as_complex(self.C) * x).sum(-1).real + self.D * u_t, x


class S4Layer(_SSMLayer):
    """S4: per channel a DPLR SSM initialised from HiPPO-LegS (``nplr``), all N modes kept
    (no conjugate halving), complex parameters Lambda, P (= Q, rank 1), B, C learnable;
    bilinear; kernel by ``dplr_kernel``'s Cauchy + Woodbury algorithm in torch. Since the
    learned system is complex, the layer's SSM is y = Re(C x) + D u, K = Re(C Ab^k Bb).
    Lambda is kept as -exp(log_Lambda_re) + i Lambda_im (stable).
    d_model : H >= 1;  d_state : N in [1, ``MAX_EIG_SIZE``];  dt_min, dt_max, dropout as
    S4DLayer. Inputs must have the layer's dtype (float32 unless converted).

    NaN: a NaN or inf at one step makes every output NaN in its channel, earlier steps
    too: the FFT convolution multiplies it by the zero padding, and 0 * NaN = NaN (IEEE
    754). The step-by-step ``step`` keeps a NaN causal.
    """

    def __init__(self, d_model, d_state=64, dt_min=1e-3, dt_max=1e-1, dropout=0.0):
        N = integer("d_state", d_state, maximum=MAX_EIG_SIZE)
        _dt_range(dt_min, dt_max)
        super().__init__(d_model, dropout)
        affordable("d_state", self.H * N * N)
        Lam, P, B, V = nplr("legs", N)
        Vh = V.conj().T
        rep = lambda x: torch.tensor(np.tile(x, (self.H,) + (1,) * x.ndim))  # noqa: E731
        self.log_dt = nn.Parameter(_log_dt(self.H, dt_min, dt_max))
        self.log_Lambda_re = nn.Parameter(rep(np.log(-Lam.real)).float())
        self.Lambda_im = nn.Parameter(rep(Lam.imag).float())
        self.P = nn.Parameter(torch.view_as_real(rep(Vh @ P)[:, None, :]).float())
        self.B = nn.Parameter(torch.view_as_real(rep(Vh @ B)).float())
        self.C = nn.Parameter(torch.randn(self.H, N, 2) * math.sqrt(0.5))

    def _params(self):
        Lam = torch.complex(-torch.exp(self.log_Lambda_re), self.Lambda_im)
        P, B, C = (torch.view_as_complex(x) for x in (self.P, self.B, self.C))
        return Lam, P, B, C, torch.exp(self.log_dt)

    def _affordable(self, name, L):
        affordable(name, 4 * self.H * self.C.shape[1] * L)  # the Cauchy sums, rank 1

    def _kernel(self, L):
        """K (H, L) = Re(C Ab^k Bb), by the Cauchy kernel and Woodbury."""
        Lam, P, B, C, dt = self._params()
        return _dplr_kernel_t(Lam, P, P, B, C, dt, L).real

    def ssm_step(self, u_t, state):
        """x = Ab x + Bb u_t (dense bilinear), y_t = Re(C x) + D u_t;  u_t (batch, H)."""
        self._check_step(u_t, state)
        Lam, P, B, C, dt = self._params()
        N = Lam.shape[-1]
        eye = torch.eye(N, dtype=Lam.dtype)
        A = torch.diag_embed(Lam) - torch.einsum("hrn,hrm->hnm", P, P.conj())
        half = (dt / 2)[:, None, None].to(Lam.dtype) * A
        Ab = torch.linalg.solve(eye - half, eye + half)
        Bb = torch.linalg.solve(eye - half, (dt[:, None] * B)[..., None])[..., 0]
        x = torch.einsum("hnm,bhm->bhn", Ab, state) + Bb * u_t[..., None]
        return (C * x).sum(-1).real + self.D * u_t, x



def fit_kernel(layer, target, steps, lr, every=100):
    """Fit channel 0's kernel of an S4D layer to ``target`` (chapter 8's frequency bias):
    Adam on every SSM parameter (log_dt, log_A_re, A_im, C) at learning rate ``lr``, for
    ``steps`` steps, on the relative squared error

        E = ||K - K*||^2 / ||K*||^2       (K = layer.kernel(L)[0];  by Parseval, the
                                           expected squared output error on white noise)

    layer : an ``S4DLayer`` (its dtype is the target's);  target : a real tensor (L,);
    steps : int >= 1;  lr : float > 0;  every : record every how many steps (and the last)
    returns {"step": [int], "error": [E], "dt": [Delta of channel 0],
             "top_freq": [the largest |mode frequency| Delta |Im a_j| in rad/step],
             "freq0", "freq": the mode frequencies Delta Im a_j (rad/step) before and after}
    The layer is trained in place.
    """
    if not isinstance(layer, S4DLayer):
        raise ValueError(f"layer: expected an S4DLayer, got {type(layer).__name__}")
    dtype = layer.C.dtype
    if (not isinstance(target, torch.Tensor) or target.ndim != 1 or target.dtype != dtype
            or len(target) == 0):
        raise ValueError(f"target: expected a non-empty 1-D tensor of the layer's dtype "
                         f"{dtype}, got {getattr(target, 'dtype', type(target).__name__)} of "
                         f"shape {tuple(getattr(target, 'shape', ()))}")
    target = target.detach()                      # a target, not a parameter
    finite("target", target.numpy())
    steps = integer("steps", steps, maximum=10**7)
    lr = positive("lr", lr)
    every = integer("every", every, maximum=10**7)
    layer._affordable("target", len(target))

    def frequencies():
        return (layer.A_im[0] * torch.exp(layer.log_dt[0])).detach().numpy().copy()

    params = [layer.log_dt, layer.log_A_re, layer.A_im, layer.C]
    opt = torch.optim.Adam(params, lr=lr)
    energy = (target ** 2).sum()
    out = {"step": [], "error": [], "dt": [], "top_freq": [], "freq0": frequencies()}
    for step in range(1, steps + 1):
        error = ((layer.kernel(len(target))[0] - target) ** 2).sum() / energy
        opt.zero_grad()
        error.backward()
        opt.step()
        if step % every == 0 or step == steps:
            with torch.no_grad():
                now = ((layer.kernel(len(target))[0] - target) ** 2).sum() / energy
                out["dt"].append(float(torch.exp(layer.log_dt[0])))
            out["step"].append(step)
            out["error"].append(float(now))
            out["top_freq"].append(float(np.abs(frequencies()).max()))
    out["freq"] = frequencies()
    return out


def steps_to_fit(fit, threshold):
    """The first recorded step at which a ``fit_kernel`` run's error is below
    ``threshold``, or None when it never is within the run.

    fit : the dict of ``fit_kernel`` (its "step" and "error" lists);  threshold : float > 0
    """
    if not isinstance(fit, dict) or not {"step", "error"} <= set(fit) \
            or len(fit["step"]) != len(fit["error"]):
        raise ValueError(f"fit: expected the dict of fit_kernel, with lists 'step' and 'error' "
                         f"of one length, got {type(fit).__name__}")
    threshold = positive("threshold", threshold)
    return next((int(s) for s, e in zip(fit["step"], fit["error"]) if e < threshold), None)
