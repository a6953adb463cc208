"""Chapter 6's checkers: independent solutions pass, the known slips fail with their hint,
the course functions that solve an exercise are refused, and the debug stubs' bugs are
the ones the statements describe."""

import numpy as np
import pytest

from seqlearn import discretize, hippo, s4
from seqlearn.exercises import EXERCISES, check

NAMES = ["s4.nplr_rebuild", "s4.cauchy", "s4.s4d_kernel", "s4.s4d_pairs_kernel",
         "s4.legt_low_rank"]


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


def cauchy_by_loops(v, omega, Lambda):
    return np.array([sum(vn / (w - ln) for vn, ln in zip(v, Lambda)) for w in omega])


def bilinear_by_steps(A_diag, B, C, dt, L):
    """x_k = Ab x_{k-1} + Bb u_k run on an impulse, one diagonal mode at a time."""
    A_diag, B, C = (np.asarray(x) for x in (A_diag, B, C))   # real stays real
    Ab = (2 + dt * A_diag) / (2 - dt * A_diag)
    x, out = dt * B / (1 - dt * A_diag / 2), []
    for _ in range(L):
        out.append(np.sum(C * x))
        x = Ab * x
    return np.array(out)


def pairs_by_full_system(A_half, B, C, dt, L):
    """The 2N modes written out, then the real part of their complex sum."""
    A, Bf, Cf = (np.concatenate([x, np.conj(x)]) for x in
                 (np.asarray(A_half, complex), np.asarray(B, complex), np.asarray(C, complex)))
    Ab = np.exp(dt * A)
    Bb = (Ab - 1) / A * Bf
    return np.array([np.sum(Cf * Bb * Ab ** k) for k in range(L)]).real


def legt_low_rank_by_parity(N):
    r = np.sqrt(2 * np.arange(N) + 1.0)
    even = np.where(np.arange(N) % 2 == 0, r, 0)
    return np.outer(even, even) + np.outer(r - even, r - even)


@pytest.mark.parametrize("name, fn", [
    ("s4.cauchy", cauchy_by_loops),
    ("s4.s4d_kernel", bilinear_by_steps),
    ("s4.s4d_pairs_kernel", pairs_by_full_system),
    ("s4.legt_low_rank", legt_low_rank_by_parity)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


@pytest.mark.parametrize("name", NAMES)
def test_each_mistake_gets_its_hint(capsys, course_functions_allowed, name):
    for hint, wrong in EXERCISES[name].mistakes.items():
        ok, out = run(capsys, name, wrong)
        assert not ok
        assert " ".join(hint.split())[:40] in out, (hint, out)


@pytest.mark.parametrize("name, fn", [
    ("s4.s4d_kernel", lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L, "bilinear")),
    ("s4.s4d_kernel", lambda A, B, C, dt, L: s4.s4d_kernel(
        np.log(discretize.discretize_diag(A, B, dt, "bilinear")[0]), 1.0, 1.0, 1.0, L)),
    ("s4.s4d_pairs_kernel", lambda A, B, C, dt, L: s4.s4d_kernel(A, B, C, dt, L,
                                                                 conj_pairs=True)),
    ("s4.legt_low_rank", lambda N: s4.nplr("legt", N)[1].T @ s4.nplr("legt", N)[1])])
def test_the_course_functions_that_solve_it_are_refused(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert not ok and "course's own" in out, out


def test_the_debug_stubs_bugs_hide_where_the_statements_say():
    """The Cauchy stub is right for N = M = 1 and wrong (silently) for N = M > 1; the
    conjugate-pair stub is right when every input is real and wrong otherwise."""
    def stub_cauchy(v, omega, Lambda):
        D = omega[None, :] - Lambda[:, None]
        return (v / D).sum(axis=0)

    rng = np.random.default_rng(0)
    one = (np.array([2.0 + 0j]), np.array([1j]), np.array([-0.5 + 0j]))
    # one term: exact up to one rounding, relative 2^-52; 1e-15 is 4.5 ulp
    assert np.allclose(stub_cauchy(*one), s4.cauchy(*one), rtol=1e-15, atol=0)
    v, omega, lam = (rng.standard_normal(3) + 1j * rng.standard_normal(3) for _ in range(3))
    assert np.abs(stub_cauchy(v, omega, lam) - s4.cauchy(v, omega, lam)).max() > 0.1
    with pytest.raises(ValueError):
        stub_cauchy(v, omega[:2], lam)

    buggy = EXERCISES["s4.s4d_pairs_kernel"].mistakes
    bug = next(f for hint, f in buggy.items() if hint.startswith("the partner"))
    real = (np.array([-0.5, -1.5]), np.array([1.0, 2.0]), np.array([0.3, -1.0]), 0.1, 20)
    # real inputs: the two routes sum the same 2N real terms in another order; |K| <= 2
    # sum |C_n Bb_n| ~ 0.5, so rounding stays below 1e-15; 1e-13 is far above it
    assert np.allclose(bug(*real), s4.s4d_kernel(*real, conj_pairs=True), rtol=0, atol=1e-13)
    cplx = (s4.s4d_lin_init(3), np.ones(3), np.array([1.0, 1j, 1 - 1j]), 0.1, 20)
    assert np.abs(bug(*cplx) - s4.s4d_kernel(*cplx, conj_pairs=True)).max() > 0.01


@pytest.mark.parametrize("N", [2, 5, 8, 13])
def test_legt_low_rank_makes_legt_skew_with_rank_two(N):
    X = EXERCISES["s4.legt_low_rank"].reference(N)
    A, _ = hippo.hippo_matrix("legt", N)
    # X = P^T P from s4.nplr: entries sqrt(2n+1) sqrt(2k+1) <= 2N, each one rounding off
    # the products of A's definition: 1e-12 is > 100 ulp at N = 13 (|entries| <= 26)
    assert np.allclose(A + X, -(A + X).T, rtol=0, atol=1e-12)
    assert np.linalg.matrix_rank(X) == 2
    assert np.linalg.eigvalsh(X).min() > -1e-12   # PSD up to rounding (entries <= 2N)
