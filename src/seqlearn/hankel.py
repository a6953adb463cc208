"""What an LTI system remembers (chapter 8): Hankel matrices, Gramians, Hankel singular
values, balanced truncation, the H-infinity norm, the epsilon-rank, and HOPE.

The discrete system is chapter 5's (``seqlearn.ssm``), u_k entering x_k at once:

    x_k = Ab x_{k-1} + Bb u_k,   y_k = C x_k + D u_k,   K[k] = C Ab^k Bb
    G(z) = sum_{k>=0} K[k] z^{-k} + D                          (on |z| = 1: G(e^{i omega}))

    Hankel matrix     Hbar[i, j] = C Ab^{i+j} Bb = K[i + j],   i, j >= 0
                      = O R,  O = [C; C Ab; C Ab^2; ...],  R = [Bb, Ab Bb, Ab^2 Bb, ...]
    Gramians          P = R R^* = sum_k Ab^k Bb Bb^* (Ab^*)^k,   P = Ab P Ab^* + Bb Bb^*
                      Q = O^* O = sum_k (Ab^*)^k C^* C Ab^k,     Q = Ab^* Q Ab + C^* C
    Hankel s.v.       sigma_j = sigma_j(Hbar) = sqrt(lambda_j(P Q)),  descending
    balanced trunc.   keep the k states of largest sigma;  for stable Ab and every k,
                      sigma_{k+1} <= ||G - G_k||_inf <= 2 sum_{j>k} sigma_j
                      (Enns 1984; Al-Saggaf & Franklin 1987 for discrete time)
    epsilon-rank      #{j : sigma_j / sigma_1 > eps}

The same Hankel matrix belongs to the textbook system x[k+1] = Ab x[k] + Bb u[k],
y[k] = C x[k] + D' u[k] (Markov parameters h_{k+1} = C Ab^k Bb), whose transfer function
is z^{-1} times ours minus the feed-through; |z| = 1 on the unit circle, so the norms and
bounds of the textbooks hold here unchanged.

HOPE (Yu, Mahoney & Erichson 2025) parameterises the system by its Markov parameters
h = (h_1 .. h_n) instead of (Ab, Bb, C): the transfer function is the Laurent polynomial
sum_{j=1}^{n} h_j z^{-j}, the textbook Hankel matrix is [h_{i+j-1}]_{i,j>=1} (0 beyond n),
and HOPE samples G at nonuniform points of the unit circle set by a step dt
(``hope_kernel``). At dt = 1 the kernel is (0, h_1, .., h_n, 0, ..): in this module's
convention Hbar = [K[i+j]] is the Hankel matrix of (0, h_1, .., h_n), n + 1 states.

Layout as in ``seqlearn.ssm``: Ab (N, N), Bb (N,), C (N,), D scalar (one SISO system);
real or complex.

Glossary (code name -> symbol):
    Ab, Bb, C, D      -> the discrete system (A-bar, B-bar, C, D), ``seqlearn.ssm``
    K                 -> the kernel K[k] = C Ab^k Bb (the Markov parameters)
    P, Q              -> the controllability and observability Gramians
    sigma             -> the Hankel singular values sigma_1 >= sigma_2 >= ...
    Ar, Br, Cr, k     -> the reduced system of k states
    h, n              -> HOPE's Markov parameters h_1 .. h_n
    eps               -> the relative threshold of the epsilon-rank
    omega             -> frequency in radians per step, z = e^{i omega}
"""

import math

import numpy as np
import torch
from torch import nn

from seqlearn._checks import affordable, finite, integer, number, numeric_array, positive
from seqlearn.s4 import _dt_range, _log_dt, _SSMLayer
from seqlearn.ssm import _feedthrough, _system, frequency_response, ssm_kernel

MAX_STATES = 2_000
"""The largest N the N x N Gramian products may use (more takes minutes)."""
_DOUBLINGS = 64


