"""Chapter 10's arena: its tasks against independent definitions, and its runner (every task
and model runs, a resumed grid skips finished runs, shards partition the grid, files merge)."""

import json
import os
import subprocess
import sys
from collections import deque

import numpy as np
import pytest

from seqlearn import arena, experiment, tasks


# --- the tasks ------------------------------------------------------------------------

def test_listops_labels_are_the_expressions_values_read_by_a_stack():
    x, y = tasks.listops(200, 128, rng=3)
    assert x.shape == (200, 128) and y.shape == (200,)
    assert all(tasks.listops_evaluate(row) == label for row, label in zip(x, y))
    lengths = (x > 0).sum(1)
    assert lengths.min() >= 128 // 4 and lengths.max() <= 128
    for row, n in zip(x, lengths):                   # left-padded: the expression ends at L
        assert (row[:128 - n] == 0).all() and (row[128 - n:] > 0).all()
    assert set(np.unique(y)) <= set(range(10)) and len(np.unique(y)) >= 8


def test_listops_operators_by_hand():
    assert tasks.listops_value("MAX", [4, 3, 9]) == 9
    assert tasks.listops_value("MIN", [4, 3, 9]) == 3
    assert tasks.listops_value("MED", [4, 3, 9]) == 4
    assert tasks.listops_value("MED", [1, 2, 3, 4]) == 2          # 2.5 rounded down
    assert tasks.listops_value("SM", [4, 3, 9]) == 6              # 16 mod 10
    ids = [tasks.LISTOPS_TOKENS.index(t) for t in
           "[MAX 4 3 [MIN 2 3 ] 1 0 ]".split()]
    assert tasks.listops_text(ids) == "[MAX 4 3 [MIN 2 3 ] 1 0 ]"
    assert tasks.listops_evaluate(ids) == 4
    for bad in ([15], [11, 2], [2, 3]):                          # ']' first, unclosed, two items
        with pytest.raises(ValueError, match="^ids"):
            tasks.listops_evaluate(bad)


def test_digit_canvas_reads_only_its_split():
    """With no strokes on a canvas the digit's own size, each row is one enlarged image of
    its split and of no other split."""
    images, labels = tasks._digit_images()
    big = np.kron(images, np.ones((2, 2), dtype=np.int64)).reshape(len(images), -1)
    index = {row.tobytes(): i for i, row in enumerate(big)}
    for split, (lo, hi) in tasks.DIGIT_SPLITS.items():
        x, y = tasks.digit_canvas(64, 16, scale=2, n_strokes=0, split=split, rng=1)
        where = [index[row.tobytes()] for row in x]
        assert all(lo <= i < hi for i in where), split
        assert (labels[where] == y).all()
    x, _ = tasks.digit_canvas(8, 32, scale=2, n_strokes=4, rng=2)
    assert x.shape == (8, 1024) and x.min() >= 0 and x.max() < tasks.DIGIT_LEVELS


def _joined_by_flood_fill(image):
    """Whether the two dots (id 2) lie in one 8-connected set of drawn pixels: a breadth-
    first search in plain Python (scipy.ndimage.label is what the generator uses)."""
    dots = list(zip(*np.nonzero(image == 2)))
    seen, todo = {dots[0]}, deque([dots[0]])
    while todo:
        r, c = todo.popleft()
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                q = (r + dr, c + dc)
                if (0 <= q[0] < image.shape[0] and 0 <= q[1] < image.shape[1]
                        and image[q] > 0 and q not in seen):
                    seen.add(q)
                    todo.append(q)
    return int(all(d in seen for d in dots))


def test_pathfinder_labels_are_connectivity_and_balanced():
    x, y = tasks.pathfinder(60, 16, path_length=(6, 12), rng=5)
    assert x.shape == (60, 256) and (np.bincount(y) == 30).all()
    for row, label in zip(x, y):
        assert _joined_by_flood_fill(row.reshape(16, 16)) == label


