"""The checker's cases: hidden cases that no table of the printed cases passes, references
that use every input, and the messages for a wrong name or a wrong signature."""

import copy
import warnings

import numpy as np
import pytest

from seqlearn import hippo, s4
from seqlearn.exercises import EXERCISES, check
from seqlearn.exercises._checker import _compare

NAMES = sorted(EXERCISES)


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, capsys.readouterr().out


def fixed_cases(name):
    return EXERCISES[name].cases(np.random.default_rng(0))


def same(a, b):
    """True when two argument values are equal (arrays, tuples, scalars, None)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(same(x, y) for x, y in zip(a, b)))
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def perturbed(value):
    """``value`` changed a little (the same type and shape, except ints: n + 1)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(perturbed(v) for v in value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return value + 1
    if isinstance(value, np.ndarray) and value.dtype == bool:
        return ~value
    return value * 1.3 + 0.1


@pytest.mark.parametrize("name", NAMES)
def test_each_exercise_has_fresh_hidden_cases(name):
    exercise = EXERCISES[name]
    a = exercise.hidden(np.random.default_rng(1))
    b = exercise.hidden(np.random.default_rng(2))
    assert len(a) >= 2 and len(a[0]) == len(exercise.arg_names)
    assert not all(same(x, y) for x, y in zip(a, b)), "the hidden cases do not change"
    for case in a + b:
        assert not any(same(case, f) for f in fixed_cases(name)), "a hidden case is a fixed one"


@pytest.mark.parametrize("name", NAMES)
def test_a_lookup_table_of_the_fixed_cases_fails(capsys, name):
    """Right on every printed case (found by comparing inputs), wrong elsewhere."""
    reference = EXERCISES[name].reference
    table = [(args, reference(*copy.deepcopy(args))) for args in fixed_cases(name)]

    def lookup(*args):
        for known, answer in table:
            if same(known, args):
                return copy.deepcopy(answer)
        return copy.deepcopy(table[0][1])
    ok, out = run(capsys, name, lookup)
    assert not ok and "fixed cases pass, but a random one (new every run) fails" in " ".join(
        out.split())


@pytest.mark.parametrize("name", NAMES)
def test_an_answer_that_ignores_its_inputs_fails(capsys, name):
    answer = EXERCISES[name].reference(*copy.deepcopy(fixed_cases(name)[0]))
    ok, out = run(capsys, name, lambda *args: copy.deepcopy(answer))
    assert not ok, out


@pytest.mark.parametrize("name", NAMES)
def test_every_reference_uses_every_input(name):
    """Changing any one argument changes the expected answer in some case, fixed or hidden,
    so the cases test every input (a reference that ignores one would let an answer
    ignore it too)."""
    exercise = EXERCISES[name]
    cases = fixed_cases(name) + exercise.hidden(np.random.default_rng(3))
    for k, arg_name in enumerate(exercise.arg_names):
        changed = False
        for args in cases:
            if args[k] is None:
                continue
            other = list(copy.deepcopy(args))
            other[k] = perturbed(other[k])
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    a = exercise.reference(*copy.deepcopy(args))
                    b = exercise.reference(*other)
                except Exception:
                    changed = True   # it reads the argument
                    break
            if _compare(a, b, 1e-9, 1e-12, "") is not None:
                changed = True
                break
        assert changed, f"{name}: the reference ignores {arg_name}"


def test_nplr_rebuild_is_computed_from_its_inputs(capsys):
    """The LegS matrix, whatever the inputs, fails; so does it on the hidden cases alone."""
    legs = lambda Lam, P, V: hippo.hippo_matrix("legs", len(Lam))[0]  # noqa: E731
    ok, out = run(capsys, "s4.nplr_rebuild", legs)
    assert not ok
    exercise = EXERCISES["s4.nplr_rebuild"]
    for args in exercise.hidden(np.random.default_rng()):
        assert _compare(exercise.reference(*args), legs(*args), exercise.rtol, exercise.atol,
                        "") is not None
    # the reference is the rebuild formula: on LegS's own factors, LegS itself
    Lam, P, _, V = s4.nplr("legs", 6)
    np.testing.assert_allclose(exercise.reference(Lam, P, V), hippo.hippo_matrix("legs", 6)[0],
                               atol=1e-12)


@pytest.mark.parametrize("name", [["intro.ema"], None, 3, b"intro.ema"], ids=repr)
def test_a_name_that_is_not_a_string_gets_a_verdict(capsys, name):
    ok, out = run(capsys, name, lambda x, alpha: x)
    assert ok is False and "the exercise name should be a string" in out


def test_a_list_name_gets_a_did_you_mean(capsys):
    ok, out = run(capsys, ["intro.ema"], lambda x, alpha: x)
    assert not ok and "Did you mean 'intro.ema'?" in out


@pytest.mark.parametrize("fn", [lambda x: x, lambda x, alpha, extra: x, lambda: 0],
                         ids=["too few", "too many", "none"])
def test_a_wrong_signature_is_shown_the_expected_one(capsys, fn):
    ok, out = run(capsys, "intro.ema", fn)
    flat = " ".join(out.split())
    assert not ok and "expected: ema(x, alpha) -> h" in flat and "cannot take" in flat


def test_a_builtin_that_cannot_take_the_arguments_is_shown_the_signature(capsys):
    ok, out = run(capsys, "intro.ema_kernel", divmod)   # divmod(alpha, L): a pair, no kernel
    assert not ok
    ok, out = run(capsys, "attention.sdpa", range)   # no inspectable signature; TypeError
    flat = " ".join(out.split())
    assert not ok and "could not be called with these arguments" in flat
    assert "expected: attention(Q, K, V, mask)" in flat


def test_a_type_error_inside_the_function_is_its_own_bug(capsys):
    def buggy(x, alpha):
        return len(alpha)
    ok, out = run(capsys, "intro.ema", buggy)
    assert not ok and "raised TypeError" in out and "return len(alpha)" in out
    assert "expected: " not in out
