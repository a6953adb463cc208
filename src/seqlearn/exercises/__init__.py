"""Self-checking exercises: ``check("chapter.exercise", your_function)``.

A checker runs the student's function on a few generated cases (small and
hand-picked ones first: an impulse, a constant, a batch), compares each
result with the package's reference implementation, and prints a verdict:

    ✅ intro.ema: all 5 cases match the reference.

or what is wrong, in the first case that fails: the inputs, then a wrong
shape, a missing ``return``, a NaN, the exception the function raised (with
the line of the student's code), or the entry that differs most and by how
much. Where the wrong answer matches a slip we know (a swapped coefficient,
the wrong time axis), it names the slip. A function that cannot take the
exercise's arguments is shown the expected signature.

Besides the fixed cases (the same every run, so a failure can be reproduced),
each check runs at least two hidden cases drawn afresh from the operating
system's entropy (new sizes and values every run, whatever the notebook did to
NumPy's generators), so that no table of the printed cases passes, and no
answer that ignores its inputs. A name that is almost right gets a "did you
mean".

Where the platform can fork (Linux, macOS, Colab), the student's function
runs in a child process (``_isolated``): the expected answers exist only in
the notebook's process, computed after the child has answered; the answer
comes back as plain arrays, read by type (an object's ``__array__`` is never
called); whatever the function patches, prints, starts or exits stays in the
child, which is killed at the end; and the time limit is the parent's
deadline, which no signal handler in the child can switch off. Elsewhere
(Windows) it runs in the notebook's process under ``_time_limit``.

A function that calls the course function the exercise asks for is refused,
naming it: the reference, the course functions a formula reference calls, and
an exercise's ``also_refused`` (the recurrence behind the EMA), however they are
reached (a wrapper, an alias, ``functools.partial``, an import inside the
function, a method, a class, a copied ``__code__``, a thread). Other course
functions may be used as building blocks.

``check`` returns True or False and never raises on a wrong, crashing,
exiting or hanging student function, or on a result object; only a
KeyboardInterrupt (Ctrl-C) stops ``check``. All calls of the function in one
check share one time limit, ``TIME_LIMIT_S`` seconds (set
``seqlearn.exercises.TIME_LIMIT_S`` to change it).

The package: ``_checker`` holds ``Exercise``, the ``EXERCISES`` registry and
``check``; ``_isolated`` the child process; ``_time_limit`` the in-process
time limit; one module per chapter (``intro``, ``rnn``, ``attention``,
``basis``, ``hippo``, ``discretize``, ``ssm``, ``s4``, ``mamba``, ``hankel``,
``ssd``, named after the part of the exercise names before the dot) registers
that chapter's exercises. Each exercise's ``reference`` is imported
from the chapter's seqlearn module (or is a one-line formula), so the checker
and the book share one definition of each formula. To add a chapter, add its
module here and one import line below.
"""

from seqlearn.exercises._checker import EXERCISES, TIME_LIMIT_S, Exercise, check

# Each chapter module registers its exercises in EXERCISES when imported.
from seqlearn.exercises import intro  # noqa: E402, F401
from seqlearn.exercises import rnn  # noqa: E402, F401
from seqlearn.exercises import attention  # noqa: E402, F401
from seqlearn.exercises import basis  # noqa: E402, F401
from seqlearn.exercises import hippo  # noqa: E402, F401
from seqlearn.exercises import discretize  # noqa: E402, F401
from seqlearn.exercises import ssm  # noqa: E402, F401
from seqlearn.exercises import s4  # noqa: E402, F401
from seqlearn.exercises import mamba  # noqa: E402, F401
from seqlearn.exercises import hankel  # noqa: E402, F401
from seqlearn.exercises import ssd  # noqa: E402, F401

__all__ = ["EXERCISES", "TIME_LIMIT_S", "Exercise", "check"]
