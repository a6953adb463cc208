"""Run a student's function in a child process: ``run(fn, cases, seconds, refused, ...)``.

Why a child process: the student's function runs in the same Python as the
notebook, so anything the checker keeps in memory it could read (an expected
answer, found by walking up the stack), and anything it relies on it could
change (``np.allclose``, the alarm that stops a loop, the profile hook that
sees a call of the course's own function). A forked child gets a copy of the
notebook's memory, with the student's function and the cases in it, and
nothing else:

- the expected answers are computed in the parent after the child has
  answered, so they are in no frame the student's code can walk;
- whatever the function patches (NumPy, ``signal``, ``sys``, the checker's own
  modules) is patched in the child only, and the child is killed at the end;
- the time limit is the parent waiting on a pipe with a deadline, then
  killing the child's process group: no signal handler, timer or trace
  function the student could switch off, and nothing a C call that never
  returns can block;
- the result is converted to plain NumPy arrays in the child, by type (a
  NumPy array, a torch tensor, a number, a list or tuple of them) and never
  through a method of the result (``__array__``, ``.numpy()``), then sent as
  bytes; the parent rebuilds arrays from their dtype, shape and bytes only
  (no pickle), so a result object never runs code in the parent;
- an exit (``sys.exit``, ``os._exit``), a crash, a stuck loop or megabytes of
  printing end or fill the child, not the notebook; the printed text comes
  back, cut to ``MAX_PRINTED`` characters.

Leaning on the course: ``refused`` maps the code objects of the course
functions that solve the exercise to their names. In the child a profile
function, set for the main thread and for every thread started later, notes a
call of any of them (however it was reached: a wrapper, an alias,
``functools.partial``, an import inside the function, a method, a class, a
copied ``__code__``, a thread); every function object that holds one of those
code objects, the course's and any copy, is also given a code that reports the
call, so a thread started without the profile function is caught too; and an
audit hook (which Python cannot remove) notes any ``sys.setprofile`` call the
student makes. A student who forges the child's messages on its pipe is not
caught: the checker gives feedback; grading runs each submission separately.

Where ``os.fork`` does not exist (Windows), ``AVAILABLE`` is False and the
checker runs the function in its own process with ``_time_limit``.
"""

import gc
import json
import os
import select
import signal
import struct
import sys
import threading
import time
import traceback
import types

import numpy as np

AVAILABLE = hasattr(os, "fork")
"""True where the student's function can run in a forked child (Linux, macOS)."""

MAX_RESULT_BYTES = 64 * 2 ** 20
"""The largest result (all arrays together) the child sends back; a larger one is refused."""

MAX_PRINTED = 4000
"""Characters of the student's printed output shown with the verdict."""

_MAX_NODES = 100_000       # containers and leaves in one result
_HEADER = struct.Struct(">Q")
_DTYPE_KINDS = "biufc"      # bool, int, uint, float, complex: what a result may hold
_TRAP_NAME = "__seqlearn_refused_call__"


class Source:
    """A function still to be built: ``code`` (text) that defines ``name``.

    ``run`` executes ``code`` in the child, in a fresh namespace, and checks the
    function it defines: the grader's way to check an answer taken from a submitted
    notebook without running a line of it in its own process. ``filename`` names
    the code in tracebacks ("<answer ex-mamba-step>").
    """

    def __init__(self, code, name, filename="<answer>"):
        if not isinstance(code, str) or not isinstance(name, str):
            raise ValueError(f"Source: expected code and name as str, got "
                             f"{type(code).__name__} and {type(name).__name__}")
        self.code, self.name, self.filename = code, name, filename


def _build(source, describe_error):
    """(function, None) from a ``Source``, or (None, a sentence saying why not)."""
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(source.code, source.filename, "exec"), namespace)
    except BaseException as exc:   # SystemExit and KeyboardInterrupt from the answer too
        try:
            tb = exc.__traceback__
            lines = [lineno for frame, lineno in traceback.walk_tb(tb)
                     if frame.f_code.co_filename == source.filename]
            where = f" (line {lines[-1]})" if lines else ""
            return None, f"the answer's code raised {type(exc).__name__}: {str(exc):.200}{where}"
        except BaseException:   # an exception whose str() raises
            return None, f"the answer's code raised {type(exc).__name__}"
    fn = namespace.get(source.name)
    if not callable(fn):
        found = "nothing" if fn is None else f"a {type(fn).__name__}"
        return None, f"the answer defines no function {source.name} (found {found})"
    return fn, None


