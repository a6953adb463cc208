"""The checker against students who lean on the course or attack it (reliability review,
turn 3, findings 1-6): for every exercise, each way of reaching the course function behind
it is refused by name and the book's own solution passes; a result object, an exit, a
disabled alarm, a patched NumPy or a seeded generator gets a verdict, and nothing the
student's function does is left behind in the notebook's process."""

import functools
import importlib
import os
import pkgutil
import re
import signal
import sys
import threading
import time
import types

import numpy as np
import pytest

import seqlearn
from seqlearn import exercises
from seqlearn.exercises import EXERCISES, _checker, check
from seqlearn.exercises._isolated import MAX_PRINTED
from seqlearn.notebooks import SOLUTION_TAG, notebook_paths, read, source, tags
from conftest import ROOT
from test_exercises import loop_ema

NAMES = sorted(EXERCISES)


def run(capsys, name, fn):
    ok = check(name, fn)
    return ok, capsys.readouterr().out


def flat(text):
    return " ".join(text.split())


# --- every exercise: each delegation form refused, the book's solution accepted --------

def delegations(name):
    """(form, a student function that reaches the exercise's reference that way)."""
    ref = EXERCISES[name].reference
    module, qualname = ref.__module__, ref.__qualname__
    if _checker._is_course_module(module):
        inner = f"    from {module} import {qualname} as solve\n    return solve(*args)\n"
    else:
        inner = ("    from seqlearn.exercises import EXERCISES as table\n"
                 f"    return table[{name!r}].reference(*args)\n")
    namespace = {"renamed": ref}
    exec("def aliased(*args):\n    return renamed(*args)\n"
         f"def imports(*args):\n{inner}", namespace)

    def threaded(*args):
        out = []
        worker = threading.Thread(target=lambda: out.append(ref(*args)))
        worker.start()
        worker.join()
        return out[0]

    class Solver:
        def solve(self, *args):
            return ref(*args)

        def __call__(self, *args):
            return ref(*args)

    def wrapper(*args):
        return ref(*args)
    disguised = types.FunctionType(wrapper.__code__, wrapper.__globals__, "disguised",
                                   None, wrapper.__closure__)
    disguised.__module__ = "seqlearn.exercises.student"   # a module name the old checker trusted
    return [("reference", ref), ("wrapper", lambda *args: ref(*args)),
            ("partial", functools.partial(ref)), ("alias", namespace["aliased"]),
            ("inner import", namespace["imports"]),
            ("copied code", types.FunctionType(ref.__code__, ref.__globals__, "mine",
                                               ref.__defaults__, ref.__closure__)),
            ("thread", threaded), ("method", Solver().solve), ("class", Solver()),
            ("module name", disguised)]


@pytest.mark.parametrize("name", NAMES)
def test_every_way_of_calling_the_reference_is_refused_by_name(capsys, name):
    labels = list(_checker._refused(EXERCISES[name]).values())
    for form, fn in delegations(name):
        ok, out = run(capsys, name, fn)
        assert not ok, f"{form}: {out}"
        assert "course's own" in out and any(flat(label) in flat(out) for label in labels), \
            f"{form}: {out}"


@pytest.mark.parametrize("name", NAMES)
def test_a_retyped_reference_is_refused_when_it_calls_a_course_function(capsys, name):
    """The reference's code in a new code object (as if typed in): refused exactly when it
    calls a course function that solves the exercise (a lambda around hippo_matrix), and
    accepted when it is the formula itself (nplr_rebuild, the square-root method)."""
    ref = EXERCISES[name].reference
    code = ref.__code__.replace(co_name="mine")
    copy = types.FunctionType(code, ref.__globals__, "mine", ref.__defaults__, ref.__closure__)
    calls_course = len(_checker._refused(EXERCISES[name])) > 1
    ok, out = run(capsys, name, copy)
    if calls_course:
        assert not ok and "calls the course's own" in out, out
    else:
        assert ok, out


