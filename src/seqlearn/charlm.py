"""A character-level language model: the RNN that predicts the next character.

    e_t = E[c_t]                          embedding of character c_t
    h_t = cell(e_t, h_{t-1})              an RNN, LSTM or GRU cell (torch.nn)
    p(c_{t+1} | c_{<=t}) = softmax(W h_t + b)

Truncated BPTT: ``stream_windows`` cuts the text into contiguous streams and consecutive
windows; ``tbptt_batches`` walks through them pass after pass (each pass from a random
offset); ``CarriedState`` carries the state from window to window, detached, so the
gradient flows back at most one window. ``perplexity`` = exp(cross-entropy);
``window_loss`` scores a text with the state carried through it or reset every window.

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
    n: int in [0, ``MAX_STEPS``];  temperature: number >= 0. Temperature 0 (or one so small
    that logits / temperature overflow) picks the most likely character (greedy); otherwise
    draws from softmax(logits / temperature) with
    ``generator`` (a torch.Generator, or None for torch's global one). Returns the list
    of generated ids (without the prefix). The model runs in eval mode and is returned to
    the mode it was in.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module like CharRNN, got "
                         f"{type(model).__name__}")
    prefix_ids = _prefix(prefix_ids, getattr(model, "vocab_size", None))
    n = integer("n", n, 0, maximum=MAX_STEPS)
    temperature = number("temperature", temperature, 0)
    _generator(generator)
    was_training = model.training
    model.eval()
    try:
        try:
            logits, state = model(torch.tensor([prefix_ids]))
        except (TypeError, RuntimeError, ValueError) as exc:
            raise ValueError(f"model: expected a module whose forward(ids (1, L)) returns "
                             f"(logits, state), like CharRNN; it raised "
                             f"{type(exc).__name__}: {str(exc)[:120]}") from exc
        out = []
        for _ in range(n):
            last = logits[0, -1]
            scaled = last / temperature if temperature > 0 else None
            if scaled is None or not bool(torch.isfinite(scaled).all()):
                # T = 0, or so small that logits / T overflows (1e-300 is 0 in float32):
                # the limit of softmax(logits / T) as T -> 0, the greedy choice
                nxt = int(torch.argmax(last))
            else:
                probs = torch.softmax(scaled, dim=-1)
                nxt = int(torch.multinomial(probs, 1, generator=generator))
            out.append(nxt)
            logits, state = model(torch.tensor([[nxt]]), state)
    finally:
        model.train(was_training)
    return out


def stream_windows(ids, batch_size, seq_len):
    """The text cut into ``batch_size`` contiguous streams, then into consecutive windows.

    Stream b is ``ids[b S : (b + 1) S + 1]`` with ``S = (len(ids) - 1) // batch_size``;
    window j of every stream holds its characters ``j seq_len .. (j + 1) seq_len - 1``, so
    window j + 1 continues window j exactly where it stopped: the state h_t at the end of
    window j is the right initial state for window j + 1 (truncated BPTT, ``CarriedState``).

    ids : 1-D integer tensor (ids >= 0) with ``S >= seq_len``;  batch_size, seq_len : ints >= 1
    returns (inputs, targets) : int tensors (n_windows, batch_size, seq_len),
        n_windows = S // seq_len, and targets[j, b, t] = inputs[j, b, t + 1] (the next id)
    """
    batch_size = integer("batch_size", batch_size)
    seq_len = integer("seq_len", seq_len)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.is_floating_point() \
            or ids.is_complex() or ids.dtype == torch.bool:
        got = (f"{ids.dtype} of shape {tuple(ids.shape)}" if isinstance(ids, torch.Tensor)
               else type(ids).__name__)
        raise ValueError(f"ids: expected a 1-D integer tensor, got {got}")
    S = (len(ids) - 1) // batch_size
    if S < seq_len:
        raise ValueError(f"ids: expected at least batch_size * seq_len + 1 = "
                         f"{batch_size * seq_len + 1} ids, got {len(ids)}")
    if int(ids.min()) < 0:
        raise ValueError(f"ids: expected ids >= 0 (an encoded text), got {int(ids.min())}")
    n = S // seq_len
    x = ids[:batch_size * S].reshape(batch_size, S)[:, :n * seq_len]
    y = ids[1:batch_size * S + 1].reshape(batch_size, S)[:, :n * seq_len]
    shape = (batch_size, n, seq_len)
    return (x.reshape(shape).transpose(0, 1).contiguous(),
            y.reshape(shape).transpose(0, 1).contiguous())


def tbptt_batches(ids, batch_size, seq_len, generator=None):
    """The batches of truncated BPTT for ``fit``: passes over the text in consecutive windows.

    Pass p (steps p n .. p n + n - 1) is ``stream_windows(ids[o_p:], batch_size, seq_len)``,
    its first n windows, with n the same for every pass (that of the largest offset,
    ``seq_len - 1``). The offset o_p is 0 when ``generator`` is None (every pass cuts the
    same windows) and otherwise drawn uniformly from [0, seq_len) at the start of each pass
    (the random offset of Dive into Deep Learning, sec. 9.3), so that the windows do not
    always start at the same characters.

    ids : 1-D integer tensor (ids >= 0), at least ``batch_size * seq_len + seq_len`` ids
    batch_size, seq_len : ints >= 1;  generator : None or a torch.Generator
    returns make_batch(step) -> (inputs, targets, reset): inputs and targets
        (batch_size, seq_len) as ``stream_windows`` cuts them, reset True on the first window
        of a pass; the batch that ``CarriedState`` takes. Call it with step = 0, 1, 2, ...
        in order, as ``fit`` does (a pass's offset is drawn when its first step is asked for).
    """
    batch_size = integer("batch_size", batch_size)
    seq_len = integer("seq_len", seq_len)
    _generator(generator)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1:
        got = (f"{ids.dtype} of shape {tuple(ids.shape)}" if isinstance(ids, torch.Tensor)
               else type(ids).__name__)
        raise ValueError(f"ids: expected a 1-D integer tensor, got {got}")
    if len(ids) < batch_size * seq_len + seq_len:
        raise ValueError(f"ids: expected at least batch_size * seq_len + seq_len = "
                         f"{batch_size * seq_len + seq_len} ids (one window per stream after "
                         f"the largest offset), got {len(ids)}")
    n = len(stream_windows(ids[seq_len - 1:], batch_size, seq_len)[0])
    current = {"pass": None, "windows": None}

    def make_batch(step):
        step = integer("step", step, 0)
        p, j = divmod(step, n)
        if current["pass"] != p:
            offset = 0 if generator is None else int(
                torch.randint(0, seq_len, (1,), generator=generator))
            current["pass"] = p
            current["windows"] = stream_windows(ids[offset:], batch_size, seq_len)
        inputs, targets = current["windows"]
        return inputs[j], targets[j], j == 0

    make_batch.n_windows = n
    return make_batch


@torch.no_grad()
def window_loss(model, ids, seq_len=None):
    """Mean next-character cross-entropy (nats) of ``model`` on the text ``ids``.

    seq_len None: the text read in one pass from h = 0, the state carried through it
        (``log perplexity(model, ids)``).
    seq_len an int >= 1: the inputs ids[:-1] cut into consecutive windows of ``seq_len``
        (the last one may be shorter), each read from h = 0: a model that sees at most
        ``seq_len`` characters of context.
    Either way every one of the len(ids) - 1 next characters is scored once, so the two
    numbers differ only by the context the model is given. The model runs in eval mode and
    is returned to the mode it was in.

    model : a CharRNN (forward(ids (batch, L)) -> (logits, state));  ids : 1-D integer tensor,
        at least 2 ids in [0, vocab)
    returns float
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module like CharRNN, got "
                         f"{type(model).__name__}")
    token_ids("ids", ids, 1, "(L,)", getattr(model, "vocab_size", None))
    ids = ids.long()
    if len(ids) < 2:
        raise ValueError(f"ids: expected at least 2 ids (one to read, one to predict), got "
                         f"{len(ids)}")
    k = len(ids) - 1 if seq_len is None else integer("seq_len", seq_len, maximum=MAX_STEPS)
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        for start in range(0, len(ids) - 1, k):
            end = min(start + k, len(ids) - 1)
            x, y = ids[start:end][None], ids[start + 1:end + 1][None]
            total += float(next_char_loss(model, (x, y))) * y.shape[1]
    finally:
        model.train(was_training)
    return total / (len(ids) - 1)


