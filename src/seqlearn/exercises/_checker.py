"""The checker: ``Exercise``, the ``EXERCISES`` registry and ``check``.

The chapter modules next to this one describe their exercises as ``Exercise``
entries and ``_register`` them; ``check`` runs a student's function on an
exercise's fixed cases, then on its hidden ones, compares each answer with the
reference and prints one verdict. The time limit itself is in
``_time_limit``.
"""

import copy
import difflib
import inspect
import os
import sys
import sysconfig
import textwrap
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from seqlearn.exercises import _isolated, _time_limit

TIME_LIMIT_S = 10.0
"""Seconds one ``check`` may spend in the student's function, all its calls together.

``check`` reads the value on the package, so ``seqlearn.exercises.TIME_LIMIT_S = 30``
gives a slow computer more time.
"""

_PACKAGE = __name__.rpartition(".")[0]   # "seqlearn.exercises"
_OUR_FILES = (__file__, _time_limit.__file__, _isolated.__file__)


@dataclass
class Exercise:
    """One checkable exercise.

    name: "chapter.topic", the key students pass to ``check``.
    signature: how the student's function is called, e.g. "ema(x, alpha) -> h".
    reference: the expected answers: a seqlearn function (tested in tests/),
        or a one-line formula.
    arg_names: the names of the positional arguments, for messages.
    cases: rng -> list of argument tuples; called with a seeded rng, so the
        same cases every run (they are printed when they fail).
    hidden: rng -> list of at least two argument tuples; called with a fresh
        rng at each check, so that a table of the fixed cases does not pass.
    rtol, atol: tolerance of ``np.allclose(got, expected)``.
    mistakes: description -> a deliberately wrong implementation; a wrong
        answer that matches one of them is explained by its description.
        A slip that gives NaN (a softmax without the max subtracted) matches
        an answer with NaN in the same places.
    outputs: the names of the result's parts in messages, nested like the
        result (``("y_t", ("S_t", "z_t"))``); None: "the result[1][0]".
    also_refused: course functions that solve the exercise besides the reference
        and the course functions it calls (``linear_recurrence`` for the EMA); a
        student's function that calls one is refused, naming it.
    building_blocks: course functions the reference calls that a student may call too
        (the RNN step inside its Jacobian): never refused, so that a reference can
        import a formula from the package instead of writing it again.
    """

    name: str
    signature: str
    reference: Callable
    arg_names: tuple
    cases: Callable
    hidden: Callable
    rtol: float = 1e-6
    atol: float = 1e-9
    mistakes: dict = field(default_factory=dict)
    outputs: tuple = None
    also_refused: tuple = ()
    building_blocks: tuple = ()


EXERCISES = {}
"""name -> Exercise, filled by the chapter modules."""


def _register(exercise):
    """Add ``exercise`` to ``EXERCISES`` (a name may be registered once)."""
    assert exercise.name not in EXERCISES, f"exercise {exercise.name} registered twice"
    EXERCISES[exercise.name] = exercise


_HANG = "problem: no answer after"

# Bound when this module is imported, so a notebook that replaces np.random.default_rng
# (to seed it, say) does not make the hidden cases repeat.
_Generator, _PCG64, _urandom = np.random.Generator, np.random.PCG64, os.urandom


def _rng(seed=None):
    """A generator seeded with ``seed``, or from the operating system's entropy."""
    if seed is None:
        seed = int.from_bytes(_urandom(16), "little")
    return _Generator(_PCG64(seed))


def check(name, fn, verbose=True):
    """Check ``fn`` against the reference of exercise ``name``; print a verdict.

    Returns True when every case matches, else False. Never raises for a
    wrong, crashing, exiting, hanging or tampering ``fn``; a KeyboardInterrupt
    (Ctrl-C) still stops it. All calls of ``fn`` share one time limit,
    ``TIME_LIMIT_S``. ``fn`` runs in a child process (see ``_isolated``) where
    the platform allows it; a ``fn`` that calls the course function the exercise
    asks for, by any route, is refused by that function's name.
    """
    if not isinstance(verbose, bool):
        print(f"❌ verbose should be True or False, got {type(verbose).__name__} "
              f"{verbose!r:.40}.")
        return False
    ok, message, printed = verdict(name, fn)
    if verbose:
        if printed:   # what the function printed, before the verdict on it
            print(printed.rstrip("\n"))
        print(message)
    return ok