class Outcome:
    """One case's outcome: ``answer`` (plain arrays), or ``problem`` (lines), and the
    course function it leaned on (``leaned_on``), or the checker part it tampered with
    (``tampered``)."""

    def __init__(self, answer=None, problem=None, leaned_on=None, tampered=None):
        self.answer, self.problem = answer, problem
        self.leaned_on, self.tampered = leaned_on, tampered


class Unreadable:
    """Stands for a part of a result the child would not convert (its type named)."""

    def __init__(self, kind):
        self.kind = str(kind)

    def __repr__(self):
        return self.kind


def run(fn, cases, seconds, refused, describe_error, signature_problem):
    """Call ``fn(*args)`` for every ``args`` in ``cases`` in a forked child.

    refused: {code object: "module.name"} of the course functions ``fn`` may not call.
    describe_error: exception -> lines saying what went wrong (run in the child).
    signature_problem: (fn, args) -> a sentence, or None (run in the child).
    Returns (label, signature, outcomes, printed, ended): ``fn``'s name, the signature
    problem or None, one ``Outcome`` per case answered in time (fewer when the time ran
    out or the child died), the text ``fn`` printed, and why the child stopped early
    (None, "time", or a description of the exit).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: never returns
        code = 0
        try:
            os.close(read_fd)
            _child(write_fd, fn, cases, refused, describe_error, signature_problem)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    reader = _Reader(read_fd, time.monotonic() + seconds)
    label, signature, outcomes, printed, ended = "fn", None, [], "", None
    try:
        while True:
            message = reader.next()
            if message is None:
                ended = ("time" if reader.timed_out else
                         reader.broken or _exit_text(pid, reader.deadline))
                break
            header, payload = message
            kind = header.get("kind")
            if kind == "start":
                label = str(header.get("label", "fn"))[:60]
                signature = header.get("signature")
                signature = str(signature) if signature else None
                if signature:
                    break
            elif kind == "case":
                outcomes.append(_outcome(header, payload))
                printed = str(header.get("printed", ""))
            elif kind == "done":
                printed = str(header.get("printed", ""))
                break
    except (ValueError, TypeError, KeyError) as exc:   # a message the child did not send
        ended = f"its answer could not be read back ({exc})"
    finally:
        os.close(read_fd)
        _kill(pid)
    return label, signature, outcomes, printed, ended


def _outcome(header, payload):
    if header.get("problem") is not None:
        problem = [str(line) for line in header["problem"]]
        answer = None
    else:
        problem, answer = None, _decode(header["result"], payload, [0])
    leaned = header.get("leaned_on")
    tampered = header.get("tampered")
    return Outcome(answer, problem, str(leaned) if leaned else None,
                   str(tampered) if tampered else None)


def _kill(pid):
    """End the child and everything it started (its process group), and reap it."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError, OSError):
            pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _exit_text(pid, deadline):
    """How the child ended before answering every case, in words ("time" when it closed
    its pipe and went on running until the deadline)."""
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "the process running it ended"
        if done:
            break
        if time.monotonic() > deadline:
            return "time"
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the process running it was killed by {name} (a crash?)"
    return (f"the process running it exited with status {os.WEXITSTATUS(status)} "
            "(sys.exit, os._exit or exit() in your function?)")


class _Reader:
    """Messages (header dict, payload bytes) read from the child's pipe until a deadline."""

    def __init__(self, fd, deadline):
        self.fd, self.deadline = fd, deadline
        self.buffer = bytearray()
        self.timed_out, self.broken, self.eof = False, None, False

    def _fill(self, n):
        while len(self.buffer) < n:
            if self.eof:
                return False
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return False
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.eof = True
                return False
            self.buffer += chunk
        return True

    def _take(self, n):
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def next(self):
        if not self._fill(_HEADER.size):
            return None
        n = _HEADER.unpack(self._take(_HEADER.size))[0]
        if n > 2 ** 20:
            self.broken = "its answer could not be read back (a header too long)"
            return None
        if not self._fill(n + _HEADER.size):
            return None
        header = json.loads(self._take(n).decode("utf-8"))
        m = _HEADER.unpack(self._take(_HEADER.size))[0]
        if m > MAX_RESULT_BYTES or not isinstance(header, dict):
            self.broken = "its answer could not be read back (a malformed message)"
            return None
        if not self._fill(m):
            return None
        return header, self._take(m)


# --- the child -------------------------------------------------------------------------

