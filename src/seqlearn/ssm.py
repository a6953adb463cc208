"""Linear state space models (chapter 5): the recurrent view, the convolutional view and
the transfer function, three ways of computing the same map from u to y.

    recurrence     x_k = Ab x_{k-1} + Bb u_k,   y_k = C x_k + D u_k,   x_{-1} = x0 (0)
    kernel         K[k] = C Ab^k Bb,            k = 0, ..., L-1
    convolution    y_k = sum_{j=0}^{k} K[j] u_{k-j} + D u_k
    continuous     H(s) = C (sI - A)^{-1} B + D                 (x' = A x + B u, y = C x + D u)
    discrete       H(z) = C (I - Ab z^{-1})^{-1} Bb + D = sum_{k>=0} K[k] z^{-k} + D
    frequency      H(e^{i omega}),  omega in [-pi, pi]: the DTFT of the kernel (stable Ab)

Derivation of H(z): the z-transform of x_k = Ab x_{k-1} + Bb u_k (x_{-1} = 0) is
X(z) = Ab z^{-1} X(z) + Bb U(z), so X(z) = (I - Ab z^{-1})^{-1} Bb U(z) and
Y(z) = [C (I - Ab z^{-1})^{-1} Bb + D] U(z). Expanding the geometric series,
(I - Ab z^{-1})^{-1} = sum_k Ab^k z^{-k} (converges on |z| = 1 when max |eig(Ab)| < 1),
which gives sum_k K[k] z^{-k} + D. Note the factor z compared with the textbook
C (zI - Ab)^{-1} Bb + D of x[k+1] = Ab x[k] + Bb u[k]: here u_k enters x_k at once
(S4's convention; see ``seqlearn.discretize`` for how this relates to SciPy's).

Layout, time on the **last** axis (as in the reference Mamba code):
    one SSM      Ab (N, N), Bb (N,), C (N,), D scalar;   u (..., L) -> y (..., L)
    a bank of H  Ab (H, N, N), Bb (H, N), C (H, N), D (H,) or scalar;
                 u (..., H, L) -> y (..., H, L), channel h filtered by SSM h alone
                 (S4's layout: one independent SSM per channel, u typically (batch, H, L)).
    states x (..., N) for one SSM, (..., H, N) for a bank; kernels K (L,) or (H, L).

Glossary (code name -> symbol):
    A, B              -> the continuous state and input matrices A (N, N), B (N,)
    Ab, Bb            -> the discrete A-bar, B-bar
    C, D              -> the output row C (N,) and the feed-through D (scalar)
    u, y              -> the input and output sequences u_k, y_k
    x0, x             -> the initial state x_{-1}, the state x_k
    K                 -> the SSM convolution kernel K[k]
    L, N, H           -> sequence length, state size, number of channels
    s, z, omega       -> the Laplace variable s, the z-transform variable z, frequency omega
"""

import warnings

import numpy as np

from seqlearn._checks import (MAX_STEPS, affordable, finite, flag, integer, not_bool,
                              numeric_array)
from seqlearn.discretize import _MARGIN

CONV_METHODS = ("fft", "direct")


def _system(Ab, Bb, C, D, names=("Ab", "Bb", "C", "D")):
    """Validated (Ab, Bb, C, D, S): one SSM (S = ()) or a bank of H (S = (H,)).

    Every entry must be finite (they are parameters). D may be None (no feed-through);
    it is returned broadcast to shape S; a bool D is refused.
    """
    nA, nB, nC, nD = names
    Ab = numeric_array(nA, Ab, allow_complex=True)
    if Ab.ndim not in (2, 3) or Ab.shape[-1] != Ab.shape[-2] or Ab.shape[-1] == 0:
        raise ValueError(f"{nA}: expected shape (N, N) for one SSM or (H, N, N) for a bank, "
                         f"N >= 1, got {Ab.shape}")
    finite(nA, Ab)
    S, N = Ab.shape[:-2], Ab.shape[-1]
    want = "(N,)" if not S else "(H, N)"
    out = []
    for name, v in ((nB, Bb), (nC, C)):
        v = numeric_array(name, v, allow_complex=True)
        if v.shape != S + (N,):
            raise ValueError(f"{name}: expected shape {S + (N,)}, {want} to match {nA} "
                             f"{Ab.shape}, got {v.shape}")
        out.append(finite(name, v))
    D = _feedthrough(nD, D)
    try:
        D = np.broadcast_to(D, S)
    except ValueError:
        raise ValueError(f"{nD}: expected a scalar" + (f" or shape {S}" if S else "")
                         + f", got shape {D.shape}") from None
    return Ab, out[0], out[1], D, S