# ---------------------------------------------------------------- the Hankel matrix
def hankel_matrix(K, m):
    """The m x m Hankel matrix of a kernel: ``Hbar[i, j] = K[i + j]``, i, j = 0 .. m-1.

    K : (L,) real or complex, L >= 2m - 1 (the entries Hbar uses: K[0] .. K[2m-2]); NaN or
        inf in K are copied into Hbar
    m : int >= 1
    returns Hbar : (m, m), K's dtype (float64 or complex128)
    """
    K = numeric_array("K", K, allow_complex=True)
    if K.ndim != 1:
        raise ValueError(f"K: expected a kernel of shape (L,), got shape {K.shape}")
    m = integer("m", m)
    affordable("m", m * m)
    if K.shape[0] < 2 * m - 1:
        raise ValueError(f"K: expected at least 2m - 1 = {2 * m - 1} entries for an {m} x {m} "
                         f"Hankel matrix, got {K.shape[0]}")
    i = np.arange(m)
    return K[i[:, None] + i[None, :]]


# ---------------------------------------------------------------- Gramians
def _siso(Ab, Bb, C):
    """(Ab, Bb, C) of one SISO system, checked as ``seqlearn.ssm`` does; stable."""
    Ab, Bb, C, _, S = _system(Ab, Bb, C, None)
    if S:
        raise ValueError(f"Ab: expected one system of shape (N, N), got a bank {Ab.shape}")
    affordable("Ab", Ab.shape[0], MAX_STATES, "states")
    rho = np.abs(np.linalg.eigvals(Ab)).max()
    if not rho < 1:
        raise ValueError(f"Ab: expected a stable system, all |eig(Ab)| < 1 (the Gramians are "
                         f"infinite otherwise), got max |eig(Ab)| = {rho:.6g}")
    return Ab, Bb, C


def _stein(M, W):
    """X = sum_k M^k W (M^*)^k, which solves X = M X M^* + W, by doubling:
    X_{j+1} = X_j + M_j X_j M_j^*, M_{j+1} = M_j^2 (Smith 1968): after j steps X_j sums
    the first 2^j terms."""
    X, Mj = W.copy(), M.copy()
    for _ in range(_DOUBLINGS):
        step = Mj @ X @ Mj.conj().T
        X = X + step
        if np.abs(step).max() <= 1e-17 * np.abs(X).max():
            return X
        Mj = Mj @ Mj
    raise ValueError(f"Ab: expected a system whose Gramian sum converges in 2^{_DOUBLINGS} "
                     f"terms, got max |eig(Ab)| = {np.abs(np.linalg.eigvals(M)).max():.17g}")


def gramians(Ab, Bb, C):
    """The controllability and observability Gramians of a stable discrete system:

        P = sum_k Ab^k Bb Bb^* (Ab^*)^k,   P = Ab P Ab^* + Bb Bb^*
        Q = sum_k (Ab^*)^k C^* C Ab^k,     Q = Ab^* Q Ab + C^* C

    summed by doubling (Smith's method; no Lyapunov solver).

    Ab : (N, N), max |eig(Ab)| < 1;  Bb, C : (N,);  real or complex, finite
    returns P, Q : (N, N) Hermitian positive semidefinite (complex128 if anything is
    complex, else float64)
    """
    Ab, Bb, C = _siso(Ab, Bb, C)
    P = _stein(Ab, np.outer(Bb, Bb.conj()))
    Q = _stein(Ab.conj().T, np.outer(C.conj(), C))
    return (P + P.conj().T) / 2, (Q + Q.conj().T) / 2


def _stein_factor(M, w):
    """F (N, N) with F F^* = sum_k M^k w w^* (M^*)^k (a Gramian), summed on the factor:

        F_0 = w,   F_{j+1} = [F_j, M_j F_j],   M_{j+1} = M_j^2

    so that F_j F_j^* sums the first 2^j terms (Smith's doubling, on a square root). Each
    step is compressed back to N columns by a QR factorization, [F, M F]^* = Q R, so
    [F, M F] [F, M F]^* = R^* R and F <- R^*. The Gramian is never formed: its small
    eigenvalues are squares of the factor's small singular values, and squaring is
    where eigenvalues of P lose eps ||P|| absolutely (a Hankel singular value sigma then
    loses ~eps sigma_1^2 / sigma relatively). M : (N, N) stable; w : (N,)."""
    N = M.shape[0]
    F, Mj = w[:, None].copy(), M.copy()
    for _ in range(_DOUBLINGS):
        step = Mj @ F
        F = np.hstack([F, step])
        if F.shape[1] > N:
            F = np.linalg.qr(F.conj().T, mode="r").conj().T                   # (N, N)
        if np.linalg.norm(step) <= 1e-17 * np.linalg.norm(F):
            return F
        Mj = Mj @ Mj
    raise ValueError(f"Ab: expected a system whose Gramian sum converges in 2^{_DOUBLINGS} "
                     f"terms, got max |eig(Ab)| = {np.abs(np.linalg.eigvals(M)).max():.17g}")


