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
each check runs at least two hidden cases drawn afresh (new sizes and values
every run), so that no table of the printed cases passes, and no answer that
ignores its inputs. The course's own functions are refused (the exercise is to
write them), and a name that is almost right gets a "did you mean".

``check`` returns True or False and never raises on a wrong, crashing or
hanging student function: every exception it raises (``SystemExit``,
``GeneratorExit``, its own ``BaseException`` classes) is answered with a
verdict; only a KeyboardInterrupt (Ctrl-C) stops ``check``. All calls of the
function in one check share one time limit, ``TIME_LIMIT_S`` seconds (set
``seqlearn.exercises.TIME_LIMIT_S`` to change it); the limit also stops loops
that catch every exception, in any thread (see ``_time_limit`` for how, and
for what it cannot stop).

The package: ``_checker`` holds ``Exercise``, the ``EXERCISES`` registry and
``check``; ``_time_limit`` the time limit; one module per chapter (``intro``,
``rnn``, ``attention``, ``basis``, ``hippo``, ``discretize``, ``ssm``,
``s4``, ``mamba``, ``hankel``, ``ssd``, named after the part of the exercise
names before the dot) registers that chapter's exercises. Each exercise's ``reference`` is imported
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