class CarriedState:
    """The next-character loss of truncated BPTT: the state is carried across windows.

        loss = -mean_t log p(c_{t+1} | c_{<=t}) over one window, from the state h that the
        previous window ended with, detached (no gradient flows back past the window)

    So the forward pass sees the whole stream, but backpropagation runs through at most
    ``seq_len`` steps (Williams & Peng 1990). Call ``carried(model, (inputs, targets,
    reset))`` with a window of ``stream_windows`` (inputs, targets (batch, seq_len)) and
    ``reset`` True to start from h = 0 (the first window of a pass over the text).
    The model maps (ids, state) -> (logits, state), as CharRNN.
    """

    def __init__(self):
        self.state = None

    def __call__(self, model, batch):
        if not callable(model):
            raise ValueError(f"model: expected a module like CharRNN, got "
                             f"{type(model).__name__}")
        if not isinstance(batch, (tuple, list)) or len(batch) != 3 \
                or not isinstance(batch[2], (bool, np.bool_)):
            raise ValueError(f"batch: expected (inputs, targets, reset) with reset a bool, "
                             f"got {type(batch).__name__}")
        inputs, targets, reset = batch
        token_ids("batch", inputs, 2, "(batch, L) as inputs")
        token_ids("batch", targets, 2, "(batch, L) as targets")
        state = self.state
        if reset or not _state_fits(state, inputs.shape[0]):
            state = None
        logits, state = model(inputs, state)
        self.state = (state.detach() if isinstance(state, torch.Tensor)
                      else tuple(s.detach() for s in state))
        if tuple(logits.shape[:2]) != tuple(targets.shape):
            raise ValueError(f"batch: expected targets of shape {tuple(logits.shape[:2])}, "
                             f"the inputs', got {tuple(targets.shape)}")
        token_ids("batch", targets, 2, "(batch, L) as targets", logits.shape[-1])
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           targets.reshape(-1))


