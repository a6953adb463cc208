"""Chapter 5's checkers (discretize.bilinear, .zoh_diag, .zoh, .foh): independent solutions
pass, the chapter's broken stubs fail, and the slips the exercises are about get their hint."""

import numpy as np
import pytest
from scipy.integrate import quad_vec
from scipy.linalg import expm

from seqlearn.exercises import check


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------- independent solutions

def bilinear_by_inverse(A, B, dt):
    I = np.eye(len(A))
    inv = np.linalg.inv(I - dt / 2 * A)
    return inv @ (I + dt / 2 * A), inv @ (dt * B)


def zoh_diag_by_series(A_diag, B, dt):
    """Bb = dt B sum_j z^j / (j + 1)!, summed to rounding for |z| < 1, exp(z) - 1 over
    lambda otherwise (where it keeps its digits)."""
    z = dt * np.asarray(A_diag, dtype=complex)
    small = np.abs(z) < 1
    term, series = np.ones_like(z), np.zeros_like(z)
    for j in range(40):                  # |z|^40 / 41! < 1e-49: the series is summed
        series += term
        term = term * z / (j + 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        big = (np.exp(z) - 1) / np.where(small, 1, z)
    phi = np.where(small, series, big)
    Bb = dt * phi * B
    real = np.isrealobj(A_diag) and np.isrealobj(B)
    return (np.exp(dt * np.asarray(A_diag)), Bb.real if real else Bb)


def zoh_by_quadrature(A, B, dt):
    """Bb = int_0^dt e^{sA} ds B by adaptive quadrature, no block exponential."""
    integral, _ = quad_vec(lambda s: expm(s * A) @ B, 0, dt, epsabs=1e-13, epsrel=1e-12)
    return expm(dt * A), integral


def foh_by_quadrature(A, B, dt):
    """The two input weights of the first-order hold as integrals over the step."""
    ramp = lambda w: quad_vec(lambda s: expm((dt - s) * A) @ B * w(s), 0, dt,
                              epsabs=1e-13, epsrel=1e-12)[0]
    return expm(dt * A), ramp(lambda s: 1 - s / dt), ramp(lambda s: s / dt)


@pytest.mark.parametrize("name, fn", [
    ("discretize.bilinear", bilinear_by_inverse), ("discretize.zoh_diag", zoh_diag_by_series),
    ("discretize.zoh", zoh_by_quadrature), ("discretize.foh", foh_by_quadrature)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


# ---------------------------------------------------------------- the chapter's stubs

def bilinear_stub(A, B, dt):           # the Debug exercise's code: the two factors swapped
    I = np.eye(A.shape[0])
    lhs = I + dt / 2 * A
    return np.linalg.solve(lhs, I - dt / 2 * A), np.linalg.solve(lhs, dt * B)


def zoh_stub(A, B, dt):                # the Debug exercise's code: Euler's input matrix
    return expm(dt * A), dt * B


@pytest.mark.parametrize("name, fn", [("discretize.bilinear", bilinear_stub),
                                      ("discretize.zoh", zoh_stub)])
def test_the_debug_stubs_fail(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert not ok and "case 1 of 3 fails" in out


def test_the_swapped_bilinear_is_unstable_for_a_stable_A():
    A = np.array([[-0.1, 5.0], [-5.0, -0.1]])
    Ab, _ = bilinear_stub(A, np.ones(2), 0.1)
    assert np.abs(np.linalg.eigvals(Ab)).max() > 1   # 1/z of the bilinear map: outside


def test_the_naive_diagonal_zoh_gets_the_expm1_hint(capsys):
    def naive(A_diag, B, dt):
        return np.exp(dt * A_diag), (np.exp(dt * A_diag) - 1) * B / A_diag
    with np.errstate(divide="ignore", invalid="ignore"):
        ok, out = run(capsys, "discretize.zoh_diag", naive)
    assert not ok and "np.expm1" in out


def test_the_diagonal_zoh_with_the_limit_at_zero_but_no_expm1_fails(capsys):
    def no_expm1(A_diag, B, dt):
        z = dt * A_diag
        safe = np.where(z == 0, 1, z)
        return np.exp(z), dt * np.where(z == 0, 1, (np.exp(safe) - 1) / safe) * B
    ok, out = run(capsys, "discretize.zoh_diag", no_expm1)
    assert not ok and "case 3 of 3" in out


def test_the_diagonal_zoh_with_expm1_but_no_limit_at_zero_fails(capsys):
    def no_limit(A_diag, B, dt):
        z = dt * A_diag
        return np.exp(z), dt * np.expm1(z) / z * B
    with np.errstate(divide="ignore", invalid="ignore"):
        ok, out = run(capsys, "discretize.zoh_diag", no_limit)
    assert not ok and "case 1 of 3" in out


def test_scipy_cont2discrete_is_refused(capsys):
    from scipy.signal import cont2discrete

    def by_scipy(A, B, dt):
        Ad, Bd, *_ = cont2discrete((A, B[:, None], B[None], 0.0), dt, method="zoh")
        return Ad, Bd[:, 0]
    ok, out = run(capsys, "discretize.zoh", by_scipy)
    assert not ok and "cont2discrete" in out