class _State:
    def __init__(self, refused):
        self.refused = refused                      # {id(code): name}; the caller's
        self.leaned_on = None                       # dict keeps the codes alive
        self.tampered = None
        self.ours = False                           # True while we set the profile function


def _child(write_fd, fn, cases, refused, describe_error, signature_problem):
    try:
        os.setpgid(0, 0)   # a group of its own: killed with everything it starts
    except OSError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:   # torch's thread pool does not survive a fork: one thread
        torch.set_num_threads(1)
    printed = _Printed()
    sys.stdout = sys.stderr = printed
    if isinstance(fn, Source):
        fn, problem = _build(fn, describe_error)
        if problem:
            _send(write_fd, {"kind": "start", "label": "fn", "signature": problem,
                             "printed": printed.text()}, b"")
            return
    label = getattr(fn, "__name__", "fn") if isinstance(fn, types.FunctionType) else \
        type(fn).__name__
    signature = signature_problem(fn, cases[0]) if cases else None
    _send(write_fd, {"kind": "start", "label": str(label), "signature": signature}, b"")
    if signature:
        return
    state = _State({id(code): name for code, name in refused.items()})
    _watch(state, refused)
    for args in cases:
        header, payload = {"kind": "case"}, b""
        try:
            value = fn(*args)
        except BaseException as exc:   # SystemExit, KeyboardInterrupt from the student too
            header["problem"] = _safe_lines(describe_error, exc)
        else:
            try:
                blobs = []
                header["result"] = _encode(value, blobs, [0])
                payload = b"".join(blobs)
                if len(payload) > MAX_RESULT_BYTES:
                    raise _TooLarge(f"{len(payload) / 2 ** 20:.0f} MiB")
            except _TooLarge as exc:
                header["problem"] = [f"problem: the result is too large to compare ({exc}; "
                                     f"the limit is {MAX_RESULT_BYTES // 2 ** 20} MiB)."]
                payload = b""
        if sys.getprofile() is not state.hook or threading.getprofile() is not state.hook:
            state.tampered = state.tampered or "the profile function (sys.setprofile)"
        header["leaned_on"] = state.leaned_on
        header["tampered"] = state.tampered
        header["printed"] = printed.text()
        _send(write_fd, header, payload)
    _send(write_fd, {"kind": "done", "printed": printed.text()}, b"")


def _safe_lines(describe_error, exc):
    try:
        return [str(line) for line in describe_error(exc)]
    except BaseException:
        return [f"problem: your function raised {type(exc).__name__} (its message could "
                "not be shown)."]


class _TooLarge(Exception):
    pass


class _Refused(BaseException):
    """Raised in the child by a call of a refused course function."""


def _watch(state, refused):
    """Note every call of a refused code object: a profile function on every thread,
    a reporting code in every function object that holds one, and an audit hook."""

    def hook(frame, event, arg):
        if event == "call" and state.leaned_on is None:
            name = state.refused.get(id(frame.f_code))
            if name is not None:
                state.leaned_on = name

    def report(name):
        if state.leaned_on is None:
            state.leaned_on = name
        raise _Refused(f"{name} is the course's own function")

    def audit(event, args):
        if event == "sys.setprofile" and not state.ours:
            caller = sys._getframe(1)
            if caller.f_code is not _BOOTSTRAP_CODE or threading.getprofile() is not hook:
                state.tampered = state.tampered or "the profile function (sys.setprofile)"

    state.hook = hook
    codes = {id(code): (code, name) for code, name in refused.items() if not code.co_freevars}
    traps = {}
    # One walk of the heap for all the refused codes: gc.get_referrers visits every object,
    # so a walk per code grew with the heap (about 0.2 s for nine codes in a large process).
    for holder in gc.get_referrers(*(code for code, _ in codes.values())):
        if isinstance(holder, types.FunctionType) and id(holder.__code__) in codes:
            code, name = codes[id(holder.__code__)]
            if holder.__code__ is not code:
                continue
            if id(code) not in traps:
                traps[id(code)] = _trap_code(name, code)
            try:
                holder.__globals__[_TRAP_NAME] = report
                holder.__code__ = traps[id(code)]
            except (TypeError, ValueError, AttributeError):
                pass
    state.ours = True
    sys.addaudithook(audit)
    threading.setprofile(hook)
    sys.setprofile(hook)
    state.ours = False


_BOOTSTRAP_CODE = threading.Thread._bootstrap_inner.__code__


