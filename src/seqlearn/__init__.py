"""seqlearn: the tested code behind *Sequence Learning, from RNNs to Mamba*.

Every chapter of the book imports its formulas from here, so that the book,
the lecture decks, the tests and the exercise checkers share one definition
of each. Modules (one per topic, NumPy references first):

- ``recurrence``  the linear recurrence h_t = a_t * h_{t-1} + b_t (chapter 0)
- ``exercises``   ``check(name, fn)``: self-checking exercises
- ``notebooks``   book tooling: the Colab set-up cell, student copies

Later chapters add ``rnn``, ``attention``, ``basis``, ``hippo``,
``discretize``, ``ssm``, ``s4``, ``mamba``, ``tasks``, ``train``, ``plot``.
"""

__version__ = "0.1.0"
