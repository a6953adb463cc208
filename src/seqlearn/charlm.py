"""A character-level language model: the RNN that predicts the next character.

    e_t = E[c_t]                          embedding of character c_t
    h_t = cell(e_t, h_{t-1})              an RNN, LSTM or GRU cell (torch.nn)
    p(c_{t+1} | c_{<=t}) = softmax(W h_t + b)

Glossary: ``vocab_size`` = |V| characters, ``hidden_size`` = H, batches of
ids are (batch, L) with time on axis 1. Training minimises the cross-entropy
of each next character; ``sample`` feeds the model its own output one step
at a time, carrying the state h_t (generation is O(1) memory per step).

The cells are torch.nn's; chapter 1 tests that seqlearn.rnn's readable
cells equal them, so using the fast ones here changes no number.
"""

import numpy as np
import torch
from torch import nn

from seqlearn._checks import MAX_STEPS, affordable, integer, number, option, token_ids

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharRNN(nn.Module):
    """Embedding -> one recurrent layer -> linear head over the vocabulary.

    CharRNN(vocab_size, hidden_size=128, cell="gru", embed_size=None): sizes ints >= 1;
        cell "rnn", "lstm" or "gru"; embed_size None for min(hidden_size, 64)
    forward(ids (batch, L) int64 in [0, vocab_size), state=None)
        -> (logits (batch, L, vocab_size), state); state as torch.nn's cell returns it:
        (1, batch, H), or a pair of them for the LSTM
    """

    def __init__(self, vocab_size, hidden_size=128, cell="gru", embed_size=None):
        super().__init__()
        option("cell", cell, sorted(CELLS))
        vocab_size = integer("vocab_size", vocab_size)
        hidden_size = integer("hidden_size", hidden_size)
        embed_size = min(hidden_size, 64) if embed_size is None else integer(
            "embed_size", embed_size)
        affordable("vocab_size", vocab_size * (embed_size + hidden_size + 1))
        affordable("hidden_size", 4 * hidden_size * (embed_size + hidden_size + 2))
        self.vocab_size, self.hidden_size, self.kind = vocab_size, hidden_size, cell
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.cell = CELLS[cell](embed_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def _check_state(self, state, batch):
        if state is None:
            return
        shape = (1, batch, self.hidden_size)
        parts = state if self.kind == "lstm" else (state,)
        if self.kind == "lstm" and not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError(f"state: expected None or a pair (h, c) of tensors {shape} "
                             f"(the LSTM's), got {type(state).__name__}")
        weight = self.head.weight
        for s in parts:
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != shape \
                    or s.dtype != weight.dtype or s.device != weight.device:
                got = (f"{s.dtype} of shape {tuple(s.shape)}" if isinstance(s, torch.Tensor)
                       else type(s).__name__)
                raise ValueError(f"state: expected None or the state forward returned, "
                                 f"{weight.dtype} tensors {shape}, got {got}")

    def forward(self, ids, state=None):
        token_ids("ids", ids, 2, "(batch, L)", self.vocab_size)
        if ids.device != self.head.weight.device:
            raise ValueError(f"ids: expected a tensor on {self.head.weight.device} (the "
                             f"model's), got one on {ids.device}")
        self._check_state(state, ids.shape[0])
        h, state = self.cell(self.embed(ids), state)
        return self.head(h), state


def _generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator: expected None or a torch.Generator, got "
                         f"{type(generator).__name__}")
    return generator


