"""Truncated BPTT (stream_windows, CarriedState) and perplexity of seqlearn.charlm."""

import math

import numpy as np
import pytest
import torch

from seqlearn import charlm


def test_stream_windows_are_consecutive_pieces_of_contiguous_streams():
    ids = torch.arange(103) % 50
    x, y = charlm.stream_windows(ids, batch_size=4, seq_len=5)
    S = 102 // 4   # 25 characters per stream, 5 windows of 5
    assert x.shape == y.shape == (5, 4, 5)
    for b in range(4):
        stream = torch.cat([x[j, b] for j in range(5)])
        assert torch.equal(stream, ids[b * S: b * S + 25])
        assert torch.equal(torch.cat([y[j, b] for j in range(5)]), ids[b * S + 1: b * S + 26])
    with pytest.raises(ValueError, match="ids"):
        charlm.stream_windows(ids[:10], batch_size=4, seq_len=5)


def test_carried_state_sees_the_whole_stream():
    """The window losses with the state carried average to the loss of one pass over the
    stream (same forward values), while a reset gives a different loss."""
    torch.manual_seed(0)
    model = charlm.CharRNN(7, hidden_size=6, cell="lstm").double()
    ids = torch.randint(0, 7, (61,))
    x, y = charlm.stream_windows(ids, batch_size=2, seq_len=10)
    carried = charlm.CarriedState()
    losses = [carried(model, (x[j], y[j], j == 0)).item() for j in range(len(x))]
    full = charlm.next_char_loss(model, (torch.cat(list(x), 1), torch.cat(list(y), 1)))
    # float64, the same steps; the input projection and the means may be summed in another
    # order: 30 steps of 14-term dots (sum|terms| <~ 5) carried to the 6-term head, and 60-term
    # means: <~ 30 * 14u * 5 * 2.5 + 60u * 2 ~ 6e-13 worst case. 1e-12 was within 2x; 1e-11
    # leaves 15x (measured 0)
    assert abs(np.mean(losses) - full.item()) < 1e-11
    fresh = [charlm.next_char_loss(model, (x[j], y[j])).item() for j in range(len(x))]
    # a model difference (resetting the state), 5e-3 here, far above rounding
    assert abs(np.mean(fresh) - full.item()) > 1e-6


def test_carried_state_cuts_the_gradient_at_the_window():
    """The second window's loss has no gradient w.r.t. the first window's inputs' embedding
    rows used only there: backprop stops at the window boundary."""
    torch.manual_seed(0)
    model = charlm.CharRNN(5, hidden_size=4, cell="gru").double()
    x = torch.tensor([[[0, 0, 0]], [[1, 2, 1]]])     # id 0 only in window 0
    y = torch.tensor([[[1, 1, 1]], [[2, 1, 2]]])
    carried = charlm.CarriedState()
    carried(model, (x[0], y[0], True))
    model.zero_grad()
    carried(model, (x[1], y[1], False)).backward()
    assert float(model.embed.weight.grad[0].abs().max()) == 0.0
    assert float(model.embed.weight.grad[1].abs().max()) > 0.0
    with pytest.raises(ValueError, match="batch"):
        carried(model, (x[1], y[1]))


def test_perplexity_is_exp_cross_entropy_and_vocab_for_a_uniform_model():
    torch.manual_seed(0)
    model = charlm.CharRNN(9, hidden_size=4, cell="rnn")
    ids = torch.randint(0, 9, (40,))
    ce = charlm.next_char_loss(model, (ids[None, :-1], ids[None, 1:])).item()
    # the same float32 loss on both sides (same ops): only exp in float32 vs float64 differs,
    # <= 1 ulp of ~9 ~ 1e-6; 1e-4 leaves 100x
    assert abs(charlm.perplexity(model, ids) - math.exp(ce)) < 1e-4
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    # float32: log 9 (1 ulp) averaged over 39 equal terms (<= gamma_39 ~ 2.3e-6 relative), then
    # exp: |ppl - 9| <= 9 * 2.2 * 2.4e-6 ~ 5e-5 worst case. 1e-4 was within 2x; 1e-3 leaves 20x
    assert abs(charlm.perplexity(model, ids) - 9) < 1e-3
    with pytest.raises(ValueError, match="ids"):
        charlm.perplexity(model, ids[:1])


def test_sample_edge_cases():
    """Reliability review, turn 3, finding 13: a tiny temperature gave NaN probabilities,
    int32 ids a dtype error in perplexity, a non-language model a torch error, and sample
    left the model in eval mode."""
    torch.manual_seed(0)
    model = charlm.CharRNN(9, hidden_size=4, cell="rnn")
    greedy = charlm.sample(model, [1, 2], 6, temperature=0.0)
    for t in (1e-300, 1e-30):           # as cold as it gets: the greedy choice
        g = torch.Generator().manual_seed(0)
        assert charlm.sample(model, [1, 2], 6, temperature=t, generator=g) == greedy
    assert model.training
    model.eval()
    charlm.sample(model, [1, 2], 2)
    assert not model.training
    ids = torch.randint(0, 9, (40,))
    assert charlm.perplexity(model, ids.int()) == charlm.perplexity(model, ids)
    with pytest.raises(ValueError, match="^model: expected a module whose forward"):
        charlm.sample(torch.nn.Linear(3, 3), [1], 3)