def _balanced_svd(Ab, Bb, C):
    """The square-root method: P = Fp Fp^*, Q = Fq Fq^* (factors summed directly,
    ``_stein_factor``), Fq^* Fp = W diag(sigma) V^*."""
    Ab, Bb, C = _siso(Ab, Bb, C)
    Fp, Fq = _stein_factor(Ab, Bb), _stein_factor(Ab.conj().T, C.conj())
    W, sigma, Vh = np.linalg.svd(Fq.conj().T @ Fp)
    return Fp, Fq, W, sigma, Vh


def hankel_singular_values(Ab, Bb, C):
    """``sigma_j = sqrt(lambda_j(P Q))``, the singular values of the Hankel matrix
    Hbar[i, j] = C Ab^{i+j} Bb, from the Gramians (``gramians``).

    Ab : (N, N) stable;  Bb, C : (N,)
    returns sigma : (N,) float64, descending, >= 0 (as many zeros as redundant states,
    up to rounding, ~1e-16 sigma_1)
    """
    return _balanced_svd(Ab, Bb, C)[3]


def balanced_truncation(Ab, Bb, C, k):
    """The reduced system of k states by balanced truncation (the square-root method):

        T = Fp V_k Sigma_k^{-1/2},  T+ = Sigma_k^{-1/2} W_k^* Fq^*   (T+ T = I_k)
        Ar = T+ Ab T,  Br = T+ Bb,  Cr = C T

    In balanced coordinates both Gramians equal diag(sigma); the states kept are those of
    the k largest sigma. For every k: ||G - G_k||_inf <= 2 sum_{j>k} sigma_j (D kept).

    Ab : (N, N) stable;  Bb, C : (N,);  k : int in [1, N] with sigma_k > 0
    returns Ar : (k, k), Br, Cr : (k,) (complex128 if anything is complex, else float64)
    """
    Ab, Bb, C = _siso(Ab, Bb, C)
    k = integer("k", k, maximum=Ab.shape[0])
    Fp, Fq, W, sigma, Vh = _balanced_svd(Ab, Bb, C)
    if not sigma[k - 1] > 1e-14 * sigma[0]:
        raise ValueError(f"k: expected at most the number of states the system uses "
                         f"(sigma_k > 0), got k = {k} with sigma_k / sigma_1 = "
                         f"{sigma[k - 1] / sigma[0]:.3g}")
    s = 1 / np.sqrt(sigma[:k])
    T = (Fp @ Vh[:k].conj().T) * s
    Tp = s[:, None] * (W[:, :k].conj().T @ Fq.conj().T)
    return Tp @ Ab @ T, Tp @ Bb, C @ T


# ---------------------------------------------------------------- norms and ranks
def hinf_norm(Ab, Bb, C, D=None, n_points=4096):
    """``||G||_inf = max over omega of |G(e^{i omega})|``, G(z) = C (I - Ab z^{-1})^{-1} Bb + D
    on the unit circle: the largest of n_points equally spaced frequencies in [-pi, pi),
    then refined by golden-section search between the neighbours of the best one (G from
    Ab's eigendecomposition when its eigenvectors are well conditioned, else by solves).

    Ab : (N, N) stable;  Bb, C : (N,);  D : scalar or None (0);  n_points : int >= 8
    returns float >= 0. A grid misses peaks narrower than 2 pi / n_points: for poles
    within 1 / n_points of the unit circle, raise n_points.
    """
    Ab, Bb, C = _siso(Ab, Bb, C)
    D = _feedthrough("D", D)
    if D.ndim:
        raise ValueError(f"D: expected a scalar (one SISO system), got shape {D.shape}")
    n_points = integer("n_points", n_points, minimum=8)
    affordable("n_points", n_points * Ab.shape[0] ** 2)
    gain_at = _gain_function(Ab, Bb, C, D)
    omega = -np.pi + 2 * np.pi * np.arange(n_points) / n_points
    gain = gain_at(omega)
    i = int(np.argmax(gain))
    h = 2 * np.pi / n_points
    lo, hi = omega[i] - h, omega[i] + h

    def f(w):
        return float(gain_at(np.array([w]))[0])

    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(60):
        if fa > fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = f(b)
    return max(float(gain[i]), fa, fb)