def book_solutions():
    """{exercise name: the book's solution}: each chapter's code cells tagged as solutions,
    run in order with NumPy and the course's modules, then looked up by name in the
    chapter's check cells."""
    modules = {m.name: importlib.import_module(f"seqlearn.{m.name}")
               for m in pkgutil.iter_modules(seqlearn.__path__)
               if not m.name.startswith("_") and m.name != "mamba_triton"}
    solutions = {}
    for path in notebook_paths(ROOT):
        if path.parent.name != "book":
            continue
        namespace = {"np": np, **modules}
        for cell in read(path)["cells"]:
            text = source(cell)
            if cell["cell_type"] == "code" and SOLUTION_TAG in tags(cell) and "def " in text:
                exec(compile(text, str(path), "exec"), namespace)
            for exercise, fn in re.findall(r'check\("([^"]+)",\s*(\w+)\)', text):
                if fn in namespace:
                    solutions[exercise] = namespace[fn]
    return solutions


SOLUTIONS = book_solutions()


@pytest.mark.parametrize("name", NAMES)
def test_the_books_solution_passes(capsys, name):
    assert name in SOLUTIONS, f"no solution cell for {name} in the book"
    ok, out = run(capsys, name, SOLUTIONS[name])
    assert ok and out.startswith("✅"), out


# --- findings 2-6: results, exits, alarms, patches, seeds -------------------------------

class StackReader:
    """Reads the expected answer off the checker's frames (finding 2)."""

    def __array__(self, *args, **kwargs):
        frame = sys._getframe()
        while frame is not None:
            for key in ("expected", "e"):
                if key in frame.f_locals:
                    return np.asarray(frame.f_locals[key])
            frame = frame.f_back
        return np.zeros(1)


class FakeTensor:
    """Looks like a torch tensor to a duck-typed ``.detach().cpu().numpy()``."""

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return StackReader().__array__()


class NeverReturns:
    def __array__(self, *args, **kwargs):
        while True:
            pass


class ExitsWhenRead:
    def __array__(self, *args, **kwargs):
        raise SystemExit(3)


@pytest.mark.parametrize("name", ["intro.ema", "mamba.step", "attention.linear_step"])
@pytest.mark.parametrize("result", [StackReader, FakeTensor, NeverReturns, ExitsWhenRead])
def test_a_result_object_is_refused_by_its_type(capsys, name, result):
    start = time.monotonic()
    answer = result()
    is_tuple = name != "intro.ema"
    ok, out = run(capsys, name, lambda *args: (answer, answer) if is_tuple else answer)
    assert not ok and result.__name__ in out and "return a NumPy array" in flat(out), out
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("switch_off", [
    lambda: signal.signal(signal.SIGALRM, signal.SIG_IGN),
    lambda: signal.setitimer(signal.ITIMER_REAL, 0),
    lambda: signal.signal(signal.SIGALRM, lambda *args: None),
], ids=["SIG_IGN", "setitimer 0", "a do-nothing handler"])
def test_a_loop_that_switches_off_the_alarm_is_stopped(capsys, monkeypatch, switch_off):
    monkeypatch.setattr(exercises, "TIME_LIMIT_S", 1.0)

    def stubborn(x, alpha):
        switch_off()
        while True:
            pass
    start = time.monotonic()
    ok, out = run(capsys, "intro.ema", stubborn)
    assert not ok and "no answer after 1 s" in out
    assert time.monotonic() - start < 3
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)   # nothing changed here


@pytest.mark.parametrize("end, said", [
    (lambda: os._exit(0), "exited with status 0"),
    (lambda: os.kill(os.getpid(), signal.SIGKILL), "killed by SIGKILL"),
    (lambda: sys.exit(4), "raised SystemExit: 4"),
], ids=["os._exit", "SIGKILL", "sys.exit"])
def test_an_ending_process_gets_a_verdict(capsys, end, said):
    ok, out = run(capsys, "intro.ema", lambda x, alpha: end())
    assert not ok and said in flat(out), out