def _state_fits(state, batch):
    parts = state if isinstance(state, tuple) else (state,)
    return state is not None and all(s.shape[1] == batch for s in parts)


@torch.no_grad()
def perplexity(model, ids):
    """Perplexity of ``model`` on the text ``ids``: ``exp(-mean_t log p(c_{t+1} | c_{<=t}))``.

    The exponential of the next-character cross-entropy (nats): a model that spreads its
    probability uniformly over k characters has perplexity k; the uniform guess over the
    vocabulary has perplexity |V|. The model reads ids[:-1] from h = 0 in eval mode.

    model : a CharRNN (forward(ids (1, L)) -> (logits, state));  ids : 1-D int64 tensor,
        at least 2 ids in [0, vocab)
    returns float >= 1
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module like CharRNN, got "
                         f"{type(model).__name__}")
    token_ids("ids", ids, 1, "(L,)", getattr(model, "vocab_size", None))
    ids = ids.long()                       # int32 ids are valid ids; the loss wants int64
    if len(ids) < 2:
        raise ValueError(f"ids: expected at least 2 ids (one to read, one to predict), got "
                         f"{len(ids)}")
    was_training = model.training
    model.eval()
    try:
        loss = next_char_loss(model, (ids[None, :-1], ids[None, 1:]))
    finally:
        model.train(was_training)
    return float(torch.exp(loss))