def _gain_function(Ab, Bb, C, D):
    """omega -> |G(e^{i omega})|. Diagonalised once when Ab's eigenvectors are well
    conditioned (cond < 1e8): G = sum_n (C V)_n (V^{-1} Bb)_n / (1 - lambda_n e^{-i omega})
    + D, O(N) a point; otherwise ``ssm.frequency_response``, one N x N solve a point."""
    lam, V = np.linalg.eig(Ab)
    if np.linalg.cond(V) < 1e8:
        left, right = C @ V, np.linalg.solve(V, Bb)
        d = complex(D)
        return lambda w: np.abs((left * right / (1 - np.exp(-1j * w)[:, None] * lam)).sum(1)
                                + d)
    return lambda w: np.abs(frequency_response(Ab, Bb, C, D, w))


def epsilon_rank(sigma, eps):
    """The epsilon-rank: ``#{j : sigma_j / sigma_1 > eps}`` (0 for sigma = 0).

    sigma : (n,) singular values >= 0 (any order), n >= 1;  eps : float in (0, 1)
    returns int in [0, n]
    """
    sigma = numeric_array("sigma", sigma, min_ndim=1, what="singular values (n,)")
    if sigma.ndim != 1 or sigma.size == 0 or not np.all(np.isfinite(sigma)) \
            or np.any(sigma < 0):
        raise ValueError(f"sigma: expected finite singular values >= 0 of shape (n,), n >= 1, "
                         f"got shape {sigma.shape}" + (f", min {np.nanmin(sigma)}"
                                                       if sigma.size else ""))
    eps = number("eps", eps, 0, 1, strict=True)
    if eps >= 1:
        raise ValueError(f"eps: expected a threshold in (0, 1), got {eps}")
    top = sigma.max()
    return 0 if top == 0 else int(np.sum(sigma / top > eps))


# ---------------------------------------------------------------- HOPE
def _hope_nodes(dt, M):
    """HOPE's nonuniform samples of the unit circle (Yu, Mahoney & Erichson 2025, Alg. 1):
    the M FFT nodes e^{i omega_m}, omega_m = 2 pi m / M, mapped by the bilinear transform
    s = (z - 1) / (z + 1) = i tan(omega / 2), scaled s -> s / dt, and mapped back:

        z'_m = (1 + s / dt) / (1 - s / dt) = exp(i theta_m),
        theta_m = 2 atan2(sin(omega_m / 2), dt cos(omega_m / 2))

    dt : (..., 1) array -> theta : (..., M) in [0, 2 pi]."""
    half = np.pi * np.arange(M) / M
    return 2 * np.arctan2(np.sin(half), dt * np.cos(half))


def _hope_args(h, dt):
    h = finite("h", numeric_array("h", h, allow_complex=True))
    if h.ndim != 1 or h.shape[0] == 0:
        raise ValueError(f"h: expected Markov parameters of shape (n,), n >= 1, got shape "
                         f"{h.shape}")
    affordable("h", h.shape[0], MAX_STATES, "Markov parameters")
    return h, positive("dt", dt)


