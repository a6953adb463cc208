"""Chapter 3's checkers (basis.legendre, basis.project, basis.reconstruct, basis.measure):
independent solutions pass, the reviewed slips fail with a hint that names them."""

import numpy as np
import pytest
from numpy.polynomial import legendre as npl

from seqlearn import basis
from seqlearn.exercises import EXERCISES, check


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------- independent solutions

def legendre_by_numpy(N, s, window):
    t0, t1 = window
    x = 2 * (np.asarray(s, float) - t0) / (t1 - t0) - 1
    return np.array([np.sqrt((2 * n + 1) / (t1 - t0)) * npl.legval(x, np.eye(N)[n])
                     for n in range(N)])


def project_by_loops(f, t, N):
    phi = legendre_by_numpy(N, t, (t[0], t[-1]))
    c = np.zeros(N)
    for j in range(len(t) - 1):
        h = t[j + 1] - t[j]
        c += h / 2 * (f[j] * phi[:, j] + f[j + 1] * phi[:, j + 1])
    return c


def reconstruct_by_numpy(c, t):
    c = np.asarray(c, float)
    return np.einsum("...n,nm->...m", c, legendre_by_numpy(c.shape[-1], t, (t[0], t[-1])))


def measures_by_cases(s, t, theta):
    s = np.asarray(s, float)
    out = np.zeros((3, len(s)))
    for i, x in enumerate(s):
        if t - theta <= x <= t:
            out[0, i] = 1 / theta
        if x <= t:
            out[1, i] = np.exp(-(t - x) / theta) / theta
        if 0 <= x <= t:
            out[2, i] = 1 / t
    return out


@pytest.mark.parametrize("name, fn", [
    ("basis.legendre", legendre_by_numpy), ("basis.project", project_by_loops),
    ("basis.reconstruct", reconstruct_by_numpy), ("basis.measure", measures_by_cases)])
def test_independent_solutions_pass(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


def test_the_measure_cases_reach_the_future_the_far_past_and_before_zero():
    ex = EXERCISES["basis.measure"]
    fixed = [ex.cases(np.random.default_rng(0))]
    for cases in fixed + [ex.hidden(np.random.default_rng(seed)) for seed in range(20)]:
        for s, t, theta in cases:
            assert np.any(s > t) and np.any(s < t - theta) and np.any(s < 0)


# ---------------------------------------------------------------- the reviewed slips

def project_with_trapz(f, t, N):
    phi = basis.legendre(N, t, (t[0], t[-1]))
    return np.trapz(phi * f, t, axis=-1)   # removed in NumPy 2.4


@pytest.mark.skipif(hasattr(np, "trapz"), reason="this NumPy still has np.trapz")
def test_np_trapz_gets_a_hint_to_use_trapezoid(capsys):
    ok, out = run(capsys, "basis.project", project_with_trapz)
    assert not ok
    assert "np.trapezoid" in out and "hint:" in out


def reconstruct_transposed(c, t):
    return basis.legendre(np.shape(c)[-1], t, (t[0], t[-1])).T @ c


def test_transposed_reconstruction_fails_on_the_batched_case(capsys):
    # legendre(...).T @ c equals c @ legendre(...) for a single c, so only the batched
    # case (2, 4) can catch it: it fails there, and the message names the case.
    ok, out = run(capsys, "basis.reconstruct", reconstruct_transposed)
    assert not ok
    assert "case 3 of 3" in out


@pytest.mark.parametrize("slip, words", [
    ("fixed window", "fixed window [0, 1]"),
    ("unnormalised", "plain Legendre polynomials"),
    ("no T", "without the window length"),
    ("dropped", "last coefficient is dropped"),
])
def test_reconstruct_slips_get_their_hint(capsys, slip, words):
    mistakes = EXERCISES["basis.reconstruct"].mistakes
    [fn] = [f for d, f in mistakes.items() if words in " ".join(d.split())]
    ok, out = run(capsys, "basis.reconstruct", fn)
    assert not ok and "hint:" in out and words in out


def test_a_student_style_unnormalised_reconstruction_gets_the_hint(capsys):
    def plain(c, t):
        x = 2 * (np.asarray(t) - t[0]) / (t[-1] - t[0]) - 1
        N = np.shape(c)[-1]
        return np.asarray(c) @ np.array([npl.legval(x, np.eye(N)[n]) for n in range(N)])

    ok, out = run(capsys, "basis.reconstruct", plain)
    assert not ok and "plain Legendre polynomials" in out


def test_a_student_style_measure_without_the_cut_gets_the_hint(capsys):
    def no_cut(s, t, theta):
        out = measures_by_cases(s, t, theta)
        out[1] = np.exp(-(t - np.asarray(s)) / theta) / theta
        return out

    ok, out = run(capsys, "basis.measure", no_cut)
    assert not ok and "weighs the future" in out


def test_the_chapter_does_not_print_the_legendre_reference_before_its_exercise(root):
    from seqlearn.notebooks import read, source
    nb = read(root / "book" / "03_signals_and_bases.ipynb")
    code = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "code")
    for name in ["legendre", "project", "reconstruct", "measure"]:
        assert f"getsource(basis.{name})" not in code
