"""seqlearn.experiment: the protocol (same steps, examples and learning-rate grid for every
model, the rate chosen on validation data, resumable results) and the stored results of
experiments/ made with the configuration at HEAD."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqlearn import experiment, tasks

ROOT = Path(__file__).resolve().parents[1]


def _task(length=6):
    return experiment.first_token_task(length, n_classes=2, n_noise=4)


SPECS = {"lstm": dict(mixer="lstm", d_model=8, n_layers=1),
         "bag": dict(mixer="rnn", d_model=8, n_layers=0, readout="mean")}


def test_compare_runs_the_grid_and_resumes(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    runs = experiment.compare(SPECS, _task(), 3, [1e-2, 3e-2], [0, 1], batch_size=8,
                              path=path, progress=False)
    assert len(runs) == 2 * 2 * 2
    assert {(r["model"], r["lr"], r["seed"]) for r in runs} == {
        (m, lr, s) for m in SPECS for lr in (1e-2, 3e-2) for s in (0, 1)}
    header, stored = experiment.load(path)
    assert header["config_hash"] == experiment.configuration(
        _task(), SPECS, 3, [1e-2, 3e-2], [0, 1], 8)[1]
    assert stored == runs
    # resumed: nothing is trained again
    monkeypatch.setattr(experiment, "run_one", lambda *a, **k: pytest.fail("retrained"))
    again = experiment.compare(SPECS, _task(), 3, [1e-2, 3e-2], [0, 1], batch_size=8,
                               path=path, progress=False)
    assert again == runs
    # another configuration is refused, by name
    with pytest.raises(ValueError, match="^path:"):
        experiment.compare(SPECS, _task(), 4, [1e-2, 3e-2], [0, 1], batch_size=8, path=path,
                           progress=False)


def test_an_interrupted_grid_runs_only_what_is_missing(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    experiment.compare(SPECS, _task(), 2, [1e-2], [0, 1], batch_size=8, path=path,
                       progress=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")          # the last run lost
    calls = []
    real = experiment.run_one
    monkeypatch.setattr(experiment, "run_one", lambda *a, **k: calls.append(a) or real(*a, **k))
    experiment.compare(SPECS, _task(), 2, [1e-2], [0, 1], batch_size=8, path=path,
                       progress=False)
    assert len(calls) == 1 and len(experiment.load(path)[1]) == 4


def test_two_processes_share_a_grid_with_only(tmp_path):
    """only: each caller trains its own rows; a run another caller appended meanwhile is
    read back, never trained twice; the grid is returned whole once both are done."""
    path = tmp_path / "r.jsonl"
    first = experiment.compare(SPECS, _task(), 2, [1e-2], [0], batch_size=4, path=path,
                               progress=False, only=["bag"])
    assert [r["model"] for r in first] == ["bag"]
    both = experiment.compare(SPECS, _task(), 2, [1e-2], [0], batch_size=4, path=path,
                              progress=False, only=["lstm"])
    assert [r["model"] for r in both] == ["lstm", "bag"] and both[1] == first[0]
    assert len(experiment.load(path)[1]) == 2
    with pytest.raises(ValueError, match="^only:"):
        experiment.compare(SPECS, _task(), 2, [1e-2], [0], path=path, only=["gru"])


def test_a_run_is_repeatable():
    """Same spec, task, rate and seed: the same training data and initial weights, so the
    same accuracies and loss (the protocol's runs are comparable across models)."""
    a = experiment.run_one(SPECS["lstm"], _task(), 1e-2, 3, 4, 8)
    b = experiment.run_one(SPECS["lstm"], _task(), 1e-2, 3, 4, 8)
    for key in ("val_acc", "test_acc", "final_loss", "params"):
        assert a[key] == b[key]
    c, model = experiment.run_one(SPECS["lstm"], _task(), 1e-2, 3, 4, 8, return_model=True)
    assert c["test_acc"] == a["test_acc"] and experiment.count_parameters(model) == a["params"]
    # followed during training: the same run (evaluation draws nothing), and its curve
    seen = []
    d = experiment.run_one(SPECS["lstm"], _task(), 1e-2, 3, 4, 8, eval_every=2,
                           eval_fn=lambda m: seen.append(1) or len(seen))
    assert d["test_acc"] == a["test_acc"] and d["eval_step"] == [2, 4] and d["eval"] == [1, 2]


def test_a_diverged_model_scores_what_it_gets_right_and_is_flagged():
    """score: rows whose logits hold NaN or inf count as wrong (never as right, which a
    NaN's argmax of 0 would make them for class 0), and the run is flagged."""
    class Half(torch.nn.Module):
        def forward(self, x):
            out = torch.nn.functional.one_hot(x[:, 0], 2).float()
            out[::2] = float("nan")          # every other row blew up
            return out
    x = torch.tensor([[0], [1], [0], [1]])
    assert experiment.score(Half(), x, torch.tensor([0, 1, 0, 1])) == (0.5, True)
    assert experiment.score(lambda_model(), x, torch.tensor([0, 1, 0, 1])) == (1.0, False)


def lambda_model():
    class OneHot(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(x[:, 0], 2).float()
    return OneHot()


def test_summary_chooses_the_rate_on_validation_not_on_test():
    runs = [dict(model="m", lr=lr, seed=s, val_acc=val, test_acc=test, params=10,
                 seconds_per_step=0.1)
            for lr, val, test in ((1e-3, 0.9, 0.5), (1e-2, 0.6, 1.0)) for s in (0, 1, 2)]
    t = experiment.summary(runs)["m"]
    assert t["lr"] == 1e-3 and t["mean"] == 0.5 and t["test"] == [0.5] * 3
    assert "50.0 %" in experiment.format_table(experiment.summary(runs))


def test_the_memory_free_baseline_gives_the_first_token_away():
    """The bag of tokens sees the class token among the noise (a token the noise never
    takes), so it solves the first-token task: the task tests carrying, not seeing."""
    runs = experiment.compare({"bag": SPECS["bag"]}, _task(), 60, [3e-2], [0], batch_size=16,
                              progress=False)
    assert runs[0]["test_acc"] > 0.9


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stored_first_token_results_are_this_configurations():
    """Each stored file was made by experiments/first_token.py as it is now (its header's
    hash is the configuration's), and holds every run of the grid. If this fails, rerun
    ``.venv/bin/python experiments/first_token.py`` (a few minutes on 2 cores)."""
    script = _script("first_token")
    for length in script.LENGTHS:
        header, runs = experiment.load(script.path(length))
        assert header["config_hash"] == script.configuration(length)[1], length
        assert len(runs) == len(script.SPECS) * len(script.LRS) * len(script.SEEDS)
        assert all(0 <= r["test_acc"] <= 1 for r in runs)


def test_longer_test_lengths_are_scored_and_kept_apart_from_the_rate_choice():
    """A task with test_lengths: every run is scored at each longer length on a fixed set
    with the same number of tokens to copy; the rate is still chosen at the training length;
    the configuration records the lengths (and a task without them hashes as before)."""
    task = experiment.selective_copying_task(16, n_tokens=2, vocab=6, test_lengths=(32, 48))
    x, y = task.make(5, np.random.default_rng(0), length=48)
    assert x.shape == (5, 48) and ((y != tasks.IGNORE).sum(1) == 2).all()
    runs = experiment.compare({"nm": dict(mixer="rnn", d_model=4, n_layers=0)}, task, 2,
                              [1e-2, 3e-2], [0, 1], batch_size=4, progress=False)
    assert all(set(r["test_by_length"]) == {"32", "48"} for r in runs)
    t = experiment.summary(runs)["nm"]
    best = [r for r in runs if r["lr"] == t["lr"]]
    assert t["by_length"] == {L: [r["test_by_length"][str(L)] for r in best] for L in (32, 48)}
    assert "at 48" in experiment.format_table(experiment.summary(runs))
    config, _ = experiment.configuration(task, {"nm": dict(mixer="rnn")}, 2, [1e-2], [0], 4)
    assert config["test_lengths"] == [32, 48]
    assert "test_lengths" not in experiment.configuration(_task(), SPECS, 2, [1e-2], [0], 4)[0]
    with pytest.raises(ValueError, match="^test_lengths:"):
        experiment.Task("t", task.make, 6, 6, 16, test_lengths=[32])


def _sizes_agree(script, specs, task):
    """Every trained model of a stored comparison within 10 % of the first row's size."""
    from seqlearn import models
    counts = {k: models.count_parameters(experiment.build(v, task)) for k, v in specs.items()
              if v["n_layers"] > 0}
    first = next(iter(counts.values()))
    assert all(abs(n / first - 1) <= 0.10 for n in counts.values()), counts


def test_stored_long_range_results_are_this_configurations():
    """Chapter 6's grid (experiments/long_range.py): each stored file made with the
    configuration at HEAD, complete, every model within 10 % of S4D's size. If this fails,
    rerun ``.venv/bin/python experiments/long_range.py`` (about an hour on one core)."""
    script = _script("long_range")
    for length in script.LENGTHS:
        header, runs = experiment.load(script.path(length))
        assert header["config_hash"] == script.configuration(length)[1], length
        specs = script.specs(length)
        assert len(runs) == len(specs) * len(script.LRS) * len(script.SEEDS)
        _sizes_agree(script, specs, script.task(length))


def test_stored_selection_results_are_this_configurations():
    """Chapter 7's grids (experiments/selection.py), as above. If this fails, rerun
    ``.venv/bin/python experiments/selection.py`` (about 20 minutes per task on one core)."""
    script = _script("selection")
    for name, task in script.TASKS.items():
        header, runs = experiment.load(script.path(name))
        assert header["config_hash"] == script.configuration(name)[1], name
        assert len(runs) == len(script.SPECS) * len(script.LRS) * len(script.SEEDS)
        assert all(set(r["test_by_length"]) == {str(L) for L in task.test_lengths}
                   for r in runs)
        _sizes_agree(script, script.SPECS, task)


def test_stored_recall_results_are_this_configurations():
    """Chapter 9's grid (experiments/recall.py), as above. If this fails, rerun
    ``.venv/bin/python experiments/recall.py`` (about 40 minutes on one core)."""
    script = _script("recall")
    header, runs = experiment.load(script.path())
    assert header["config_hash"] == script.configuration()[1]
    assert len(runs) == len(script.SPECS) * len(script.LRS) * len(script.SEEDS)
    assert all(set(r["test_by_length"]) == {str(L) for L in script.TASK.test_lengths}
               for r in runs)
    _sizes_agree(script, script.SPECS, script.TASK)


def test_stored_copying_results_are_this_configurations():
    """Chapter 2's grid (experiments/copying.py), as above. If this fails, rerun
    ``.venv/bin/python experiments/copying.py`` (about 5 minutes on one core)."""
    script = _script("copying")
    header, runs = experiment.load(script.PATH)
    assert header["config_hash"] == script.configuration()[1]
    assert len(runs) == len(script.SPECS) * len(script.LRS) * len(script.SEEDS)
    _sizes_agree(script, script.SPECS, script.TASK)


def test_stored_padding_results_are_this_configurations():
    """Chapter 8's grid (experiments/padding.py), as above, with a validation curve in
    every run. If this fails, rerun ``.venv/bin/python experiments/padding.py`` (about
    30 minutes on one core)."""
    script = _script("padding")
    for pad in script.PADS:
        header, runs = experiment.load(script.path(pad))
        assert header["config_hash"] == script.configuration(pad)[1], pad
        assert len(runs) == len(script.SPECS) * len(script.LRS) * len(script.SEEDS)
        assert all(r["eval_step"] == list(range(script.EVAL_EVERY, script.STEPS + 1,
                                                script.EVAL_EVERY)) for r in runs)
        _sizes_agree(script, script.SPECS, script.task(pad))


def test_stored_frequency_bias_results_are_this_configurations():
    """Chapter 8's kernel fits (experiments/frequency_bias.py): the header's hash is the
    script's configuration, every (alpha, lr, seed) is there with its whole curve. If this
    fails, rerun ``.venv/bin/python experiments/frequency_bias.py``."""
    script = _script("frequency_bias")
    header, runs = experiment.load(script.PATH)
    assert header["config_hash"] == script.configuration()[1]
    assert sorted((r["alpha"], r["lr"], r["seed"]) for r in runs) == sorted(
        (a, lr, s) for a in script.ALPHAS for lr in script.LRS for s in script.SEEDS)
    assert all(r["step"][-1] == script.STEPS and len(r["error"]) == len(r["step"])
               for r in runs)


def test_tasks_of_features_and_validation_curves():
    """A task of float inputs (chapter 8) runs through the protocol; eval_every gives
    every record its validation curve and enters the configuration (absent otherwise)."""
    task = experiment.padded_patterns_task(4, n_classes=2, pattern_length=3)
    assert task.input_dim == 1 and task.vocab_size is None
    spec = {"s4d": dict(mixer="s4d", d_model=4, n_layers=1, d_state=4)}
    runs = experiment.compare(spec, task, 6, [1e-2], [0], batch_size=4, progress=False,
                              eval_every=3)
    assert runs[0]["eval_step"] == [3, 6] and len(runs[0]["eval"]) == 2
    assert runs[0]["eval"][-1] == runs[0]["val_acc"]
    config, _ = experiment.configuration(task, spec, 6, [1e-2], [0], 4, eval_every=3)
    assert config["eval_every"] == 3 and config["input_dim"] == 1
    assert "eval_every" not in experiment.configuration(task, spec, 6, [1e-2], [0], 4)[0]
    assert "input_dim" not in experiment.configuration(_task(), SPECS, 2, [1e-2], [0], 4)[0]
    with pytest.raises(ValueError, match="^vocab_size:"):
        experiment.Task("t", task.make, 5, 2, 7, input_dim=1)
    with pytest.raises(ValueError, match="^eval_every:"):
        experiment.configuration(task, spec, 6, [1e-2], [0], 4, eval_every=7)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="^task:"):
        experiment.compare(SPECS, "first_token", 3, [1e-2], [0])
    with pytest.raises(ValueError, match="^specs:"):
        experiment.compare({"x": dict(d_model=8)}, _task(), 3, [1e-2], [0])
    with pytest.raises(ValueError, match="^lrs:"):
        experiment.compare(SPECS, _task(), 3, [], [0])
    with pytest.raises(ValueError, match="^seeds:"):
        experiment.compare(SPECS, _task(), 3, [1e-2], [-1])
    with pytest.raises(ValueError, match="^make:"):
        experiment.Task("t", None, 2, 2, 4)
    with pytest.raises(ValueError, match="^path:"):
        experiment.load("no such file.jsonl")
    with pytest.raises(ValueError, match="^runs:"):
        experiment.summary([{"model": "m"}])
    json.dumps(experiment.versions())          # versions are plain JSON
    assert np.isfinite(experiment.versions()["threads"])