def hope_kernel(h, dt, L):
    """The HOPE kernel (Alg. 1 of Yu, Mahoney & Erichson 2025): the transfer function
    G(z) = sum_{j=1}^{n} h_j z^{-j} sampled at the 2L warped nodes z'_m of the FFT of
    length 2L (``_hope_nodes``), then K = Re(ifft(G(z'))) [:L].

    The warp is a change of variable in G: z'^{-1} = phi(z^{-1}), the all-pass
    phi(q) = (q - r) / (1 - r q), r = (1 - dt) / (1 + dt), so the sampled system is
    sum_j h_j phi(q)^j: h fed through a cascade of first-order all-pass sections, each of
    delay about 1 / dt steps at low frequency (``hope_system`` realises it). For dt = 1,
    r = 0 and K[k] = Re h_k (K[0] = 0): the kernel is h. The samples fold the true
    impulse response's lags >= 2L onto [0, 2L) (aliasing, small once 2L >> n / dt).
    The paper's Algorithm 1 uses L nodes (a circular convolution); 2L nodes and zero
    padding make the convolution causal, as in ``seqlearn.s4``.

    h : (n,) complex (or real) Markov parameters, finite;  dt : float > 0;  L : int >= 1
    returns K : (L,) float64
    """
    h, dt = _hope_args(h, dt)
    L = integer("L", L)
    M = 2 * L
    affordable("L", M * h.shape[0])
    theta = _hope_nodes(dt, M)
    j = np.arange(1, h.shape[0] + 1)
    G = np.exp(-1j * theta[:, None] * j) @ h
    return np.fft.ifft(G).real[:L]


def hope_system(h, dt):
    """A state-space realisation of the sampled HOPE system sum_j h_j phi(q)^j
    (``hope_kernel``) in ``seqlearn.ssm``'s convention, with n + 1 states
    x_k = (w_0, w_1, .., w_n)[k], w_0 = u, w_j = phi(q) w_{j-1}:

        w_j[k] = r w_j[k-1] + w_{j-1}[k-1] - r w_{j-1}[k],   r = (1 - dt) / (1 + dt)
        (I + r Z) x_k = (r (I - e_0 e_0^T) + Z) x_{k-1} + e_0 u_k,   Z the down-shift
        Ab = (I + r Z)^{-1} (r (I - e_0 e_0^T) + Z),  Bb = (I + r Z)^{-1} e_0 = ((-r)^j)_j
        C = (0, h_1, .., h_n),  y_k = C x_k          (eig(Ab) = 0, r, .., r: stable)

    Its kernel C Ab^k Bb is the exact impulse response that ``hope_kernel`` samples.

    h : (n,) complex (or real), finite;  dt : float > 0
    returns Ab : (n+1, n+1) float64, Bb : (n+1,) float64, C : (n+1,) h's dtype
    """
    h, dt = _hope_args(h, dt)
    n = h.shape[0]
    r = (1 - dt) / (1 + dt)
    Z = np.eye(n + 1, k=-1)
    left = np.eye(n + 1) + r * Z
    right = r * np.diag(np.r_[0.0, np.ones(n)]) + Z
    Ab = np.linalg.solve(left, right)
    Bb = (-r) ** np.arange(n + 1)
    return Ab, Bb, np.r_[np.zeros(1, h.dtype), h]


def _hope_kernel_t(log_dt, h, L):
    """The first L lags of sum_j h_j phi(q)^j exactly, per channel (differentiable):
    the powers phi^1 .. phi^n as power series truncated at q^L, by doubling,

        [phi^1 .. phi^m] -> [phi^1 .. phi^m, phi^m (phi^1 .. phi^m)]   (mod q^L)
        phi(q) = (q - r) / (1 - r q) = -r + sum_{k>=1} (1 - r^2) r^{k-1} q^k

    each product an FFT convolution of length 2L (nothing folds: the truncation is
    exact), then K = sum_j h_j phi^j. ``hope_kernel`` samples the same system at 2L
    nodes instead and folds the lags >= 2L.

    log_dt : (H,);  h : (H, n) real  ->  K : (H, L), of the parameters' dtype."""
    dt = torch.exp(log_dt)[:, None]                               # (H, 1)
    r = (1 - dt) / (1 + dt)
    k = torch.arange(L, dtype=log_dt.dtype, device=log_dt.device)
    phi = torch.where(k == 0, -r, (1 - r ** 2) * r ** (k - 1).clamp(min=0))  # (H, L)
    powers = phi[:, None, :]                                      # (H, m, L): phi^1..phi^m
    while powers.shape[1] < h.shape[1]:
        top = torch.fft.rfft(powers[:, -1], n=2 * L)[:, None]     # phi^m
        more = torch.fft.irfft(torch.fft.rfft(powers, n=2 * L) * top, n=2 * L)[..., :L]
        powers = torch.cat([powers, more], 1)
    return torch.einsum("hn,hnl->hl", h, powers[:, :h.shape[1]])


