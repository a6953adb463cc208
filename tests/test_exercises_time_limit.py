"""The checker's time limit, in a child process and in this one: a hanging student
function cannot keep ``check`` from answering, in the main thread or another one, even
when it swallows every exception; one limit covers the whole check; Ctrl-C still
interrupts; nothing is left armed."""

import _thread
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

from seqlearn import exercises
from seqlearn.exercises import check
from seqlearn.exercises import _isolated
from test_exercises import loop_ema as student_ema   # a correct EMA, as a student writes it

LIMIT_S = 1.0


@pytest.fixture(autouse=True, params=["child", "in-process"])
def short_limit(monkeypatch, request):
    """Every test twice: the student's function in a child process (Linux, macOS) and
    in this process (where there is no fork, as on Windows, with ``_time_limit``)."""
    monkeypatch.setattr(exercises, "TIME_LIMIT_S", LIMIT_S)
    monkeypatch.setattr(_isolated, "AVAILABLE", request.param == "child")


def sleeps_catching_exception(x, alpha):
    while True:
        try:
            time.sleep(.05)
        except Exception:
            pass


def spins(x, alpha):
    while True:
        pass


def sleeps_catching_everything(x, alpha):
    while True:
        try:
            time.sleep(.05)
        except BaseException:
            pass


def spins_catching_everything(x, alpha):
    n = 0
    while True:
        try:
            n += 1
        except BaseException:
            pass


def catches_everything_twice(x, alpha):
    while True:
        try:
            try:
                time.sleep(.05)
            except BaseException:
                time.sleep(.05)
        except BaseException:
            pass


HANGS = [sleeps_catching_exception, spins, sleeps_catching_everything,
         spins_catching_everything, catches_everything_twice]


def raises_generator_exit(x, alpha):
    raise GeneratorExit("closed")


def raises_system_exit(x, alpha):
    raise SystemExit(2)


def calls_sys_exit(x, alpha):
    sys.exit(1)


def timed_check(fn, name="intro.ema"):
    start = time.monotonic()
    ok = check(name, fn)
    return ok, time.monotonic() - start


def nothing_left_armed():
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert not [t for t in threading.enumerate() if t.name == "seqlearn-time-limit"]
    assert sys.gettrace() is None and sys.getprofile() is None


@pytest.mark.parametrize("fn", HANGS, ids=lambda f: f.__name__)
def test_a_hang_is_stopped_in_the_main_thread(capsys, fn):
    ok, seconds = timed_check(fn)
    out = capsys.readouterr().out
    assert not ok and f"no answer after {LIMIT_S:g} s" in out
    assert seconds < LIMIT_S + 1, f"check took {seconds:.2f} s"
    nothing_left_armed()


@pytest.mark.parametrize("fn", HANGS, ids=lambda f: f.__name__)
def test_a_hang_is_stopped_in_another_thread(capsys, fn):
    result = []
    thread = threading.Thread(target=lambda: result.append(timed_check(fn)), daemon=True)
    thread.start()
    thread.join(LIMIT_S + 5)
    assert not thread.is_alive(), "check did not return in a non-main thread"
    (ok, seconds), = result
    out = capsys.readouterr().out
    assert not ok and f"no answer after {LIMIT_S:g} s" in out
    assert seconds < LIMIT_S + 1, f"check took {seconds:.2f} s"
    nothing_left_armed()


@pytest.mark.parametrize("fn, raised", [(raises_generator_exit, "raised GeneratorExit: closed"),
                                        (raises_system_exit, "raised SystemExit: 2"),
                                        (calls_sys_exit, "raised SystemExit: 1")],
                         ids=["GeneratorExit", "SystemExit", "sys.exit"])
def test_exits_get_a_verdict(capsys, fn, raised):
    ok, seconds = timed_check(fn)
    out = capsys.readouterr().out
    assert not ok and raised in out
    assert seconds < LIMIT_S + 1
    nothing_left_armed()


@pytest.mark.parametrize("exercise", sorted(exercises.EXERCISES))
def test_generator_exit_gets_a_verdict_in_every_exercise(capsys, exercise):
    def raises(*args):
        raise GeneratorExit
    assert check(exercise, raises) is False
    assert "raised GeneratorExit" in capsys.readouterr().out


def test_one_limit_for_the_whole_check(capsys):
    """Slow and wrong: every case and the hint pass together stay within one limit."""
    def slow_and_wrong(x, alpha):
        time.sleep(0.3)
        return np.zeros_like(x)
    ok, seconds = timed_check(slow_and_wrong)
    assert not ok and seconds < LIMIT_S + 1, f"check took {seconds:.2f} s"


def test_a_hang_in_a_hidden_case_is_stopped_once(capsys):
    """Right on the fixed cases, hanging on a hidden one: no second run for a hint."""
    reference = student_ema
    fixed = [np.asarray(args[0]).tobytes()
             for args in exercises.EXERCISES["intro.ema"].cases(np.random.default_rng(0))]

    def hangs_on_new_inputs(x, alpha):
        if np.asarray(x).tobytes() not in fixed:
            while True:
                pass
        return reference(x, alpha)
    ok, seconds = timed_check(hangs_on_new_inputs)
    out = capsys.readouterr().out
    assert not ok and "fixed cases pass" in out and "no answer after" in out
    assert seconds < LIMIT_S + 1


@pytest.mark.parametrize("how", ["interrupt_main", "SIGINT"])
def test_ctrl_c_still_interrupts(monkeypatch, how):
    monkeypatch.setattr(exercises, "TIME_LIMIT_S", 60.0)
    # Python's own Ctrl-C handler, as in a notebook or a terminal. A test run started in
    # the background by a shell (`make test &`) starts with SIGINT ignored, and Python
    # then installs no handler: no code could be interrupted, which is not what this
    # test is about, so it sets the precondition itself.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    send = _thread.interrupt_main if how == "interrupt_main" else (
        lambda: os.kill(os.getpid(), signal.SIGINT))
    timer = threading.Timer(0.5, send)
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            check("intro.ema", spins)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - start < 5
    nothing_left_armed()


def test_the_previous_alarm_handler_and_timer_are_restored(capsys):
    calls = []

    def handler(signum, frame):
        calls.append(signum)
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        assert not check("intro.ema", spins)
        assert signal.getsignal(signal.SIGALRM) is handler
        delay, interval = signal.getitimer(signal.ITIMER_REAL)
        assert 25 < delay <= 30 and interval == 0
        assert check("intro.ema", student_ema)
        assert signal.getsignal(signal.SIGALRM) is handler
        assert calls == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_fast_function_leaves_nothing_behind(capsys):
    previous = signal.getsignal(signal.SIGALRM)
    assert check("intro.ema", student_ema)
    assert signal.getsignal(signal.SIGALRM) is previous
    nothing_left_armed()
    result = []
    thread = threading.Thread(target=lambda: result.append(check("intro.ema", spins)))
    thread.start()
    thread.join(LIMIT_S + 5)
    assert result == [False]
    nothing_left_armed()
