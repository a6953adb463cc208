"""seqlearn.charlm: the batches of truncated BPTT with random offsets (tbptt_batches) and the
held-out loss with the state carried or reset every window (window_loss)."""

import math

import numpy as np
import pytest
import torch

from seqlearn import charlm


def test_tbptt_batches_without_generator_are_stream_windows_pass_after_pass():
    ids = torch.arange(103) % 50
    make_batch = charlm.tbptt_batches(ids, batch_size=4, seq_len=5)
    # the pass length is that of the largest offset, 4: (103 - 4 - 1) // 4 = 24 -> 4 windows
    assert make_batch.n_windows == 4
    x, y = charlm.stream_windows(ids, 4, 5)
    for step in range(12):
        inputs, targets, reset = make_batch(step)
        j = step % 4
        assert torch.equal(inputs, x[j]) and torch.equal(targets, y[j])
        assert reset == (j == 0)


def test_tbptt_batches_with_generator_are_contiguous_from_an_offset_drawn_each_pass():
    """Within a pass every stream continues the previous window exactly where it stopped
    (checked against the text itself, by position); targets are the next ids; the offsets
    of the passes vary and stay below seq_len."""
    ids = torch.arange(200)                       # id = position: a window shows where it is
    seq_len, batch = 6, 3
    make_batch = charlm.tbptt_batches(ids, batch, seq_len, torch.Generator().manual_seed(0))
    n = make_batch.n_windows
    offsets = []
    for p in range(20):
        first = make_batch(p * n)[0]
        offset = int(first[0, 0])
        assert 0 <= offset < seq_len
        offsets.append(offset)
        stream_len = int(first[1, 0]) - offset    # where stream 1 starts: S
        for j in range(n):
            inputs, targets, reset = make_batch(p * n + j)
            assert reset == (j == 0)
            for b in range(batch):
                start = offset + b * stream_len + j * seq_len
                assert torch.equal(inputs[b], torch.arange(start, start + seq_len))
                assert torch.equal(targets[b], inputs[b] + 1)
    assert len(set(offsets)) > 1


def test_tbptt_batches_refuse_bad_arguments():
    ids = torch.arange(40) % 7
    with pytest.raises(ValueError, match="ids"):
        charlm.tbptt_batches(ids[:20], batch_size=4, seq_len=5)    # 20 < 4 * 5 + 5
    with pytest.raises(ValueError, match="ids"):
        charlm.tbptt_batches(ids.float(), batch_size=2, seq_len=5)
    with pytest.raises(ValueError, match="generator"):
        charlm.tbptt_batches(ids, batch_size=2, seq_len=5, generator=0)
    with pytest.raises(ValueError, match="seq_len"):
        charlm.tbptt_batches(ids, batch_size=2, seq_len=0)
    with pytest.raises(ValueError, match="step"):
        charlm.tbptt_batches(ids, batch_size=2, seq_len=5)(-1)


def _model(kind="gru", vocab=7):
    torch.manual_seed(0)
    return charlm.CharRNN(vocab, hidden_size=6, cell=kind).double()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_window_loss_carried_is_log_perplexity_and_windows_restart_the_state(kind):
    model = _model(kind)
    ids = torch.randint(0, 7, (23,), generator=torch.Generator().manual_seed(1))
    carried = charlm.window_loss(model, ids)
    # float64: the same forward pass and one 22-term mean either way; exp/log round-trip and
    # the sum of 22 terms of size <~ 3: <~ 1e-14. 1e-12 leaves 100x
    assert abs(carried - math.log(charlm.perplexity(model, ids))) < 1e-12
    # windows of 5 (the last of 2), each from h = 0, computed here one window at a time
    log_probs = []
    for start in range(0, 22, 5):
        x = ids[start:min(start + 5, 22)]
        logits, _ = model(x[None])
        lp = torch.log_softmax(logits[0], -1)
        log_probs += [lp[t, ids[start + t + 1]].item() for t in range(len(x))]
    assert len(log_probs) == 22
    # float64, the same per-step log-probabilities, 22-term sums: <~ 1e-14; 1e-12 leaves 100x
    assert abs(charlm.window_loss(model, ids, 5) + np.mean(log_probs)) < 1e-12
    # one window as long as the text is the carried pass (same numbers)
    assert charlm.window_loss(model, ids, 22) == pytest.approx(carried, abs=1e-12)  # as above
    # resetting the state changes the loss: a model difference, far above rounding
    assert abs(charlm.window_loss(model, ids, 3) - carried) > 1e-6


def test_window_loss_restores_the_mode_and_refuses_bad_arguments():
    model = _model()
    model.train()
    charlm.window_loss(model, torch.tensor([1, 2, 3]), 2)
    assert model.training
    with pytest.raises(ValueError, match="ids"):
        charlm.window_loss(model, torch.tensor([1]))
    with pytest.raises(ValueError, match="ids"):
        charlm.window_loss(model, torch.tensor([1, 9]))        # 9 is outside the vocabulary
    with pytest.raises(ValueError, match="seq_len"):
        charlm.window_loss(model, torch.tensor([1, 2, 3]), 0)
    with pytest.raises(ValueError, match="model"):
        charlm.window_loss(lambda ids: ids, torch.tensor([1, 2, 3]))