def test_a_broken_signature_is_not_the_checkers_crash(capsys):
    class Broken:
        @property
        def __signature__(self):
            raise RuntimeError("no signature")

        def __call__(self, x, alpha):
            return loop_ema(x, alpha)
    ok, out = run(capsys, "intro.ema", Broken())
    assert ok, out


def test_patching_numpy_or_the_checker_changes_nothing_here(capsys):
    allclose, compare = np.allclose, _checker._compare

    def patches(x, alpha):
        np.allclose = lambda *args, **kwargs: True
        _checker._compare = lambda *args, **kwargs: None
        exercises.TIME_LIMIT_S = 1e9
        return np.zeros_like(np.asarray(x, dtype=float))
    ok, out = run(capsys, "intro.ema", patches)
    assert not ok and "differs" in out
    assert np.allclose is allclose and _checker._compare is compare
    assert exercises.TIME_LIMIT_S == 10.0


def test_a_seeded_generator_in_the_notebook_does_not_repeat_the_hidden_cases(
        capsys, monkeypatch, tmp_path):
    """A notebook that replaces np.random.default_rng by a seeded one (to learn the hidden
    cases from one check and table them for the next) still meets new cases."""
    seeded = np.random.default_rng
    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: seeded(0))
    seen = tmp_path / "seen.txt"

    def records(x, alpha):
        with open(seen, "a") as f:
            f.write(f"{np.asarray(x).shape} {alpha!r}\n")
        return loop_ema(x, alpha)
    assert run(capsys, "intro.ema", records)[0]
    first = seen.read_text().splitlines()
    seen.unlink()
    assert run(capsys, "intro.ema", records)[0]
    second = seen.read_text().splitlines()
    n_fixed = len(EXERCISES["intro.ema"].cases(np.random.default_rng(0)))
    assert first[:n_fixed] == second[:n_fixed]          # the fixed cases: the same
    assert first[n_fixed:] != second[n_fixed:]          # the hidden ones: new


def test_switching_off_the_watch_is_refused(capsys):
    from seqlearn.recurrence import ema

    def unwatched(x, alpha):
        sys.setprofile(None)
        return ema(x, alpha)
    ok, out = run(capsys, "intro.ema", unwatched)
    assert not ok and "changed the profile function" in out
    assert sys.getprofile() is None


def test_a_thread_started_without_the_watch_is_still_refused(capsys):
    from seqlearn.recurrence import ema
    code_copy = types.FunctionType(ema.__code__, ema.__globals__, "mine")

    def hidden(x, alpha):
        hook = threading.getprofile()
        threading.setprofile(None)
        out = []
        worker = threading.Thread(target=lambda: out.append(code_copy(x, alpha)))
        worker.start()
        threading.setprofile(hook)
        worker.join()
        return out[0]
    ok, out = run(capsys, "intro.ema", hidden)
    assert not ok and "calls the course's own seqlearn.recurrence.ema" in flat(out)


def test_a_thread_left_running_stays_in_the_child(capsys):
    before = set(threading.enumerate())

    def leaves_a_thread(x, alpha):
        threading.Thread(target=lambda: time.sleep(60)).start()   # not a daemon
        return loop_ema(x, alpha)
    ok, out = run(capsys, "intro.ema", leaves_a_thread)
    assert ok, out
    assert set(threading.enumerate()) == before


def test_megabytes_of_printing_are_cut(capsys):
    def chatty(x, alpha):
        print("x" * 1_000_000)
        return loop_ema(x, alpha)
    ok, out = run(capsys, "intro.ema", chatty)
    assert ok and len(out) < MAX_PRINTED + 500 and "more characters not shown" in out


def test_what_the_function_prints_is_shown(capsys):
    def debugging(x, alpha):
        print("shape", np.shape(x))
        return loop_ema(x, alpha)
    ok, out = run(capsys, "intro.ema", debugging)
    assert ok and "shape (5,)" in out and out.rstrip().endswith("match the reference.")


def test_verbose_must_be_a_bool(capsys):
    ok = check("intro.ema", loop_ema, verbose="no")
    out = capsys.readouterr().out
    assert not ok and "verbose should be True or False" in out
