"""The checkers: right answers pass, every kind of wrong answer is explained,
nothing a student writes makes ``check`` raise."""

import re

import numpy as np
import pytest
import torch

from seqlearn import exercises
from seqlearn.exercises import EXERCISES, check
from seqlearn.notebooks import notebook_paths, read, source


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, capsys.readouterr().out


def loop_ema(x, alpha):
    """An independent student-style solution."""
    x = np.asarray(x, dtype=float)
    h, state = np.zeros_like(x), np.zeros(x.shape[:-1])
    for t in range(x.shape[-1]):
        state = alpha * state + (1 - alpha) * x[..., t]
        h[..., t] = state
    return h


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_reference_passes_its_own_checker(capsys, name):
    ok, out = run(capsys, name, EXERCISES[name].reference)
    assert ok and out.startswith("✅")


@pytest.mark.parametrize("name, mistake", [(n, d) for n, e in EXERCISES.items() for d in e.mistakes])
def test_each_known_mistake_fails_with_its_own_hint(capsys, name, mistake):
    ok, out = run(capsys, name, EXERCISES[name].mistakes[mistake])
    assert not ok
    flat = " ".join(out.split())
    assert "hint: " + " ".join(mistake.split()) in flat


def test_independent_solutions_pass(capsys):
    assert run(capsys, "intro.ema", loop_ema)[0]
    assert run(capsys, "intro.ema_kernel", lambda a, L: (1 - a) * a ** np.arange(L))[0]


def test_torch_tensor_results_are_accepted(capsys):
    assert run(capsys, "intro.ema", lambda x, a: torch.tensor(loop_ema(x, a)))[0]


def test_wrong_value_reports_input_index_and_size_of_error(capsys):
    def off_at_the_end(x, alpha):
        h = loop_ema(x, alpha)
        h[..., -1] += 0.5
        return h

    ok, out = run(capsys, "intro.ema", off_at_the_end)
    assert not ok
    assert "case 1 of 5" in out and "x=array of shape (5,)" in out and "alpha=0.5" in out
    assert "at index (4,)" in out and "off by 0.5" in out and "1 of 5 entries" in out


def test_wrong_shape_is_reported(capsys):
    ok, out = run(capsys, "intro.ema", lambda x, a: loop_ema(x, a)[..., :-1])
    assert not ok and "has shape (4,), expected (5,)" in out


def test_transposed_result_gets_a_hint(capsys):
    ok, out = run(capsys, "intro.ema", lambda x, a: loop_ema(x, a).T)
    assert not ok and "(16, 3), expected (3, 16)" in out and "transpose" in out


def test_missing_return_is_reported(capsys):
    def no_return(x, alpha):
        loop_ema(x, alpha)

    ok, out = run(capsys, "intro.ema", no_return)
    assert not ok and "forget to `return`" in out


def test_crash_reports_exception_and_line(capsys):
    def crashes(x, alpha):
        h = np.zeros_like(x)
        return h[len(x) + 10]

    ok, out = run(capsys, "intro.ema", crashes)
    assert not ok and "raised IndexError" in out
    assert "return h[len(x) + 10]" in out


def test_stub_says_not_implemented(capsys):
    def stub(x, alpha):
        raise NotImplementedError

    ok, out = run(capsys, "intro.ema", stub)
    assert not ok and "not implemented yet" in out


def test_nan_result_is_reported(capsys):
    ok, out = run(capsys, "intro.ema", lambda x, a: loop_ema(x, a) * np.nan)
    assert not ok and "contains nan" in out


def test_non_numeric_result_is_reported(capsys):
    ok, out = run(capsys, "intro.ema", lambda x, a: "hello")
    assert not ok and "array of numbers, got str" in out


@pytest.mark.parametrize("bad", [SystemExit(3), ZeroDivisionError("x"), RecursionError(), MemoryError()])
def test_never_raises(capsys, bad):
    def raiser(x, alpha):
        raise bad

    ok, out = run(capsys, "intro.ema", raiser)
    assert not ok and type(bad).__name__ in out


def test_hanging_function_times_out(capsys, monkeypatch):
    monkeypatch.setattr(exercises, "TIME_LIMIT_S", 0.2)

    def hangs(x, alpha):
        while True:
            pass

    ok, out = run(capsys, "intro.ema", hangs)
    assert not ok and "no answer after 0.2 s" in out


def test_input_mutation_does_not_corrupt_the_reference(capsys):
    def mutates(x, alpha):
        h = loop_ema(x, alpha)
        x[...] = 1e6
        return h

    assert run(capsys, "intro.ema", mutates)[0]


def test_unknown_exercise_and_non_callable(capsys):
    ok, out = run(capsys, "intro.nope", loop_ema)
    assert not ok and "no exercise called 'intro.nope'" in out and "intro.ema" in out
    ok, out = run(capsys, "intro.ema", 42)
    assert not ok and "expected a function" in out


def test_messages_fit_a_notebook_column(capsys):
    check("intro.ema", EXERCISES["intro.ema"].mistakes[next(iter(EXERCISES["intro.ema"].mistakes))])
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 76


def test_every_exercise_is_used_in_a_notebook_and_every_check_exists(root):
    used = set()
    for path in notebook_paths(root):
        for cell in read(path)["cells"]:
            used |= set(re.findall(r'check\("([\w.]+)"', source(cell)))
    assert used <= set(EXERCISES), f"notebooks check unknown exercises: {used - set(EXERCISES)}"
    assert set(EXERCISES) <= used, f"checkers no notebook uses: {set(EXERCISES) - used}"


def test_nplr_rebuild_checks_the_identity_and_its_inputs(capsys):
    """On LegS's own factors the reference is the HiPPO-LegS matrix (the identity the
    exercise verifies); an answer that returns LegS without using its inputs fails."""
    from seqlearn import hippo, s4
    for N in (2, 5, 8):
        Lam, P, _, V = s4.nplr("legs", N)
        np.testing.assert_allclose(EXERCISES["s4.nplr_rebuild"].reference(Lam, P, V),
                                   hippo.hippo_matrix("legs", N)[0], atol=1e-12)
    ok, out = run(capsys, "s4.nplr_rebuild",
                  lambda Lam, P, V: hippo.hippo_matrix("legs", len(Lam))[0])
    assert not ok
    assert run(capsys, "s4.nplr_rebuild",
               lambda Lam, P, V: np.real(V @ np.diag(Lam) @ np.conj(V).T - P[:, None] * P))[0]