def _feedthrough(name, D):
    """D (None for 0) as a finite array; bools are refused."""
    if D is None:
        return np.zeros(())
    not_bool(name, D, "a number or an array of numbers (the feed-through)")
    return finite(name, numeric_array(name, D, allow_complex=True))


def _sequence(name, u, S):
    """Validated input (..., *S, L), 1 <= L <= MAX_STEPS (NaN and inf allowed: data)."""
    u = numeric_array(name, u, allow_complex=True)
    lead = "(..., L)" if not S else "(..., H, L)"
    if u.ndim < len(S) + 1 or u.shape[-1] == 0 or u.shape[u.ndim - 1 - len(S):-1] != S:
        raise ValueError(f"{name}: expected shape {lead} with L >= 1"
                         + (f" and H = {S[0]}" if S else "") + f", got {u.shape}")
    affordable(name, u.shape[-1], MAX_STEPS, "steps")
    return u


def _warn_unstable(Ab, what):
    rho = np.abs(np.linalg.eigvals(Ab)).max()
    if rho > 1.0 + _MARGIN:
        warnings.warn(f"unstable discrete system: max |eig(Ab)| = {rho:.6g} > 1, so {what}",
                      stacklevel=3)


def scan(Ab, Bb, C, D, u, x0=None, return_state=False):
    """The recurrent view (a loop over time): ``x_k = Ab x_{k-1} + Bb u_k``,
    ``y_k = C x_k + D u_k``, ``x_{-1} = x0``.

    Ab : (N, N) or (H, N, N);  Bb, C : (N,) or (H, N);  D : scalar or (H,), or None for 0
    u : (..., L) for one SSM, (..., H, L) for a bank (e.g. (batch, H, L)), L >= 1
    x0 : (..., N) or (..., H, N), broadcastable to u's leading shape; None for zeros
    return_state : bool, also return the last state, to continue with another chunk
    returns y : u's shape, float64 (complex128 if anything is complex);
        with return_state, (y, x) where x (u.shape[:-1] + (N,)) is x_{L-1}

    Ab, Bb, C, D must be finite; NaN or inf in u (or x0) pass through to y from that
    step on. Warns when max |eig(Ab)| > 1 (the state grows without bound).
    """
    Ab, Bb, C, D, S = _system(Ab, Bb, C, D)
    u = _sequence("u", u, S)
    return_state = flag("return_state", return_state)
    state_shape = u.shape[:-1] + Ab.shape[-1:]
    affordable("u", int(np.prod(state_shape, dtype=float)), what="numbers (the states)")
    x0 = numeric_array("x0", 0.0 if x0 is None else x0, allow_complex=True)
    try:
        x0 = np.broadcast_to(x0, state_shape)
    except ValueError:
        raise ValueError(f"x0: expected shape {state_shape} (u's shape without time, then "
                         f"N), got {x0.shape}") from None
    dtype = np.result_type(Ab, Bb, C, D, u, x0)
    x = x0.astype(dtype)
    _warn_unstable(Ab, "the state grows without bound")
    y = np.zeros(u.shape, dtype=dtype)
    for k in range(u.shape[-1]):
        u_k = u[..., k]
        x = (Ab @ x[..., None])[..., 0] + Bb * u_k[..., None]
        y[..., k] = np.sum(C * x, axis=-1) + D * u_k
    return (y, x) if return_state else y


def ssm_kernel(Ab, Bb, C, L):
    """The convolutional view's kernel: ``K[k] = C Ab^k Bb``, ``k = 0 .. L-1``.

    Computed by L matrix-vector products v_{k+1} = Ab v_k from v_0 = Bb, not matrix powers.

    Ab : (N, N) or (H, N, N);  Bb, C : (N,) or (H, N), finite;  L : int >= 1
    returns K : (L,) or (H, L)

    Warns when max |eig(Ab)| > 1 (the kernel grows without bound).
    """
    Ab, Bb, C, _, S = _system(Ab, Bb, C, None)
    L = integer("L", L, maximum=MAX_STEPS)
    affordable("L", int(np.prod(S + (L,), dtype=float)))
    _warn_unstable(Ab, "the kernel grows without bound")
    K = np.zeros(S + (L,), dtype=np.result_type(Ab, Bb, C))
    v = Bb
    for k in range(L):
        K[..., k] = np.sum(C * v, axis=-1)
        v = (Ab @ v[..., None])[..., 0]
    return K