class HOPELayer(_SSMLayer):
    """HOPE (Yu, Mahoney & Erichson 2025): per channel an LTI system given by its Markov
    parameters h (its Hankel matrix) and a step dt, instead of (A, B, C); a drop-in for
    ``seqlearn.s4.S4DLayer`` (same arguments, shapes and forward):

        K[c] = the first L lags of sum_{j=1}^{n} h_{c,j} phi_c(q)^j  (``_hope_kernel_t``:
        exact; ``hope_kernel`` is the paper's sampled version of the same system),
        y = Linear(dropout(GELU(K * u + D u)))
        n = d_state real Markov parameters per channel (as many numbers as S4D's C),
        h ~ N(0, 1 / n) (so sum h_j^2 ~ 1),  log dt ~ U(log dt_min, log dt_max)

    Real h: the paper's h is complex, but with a real kernel only Re h counts (the warped
    nodes come in conjugate pairs, so Im h only adds an imaginary part that Re drops).
    forward: u (batch, L, H) -> (batch, L, H).  step: the n + 1-state recurrence of
    ``hope_system``, equal to forward.
    d_model : H >= 1;  d_state : int >= 1;  dt_min <= dt_max : > 0;  dropout : in [0, 1)
    NaN or inf in data (the input u, u_t, the state) pass through to the outputs.

    NaN: a NaN or inf at one step makes every output NaN in its channel, earlier steps
    too: the FFT convolution multiplies it by the zero padding, and 0 * NaN = NaN (IEEE
    754). The step-by-step ``step`` keeps a NaN causal.
    """

    def __init__(self, d_model, d_state=64, dt_min=1e-3, dt_max=1e-1, dropout=0.0):
        d_state = integer("d_state", d_state)
        _dt_range(dt_min, dt_max)
        super().__init__(d_model, dropout)
        affordable("d_state", self.H * d_state)
        self.log_dt = nn.Parameter(_log_dt(self.H, dt_min, dt_max))
        self.h = nn.Parameter(torch.randn(self.H, d_state) / math.sqrt(d_state))

    @property
    def C(self):
        """The output rows (H, n + 1, 2) (real, imag) of the recurrence, (0, h_1 .. h_n):
        the step state has n + 1 complex entries per channel, as ``S4DLayer``'s has N."""
        C = torch.cat([torch.zeros_like(self.h[:, :1]), self.h], 1)
        return torch.stack([C, torch.zeros_like(C)], -1)

    def _affordable(self, name, L):
        # the powers (H, n, L), their FFTs (H, n, L + 1) complex and one product
        affordable(name, 6 * self.H * self.h.shape[1] * L)

    def _kernel(self, L):
        return _hope_kernel_t(self.log_dt, self.h, L)

    def ssm_step(self, u_t, state):
        """w_0 = u_t, w_j = r w_j(prev) + w_{j-1}(prev) - r w_j-1 (now), y_t = Re sum h_j w_j
        + D u_t;  u_t (batch, H), state (batch, H, n + 1) -> (y_t, state)."""
        self._check_step(u_t, state)
        dt = torch.exp(self.log_dt)
        r = ((1 - dt) / (1 + dt))[None, :]
        new = [u_t.to(state.dtype)]
        for j in range(1, state.shape[-1]):
            new.append(r * state[..., j] + state[..., j - 1] - r * new[j - 1])
        x = torch.stack(new, -1)
        y = (torch.view_as_complex(self.C.contiguous()) * x).sum(-1).real
        return y + self.D * u_t, x


