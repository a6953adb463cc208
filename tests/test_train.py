"""seqlearn.train and seqlearn.charlm: the loop learns, the model predicts, sampling repeats."""

import numpy as np
import pytest
import torch

from seqlearn.charlm import CharRNN, next_char_loss, random_windows, sample
from seqlearn.train import fit, seed_everything


def test_seed_everything_repeats_torch_and_numpy():
    seed_everything(3)
    a = torch.randn(4), np.random.rand(3)
    seed_everything(3)
    b = torch.randn(4), np.random.rand(3)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_fit_solves_least_squares_and_records_history():
    seed_everything(0)
    X = torch.randn(64, 3)
    w_true = torch.tensor([[1.0], [-2.0], [0.5]])
    y = X @ w_true
    model = torch.nn.Linear(3, 1, bias=False)
    evals = []

    def eval_fn(m):
        evals.append(1)
        return float(((m(X) - y) ** 2).mean())

    hist = fit(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), lambda step: (X, y),
               torch.optim.SGD(model.parameters(), lr=0.1), steps=200,
               eval_fn=eval_fn, eval_every=50, progress=False)
    assert len(hist["loss"]) == 200 and hist["eval_step"] == [50, 100, 150, 200] and len(evals) == 4
    # independent reference: the least-squares solution
    w_ls = torch.linalg.lstsq(X, y).solution
    torch.testing.assert_close(model.weight.data.T, w_ls, atol=1e-4, rtol=0)


def test_gradient_clipping_bounds_each_sgd_step():
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(model.weight, 0.0)
    big = (torch.tensor([[1000.0]]), torch.tensor([[1000.0]]))  # gradient 2e6
    fit(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), lambda s: big,
        torch.optim.SGD(model.parameters(), lr=1.0), steps=1, max_grad_norm=0.5, progress=False)
    assert abs(model.weight.item()) == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_fit_rejects_bad_steps(bad):
    with pytest.raises(ValueError, match="^steps: expected"):
        fit(torch.nn.Linear(1, 1), None, None, None, steps=bad, progress=False)


def test_random_windows_targets_are_inputs_shifted_by_one():
    ids = torch.arange(100)
    x, y = random_windows(ids, seq_len=10, batch_size=5, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 10)
    assert torch.equal(y, x + 1)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_char_model_shapes_and_state_continuation(cell):
    torch.manual_seed(0)
    model = CharRNN(7, hidden_size=12, cell=cell)
    ids = torch.randint(0, 7, (2, 9))
    logits, state = model(ids)
    assert logits.shape == (2, 9, 7)
    # running the second half with the first half's state equals running it all at once
    first, s = model(ids[:, :4])
    second, _ = model(ids[:, 4:], s)
    torch.testing.assert_close(torch.cat([first, second], dim=1), logits, rtol=1e-5, atol=1e-6)


def test_char_model_learns_hello_and_greedy_sampling_spells_it():
    seed_everything(0)
    text = "hello"
    chars = sorted(set(text))
    ids = torch.tensor([[chars.index(c) for c in text]])
    model = CharRNN(len(chars), hidden_size=16, cell="rnn")
    hist = fit(model, next_char_loss, lambda s: (ids[:, :-1], ids[:, 1:]),
               torch.optim.Adam(model.parameters(), lr=0.05), steps=150, progress=False)
    assert hist["loss"][-1] < 0.05
    out = sample(model, [chars.index("h")], 4, temperature=0)
    assert "".join(chars[i] for i in out) == "ello"


def test_sampling_repeats_with_a_seeded_generator():
    torch.manual_seed(0)
    model = CharRNN(5, hidden_size=8)
    a = sample(model, [0, 1], 20, temperature=1.0, generator=torch.Generator().manual_seed(1))
    b = sample(model, [0, 1], 20, temperature=1.0, generator=torch.Generator().manual_seed(1))
    assert a == b and len(a) == 20 and all(0 <= i < 5 for i in a)


@pytest.mark.parametrize("call, argument", [
    (lambda: CharRNN(5, cell="transformer"), "cell"),
    (lambda: CharRNN(0), "vocab_size"),
    (lambda: CharRNN(5)(torch.zeros(3, dtype=torch.long)), "ids"),
    (lambda: random_windows(torch.arange(5), 10, 2, None), "ids"),
    (lambda: sample(CharRNN(5), [], 3), "prefix_ids"),
])
def test_bad_input_names_the_argument(call, argument):
    with pytest.raises(ValueError, match=f"^{argument}: expected"):
        call()