def random_windows(ids, seq_len, batch_size, generator=None):
    """A batch of random windows of the text and the same windows shifted by one.

    ids: 1-D integer tensor of the encoded text (ids >= 0), length > seq_len.
    seq_len, batch_size: ints >= 1;  generator: a torch.Generator, or None (the default)
        for torch's global one.
    Returns (inputs, targets), each (batch_size, seq_len): targets[:, t] = inputs[:, t+1].
    """
    seq_len = integer("seq_len", seq_len)
    batch_size = integer("batch_size", batch_size)
    affordable("batch_size", batch_size, MAX_STEPS, "windows")
    affordable("batch_size", batch_size * (seq_len + 1))
    _generator(generator)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or len(ids) <= seq_len \
            or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        got = (f"{ids.dtype} of shape {tuple(ids.shape)}" if isinstance(ids, torch.Tensor)
               else type(ids).__name__)
        raise ValueError(f"ids: expected a 1-D integer tensor longer than seq_len={seq_len}, "
                         f"got {got}")
    if int(ids.min()) < 0:
        raise ValueError(f"ids: expected ids >= 0 (an encoded text), got {int(ids.min())}")
    starts = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=generator)
    windows = torch.stack([ids[s: s + seq_len + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


def next_char_loss(model, batch):
    """Mean cross-entropy of the next character: -mean log p(c_{t+1} | c_{<=t}).

    model: maps ids (batch, L) to (logits (batch, L, vocab), state), as CharRNN
    batch: (inputs, targets), int tensors (batch, L), targets in [0, vocab)
    """
    if not callable(model):
        raise ValueError(f"model: expected a module like CharRNN, got {type(model).__name__}")
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError(f"batch: expected a pair (inputs, targets), got "
                         f"{type(batch).__name__}")
    inputs, targets = batch
    token_ids("batch", targets, 2, "(batch, L) as targets")
    out = model(inputs)
    logits = out[0] if isinstance(out, (tuple, list)) and len(out) == 2 else None
    if not isinstance(logits, torch.Tensor) or logits.ndim != 3 \
            or tuple(logits.shape[:2]) != tuple(targets.shape):
        raise ValueError(f"model: expected (logits (batch, L, vocab), state) with (batch, L) "
                         f"= {tuple(targets.shape)}, the targets' shape, got "
                         f"{type(out).__name__}")
    token_ids("batch", targets, 2, "(batch, L) as targets", logits.shape[-1])
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def _prefix(prefix_ids, vocab):
    """prefix_ids as a non-empty list of Python ints (in [0, vocab) when vocab is known)."""
    if isinstance(prefix_ids, (torch.Tensor, np.ndarray)):
        if prefix_ids.ndim != 1:
            raise ValueError(f"prefix_ids: expected a 1-D sequence of ids, got shape "
                             f"{tuple(prefix_ids.shape)}")
        prefix_ids = prefix_ids.tolist()
    if not isinstance(prefix_ids, (list, tuple)):
        raise ValueError(f"prefix_ids: expected a list of ids, got {type(prefix_ids).__name__}")
    if len(prefix_ids) == 0:
        raise ValueError("prefix_ids: expected at least one id to start from, got none")
    for i in prefix_ids:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or i < 0 \
                or (vocab is not None and i >= vocab):
            where = f"[0, {vocab})" if vocab is not None else ">= 0"
            raise ValueError(f"prefix_ids: expected ids, integers in {where}, got {i!r}")
    return [int(i) for i in prefix_ids]


@torch.no_grad()
def sample(model, prefix_ids, n, temperature=1.0, generator=None):
    """Generate ``n`` ids after ``prefix_ids`` (list of ints), one step at a time.

    model: a CharRNN (or a module with its forward(ids, state) -> (logits, state))
    n: int in [0, ``MAX_STEPS``];  temperature: number >= 0. Temperature 0 picks the most
    likely character (greedy); otherwise draws from softmax(logits / temperature) with
    ``generator`` (a torch.Generator, or None for torch's global one). Returns the list
    of generated ids (without the prefix).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module like CharRNN, got "
                         f"{type(model).__name__}")
    prefix_ids = _prefix(prefix_ids, getattr(model, "vocab_size", None))
    n = integer("n", n, 0, maximum=MAX_STEPS)
    temperature = number("temperature", temperature, 0)
    _generator(generator)
    model.eval()
    logits, state = model(torch.tensor([prefix_ids]))
    out = []
    for _ in range(n):
        last = logits[0, -1]
        if temperature == 0:
            nxt = int(torch.argmax(last))
        else:
            probs = torch.softmax(last / temperature, dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=generator))
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]]), state)
    return out
