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


def test_the_course_function_itself_is_refused(capsys):
    from seqlearn import mamba, ssm
    for name, fn in [("ssm.kernel", ssm.ssm_kernel), ("mamba.combine", mamba.combine)]:
        ok, out = run(capsys, name, fn)
        assert not ok and "the exercise is to write it yourself" in out


def test_an_unknown_name_gets_a_did_you_mean(capsys):
    ok, out = run(capsys, "mamba.scna", loop_ema)
    assert not ok and "Did you mean 'mamba.scan'?" in out


def test_a_table_of_the_fixed_cases_does_not_pass(capsys):
    """Answers looked up from the printed cases fail on the fresh random case."""
    reference = EXERCISES["intro.ema"].reference
    table = {np.asarray(args[0]).tobytes(): reference(*args)
             for args in EXERCISES["intro.ema"].cases(np.random.default_rng(0))}
    ok, out = run(capsys, "intro.ema", lambda x, a: table.get(np.asarray(x).tobytes()))
    assert not ok and "the 6 fixed cases pass, but a random one" in out


def test_combine_accepts_the_pair_as_one_array(capsys):
    ok, out = run(capsys, "mamba.combine",
                  lambda l, r: np.array([l[0] * r[0], r[0] * l[1] + r[1]]))
    assert ok, out


def test_swapped_results_are_named_not_called_a_reshape(capsys):
    def swapped(h, u_t, delta_t, A, B_t, C_t):
        h = np.exp(delta_t[:, None] * A) * h + delta_t[:, None] * B_t * u_t[:, None]
        return h, (C_t * h).sum(-1)
    ok, out = run(capsys, "mamba.step", swapped)
    assert not ok and "entries look swapped" in out and "reshape" not in out


def test_permuted_axes_get_a_moveaxis_hint(capsys, course_functions_allowed):
    ref = EXERCISES["mamba.discretize"].reference
    ok, out = run(capsys, "mamba.discretize",
                  lambda *a: tuple(np.moveaxis(m, 1, 2) for m in ref(*a)))
    assert not ok and "np.moveaxis" in out


def test_a_base_exception_is_reported_not_raised(capsys):
    class Stop(BaseException):
        pass

    def raises(x, alpha):
        raise Stop("no")
    ok, out = run(capsys, "intro.ema", raises)
    assert not ok and "raised Stop" in out


@pytest.mark.filterwarnings("ignore:unstable continuous system")  # the flipped-sign slip
@pytest.mark.parametrize("name, mistake", [(n, d) for n, e in EXERCISES.items() for d in e.mistakes])
def test_each_known_mistake_fails_with_its_own_hint(capsys, course_functions_allowed, name,
                                                    mistake):
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
    assert "case 1 of 6" in out and "x=array of shape (5,)" in out and "alpha=0.5" in out
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
        # float64: LAPACK's eigh is backward stable, V diag(w) V^* within ~N u ||S||_2 of the
        # skew part S and V unitary within ~N u; the rebuild's N-term products add N u
        # max|Lambda|: ~3 N u ||A||_2 <= 3 * 8 u 41 = 1.1e-13 at N = 8, absolute on every entry
        # (zeros too); atol 1e-12 is 9x. rtol 0: the default 1e-7 allowed 1.4e-6 on entries ~14
        np.testing.assert_allclose(EXERCISES["s4.nplr_rebuild"].reference(Lam, P, V),
                                   hippo.hippo_matrix("legs", N)[0], rtol=0, atol=1e-12)
    ok, out = run(capsys, "s4.nplr_rebuild",
                  lambda Lam, P, V: hippo.hippo_matrix("legs", len(Lam))[0])
    assert not ok
    assert run(capsys, "s4.nplr_rebuild",
               lambda Lam, P, V: np.real(V @ np.diag(Lam) @ np.conj(V).T - P[:, None] * P))[0]


def test_no_notebook_prints_the_source_of_an_exercise_it_checks(root):
    """The solution must not be on the page: a notebook that checks an exercise does not
    print (inspect.getsource) the function that is the exercise's reference."""
    for path in notebook_paths(root):
        cells = [source(c) for c in read(path)["cells"] if c["cell_type"] == "code"]
        checked = {n for s in cells for n in re.findall(r'check\("([\w.]+)"', s)}
        shown = {m for s in cells for m in re.findall(r"getsource\(\s*([\w.]+)", s)}
        for name in checked:
            ref = EXERCISES[name].reference
            if not ref.__module__.startswith("seqlearn.") or "exercises" in ref.__module__:
                continue
            printed = [s for s in shown if s.split(".")[-1] == ref.__name__]
            assert not printed, f"{path.name} prints {printed[0]}, the reference of {name}"


def _ema_by_the_printed_loop(x, alpha):
    from seqlearn.recurrence import linear_recurrence
    return linear_recurrence(alpha, (1 - alpha) * np.asarray(x, dtype=float))


def _gated_ema_by_the_printed_loop(x, a):
    from seqlearn.recurrence import linear_recurrence
    a = np.asarray(a, dtype=float)
    return linear_recurrence(a, (1 - a) * np.asarray(x, dtype=float))


def _kernel_by_an_impulse(alpha, L):
    from seqlearn.recurrence import ema
    return ema(np.eye(1, L)[0], alpha)


@pytest.mark.parametrize("name, fn", [("intro.ema", _ema_by_the_printed_loop),
                                      ("intro.gated_ema", _gated_ema_by_the_printed_loop),
                                      ("intro.ema_kernel", _kernel_by_an_impulse)])
def test_chapter0s_exercises_refuse_the_one_line_call_the_chapter_prints(capsys, name, fn):
    # chapter 0 prints linear_recurrence's source just above these exercises (review
    # turn 3, finding 9): one call to it (or to ema) matches the reference, and is refused
    ok, out = run(capsys, name, fn)
    assert not ok and "course's own" in out, out