def causal_conv(u, K, D=None, method="fft"):
    """Causal convolution ``y_k = sum_{j=0}^{k} K[j] u_{k-j} + D u_k``, ``k = 0 .. L-1``.

    method "fft": both zero-padded to n >= 2L (a power of two), so the circular
    convolution has no wrap-around, O(L log L); "direct": np.convolve per row, O(L^2).
    The FFT's rounding error is about 1e-16 * sum|K| * max|u| (absolute, not relative
    to each y_k).

    u : (..., L), L >= 1
    K : (..., L_K), L_K >= 1, leading axes broadcastable with u's (e.g. (H, L) against
        u (batch, H, L)); taps past L are ignored, missing taps count as 0
    D : None, a finite scalar, or broadcastable with u.shape[:-1] (e.g. (H,))
    returns y : (broadcast leading shape, L), float64 (complex128 if u, K or D is)

    NaN or inf in u or K pass through: with "direct" to y_k for k from that step on,
    with "fft" (which mixes all steps) to every y_k of that row.
    """
    if not isinstance(method, str) or method not in CONV_METHODS:
        raise ValueError(f"method: expected one of {list(CONV_METHODS)}, got {method!r}")
    u = numeric_array("u", u, min_ndim=1, what="an array (..., L)", allow_complex=True)
    K = numeric_array("K", K, min_ndim=1, what="an array (..., L_K)", allow_complex=True)
    if u.shape[-1] == 0:
        raise ValueError(f"u: expected an array (..., L) with L >= 1, got {u.shape}")
    if K.shape[-1] == 0:
        raise ValueError(f"K: expected an array (..., L_K) with L_K >= 1, got {K.shape}")
    L = u.shape[-1]
    try:
        lead = np.broadcast_shapes(u.shape[:-1], K.shape[:-1])
    except ValueError:
        raise ValueError(f"K: expected leading axes broadcastable with u's {u.shape[:-1]}, "
                         f"got {K.shape}") from None
    rows = int(np.prod(lead, dtype=float))
    big = "u" if lead == u.shape[:-1] else "K"  # K's leading axes enlarge the output
    affordable(big, rows * (1 << (2 * L - 1).bit_length()), what="numbers (zero-padded rows)")
    if method == "direct":  # a Python loop over the rows, O(L^2) each
        affordable(big, rows, MAX_STEPS, "rows")
        affordable("u", rows * L * min(L, K.shape[-1]), 10**11, "multiply-adds")
    if D is not None:
        D = _feedthrough("D", D)
    K = K[..., :L]
    if method == "fft":
        n = 1 << (2 * L - 1).bit_length()  # the smallest power of two >= 2L
        if np.iscomplexobj(u) or np.iscomplexobj(K):
            y = np.fft.ifft(np.fft.fft(u, n) * np.fft.fft(K, n), n)[..., :L]
        else:
            y = np.fft.irfft(np.fft.rfft(u, n) * np.fft.rfft(K, n), n)[..., :L]
    else:
        ub = np.broadcast_to(u, lead + (L,)).reshape(-1, L)
        Kb = np.broadcast_to(K, lead + K.shape[-1:]).reshape(-1, K.shape[-1])
        y = np.zeros(ub.shape, dtype=np.result_type(u, K))
        for i in range(ub.shape[0]):
            y[i] = np.convolve(ub[i], Kb[i])[:L]
        y = y.reshape(lead + (L,))
    if D is not None:
        try:
            y = y + np.broadcast_to(D, np.broadcast_shapes(D.shape, lead))[..., None] * u
        except ValueError:
            raise ValueError(f"D: expected a scalar or a shape broadcastable with "
                             f"{lead} (u's without time), got {D.shape}") from None
    return y