def _trap_code(name, code):
    """A code object that reports a call of ``name`` (for a function with ``code``)."""
    source = f"def _refused(*args, **kwargs):\n    return {_TRAP_NAME}({name!r})\n"
    namespace = {}
    exec(compile(source, f"<the course's {name}>", "exec"), namespace)
    return namespace["_refused"].__code__


class _Printed:
    """A stand-in for stdout and stderr that keeps the first MAX_PRINTED characters."""

    def __init__(self):
        self.parts, self.size, self.dropped = [], 0, 0

    def write(self, text):
        text = str(text)
        room = MAX_PRINTED - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self):
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n... ({self.dropped} more characters not shown)"
        return text


def _send(fd, header, payload):
    data = json.dumps(header).encode("utf-8")
    message = _HEADER.pack(len(data)) + data + _HEADER.pack(len(payload)) + payload
    view = memoryview(message)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_NUMBERS = (bool, int, float, complex)


def _encode(value, blobs, count):
    """A JSON description of ``value``, its arrays' bytes appended to ``blobs``.

    Only these types are read, by type, never through the value's own methods:
    None; a NumPy array (``numpy.ndarray`` itself) or scalar; a Python bool, int, float
    or complex; a torch tensor (``torch.Tensor`` or ``torch.nn.Parameter``, strided); a
    list or tuple of these. Anything else becomes {"t": "other", "kind": its type's name}.
    """
    count[0] += 1
    if count[0] > _MAX_NODES:
        raise _TooLarge(f"more than {_MAX_NODES} parts")
    kind = type(value)
    if value is None:
        return {"t": "none"}
    if kind in (tuple, list):
        if kind is list and value and all(type(v) in _NUMBERS or isinstance(v, np.generic)
                                          for v in value):   # a list of numbers: one array
            array = np.array(value)
            if array.dtype.kind in _DTYPE_KINDS:
                return _array_node(array, blobs)
        items = [_encode(v, blobs, count) for v in value]
        return {"t": kind.__name__, "items": items}
    if kind is np.ndarray or kind in _NUMBERS or (isinstance(value, np.generic)
                                                 and kind.__module__ == "numpy"):
        try:
            array = np.array(value)
        except (OverflowError, ValueError):
            return {"t": "other", "kind": f"{kind.__name__} {value!r:.40}"}
        if array.dtype.kind not in _DTYPE_KINDS:
            return {"t": "other", "kind": f"an array of dtype {array.dtype}"}
        return _array_node(array, blobs)
    torch = sys.modules.get("torch")
    if torch is not None and kind in (torch.Tensor, torch.nn.Parameter):
        if value.layout != torch.strided or value.device.type == "meta":
            return {"t": "other", "kind": f"a {value.layout} tensor on {value.device}"}
        tensor = value.detach().to("cpu")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return _array_node(np.array(tensor.resolve_conj().resolve_neg().numpy()), blobs)
    return {"t": "other", "kind": f"{kind.__module__}.{kind.__qualname__}"
            if kind.__module__ not in ("builtins", "__main__") else kind.__qualname__}


def _array_node(array, blobs):
    array = np.array(array, order="C")   # (np.ascontiguousarray makes 0-d arrays 1-d)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    offset = sum(len(b) for b in blobs)
    blobs.append(array.tobytes())
    return {"t": "array", "dtype": array.dtype.str, "shape": list(array.shape),
            "offset": offset, "nbytes": array.nbytes}


def _decode(node, payload, count):
    """The value ``_encode`` described: tuples, lists, None, plain arrays, ``Unreadable``."""
    count[0] += 1
    if count[0] > _MAX_NODES or not isinstance(node, dict):
        raise ValueError("a malformed result")
    t = node.get("t")
    if t == "none":
        return None
    if t in ("tuple", "list"):
        items = [_decode(n, payload, count) for n in node["items"]]
        return tuple(items) if t == "tuple" else items
    if t == "other":
        return Unreadable(node["kind"])
    if t != "array":
        raise ValueError("a malformed result")
    dtype = np.dtype(str(node["dtype"]))
    shape = tuple(int(n) for n in node["shape"])
    offset, nbytes = int(node["offset"]), int(node["nbytes"])
    if dtype.kind not in _DTYPE_KINDS or dtype.hasobject or min(shape, default=1) < 0 \
            or nbytes != dtype.itemsize * int(np.prod(shape, dtype=object)) \
            or offset < 0 or offset + nbytes > len(payload):
        raise ValueError("a malformed result")
    return np.frombuffer(payload, dtype=dtype, count=nbytes // dtype.itemsize,
                         offset=offset).reshape(shape).copy()