# ---------------------------------------------------------------- trained layers
def s4d_system(A_diag, dt, C=None):
    """The real discrete system of one S4D channel (ZOH, B = 1) as a complex diagonal
    system with both modes of each conjugate pair, so that its kernel
    C Ab^k Bb = 2 Re sum_n C_n Bb_n Ab_n^k is ``seqlearn.s4.s4d_kernel(..., conj_pairs=True)``:

        Ab = diag(a, conj a),  Bb = (b, conj b),  C = (c, conj c),
        (a, b) = discretize_diag(A_diag, 1, dt, "zoh"),  c = C (ones if None)

    A_diag : (N2,) the modes kept (e.g. ``s4.s4d_lin_init``);  dt : float > 0
    C : (N2,) complex or None (ones)
    returns Ab : (2 N2, 2 N2), Bb, C : (2 N2,) complex128
    """
    from seqlearn.discretize import discretize_diag

    A_diag = numeric_array("A_diag", A_diag, allow_complex=True)
    if A_diag.ndim != 1 or A_diag.shape[0] == 0:
        raise ValueError(f"A_diag: expected the modes of one channel, shape (N2,), got "
                         f"shape {A_diag.shape}")
    affordable("A_diag", 2 * A_diag.shape[0], MAX_STATES, "states")
    c = np.ones(A_diag.shape[0]) if C is None else numeric_array("C", C, allow_complex=True)
    if c.shape != A_diag.shape:
        raise ValueError(f"C: expected shape {A_diag.shape} to match A_diag, got {c.shape}")
    finite("C", c)
    a, b = discretize_diag(A_diag, np.ones(A_diag.shape[0]), dt, "zoh")
    a, b, c = (np.asarray(v, dtype=np.complex128) for v in (a, b, c))
    return np.diag(np.r_[a, a.conj()]), np.r_[b, b.conj()], np.r_[c, c.conj()]


def s4d_channel_system(layer, channel):
    """``s4d_system`` of one channel of a trained ``seqlearn.s4.S4DLayer``: its
    A = -exp(log_A_re) + i A_im, dt = exp(log_dt) and C, in float64.

    layer : an S4DLayer;  channel : int in [0, H)
    returns Ab : (d, d), Bb, C : (d,) complex128, d = 2 (d_state // 2)
    """
    from seqlearn.s4 import S4DLayer

    if not isinstance(layer, S4DLayer):
        raise ValueError(f"layer: expected a seqlearn.s4.S4DLayer, got {type(layer).__name__}")
    channel = integer("channel", channel, minimum=0, maximum=layer.H - 1)
    with torch.no_grad():
        A = (-torch.exp(layer.log_A_re[channel].double())
             + 1j * layer.A_im[channel].double()).cpu().numpy()
        dt = float(torch.exp(layer.log_dt[channel].double()))
        c = torch.view_as_complex(layer.C[channel].double().contiguous()).cpu().numpy()
    return s4d_system(A, dt, c)


def reduced_kernels(layer, k, L):
    """Every channel of an ``S4DLayer`` reduced to k states by ``balanced_truncation``, as
    kernels for ``forward(u, kernel=...)``: K_r[h, j] = Re C_r Ar^j B_r.

    layer : an S4DLayer;  k : int in [1, d] (d = 2 (d_state // 2));  L : int >= 1
    returns K : (H, L) tensor of the layer's dtype and device; a channel that uses fewer
    than k states (sigma_k = 0) keeps its own kernel (nothing to cut).
    """
    from seqlearn.s4 import S4DLayer

    if not isinstance(layer, S4DLayer):
        raise ValueError(f"layer: expected a seqlearn.s4.S4DLayer, got {type(layer).__name__}")
    k = integer("k", k, maximum=2 * layer.C.shape[1])
    L = integer("L", L)
    affordable("L", layer.H * L)
    own = layer.kernel(L).detach()
    out = []
    for h in range(layer.H):
        Ab, Bb, C = s4d_channel_system(layer, h)
        sigma = hankel_singular_values(Ab, Bb, C)
        if k >= len(sigma) or not sigma[k - 1] > 1e-14 * sigma[0]:
            out.append(own[h].cpu().numpy())
            continue
        # a real system reduced in complex arithmetic: the imaginary part is rounding
        out.append(ssm_kernel(*balanced_truncation(Ab, Bb, C, k), L).real)
    return torch.tensor(np.array(out), dtype=own.dtype, device=own.device)
