"""HiPPO online update: seconds for ``hippo.online_coefficients`` over L samples, N states.

    python benchmarks/hippo_online.py [--L 10000] [--N 256] [--old-steps L] [--threads 1]

Prints, measured in this one run:
  legs, "bilinear" (the default) and "zoh": the current code (O(N^2) per step: one
      triangular solve, or Gauss quadrature for exp(h_k A)), and the old per-step path
      (``discretize`` at every step: dense solves or expm, plus two eigvals for a
      stability warning that was then suppressed; a copy of it is kept below). The old
      path runs all L steps unless --old-steps is smaller (at N = 256 a full L = 10,000
      takes minutes); then its time is scaled to L, as its cost per step does not fall
      with k;
  legt, lagt (LTI: discretize once, then a matrix-vector product per step), for comparison;
  and checks that old and new give the same coefficients on the steps both ran.
"""

import argparse
import os
import sys
import time
import warnings

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--L", type=int, default=10_000, help="samples (steps)")
parser.add_argument("--N", type=int, default=256, help="coefficients (state size)")
parser.add_argument("--old-steps", type=int, default=None,
                    help="steps of the old per-step path to time (default L; fewer are "
                         "scaled to L)")
parser.add_argument("--threads", type=int, default=1, help="BLAS threads (set before numpy)")
args = parser.parse_args()
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import numpy as np  # noqa: E402
from scipy.linalg import expm  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from seqlearn.hippo import hippo_matrix, online_coefficients  # noqa: E402


def old_discretize(A, B, dt, method, alpha):
    """The old ``discretize`` as the LegS loop used it: dense solves (or the block expm),
    then eigvals of A and of Ab for the stability warning."""
    N = A.shape[0]
    if method == "zoh":
        block = np.zeros((N + 1, N + 1))
        block[:N, :N], block[:N, N] = A, B
        E = expm(dt * block)
        Ab, Bb = E[:N, :N], E[:N, N]
    else:
        I = np.eye(N)
        lhs = I - alpha * dt * A
        Ab = np.linalg.solve(lhs, I + (1.0 - alpha) * dt * A)
        Bb = np.linalg.solve(lhs, dt * B)
    np.linalg.eigvals(A).real.max(), np.abs(np.linalg.eigvals(Ab)).max()
    return Ab, Bb


def old_legs(f, N, method, steps):
    """The old LegS loop (``online_coefficients`` before the O(N^2) update), first steps."""
    A, B = hippo_matrix("legs", N)
    alpha = None if method == "zoh" else {"bilinear": 0.5}[method]
    a = 0.5 if alpha is None else alpha
    u = (1.0 - a) * f[:-1] + a * f[1:]
    out = np.zeros((steps, N))
    out[0, 0] = f[0]
    for k in range(1, steps):
        c = out[k - 1]
        if k > 1:
            h = np.log(k / (k - 1)) if method == "zoh" else 1.0 / (k - 1 + a)
            Ab, Bb = old_discretize(A, B, h, method, a)
            out[k] = c @ Ab.T + u[k - 1] * Bb
        elif method == "zoh":
            out[1, 0] = u[0]
        else:
            Ab, Bb = old_discretize(A, B, 1.0, "backward_euler", 1.0)
            out[1] = c @ Ab.T + f[1] * Bb
    return out


def seconds(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


L, N = args.L, args.N
old_steps = L if args.old_steps is None else max(2, min(args.old_steps, L))
t = 0.01 * np.arange(L)
f = np.sin(t) + 0.5 * np.cos(3.7 * t)
print(f"online_coefficients, L = {L:,}, N = {N}, {args.threads} BLAS thread(s)")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for method in ("bilinear", "zoh"):
        new_s, new = seconds(lambda: online_coefficients("legs", f, 0.01, N, method=method))
        old_s, old = seconds(lambda: old_legs(f, N, method, old_steps))
        old_full = old_s * (L - 1) / (old_steps - 1)
        diff = np.abs(new[:old_steps] - old).max() / np.abs(old).max()
        how = "" if old_steps == L else f", {old_steps} steps timed, scaled to L"
        print(f"  legs {method:9} new {new_s:7.2f} s ({1e3 * new_s / L:.3f} ms/step)   "
              f"old {old_full:7.1f} s ({1e3 * old_s / old_steps:.2f} ms/step{how})   "
              f"ratio {old_full / new_s:5.0f}x   max rel. difference {diff:.1e}")
    for kind in ("legt", "lagt"):
        s, _ = seconds(lambda: online_coefficients(kind, f, 0.01, N, theta=1.0))
        print(f"  {kind} bilinear   {s:7.2f} s ({1e3 * s / L:.3f} ms/step)")