@pytest.mark.parametrize("call, name", [
    (lambda: tasks.listops(2, 4), "length"),
    (lambda: tasks.listops(2, 64, min_length=65), "min_length"),
    (lambda: tasks.listops(2, 64, p_leaf=1.0), "p_leaf"),
    (lambda: tasks.digit_canvas(2, 15, scale=2), "size"),
    (lambda: tasks.digit_canvas(2, split="dev"), "split"),
    (lambda: tasks.pathfinder(2, path_length=(5, 3)), "path_length"),
    (lambda: tasks.pathfinder(2, n_paths=1), "n_paths"),
    (lambda: arena.task("listopz"), "name"),
    (lambda: arena.task("listops", "huge"), "size"),
    (lambda: arena.units("3/2"), "shard"),
    (lambda: arena.units("a/b"), "shard"),
    (lambda: arena.merge("one.jsonl", "x.jsonl"), "paths"),
    (lambda: arena.run("listops", "mamba3", size="tiny"), "model"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


# --- the registry ---------------------------------------------------------------------

@pytest.mark.parametrize("name", list(arena.TASKS))
def test_every_model_of_a_task_has_its_budget_of_parameters(name):
    """Widths are matched: every mixer within 15 % of the task's budget at size "arena"
    (the width moves in steps of 8, so the nearest count can miss by a few per cent)."""
    specs = arena.specs(name)
    assert set(specs) == set(arena.MODELS) | {arena.BAG}
    t = arena.task(name)
    budget = arena.TASKS[name].n_params
    for model, spec in specs.items():
        n = experiment.count_parameters(experiment.build(spec, t))
        if model != arena.BAG:
            assert abs(n - budget) <= 0.15 * budget, (model, n)


def test_shards_partition_the_grid():
    every = arena.units("1/1")
    assert len(every) == len(arena.TASKS) * (len(arena.MODELS) + 1)
    parts = [arena.units(f"{i}/3") for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(every)
    assert not set(parts[0]) & set(parts[1])


# --- the runner -----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(arena.TASKS))
def test_every_model_runs_on_every_task(name, tmp_path):
    """The command line's path (arena._main, as ``python -m seqlearn.arena`` calls it) for
    each model and the memory-free bag, tiny sizes, 5 steps, one seed."""
    for model in arena.MODELS + (arena.BAG,):
        assert arena._main(["--task", name, "--model", model, "--size", "tiny", "--steps",
                            "5", "--seeds", "0", "--out", str(tmp_path)]) == 0
    header, runs = experiment.load(tmp_path / f"{name}_tiny_s5.jsonl")
    assert {r["model"] for r in runs} == set(arena.MODELS) | {arena.BAG}
    assert all(0 <= r["test_acc"] <= 1 and r["peak_mb"] > 0 and r["device"] == "cpu"
               for r in runs)
    assert len(runs) == len(arena.LRS) * (len(arena.MODELS) + 1)


def test_a_resumed_run_skips_finished_runs(tmp_path, monkeypatch):
    arena.run("mqar", "s4d", seeds=[0], size="tiny", out=tmp_path, progress=False)
    path = arena.results_path("mqar", "tiny", tmp_path)
    before = path.read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")
    monkeypatch.setattr(experiment, "run_one", no_training)
    runs = arena.run("mqar", "s4d", seeds=[0], size="tiny", out=tmp_path, progress=False)
    assert path.read_text() == before and len(runs) == len(arena.LRS)
    with pytest.raises(AssertionError, match="trained again"):   # a new seed does train
        arena.run("mqar", "s4d", seeds=[1], size="tiny", out=tmp_path, progress=False)


def test_shards_files_merge(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    arena.run("mqar", "s4d", seeds=[0], size="tiny", out=a, progress=False)
    arena.run("mqar", "bag", seeds=[0, 1], size="tiny", out=b, progress=False)
    fa, fb = arena.results_path("mqar", "tiny", a), arena.results_path("mqar", "tiny", b)
    into = tmp_path / "merged.jsonl"
    assert arena.merge([fa, fb, fa], into) == 3 * len(arena.LRS)
    _, runs = experiment.load(into)
    assert {(r["model"], r["seed"]) for r in runs} == {("s4d", 0), ("bag", 0), ("bag", 1)}
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"config": {}, "config_hash": "x", "versions": {}}) + "\n")
    with pytest.raises(ValueError, match="^paths: expected files of one configuration"):
        arena.merge([fa, other], into)
    assert "mqar (chance" in arena.table("tiny", a)


def test_python_m_seqlearn_arena_runs(tmp_path):
    """The module runs as a program (one tiny cell), and --list names every task."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "seqlearn.arena", "--list"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert all(name in out for name in arena.TASKS)
    done = subprocess.run([sys.executable, "-m", "seqlearn.arena", "--task", "listops",
                           "--model", "lstm", "--size", "tiny", "--steps", "5", "--seeds", "0",
                           "--out", str(tmp_path)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "listops lstm: 2 runs" in done.stdout
