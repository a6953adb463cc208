"""Selective copying and induction heads (chapter 7): the generators' contracts."""

import numpy as np
import pytest
import torch

from seqlearn import tasks, train


@pytest.mark.parametrize("length, markers", [(64, (3, 5)), (128, (5, 10)), (6, (1, 3))])
def test_selective_copying_layout(length, markers):
    x, y = tasks.selective_copying(300, length, markers, vocab=30, rng=0)
    assert x.shape == y.shape == (300, length) and x.dtype == y.dtype == np.int64
    seen = set()
    for xi, yi in zip(x, y):
        m = int((xi == 1).sum())
        seen.add(m)
        assert markers[0] <= m <= markers[1]
        assert (xi[length - m:] == 1).all()                      # the markers come last
        content = xi[:length - m]
        tokens = content[content > 1]                          # in order of position
        assert len(tokens) == m and (content[content <= 1] == 0).all()
        assert ((2 <= tokens) & (tokens < 30)).all()
        assert (yi[length - m:] == tokens).all()               # j-th marker -> j-th token
        assert (yi[:length - m] == tasks.IGNORE).all()
    assert seen == set(range(markers[0], markers[1] + 1))     # every count occurs


def test_selective_copying_positions_vary_and_seed_repeats():
    x, _ = tasks.selective_copying(200, 64, rng=1)
    first = [int(np.flatnonzero(xi > 1)[0]) for xi in x]
    assert len(set(first)) > 20                                # not a fixed delay
    a = tasks.selective_copying(5, 64, rng=3)
    b = tasks.selective_copying(5, 64, rng=np.random.default_rng(3))
    assert all((u == v).all() for u, v in zip(a, b))


@pytest.mark.parametrize("length", [3, 64, 1024])
def test_induction_heads_layout(length):
    x, y = tasks.induction_heads(200, length, vocab=16, rng=0)
    assert x.shape == y.shape == (200, length)
    assert ((x >= 0) & (x < 16)).all()
    for xi, yi in zip(x, y):
        special = np.flatnonzero(xi == 0)
        assert len(special) == 2 and special[1] == length - 1   # exactly twice, last at the end
        assert yi[-1] == xi[special[0] + 1] and yi[-1] != 0     # the token after the first one
        assert (yi[:-1] == tasks.IGNORE).all()


@pytest.mark.parametrize("call, name", [
    (lambda: tasks.selective_copying(0), "n_samples"),
    (lambda: tasks.selective_copying(5, 9, (3, 5)), "length"),
    (lambda: tasks.selective_copying(5, 64, (5, 3)), "n_markers"),
    (lambda: tasks.selective_copying(5, 64, 4), "n_markers"),
    (lambda: tasks.selective_copying(5, 64, vocab=2), "vocab"),
    (lambda: tasks.selective_copying(5, 64, rng=-1), "rng"),
    (lambda: tasks.induction_heads(5, 2), "length"),
    (lambda: tasks.induction_heads(5, 8, vocab=1), "vocab"),
])
def test_bad_arguments_name_themselves(call, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()


class _Echo(torch.nn.Module):
    """Logits that predict the input token itself: right exactly where y == x."""

    def forward(self, x):
        return torch.nn.functional.one_hot(x, 30).float()


def test_token_accuracy_counts_only_targets():
    x = torch.tensor([[2, 3, 4, 5], [6, 7, 8, 9]])
    y = torch.tensor([[2, -100, 9, -100], [-100, 7, 8, -100]])   # 3 of 4 targets echo x
    # integer counts, 3 / 4 = 0.75 exactly in binary (bound 0; approx's default rel 1e-6)
    assert train.token_accuracy(_Echo(), x, y, batch_size=1) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="^y:"):
        train.token_accuracy(_Echo(), x, torch.full_like(y, -100))
    with pytest.raises(ValueError, match="^y:"):
        train.token_accuracy(_Echo(), x, y[:, :2])


def test_fit_steps_the_scheduler():
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    train.fit(model, lambda m, b: m(b).sum(), lambda s: torch.ones(1, 1), opt, 3,
              scheduler=sched, progress=False)
    # 1.0 * 0.5^3: products of powers of 2, exact (bound 0; approx's default rel 1e-6)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.125)
