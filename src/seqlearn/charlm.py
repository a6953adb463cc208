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

import torch
from torch import nn

from seqlearn._checks import integer

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharRNN(nn.Module):
    """Embedding -> one recurrent layer -> linear head over the vocabulary.

    forward(ids (batch, L) int64, state=None) -> (logits (batch, L, vocab_size), state)
    """

    def __init__(self, vocab_size, hidden_size=128, cell="gru", embed_size=None):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell: expected one of {sorted(CELLS)}, got {cell!r}")
        vocab_size = integer("vocab_size", vocab_size)
        hidden_size = integer("hidden_size", hidden_size)
        embed_size = embed_size or min(hidden_size, 64)
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.cell = CELLS[cell](embed_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        if ids.dim() != 2:
            raise ValueError(f"ids: expected shape (batch, L), got {tuple(ids.shape)}")
        h, state = self.cell(self.embed(ids), state)
        return self.head(h), state


def random_windows(ids, seq_len, batch_size, generator):
    """A batch of random windows of the text and the same windows shifted by one.

    ids: 1-D int64 tensor of the encoded text, length > seq_len.
    Returns (inputs, targets), each (batch_size, seq_len): targets[:, t] = inputs[:, t+1].
    """
    if ids.dim() != 1 or len(ids) <= seq_len:
        raise ValueError(f"ids: expected a 1-D tensor longer than seq_len={seq_len}, "
                         f"got shape {tuple(ids.shape)}")
    starts = torch.randint(0, len(ids) - seq_len, (batch_size,), generator=generator)
    windows = torch.stack([ids[s: s + seq_len + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


def next_char_loss(model, batch):
    """Mean cross-entropy of the next character: -mean log p(c_{t+1} | c_{<=t})."""
    inputs, targets = batch
    logits, _ = model(inputs)
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def sample(model, prefix_ids, n, temperature=1.0, generator=None):
    """Generate ``n`` ids after ``prefix_ids`` (list of ints), one step at a time.

    temperature 0 picks the most likely character (greedy); otherwise draws
    from softmax(logits / temperature) with ``generator``. Returns the list
    of generated ids (without the prefix).
    """
    if len(prefix_ids) == 0:
        raise ValueError("prefix_ids: expected at least one id to start from, got none")
    if temperature < 0:
        raise ValueError(f"temperature: expected a number >= 0, got {temperature}")
    model.eval()
    logits, state = model(torch.tensor([list(prefix_ids)]))
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
