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


# ---------------------------------------------------------------- Fourier (debug), derivative

def fourier_by_loops(f, t, N):
    t0, T = t[0], t[-1] - t[0]
    c = np.zeros(N)
    for n in range(N):
        k = (n + 1) // 2
        trig = np.cos if n % 2 == 1 else np.sin
        row = (np.full(len(t), 1 / np.sqrt(T)) if n == 0
               else np.sqrt(2 / T) * trig(2 * np.pi * k * (np.asarray(t) - t0) / T))
        for j in range(len(t) - 1):
            h = t[j + 1] - t[j]
            c[n] += h / 2 * (f[j] * row[j] + f[j + 1] * row[j + 1])
    return c


def derivative_by_quadrature(N, window):
    """D[n, k] = <phi_n', phi_k> with numpy's exact P_n' and Gauss-Legendre quadrature,
    exact for these polynomials of degree < 2N."""
    t0, t1 = window
    T = t1 - t0
    x, w = npl.leggauss(N + 1)
    P = np.array([npl.legval(x, np.eye(N)[n]) for n in range(N)])
    dP = np.array([npl.legval(x, npl.legder(np.eye(N)[n])) for n in range(N)])
    norm = np.sqrt((2 * np.arange(N) + 1) / T)[:, None]
    phi, dphi = norm * P, norm * dP * 2 / T
    return dphi @ (phi * w * T / 2).T


@pytest.mark.parametrize("name, fn", [("basis.fourier_project", fourier_by_loops),
                                      ("basis.legendre_derivative", derivative_by_quadrature)])
def test_the_new_exercises_pass_independent_solutions(capsys, name, fn):
    ok, out = run(capsys, name, fn)
    assert ok, out


def fourier_stub(f, t, N):     # the chapter's Debug exercise: the pairs start at k = 0
    t0, T = t[0], t[-1] - t[0]
    x = 2 * np.pi * (t - t0) / T
    rows = [np.full(len(t), 1 / np.sqrt(T))]
    for k in range(N // 2):
        rows += [np.sqrt(2 / T) * np.cos(k * x), np.sqrt(2 / T) * np.sin(k * x)]
    phi = np.array(rows[:N])
    return np.trapezoid(phi * f, t, axis=-1)


def test_the_fourier_stub_fails_with_the_symptoms_the_exercise_states(capsys):
    t = np.linspace(0, 1, 101)
    c = fourier_stub(np.exp(t), t, 5)
    # the symptoms are exact by construction: sin(0 x) = 0, cos(0 x) = 1
    assert c[2] == 0 and np.isclose(c[1], np.sqrt(2) * c[0], rtol=1e-15)  # rounding only
    ok, out = run(capsys, "basis.fourier_project", fourier_stub)
    assert not ok and "case 1 of 3 fails" in out


def test_the_measure_is_refused_although_the_reference_calls_it_from_a_generator(capsys):
    ok, out = run(capsys, "basis.measure", lambda s, t, theta: np.stack(
        [basis.measure(k, s, t, theta) for k in ("legt", "lagt", "legs")]))
    assert not ok and "course's own" in out


# ------------------------------------------------ one-line calls to what the chapter shows

def _hippo_reconstruct(c, t):
    from seqlearn import hippo
    T = t[-1] - t[0]
    return hippo.reconstruct("legt", np.asarray(c) / np.sqrt(T), t[-1], t, theta=T)


def _fourier_by_the_printed_code(f, t, N):
    return np.trapezoid(basis.fourier(N, t, (t[0], t[-1])) * f, t, axis=-1)


@pytest.mark.parametrize("name, fn", [
    ("basis.legendre", lambda N, s, window: basis.evaluate("legendre", N, s, window)),
    ("basis.legendre", lambda N, s, window: basis.measure_basis(
        "legt", N, s, window[1], window[1] - window[0]) / np.sqrt(window[1] - window[0])),
    ("basis.project", lambda f, t, N: basis.project(f, t, "legendre", N)),
    ("basis.reconstruct", lambda c, t: basis.reconstruct(c, t, "legendre")),
    ("basis.reconstruct", _hippo_reconstruct),
    ("basis.fourier_project", lambda f, t, N: basis.project(f, t, "fourier", N)),
    ("basis.fourier_project", _fourier_by_the_printed_code),
    ("basis.fourier_project", lambda f, t, N: np.trapezoid(
        basis.evaluate("fourier", N, t, (t[0], t[-1])) * f, t, axis=-1)),
])
def test_a_one_line_call_to_a_function_the_chapter_shows_is_refused(capsys, name, fn):
    # each of these matches the reference (review turn 3, finding 9); the exercise is to
    # write the computation, so the checker names the course function instead
    ok, out = run(capsys, name, fn)
    assert not ok and "course's own" in out, out


def test_the_reconstruct_solution_may_still_call_the_legendre_exercise(capsys):
    ok, out = run(capsys, "basis.reconstruct", lambda c, t: np.asarray(c) @ basis.legendre(
        np.shape(c)[-1], t, (t[0], t[-1])))
    assert ok, out
