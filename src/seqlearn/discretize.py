"""Discretisation (chapter 5): from the continuous state space model to a recurrence.

    continuous   x'(t) = A x(t) + B u(t),          y(t) = C x(t) + D u(t)
    discrete     x_k = Ab x_{k-1} + Bb u_k,         y_k = C x_k + D u_k     (S4's convention)

    GBT (generalised bilinear transform), alpha in [0, 1]:
        Ab = (I - alpha dt A)^{-1} (I + (1 - alpha) dt A)
        Bb = (I - alpha dt A)^{-1} dt B
        alpha = 0 forward Euler, alpha = 1 backward Euler, alpha = 1/2 bilinear (Tustin)
    ZOH (zero-order hold):
        Ab = exp(dt A),     Bb = A^{-1} (exp(dt A) - I) B = int_0^dt exp(s A) ds B
        computed as the top blocks of exp(dt [[A, B], [0, 0]]), so A may be singular.

The input u_k enters the state at step k (x_k already contains u_k), as in S4.
For ZOH this is exact when the sample u_k is held over the interval (t_{k-1}, t_k]
that *ends* at t_k = k dt; then x_k = x(t_k).

Relation to ``scipy.signal.cont2discrete`` (which writes x[k+1] = Ad x[k] + Bd u[k],
y[k] = Cd x[k] + Dd u[k]): the matrices are the same, Ab = Ad and Bb = Bd, for "zoh"
and "gbt" (and its "bilinear", "euler", "backward_diff"). The difference is the output
equation. SciPy's state x[k] is the state *before* u[k] arrives (our x_{k-1}); with
SciPy's ZOH, Cd = C, Dd = D, so its y[k] sees u[k] only through D. For the GBT SciPy
also changes the output, Cd = C (I - alpha dt A)^{-1}, Dd = D + alpha C Bd, so that
its transfer function is exactly H_c(s) at s = (z - 1) / (dt (alpha z + 1 - alpha)).
S4's convention instead feeds u_k where the trapezoid rule has
alpha u_k + (1 - alpha) u_{k-1}; its discrete transfer function is therefore
    H(z) = z / (alpha z + 1 - alpha) * (H_c(s) - D) + D
(equal to SciPy's for backward Euler, alpha = 1; see ``seqlearn.ssm.frequency_response``).
In SciPy's form, S4's system is (Ad, Bd, Cd, Dd) = (Ab, Bb, C Ab, C Bb + D), since
y_k = C (Ab x_{k-1} + Bb u_k) + D u_k.

Glossary (code name -> symbol):
    A, B              -> the continuous state matrix A (N, N) and input matrix B (N,) or (N, M)
    Ab, Bb            -> the discrete A-bar, B-bar
    dt                -> the step Delta (> 0)
    alpha             -> the GBT parameter alpha in [0, 1]
    method            -> "forward_euler", "backward_euler", "bilinear", "gbt" or "zoh"
    A_diag            -> the diagonal of a diagonal A (S4D, Mamba): lambda_n, real or complex
    rho               -> the spectral radius max |eig(Ab)|
"""

import warnings

import numpy as np
from scipy.linalg import expm

from seqlearn._checks import affordable, finite, number, numeric_array, positive

#: the GBT parameter each named method fixes (None: not a GBT, or alpha given by the caller)
METHODS = {"forward_euler": 0.0, "backward_euler": 1.0, "bilinear": 0.5, "gbt": None,
           "zoh": None}

# Eigenvalues this close (relative) to the stability boundary count as marginal, not
# unstable: rounding moves the computed eigenvalues of non-normal matrices by about this.
_MARGIN = 1e-8


