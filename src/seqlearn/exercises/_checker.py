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
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from seqlearn.exercises import _time_limit

TIME_LIMIT_S = 10.0
"""Seconds one ``check`` may spend in the student's function, all its calls together.

``check`` reads the value on the package, so ``seqlearn.exercises.TIME_LIMIT_S = 30``
gives a slow computer more time.
"""

_PACKAGE = __name__.rpartition(".")[0]   # "seqlearn.exercises"
_OUR_FILES = (__file__, _time_limit.__file__)


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


EXERCISES = {}
"""name -> Exercise, filled by the chapter modules."""


def _register(exercise):
    """Add ``exercise`` to ``EXERCISES`` (a name may be registered once)."""
    assert exercise.name not in EXERCISES, f"exercise {exercise.name} registered twice"
    EXERCISES[exercise.name] = exercise


_HANG = "problem: no answer after"


def check(name, fn, verbose=True):
    """Check ``fn`` against the reference of exercise ``name``; print a verdict.

    Returns True when every case matches, else False. Never raises for a
    wrong, crashing or hanging ``fn``; a KeyboardInterrupt (Ctrl-C) still
    stops it. All calls of ``fn`` share one time limit, ``TIME_LIMIT_S``.
    """
    if not isinstance(name, str):
        close = difflib.get_close_matches(str(name), EXERCISES, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return _verdict(verbose, False, "\n".join(_wrap([
            f"❌ the exercise name should be a string such as 'intro.ema', got "
            f"{type(name).__name__} {name!r:.60}.{hint}"])))
    exercise = EXERCISES.get(name)
    if exercise is None:
        close = difflib.get_close_matches(name, EXERCISES, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(EXERCISES))
        return _verdict(verbose, False, f"❌ there is no exercise called {name!r}.{hint} "
                                        f"Known exercises: {known}.")
    if not callable(fn):
        return _verdict(verbose, False, f"❌ {name}: expected a function {exercise.signature}, "
                                        f"got {type(fn).__name__} {fn!r:.60}.")
    module = str(getattr(fn, "__module__", ""))
    if module.startswith("seqlearn.") and not _in_this_package(module):
        return _verdict(verbose, False, f"❌ {name}: this is the course's own function "
                                        f"({fn.__module__}.{getattr(fn, '__name__', '?')}); "
                                        "the exercise is to write it yourself.")
    limit = float(getattr(sys.modules.get(_PACKAGE), "TIME_LIMIT_S", TIME_LIMIT_S))
    deadline = time.monotonic() + limit
    # The fixed cases (the same every run, shown when they fail), then hidden ones drawn
    # from a fresh seed, so that an answer cannot be a table of the fixed cases.
    cases = exercise.cases(np.random.default_rng(0))
    n_fixed = len(cases)
    cases += exercise.hidden(np.random.default_rng())
    label = getattr(fn, "__name__", "fn")
    wrong_signature = _signature_problem(fn, cases[0])
    if wrong_signature:
        return _verdict(verbose, False, "\n".join(_wrap([
            f"❌ {name}: {wrong_signature}", f"   expected: {exercise.signature}"])))
    answers = []
    watch = _watched_code(exercise.reference)
    for i, args in enumerate(cases):
        got, problem = _run(fn, args, deadline, limit, watch)
        if problem is None and watch is not None and watch.called:
            ref = exercise.reference
            return _verdict(verbose, False, "\n".join(_wrap([
                f"❌ {name}: your function calls the course's own {ref.__module__}."
                f"{ref.__qualname__}; the exercise is to write it yourself."])))
        if problem is None:
            try:
                expected = _expected(exercise, args)
            except Exception as exc:  # a bug of ours, not the student's
                problem = [f"internal error: the reference raised {type(exc).__name__}: "
                           f"{exc}. Please report this."]
            else:
                problem = _compare(expected, got, exercise.rtol, exercise.atol, "the result",
                                   names=exercise.outputs)
        if problem is None:
            answers.append(got)
            continue
        first = (f"❌ {name}: case {i + 1} of {n_fixed} fails." if i < n_fixed else
                 f"❌ {name}: the {n_fixed} fixed cases pass, but a random one (new "
                 f"every run) fails.")
        lines = [first, f"   called: {label}({_describe_args(exercise.arg_names, args)})"]
        lines += ["   " + line for line in problem]
        if problem[0].startswith(_TYPE_ERROR):
            lines.append(f"   expected: {exercise.signature}")
        if not problem[0].startswith(_HANG):  # the time is up: no second run
            answers.append(got)
            slip = _known_mistake(exercise, fn, cases, answers, deadline, limit)
            if slip:
                lines.append(f"   hint: {slip}")
        return _verdict(verbose, False, "\n".join(_wrap(lines)))
    return _verdict(verbose, True, f"✅ {name}: all {n_fixed} cases match the reference.")


def _in_this_package(module):
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def _signature_problem(fn, args):
    """What is wrong when ``fn`` cannot take ``args`` by its signature, else None."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):   # a builtin without a signature: just call it
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
    """A profile hook that notes whether one code object (the reference) is called from
    outside seqlearn: by the student's code, not by another course function."""

    def __init__(self, code):
        self.code, self.called = code, False

    def __call__(self, frame, event, arg):
        if event == "call" and frame.f_code is self.code:
            caller = frame.f_back
            module = caller.f_globals.get("__name__", "") if caller is not None else ""
            if not (module == "seqlearn" or module.startswith("seqlearn.")):
                self.called = True


def _watched_code(reference):
    """A ``_Watch`` for ``reference`` when it is a public seqlearn function (one a student
    could import and call instead of writing it), else None."""
    code = getattr(reference, "__code__", None)
    module = str(getattr(reference, "__module__", ""))
    if code is None or not module.startswith("seqlearn.") or _in_this_package(module):
        return None
    return _Watch(code)


def _run(fn, args, deadline, limit, watch=None):
    """(fn's answer, None), or (None, lines saying what went wrong). With ``watch``, a
    call of the watched function from inside ``fn`` sets ``watch.called``."""
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
    except NotImplementedError:
        return None, ["problem: not implemented yet: replace `raise NotImplementedError` "
                      "with your code."]
    except BaseException as exc:  # SystemExit, GeneratorExit, the student's own classes too
        where = _where(exc)
        if isinstance(exc, TypeError) and not where:   # raised by the call itself
            return None, [f"{_TYPE_ERROR}: {exc}."]
        return None, ([f"problem: your function raised {type(exc).__name__}: {exc}"] + where
                      + _removed_name_hint(exc))


def _known_mistake(exercise, fn, cases, answers, deadline, limit):
    """The description of the known mistake that reproduces ``fn`` on every case, or None.

    ``answers`` holds fn's answers to the first cases already; the others are
    computed here, within the same time limit. Matching all cases, not only the
    failing one, keeps two slips that agree on one input (an impulse, say) from
    being confused.
    """
    answers = list(answers)
    for args in cases[len(answers):]:
        got, problem = _run(fn, args, deadline, limit)
        if problem is not None:
            return None
        answers.append(got)
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


def _verdict(verbose, ok, message):
    if verbose:
        print(message)
    return ok


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