def _resolvent(M, v, c, points, name):
    """``c (p I - M)^{-1} v`` for every p in points: M (*S, N, N), v, c (*S, N) ->
    (*S, *points.shape)."""
    P = points.reshape(-1)
    N = M.shape[-1]
    affordable(name, int(np.prod(M.shape[:-2] + (P.size, N, N), dtype=float)),
               what="numbers (one N x N system per point)")
    lhs = P[:, None, None] * np.eye(N) - M[..., None, :, :]  # (*S, P, N, N)
    rhs = np.broadcast_to(v[..., None, :, None], lhs.shape[:-1] + (1,))
    try:
        x = np.linalg.solve(lhs, rhs)[..., 0]  # (*S, P, N)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name}: expected points that are not eigenvalues of the state "
                         f"matrix, got one that is (the transfer function has a pole "
                         f"there)") from None
    out = np.sum(c[..., None, :] * x, axis=-1)
    return out.reshape(M.shape[:-2] + points.shape)


def transfer_function(A, B, C, D, s):
    """The continuous transfer function ``H(s) = C (sI - A)^{-1} B + D``.

    A : (N, N) or (H, N, N);  B, C : (N,) or (H, N);  D : scalar or (H,), or None for 0
    s : complex array (...), finite, e.g. 1j * omega on the imaginary axis
    returns H : (...) for one SSM, (H, ...) for a bank, complex128
    """
    A, B, C, D, S = _system(A, B, C, D, names=("A", "B", "C", "D"))
    s = finite("s", numeric_array("s", s, allow_complex=True).astype(complex))
    return _resolvent(A, B, C, s, "s") + D.reshape(S + (1,) * s.ndim)


def discrete_transfer_function(Ab, Bb, C, D, z):
    """The discrete transfer function of ``scan``:
    ``H(z) = C (I - Ab z^{-1})^{-1} Bb + D = z C (zI - Ab)^{-1} Bb + D``.

    Ab : (N, N) or (H, N, N);  Bb, C : (N,) or (H, N);  D : scalar or (H,), or None for 0
    z : complex array (...), finite, not an eigenvalue of Ab
    returns H : (...) for one SSM, (H, ...) for a bank, complex128
    """
    Ab, Bb, C, D, S = _system(Ab, Bb, C, D)
    z = finite("z", numeric_array("z", z, allow_complex=True).astype(complex))
    return z * _resolvent(Ab, Bb, C, z, "z") + D.reshape(S + (1,) * z.ndim)


def frequency_response(Ab, Bb, C, D, omega):
    """``H(e^{i omega}) = C (I - Ab e^{-i omega})^{-1} Bb + D``, the discrete transfer
    function on the unit circle; for stable Ab it equals the kernel's DTFT
    ``sum_k K[k] e^{-i omega k} + D``.

    Ab : (N, N) or (H, N, N);  Bb, C : (N,) or (H, N);  D : scalar or (H,), or None for 0
    omega : real array (...), finite, radians per step (e.g. 2 pi m / L for the DFT's bins)
    returns H : (...) for one SSM, (H, ...) for a bank, complex128

    Warns when max |eig(Ab)| > 1: H is then not the DTFT of the (growing) kernel.
    """
    omega = finite("omega", numeric_array("omega", omega))
    Ab_arr = _system(Ab, Bb, C, D)[0]
    _warn_unstable(Ab_arr, "H(e^{i omega}) is not the DTFT of the (growing) kernel")
    return discrete_transfer_function(Ab, Bb, C, D, np.exp(1j * omega))


def step_response(Ab, Bb, C, D, L):
    """``scan`` of the unit step u_k = 1 (k = 0 .. L-1): ``y_k = sum_{j=0}^{k} K[j] + D``.

    For stable Ab, y_k tends to the DC gain H(z = 1) = C (I - Ab)^{-1} Bb + D.

    Ab : (N, N) or (H, N, N);  Bb, C : (N,) or (H, N);  D : scalar or (H,) (None: 0)
    L : int >= 1
    returns y : (L,) or (H, L)
    """
    Ab, Bb, C, D, S = _system(Ab, Bb, C, D)
    L = integer("L", L, maximum=MAX_STEPS)
    affordable("L", int(np.prod(S + (L,), dtype=float)))
    return scan(Ab, Bb, C, D, np.ones(S + (L,)))