def verdict(name, fn):
    """``check`` without printing: ``(ok, message, printed)``.

    ``fn`` may also be an ``_isolated.Source`` (code and the name it defines), built
    in the child process: the grader's way to check a submitted notebook's answer
    without running any of its code in the grader's own process. ``printed`` is what
    the function printed (cut to ``_isolated.MAX_PRINTED`` characters).
    """
    if not isinstance(name, str):
        close = difflib.get_close_matches(str(name), EXERCISES, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return _result(False, "\n".join(_wrap([
            f"❌ the exercise name should be a string such as 'intro.ema', got "
            f"{type(name).__name__} {name!r:.60}.{hint}"])))
    exercise = EXERCISES.get(name)
    if exercise is None:
        close = difflib.get_close_matches(name, EXERCISES, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(EXERCISES))
        return _result(False, f"❌ there is no exercise called {name!r}.{hint} "
                                        f"Known exercises: {known}.")
    if not callable(fn) and not isinstance(fn, _isolated.Source):
        return _result(False, f"❌ {name}: expected a function {exercise.signature}, "
                                        f"got {type(fn).__name__}.")
    if isinstance(fn, _isolated.Source) and not _isolated.AVAILABLE:
        return _result(False, f"❌ {name}: an answer read from a notebook is checked in a "
                              "child process, which needs os.fork (Linux, macOS).")
    refused = _refused(exercise)
    own = [label for code, label in refused.items()
           if isinstance(fn, types.FunctionType) and fn.__code__ is code]
    if own:
        return _result(False, "\n".join(_wrap([
            f"❌ {name}: this is the course's own function ({own[0]}); the "
            "exercise is to write it yourself."])))
    limit = float(getattr(sys.modules.get(_PACKAGE), "TIME_LIMIT_S", TIME_LIMIT_S))
    # The fixed cases (the same every run, shown when they fail), then hidden ones drawn
    # from a fresh seed, so that an answer cannot be a table of the fixed cases.
    cases = exercise.cases(_rng(0))
    n_fixed = len(cases)
    cases += exercise.hidden(_rng())
    runner = _isolated.run if _isolated.AVAILABLE else _in_process
    label, wrong_signature, outcomes, printed, ended = runner(
        fn, cases, limit, refused, _problem_of, _signature_problem)
    if wrong_signature:
        return _result(False, "\n".join(_wrap([
            f"❌ {name}: {wrong_signature}", f"   expected: {exercise.signature}"])))
    for outcome in outcomes:
        if outcome.tampered:
            return _result(False, "\n".join(_wrap([
                f"❌ {name}: your function changed {outcome.tampered}, which the checker "
                "uses to see which functions it calls; a solution does not need to."])))
        if outcome.leaned_on:
            return _result(False, "\n".join(_wrap([
                f"❌ {name}: your function calls the course's own {outcome.leaned_on}; "
                "the exercise is to write it yourself."])))
    answers = [outcome.answer for outcome in outcomes]
    for i, args in enumerate(cases):
        if i < len(outcomes):
            problem = outcomes[i].problem
        elif ended == "time":
            problem = [f"{_HANG} {limit:g} s (the time limit of the whole check): "
                       "an endless loop?"]
        else:
            problem = [f"problem: no answer: {ended}."]
        if problem is None:
            try:
                expected = _expected(exercise, args)
            except Exception as exc:  # a bug of ours, not the student's
                problem = [f"internal error: the reference raised {type(exc).__name__}: "
                           f"{exc}. Please report this."]
            else:
                problem = _compare(expected, answers[i], exercise.rtol, exercise.atol,
                                   "the result", names=exercise.outputs)
        if problem is None:
            continue
        first = (f"❌ {name}: case {i + 1} of {n_fixed} fails." if i < n_fixed else
                 f"❌ {name}: the {n_fixed} fixed cases pass, but a random one (new "
                 f"every run) fails.")
        lines = [first, f"   called: {label}({_describe_args(exercise.arg_names, args)})"]
        lines += ["   " + line for line in problem]
        if problem[0].startswith(_TYPE_ERROR):
            lines.append(f"   expected: {exercise.signature}")
        if len(answers) == len(cases) and all(o.problem is None for o in outcomes):
            slip = _known_mistake(exercise, cases, answers)
            if slip:
                lines.append(f"   hint: {slip}")
        return _result(False, "\n".join(_wrap(lines)), printed)
    return _result(True, f"✅ {name}: all {n_fixed} cases match the reference.", printed)


def _is_course_module(module):
    """A public seqlearn module (not the exercises, not a private helper module)."""
    parts = str(module).split(".")
    return (len(parts) >= 2 and parts[0] == "seqlearn" and not parts[1].startswith("_")
            and parts[1] != "exercises")


_REFUSED = {}   # exercise name -> {code object: name}


def _refused(exercise):
    """{code object: "module.name"} of the functions that solve ``exercise``: its
    reference, the course functions the reference calls directly when it is a formula
    of this package (a lambda around ``hippo_matrix``, say), except its
    ``building_blocks``, and ``also_refused``."""
    cached = _REFUSED.get(exercise.name)
    if cached is not None:
        return cached
    refused = {}
    reference = exercise.reference
    code = getattr(reference, "__code__", None)
    module = str(getattr(reference, "__module__", ""))
    if code is not None:
        refused[code] = (f"{module}.{reference.__qualname__}" if _is_course_module(module)
                         else f"reference of {exercise.name} ({module})")
    if code is not None and not _is_course_module(module):
        def note(frame, event, arg):
            if event == "call" and frame.f_back is not None and frame.f_back.f_code is code:
                callee = frame.f_globals.get("__name__", "")
                if _is_course_module(callee) and not frame.f_code.co_name.startswith("_"):
                    refused[frame.f_code] = f"{callee}.{frame.f_code.co_qualname}"
        previous = sys.getprofile()
        sys.setprofile(note)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for args in exercise.cases(_rng(0)):
                    reference(*copy.deepcopy(args))
        finally:
            sys.setprofile(previous)
    for function in exercise.building_blocks:
        refused.pop(function.__code__, None)
    for function in exercise.also_refused:
        refused[function.__code__] = f"{function.__module__}.{function.__qualname__}"
    _REFUSED[exercise.name] = refused
    return refused


def _in_process(fn, cases, limit, refused, describe_error, signature_problem):
    """``_isolated.run``'s answer, computed in this process (where there is no fork):
    the time limit of ``_time_limit``, a profile function that notes refused calls."""
    label = getattr(fn, "__name__", "fn")
    signature = signature_problem(fn, cases[0]) if cases else None
    if signature:
        return label, signature, [], "", None
    deadline = time.monotonic() + limit
    watch = _Watch(refused)
    outcomes = []
    for args in cases:
        got, problem = _run(fn, args, deadline, limit, watch)
        if problem is not None and problem[0].startswith(_HANG):
            return label, None, outcomes, "", "time"
        outcomes.append(_isolated.Outcome(got, problem, watch.called))
    return label, None, outcomes, "", None


def _signature_problem(fn, args):
    """What is wrong when ``fn`` cannot take ``args`` by its signature, else None."""
    try:
        signature = inspect.signature(fn)
    except Exception:   # a builtin without a signature, a broken __signature__: call it
        return None
    try:
        signature.bind(*args)
    except TypeError as exc:
        label = getattr(fn, "__name__", "fn")
        return (f"your function {label}{signature} cannot take the exercise's "
                f"{len(args)} arguments ({exc}).")
    return None


def _expected(exercise, args):
    """The reference's answer to ``args`` (on a copy: the student may change them)."""
    return exercise.reference(*copy.deepcopy(args))


_TYPE_ERROR = "problem: your function could not be called with these arguments"


class _Watch:
    """A profile function that notes the name of the first refused code called
    (in-process checking only; ``_isolated`` has its own)."""

    def __init__(self, refused):
        self.refused, self.called = refused, None

    def __call__(self, frame, event, arg):
        if event == "call" and self.called is None:
            for code, label in self.refused.items():
                if frame.f_code is code:
                    self.called = label


def _run(fn, args, deadline, limit, watch=None):
    """(fn's answer, None), or (None, lines saying what went wrong), in this process."""
    left = deadline - time.monotonic()
    if left <= 0:
        return None, [f"{_HANG} {limit:g} s (the time limit of the whole check): "
                      "an endless loop?"]
    previous = sys.getprofile()
    try:
        if watch is not None:
            sys.setprofile(watch)
        try:
            return _time_limit.call(fn, copy.deepcopy(args), left), None
        finally:
            if watch is not None:
                sys.setprofile(previous)
    except _time_limit.TimeUp:
        return None, [f"{_HANG} {limit:g} s (the time limit of the whole check): "
                      "an endless loop?"]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit, GeneratorExit, the student's own classes too
        return None, _problem_of(exc)


def _problem_of(exc):
    """Lines saying what the student's exception ``exc`` means."""
    if isinstance(exc, NotImplementedError):
        return ["problem: not implemented yet: replace `raise NotImplementedError` "
                "with your code."]
    where = _where(exc)
    if isinstance(exc, TypeError) and not where:   # raised by the call itself
        return [f"{_TYPE_ERROR}: {exc}."]
    return ([f"problem: your function raised {type(exc).__name__}: {exc}"] + where
            + _removed_name_hint(exc))


def _known_mistake(exercise, cases, answers):
    """The description of the known mistake that reproduces the answers on every case,
    or None. Matching all cases, not only the failing one, keeps two slips that agree on
    one input (an impulse, say) from being confused."""
    for description, wrong in exercise.mistakes.items():
        try:
            tol = exercise.rtol, exercise.atol
            with warnings.catch_warnings():   # a known slip may be an unstable system
                warnings.simplefilter("ignore")
                matched = all(_compare(wrong(*copy.deepcopy(args)), got, *tol, "",
                                       equal_nan=True) is None
                              for args, got in zip(cases, answers))
        except Exception:
            continue
        if matched:
            return description
    return None


def _wrap(lines, width=76):
    """Lines folded to ``width`` characters, continuations indented (notebook-friendly)."""
    out = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        out += textwrap.wrap(line, width=width, subsequent_indent=indent,
                             break_on_hyphens=False) or [""]
    return out


def _result(ok, message, printed=""):
    return ok, message, printed


def _compare(expected, got, rtol, atol, what, names=None, equal_nan=False):
    """None when ``got`` equals ``expected`` within tolerance, else lines saying how not.

    names: the parts' names, nested like ``expected`` (see ``Exercise.outputs``).
    equal_nan: NaN in ``got`` matches NaN in ``expected`` (to recognise a slip).
    """
    if isinstance(names, str):
        what, names = names, None
    if isinstance(expected, tuple):
        arr = None if isinstance(got, (tuple, list)) else _to_array(got)
        if arr is not None and arr.ndim >= 1 and len(arr) == len(expected):
            got = list(arr)                  # np.array([a, b]) holds the same pair
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return [f"problem: {what} should be a tuple of {len(expected)} arrays, "
                    f"got {_kind(got)}."]
        flat = not any(isinstance(e, tuple) for e in expected)
        shapes = [np.shape(e) for e in expected] if flat else []
        got_shapes = [np.shape(_to_array(g)) if _to_array(g) is not None else None
                      for g in got] if flat else []
        if flat and len(set(map(str, shapes))) == len(shapes) and got_shapes != shapes \
                and sorted(map(str, got_shapes)) == sorted(map(str, shapes)):
            return [f"problem: the entries of {what} have shapes {got_shapes}, expected "
                    f"{shapes}.", "hint: the entries look swapped: return them in the order "
                    "of the signature."]
        for k, (e, g) in enumerate(zip(expected, got)):
            part = names[k] if isinstance(names, tuple) and k < len(names) else None
            label = part if isinstance(part, str) else f"{what}[{k}]"
            problem = _compare(e, g, rtol, atol, label,
                               names=part if isinstance(part, tuple) else None,
                               equal_nan=equal_nan)
            if problem is not None:
                return problem
        return None
    if got is None:
        return [f"problem: {what} is None: did the function forget to `return`?"]
    g = _to_array(got)
    if g is None:
        return [f"problem: {what} should be an array of numbers, got {_kind(got)}."]
    e = np.asarray(expected)
    if g.shape != e.shape:
        lines = [f"problem: {what} has shape {g.shape}, expected {e.shape}."]
        if g.ndim == e.ndim and g.shape == e.shape[::-1]:
            lines.append("hint: the axes look swapped (a transpose?).")
        elif g.ndim == e.ndim and sorted(g.shape) == sorted(e.shape):
            lines.append("hint: the same axes in another order (np.transpose or "
                         "np.moveaxis?).")
        elif g.size == e.size:
            lines.append("hint: the right number of entries in the wrong shape (a reshape?).")
        return lines
    if e.dtype == bool:
        if g.dtype != bool:
            return [f"problem: {what} should be a boolean array (True/False), got dtype {g.dtype}."]
        if np.array_equal(g, e):
            return None
        index = tuple(int(i) for i in np.argwhere(g != e)[0])
        return [f"problem: {what} differs at index {index}: expected {e[index]}, got {g[index]}; "
                f"{int((g != e).sum())} of {e.size} entries differ."]
    if np.iscomplexobj(g) and not np.iscomplexobj(e):
        hint = ("hint: the imaginary parts are rounding noise (an FFT?): return "
                "np.real(...) of it." if np.allclose(g.imag, 0, atol=1e-9) else
                "hint: somewhere a complex number entered (np.sqrt of a negative "
                "number in complex mode, an FFT, an eigenvalue?).")
        return [f"problem: {what} is complex (dtype {g.dtype}); the exercise expects real "
                "numbers.", hint]
    if not np.isfinite(g).all() and np.isfinite(e).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        return [f"problem: {what} contains {g[index]} at index {index}; expected {e[index]:.6g}."]
    if np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return None
    excess = np.abs(g - e) - (atol + rtol * np.abs(e))
    index = np.unravel_index(int(np.argmax(excess)), e.shape) if e.ndim else ()
    index = tuple(int(i) for i in index)
    n_bad = int((excess > 0).sum())
    at = f" at index {index}" if index else ""
    return [f"problem: {what} differs{at}: expected {e[index]:.6g}, got {g[index]:.6g} "
            f"(off by {abs(g[index] - e[index]):.3g}; tolerance {atol:g} + {rtol:g}·|expected|).",
            f"{n_bad} of {e.size} entries are off."]


def _to_array(value):
    """``value`` as a numeric ndarray (torch tensors included), or None."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        return None
    return arr


def _kind(value):
    if isinstance(value, _isolated.Unreadable):
        return (f"{value.kind} (return a NumPy array, a torch tensor, a number, or a "
                "tuple of them)")
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__} {value!r:.60}"


def _describe_value(value):
    if isinstance(value, tuple):                        # a state (S, z), a pair
        return "(" + ", ".join(_describe_value(v) for v in value) + ")"
    arr = np.asarray(value) if isinstance(value, (np.ndarray, list)) else None
    if arr is not None and arr.ndim > 0:
        text = f"array of shape {arr.shape}"
        if arr.size <= 8:
            text += " " + " ".join(np.array2string(arr, precision=3, separator=", ").split())
        return text
    return repr(value)


def _describe_args(names, args):
    return ", ".join(f"{name}={_describe_value(value)}" for name, value in zip(names, args))


# Library code (NumPy, torch, the standard library, seqlearn): an error raised in there is reported
# at the student's line that called it, with the library function named.
_LIBRARY_DIRS = tuple(sorted({os.path.realpath(p) for key in ("stdlib", "platstdlib", "purelib",
                                                              "platlib")
                              if (p := sysconfig.get_paths().get(key))}
                             | {os.path.realpath(os.path.join(os.path.dirname(__file__), "..",
                                                              ".."))},   # seqlearn itself
                             key=len, reverse=True))

# Names NumPy 2 removed that older tutorials still use, and what replaces them.
_REMOVED_NUMPY = {
    "trapz": "np.trapezoid (np.trapz was removed in NumPy 2.4)",
    "product": "np.prod", "cumproduct": "np.cumprod", "sometrue": "np.any",
    "alltrue": "np.all", "in1d": "np.isin", "row_stack": "np.vstack",
    "float_": "np.float64", "complex_": "np.complex128", "NaN": "np.nan", "Inf": "np.inf",
    "infty": "np.inf", "PINF": "np.inf", "NINF": "-np.inf", "asfarray": "np.asarray(x, float)",
    "float": "float (the builtin) or np.float64", "int": "int (the builtin) or np.int64",
    "bool": "bool (the builtin) or np.bool_", "object": "object (the builtin)",
}


def _library(filename):
    """The top-level library (``numpy``, ``torch``, ``re``) that ``filename`` belongs to,
    or None when it is not library code (the student's notebook or file)."""
    path = os.path.realpath(filename)
    for d in _LIBRARY_DIRS:
        if path.startswith(d + os.sep):
            top = os.path.relpath(path, d).split(os.sep)[0]
            return top[:-3] if top.endswith(".py") else top
    return None


def _where(exc):
    """Where ``exc`` was raised, as lines: the student's line, and the library function
    below it when the error came from inside NumPy, torch or the standard library."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename not in _OUR_FILES]
    theirs = [i for i, f in enumerate(frames) if _library(f.filename) is None]
    if not theirs:
        return []
    last = frames[theirs[-1]]
    lines = [f"   at line {last.lineno} of {last.name}: {last.line}"] if last.line else []
    if lines and theirs[-1] < len(frames) - 1:
        inner = frames[theirs[-1] + 1]
        lines.append(f"   (raised inside {_library(inner.filename)}, in its {inner.name}; "
                     "the line above is yours)")
    return lines


def _removed_name_hint(exc):
    """A hint when ``exc`` is NumPy refusing a name it removed (np.trapz, np.float, ...)."""
    if isinstance(exc, AttributeError) and getattr(exc, "obj", None) is np:
        replacement = _REMOVED_NUMPY.get(getattr(exc, "name", None))
        if replacement:
            return [f"hint: np.{exc.name} does not exist in this NumPy ({np.__version__}); "
                    f"use {replacement}."]
    return []