def method_alpha(method, alpha):
    """The validated method name and its GBT alpha (None for ZOH); also used by ``hippo``."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    if alpha is not None:
        what = "a real number in [0, 1]"
        alpha = number("alpha", alpha, what=what)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: expected {what}, got {alpha!r}")
    fixed = METHODS[method]
    if method == "gbt":
        if alpha is None:
            raise ValueError("alpha: expected a number in [0, 1] for method 'gbt', got None")
        return method, alpha
    if method == "zoh":
        if alpha is not None:
            raise ValueError(f"alpha: expected None for method 'zoh' (not a GBT), "
                             f"got {alpha!r}")
        return method, None
    if alpha is not None and alpha != fixed:
        raise ValueError(f"alpha: expected None or {fixed} for method {method!r}, "
                         f"got {alpha!r}")
    return method, fixed


def _warn_stability(re_max, scale, rho, method, dt):
    """Warn when A is unstable, or when Ab is unstable although A is not."""
    if re_max > _MARGIN * max(1.0, scale):
        warnings.warn(f"unstable continuous system: A has an eigenvalue with real part "
                      f"{re_max:.3g} > 0, so the state grows without bound", stacklevel=3)
    elif rho > 1.0 + _MARGIN:
        dt_text = f"{dt:.3g}" if np.ndim(dt) == 0 else f"up to {np.max(dt):.3g}"
        warnings.warn(f"unstable discretisation: method {method!r} with dt = {dt_text} "
                      f"gives spectral radius max |eig(Ab)| = {rho:.6g} > 1 although A is "
                      f"stable (take a smaller dt, or use 'zoh' or 'bilinear')", stacklevel=3)


def discretize(A, B, dt, method, alpha=None):
    """Discretise ``x' = A x + B u`` with step ``dt`` into ``x_k = Ab x_{k-1} + Bb u_k``.

        gbt  Ab = (I - alpha dt A)^{-1} (I + (1 - alpha) dt A),  Bb = (I - alpha dt A)^{-1} dt B
             ("forward_euler": alpha = 0, "backward_euler": 1, "bilinear": 1/2)
        zoh  Ab = exp(dt A),  Bb = A^{-1} (exp(dt A) - I) B   (via exp(dt [[A, B], [0, 0]]))

    A : (N, N), real or complex, finite
    B : (N,) or (N, M), finite
    dt : float > 0, the step (refused if dt A, or the result, overflows)
    method : "forward_euler", "backward_euler", "bilinear", "gbt" or "zoh"
    alpha : float in [0, 1], required for "gbt"; the named GBTs accept None or their own
        value; "zoh" accepts only None
    returns (Ab, Bb) : Ab (N, N), Bb with B's shape; float64 (complex128 if A or B is)

    Warns (UserWarning) when A has an eigenvalue with positive real part ("unstable
    continuous system"), or when A is stable but rho = max |eig(Ab)| > 1 ("unstable
    discretisation", naming the method, dt and rho), e.g. forward Euler with a large dt.
    Both tests allow a relative 1e-8 for rounding, so marginal systems (an eigenvalue 0,
    or |eig(Ab)| = 1) do not warn.
    The matrices equal scipy.signal.cont2discrete's Ad, Bd; see the module docstring
    for how the output equations differ.
    """
    method, alpha = method_alpha(method, alpha)
    A = numeric_array("A", A, allow_complex=True)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"A: expected a square matrix (N, N) with N >= 1, got shape {A.shape}")
    finite("A", A)
    N = A.shape[0]
    B = numeric_array("B", B, allow_complex=True)
    if B.ndim not in (1, 2) or B.shape[0] != N or (B.ndim == 2 and B.shape[1] == 0):
        raise ValueError(f"B: expected shape ({N},) or ({N}, M) (N = {N} from A), "
                         f"got {B.shape}")
    finite("B", B)
    dt = positive("dt", dt, scalar=True)
    with np.errstate(over="ignore"):
        if not np.all(np.isfinite(dt * A)):
            raise ValueError(f"dt: expected a step for which dt A is finite, got dt = {dt} "
                             f"(dt A overflows)")
    B2 = B.reshape(N, -1)
    if method == "zoh":
        M = B2.shape[1]
        affordable("B", (N + M) ** 2)
        block = np.zeros((N + M, N + M), dtype=np.result_type(A, B2))
        block[:N, :N], block[:N, N:] = A, B2
        with np.errstate(over="ignore", invalid="ignore"):
            E = expm(dt * block)
        Ab, Bb = E[:N, :N], E[:N, N:]
    else:
        I = np.eye(N)
        lhs = I - alpha * dt * A
        try:
            Ab = np.linalg.solve(lhs, I + (1.0 - alpha) * dt * A)
            Bb = np.linalg.solve(lhs, dt * B2)
        except np.linalg.LinAlgError:
            raise ValueError(f"dt: expected a step for which I - alpha dt A is invertible, "
                             f"got dt = {dt} (alpha = {alpha}; 1/(alpha dt) is an "
                             f"eigenvalue of A)") from None
    if not (np.all(np.isfinite(Ab)) and np.all(np.isfinite(Bb))):
        raise ValueError(f"dt: expected a step for which Ab and Bb are finite, got dt = {dt} "
                         f"(method {method!r}: the discrete matrices overflow)")
    _warn_stability(np.linalg.eigvals(A).real.max(), np.abs(A).max(),
                    np.abs(np.linalg.eigvals(Ab)).max(), method, dt)
    return Ab, Bb.reshape(B.shape)


def discretize_diag(A_diag, B, dt, method, alpha=None):
    """``discretize`` for a diagonal A, elementwise (S4D, Mamba): z = dt * A_diag,

        gbt  Ab = (1 + (1 - alpha) z) / (1 - alpha z),   Bb = dt B / (1 - alpha z)
        zoh  Ab = exp(z),   Bb = (exp(z) - 1) / A_diag * B = dt * expm1(z) / z * B
             (the limit dt * B where A_diag = 0; expm1 keeps small z accurate)

    A_diag : (..., N), real or complex, finite, the eigenvalues lambda_n of A
    B : broadcastable with A_diag, e.g. (N,) or (H, N), finite
    dt : float > 0, or an array of them broadcastable with A_diag, e.g. (H, 1) for one
        step per channel (refused where Ab or Bb would overflow)
    method, alpha : as in ``discretize``
    returns (Ab, Bb) : Ab with the broadcast shape of (dt, A_diag), Bb with that of
        (dt, A_diag, B); float64, or complex128 if A_diag or B is complex

    Warns as ``discretize`` does, from the entries: Re(A_diag) > 0 is an unstable
    continuous system; |Ab| > 1 where every Re(A_diag) <= 0 an unstable discretisation.
    """
    method, alpha = method_alpha(method, alpha)
    A_diag = numeric_array("A_diag", A_diag, min_ndim=1, what="an array (..., N)",
                           allow_complex=True)
    finite("A_diag", A_diag)
    B = finite("B", numeric_array("B", B, allow_complex=True))
    dt = positive("dt", dt, scalar=False)
    try:
        shape = np.broadcast_shapes(dt.shape, A_diag.shape)
    except ValueError:
        raise ValueError(f"dt: expected a shape broadcastable with A_diag's {A_diag.shape}, "
                         f"got {dt.shape}") from None
    try:
        full = np.broadcast_shapes(shape, B.shape)
    except ValueError:
        raise ValueError(f"B: expected a shape broadcastable with {shape} (dt and A_diag), "
                         f"got {B.shape}") from None
    affordable("A_diag", int(np.prod(full, dtype=float)))  # the broadcast (dt, A_diag, B)
    with np.errstate(over="ignore", invalid="ignore"):
        z = dt * A_diag
        if method == "zoh":
            Ab = np.exp(z)
            safe = np.where(z == 0, 1.0, z)
            phi1 = np.where(z == 0, 1.0, np.expm1(safe) / safe)  # (e^z - 1) / z, 1 at z = 0
            Bb = dt * phi1 * B
        else:
            den = 1.0 - alpha * z
            if np.any(den == 0):
                raise ValueError(f"dt: expected steps with 1 - alpha dt A_diag != 0, got a "
                                 f"zero denominator (alpha = {alpha})")
            Ab = (1.0 + (1.0 - alpha) * z) / den
            Bb = dt * B / den
    if not (np.all(np.isfinite(Ab)) and np.all(np.isfinite(Bb))):
        raise ValueError(f"dt: expected steps for which Ab and Bb are finite, got steps up "
                         f"to {np.max(dt):.3g} (method {method!r}: dt A_diag or the discrete "
                         f"values overflow)")
    re_max = A_diag.real.max() if A_diag.size else 0.0
    rho = np.abs(Ab).max() if Ab.size else 0.0
    _warn_stability(re_max, np.abs(A_diag).max() if A_diag.size else 0.0, rho, method,
                    float(dt) if dt.ndim == 0 else dt)
    return Ab, Bb
