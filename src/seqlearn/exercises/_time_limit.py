"""The time limit on a student's function run in the notebook's own process:
``call(fn, args, seconds)``. The checker uses it where ``_isolated`` cannot fork a
child (Windows); elsewhere the limit is the parent's deadline on the child.

``call`` runs ``fn(*args)`` and raises ``TimeUp`` when it has not returned
after ``seconds``. ``TimeUp`` is a ``BaseException`` (not an ``Exception``) and
keeps being raised, every ``REPEAT_S`` seconds, until ``fn`` has given up, so
a loop that swallows it (``except Exception: pass``, even ``except
BaseException: pass``) still ends:

- in the main thread (POSIX), a SIGALRM interval timer raises it; the signal
  also interrupts ``time.sleep``;
- in any other thread (or without ``signal.setitimer``), a watchdog thread
  injects it into the thread running ``fn`` with
  ``ctypes.pythonapi.PyThreadState_SetAsyncExc``;
- once the time is up, every new line of ``fn``'s code raises it as well (a
  trace function, set again by a profile function at each call, since Python
  drops a trace function that raises), so it escapes from inside an
  ``except`` clause too.

The previous SIGALRM handler, interval timer and trace function are restored
afterwards, and the watchdog thread has ended when ``call`` returns.

What remains: Python only raises between bytecodes, so a C call that never
returns to Python is only stopped when it returns: ``time.sleep(1e9)`` or a
blocking read outside the main thread, one enormous NumPy operation in any
thread. A function that catches the exception and then runs such a call
again is not stopped either. While the time is up, the trace and profile
functions of the thread (a debugger's, coverage's) are replaced; they are
restored when ``call`` returns.
"""

import ctypes
import signal
import sys
import threading
import time

REPEAT_S = 0.1
"""Seconds between two raises of ``TimeUp`` once the time is up."""

_ACTIVE = {}   # thread id -> the _Limit running in that thread


class TimeUp(BaseException):
    """Raised inside the student's function when its time is up.

    Created in the student's thread (the watchdog injects the class, Python
    instantiates it there), so its constructor can switch on the line-by-line
    raise in that thread's frames.
    """

    def __init__(self, *args):
        super().__init__(*args)
        limit = _ACTIVE.get(threading.get_ident())
        if limit is not None and limit.expired:
            limit.trace_frames(sys._getframe(1))


def call(fn, args, seconds):
    """``fn(*args)``, or ``TimeUp`` raised after ``seconds``."""
    limit = _Limit(seconds)
    try:   # not a `with`: a TimeUp raised inside __enter__ would skip __exit__
        limit.start()
        return fn(*args)
    finally:
        limit.stop()


def _inject(thread_id):
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(TimeUp))


def _flush():
    """Nothing; calling a Python function lets a pending signal or injected exception go off."""


class _Limit:
    """The time limit of one ``call``: ``start()``, run fn, ``stop()``."""

    def __init__(self, seconds):
        self.seconds = max(float(seconds), 1e-3)
        self.thread = threading.get_ident()
        self.use_signal = (hasattr(signal, "setitimer")
                           and threading.current_thread() is threading.main_thread())
        self.lock = threading.Lock()
        self.armed = False     # True while fn runs
        self.expired = False   # True once the time is up, while fn runs
        self.traced = False    # True once our trace function was installed
        self.done = threading.Event()   # tells the watchdog that fn has ended
        self.previous_timer = (0.0, 0.0)
        self.started = time.monotonic()
        self.watchdog = None

    def trace_frames(self, frame):
        """Raise TimeUp at the next line of every frame from ``frame`` up to ``call``'s."""
        if not self.armed:
            return
        self.traced = True
        sys.settrace(self._trace)
        sys.setprofile(self._profile)
        while frame is not None and frame.f_code.co_filename != __file__:
            frame.f_trace = self._trace
            frame = frame.f_back

    def _trace(self, frame, event, arg):
        if not self.expired:
            return None
        # not on an "exception" event: raised there, it would be caught by the same `try`
        if event in ("line", "call") and frame.f_code.co_filename != __file__:
            raise TimeUp()
        return self._trace

    def _profile(self, frame, event, arg):
        # Python unsets a trace function that raises; a call (to time.sleep, say) sets it again
        if self.expired and frame.f_code.co_filename != __file__:
            self.trace_frames(frame)

    def _alarm(self, signum, frame):
        if self.armed:
            self.expired = True
            self.trace_frames(frame)
            raise TimeUp()

    def _watch(self):
        if self.done.wait(self.seconds):
            return
        while True:
            with self.lock:
                if not self.armed:
                    return
                self.expired = True
                _inject(self.thread)
            if self.done.wait(REPEAT_S):
                return

    def start(self):
        """Arm the limit: the SIGALRM timer (main thread) or the watchdog thread."""
        self.previous_active = _ACTIVE.get(self.thread)
        self.previous_trace = sys.gettrace()
        self.previous_profile = sys.getprofile()
        _ACTIVE[self.thread] = self
        if self.use_signal:
            self.previous_handler = signal.signal(signal.SIGALRM, self._alarm)
            self.armed = True
            self.previous_timer = signal.setitimer(signal.ITIMER_REAL, self.seconds, REPEAT_S)
        else:
            self.armed = True
            self.watchdog = threading.Thread(target=self._watch, name="seqlearn-time-limit",
                                             daemon=True)
            self.watchdog.start()

    def stop(self):
        """Disarm the limit and restore what ``start`` replaced."""
        while True:   # a TimeUp raised while disarming is dropped: fn has ended already
            try:
                self._disarm()
                return
            except TimeUp:
                pass

    def _disarm(self):
        with self.lock:
            self.armed = False
            self.expired = False
        if self.use_signal:
            signal.setitimer(signal.ITIMER_REAL, 0)
        # A signal or an injected TimeUp still pending goes off here, not later in the
        # checker. (Clearing it with SetAsyncExc(id, NULL) instead is unsafe: CPython 3.11
        # then leaves its eval breaker set, and a traced thread can spin for ever.)
        _flush()
        if self.use_signal and hasattr(self, "previous_handler"):
            handler = self.previous_handler   # None: set from C, cannot be set back
            signal.signal(signal.SIGALRM, signal.SIG_DFL if handler is None else handler)
            delay, interval = self.previous_timer
            if delay > 0:
                left = delay - (time.monotonic() - self.started)
                signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)
        if self.watchdog is not None:
            self.done.set()
            self.watchdog.join()
        if self.traced:
            sys.settrace(self.previous_trace)
            sys.setprofile(self.previous_profile)
        if self.previous_active is None:
            _ACTIVE.pop(self.thread, None)
        else:
            _ACTIVE[self.thread] = self.previous_active
