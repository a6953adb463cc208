"""Chapter 4's checkers: independent solutions pass (written here from the derivations, not
from seqlearn.hippo), and the bugs the exercises plant or invite fail with a hint that
names them."""

import numpy as np
import pytest
from numpy.polynomial import laguerre as npla
from numpy.polynomial import legendre as npl
from scipy.linalg import expm, solve_triangular

from seqlearn.exercises import check


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------- independent solutions

def legs_matrices(N):
    """LegS from its entries, loop by loop."""
    A, B = np.zeros((N, N)), np.zeros(N)
    for n in range(N):
        B[n] = np.sqrt(2 * n + 1)
        for k in range(n):
            A[n, k] = -np.sqrt(2 * n + 1) * np.sqrt(2 * k + 1)
        A[n, n] = -(n + 1)
    return A, B


def lagt_by_laguerre_derivatives(N, theta):
    """A from L_n' read off numpy's lagder: c_n' = (-c_n + sum_k [L_n']_k c_k + f) / theta."""
    A = -np.eye(N)
    for n in range(N):
        d = npla.lagder(np.eye(N)[n])
        A[n, :d.size] += d
    return A / theta, np.ones(N) / theta


def legt_by_steps(N, theta):
    """Steps 2-5 of the chapter with numpy's legder and legval for P_n', P_n(-1)."""
    r = np.sqrt(2 * np.arange(N) + 1.0)
    end = npl.legval(-1.0, np.eye(N))                 # P_n(-1)
    A = -np.outer(r * end, r * end)                   # -r_n P_n(-1) f(t - theta), rebuilt
    for n in range(N):
        d = npl.legder(np.eye(N)[n])                  # P_n' in the Legendre basis
        A[n, :d.size] -= 2 * r[n] * d / r[:d.size]    # -(2/theta) r_n sum d_k P_k, P_k = g_k / r_k
    return A / theta, r / theta


def legs_reconstruct_by_loops(c, t, s):
    c = np.asarray(c, float)
    out = np.zeros(c.shape[:-1] + (len(s),))
    for n in range(c.shape[-1]):
        out += c[..., n, None] * np.sqrt(2 * n + 1) * npl.legval(2 * np.asarray(s) / t - 1,
                                                                 np.eye(n + 1)[n])
    return out


def legs_online_triangular(f, N):
    A, B = legs_matrices(N)
    c = np.zeros((len(f), N))
    c[0, 0] = f[0]
    for k in range(1, len(f)):
        s = k - 0.5
        c[k] = solve_triangular(s * np.eye(N) - A / 2, (s * np.eye(N) + A / 2) @ c[k - 1]
                                + B * (f[k - 1] + f[k]) / 2, lower=True)
    return c


def legs_step_triangular(c, f, h):
    A, B = legs_matrices(len(c))
    return solve_triangular(np.eye(len(c)) - h * A, np.asarray(c) + h * B * f, lower=True)


def legs_silence_by_expm(c, rho):
    return expm(np.log(rho) * legs_matrices(len(c))[0]) @ np.asarray(c)


@pytest.mark.parametrize("name, fn", [
    ("hippo.lagt", lagt_by_laguerre_derivatives), ("hippo.legt", legt_by_steps),
    ("hippo.legs_reconstruct", legs_reconstruct_by_loops),
    ("hippo.legs_online", legs_online_triangular), ("hippo.legs_step", legs_step_triangular),
    ("hippo.legs_silence", legs_silence_by_expm)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


# ---------------------------------------------------------------- the planted bugs

def legt_transposed(N, theta):
    """The stub of ex-legt-debug: the sign pattern on the wrong side of the diagonal."""
    n = np.arange(N)
    r = np.sqrt(2 * n + 1)
    row, col = n[:, None], n[None, :]
    sign = np.where(row <= col, 1.0, (-1.0) ** (row - col))
    return -sign * np.outer(r, r) / theta, r / theta


def legs_online_newest_sample(f, N):
    """The stub of ex-legs-online: step k fed f_k alone."""
    A, B = legs_matrices(N)
    c = np.zeros((len(f), N))
    c[0, 0] = f[0]
    for k in range(1, len(f)):
        s = k - 0.5
        c[k] = np.linalg.solve(s * np.eye(N) - A / 2, (s * np.eye(N) + A / 2) @ c[k - 1]
                               + B * f[k])
    return c


def legs_step_old_sum(c, f, h):
    c = np.asarray(c, float)
    r = np.sqrt(2 * np.arange(c.size) + 1)
    below = np.cumsum(r * c) - r * c
    return (c + h * r * (f - below)) / (1 + h * (np.arange(c.size) + 1))


@pytest.mark.parametrize("name, fn, hint", [
    ("hippo.legt", legt_transposed, "A is transposed"),
    ("hippo.legs_online", legs_online_newest_sample, "newest sample f_k alone"),
    ("hippo.legs_step", legs_step_old_sum, "reads the old coefficients"),
    ("hippo.legs_silence", lambda c, rho: np.asarray(c, float) / rho, "only scaled"),
    ("hippo.lagt", lambda N, theta: (-np.tril(np.ones((N, N)), -1) / theta, np.ones(N) / theta),
     "diagonal is missing")])
def test_planted_bugs_fail_with_their_hint(capsys, name, fn, hint):
    ok, out = run(capsys, name, fn)
    assert not ok and hint in out, out
