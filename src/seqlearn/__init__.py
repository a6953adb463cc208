"""seqlearn: the tested code behind *Sequence Learning, from RNNs to Mamba*.

Every chapter of the book imports its formulas from here, so that the book,
the lecture decks, the tests and the exercise checkers share one definition
of each. Modules (one per topic, NumPy references first):

- ``recurrence``  the linear recurrence h_t = a_t * h_{t-1} + b_t (chapter 0)
- ``rnn``         RNN, LSTM, GRU cells (NumPy and PyTorch), BPTT, echo state networks (chapter 1)
- ``attention``   softmax attention, causal masks, the KV cache, linear attention (chapter 2)
- ``basis``       signals as coefficients on Legendre, Fourier, Laguerre bases (chapter 3)
- ``hippo``       the HiPPO matrices and online coefficients (chapter 4)
- ``discretize``  Euler, bilinear (GBT), zero-order hold (chapter 5)
- ``ssm``         scan, kernel, FFT convolution, transfer functions (chapter 5)
- ``s4``          NPLR/DPLR, the Cauchy kernel, S4D, S4 and S4D layers (chapter 6)
- ``mamba``       the selective scan (NumPy, PyTorch sequential and parallel), the Mamba
                  block and language model (chapter 7)
- ``mamba_triton`` the selective scan as a fused Triton kernel, forward and backward
- ``cost``        measured time and memory against the sequence length, log-log slopes
- ``charlm``      a character-level language model and sampling
- ``tasks``       synthetic data: Mackey-Glass, Lorenz, the course's own text, a long-range task,
                  selective copying, induction heads
- ``train``       a small training loop with a progress bar
- ``exercises``   ``check(name, fn)``: self-checking exercises
- ``notebooks``   book tooling: the Colab set-up cell, student copies, the reader copies
                  that the Colab button opens
- ``plain_markdown`` the book's MyST Markdown as plain Markdown, for those copies
"""

__version__ = "0.1.0"
