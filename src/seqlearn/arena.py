"""Chapter 10's arena: every model of the book on the same long-range tasks, trained alike.

One task registry (``TASKS``), one model registry (``MODELS``), one training loop (the
comparison protocol of ``seqlearn.experiment``: the same steps, batch and learning-rate
grid for every model of a task, the rate chosen on validation data, >= 3 seeds). For each
task every model is built at the width that gives it the task's parameter budget
(``models.match_width``), so a row differs from another in its mixer only.

    python -m seqlearn.arena --list                       the tasks and models
    python -m seqlearn.arena --task listops --model mamba --seeds 0 1 2
    python -m seqlearn.arena --all [--shard 2/4] [--device cuda] [--size tiny]
    python -m seqlearn.arena --table                      the leaderboard from the files
    python -m seqlearn.arena --merge a/listops_arena.jsonl b/listops_arena.jsonl

Results: one JSON-lines file per task and size, ``<out>/<task>_<size>.jsonl`` (default out
``experiments/results/arena``), whose header holds the whole task grid's configuration
(every model, learning rate and seed) and its hash; a finished (model, lr, seed) is
skipped, so an interrupted grid resumes where it stopped, and ``--shard i/n`` runs every
n-th (task, model) pair, so n machines share the grid and ``--merge`` joins their files.
With ``--all`` each (task, model) pair trains in a child process, so that its record's
"peak_mb" (the resident set's high-water mark) is that model's alone.

Glossary (code name -> meaning): L the sequence length; n_params the task's parameter
budget per model; "bag" the memory-free baseline (no mixer layer: the mean of the
embedded tokens, or for a per-position task each token alone, then the head); chance the accuracy of always answering the most
frequent class of the test set.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from seqlearn import experiment, models, tasks
from seqlearn._checks import integer, option

RESULTS = Path("experiments") / "results" / "arena"
"""Where the grid's files go, relative to the working directory (the repository root)."""
SIZES = ("arena", "tiny")
""""arena": the sizes of the stored leaderboard; "tiny": the same tasks and models shrunk
to run in seconds (the tests)."""
LRS = (1e-3, 3e-3)
"""The learning-rate grid, the same for every model and task (Adam; the best on validation)."""
SEEDS = (0, 1, 2)
BAG = "bag"
"""The memory-free baseline's name in the tables: no mixer layer (``SequenceModel(n_layers=0)``),
so a classifier reads the mean of the embedded tokens (a bag of tokens) and a per-position
task answers from each token alone."""


@dataclasses.dataclass(frozen=True)
class ArenaTask:
    """One task of the arena: how to make it and what it asks of a model.

    make(size) -> experiment.Task;  needs : what a model needs to solve it (text);
    steps, batch_size : the training budget at size "arena" (every model the same);
    n_params : the parameter budget per model;  n_layers : the mixer layers per model
    """
    name: str
    make: object
    needs: str
    steps: int
    batch_size: int
    n_params: int
    n_layers: int = 2


def _listops(size):
    length, n_val, n_test = (512, 512, 1024) if size == "arena" else (64, 32, 32)

    def make(n, rng, length=length):
        return tasks.listops(n, length, rng=rng)
    return experiment.Task(name="listops", make=make, vocab_size=len(tasks.LISTOPS_TOKENS),
                           n_classes=10, length=length, n_val=n_val, n_test=n_test,
                           params={"generator": "tasks.listops", "length": length})


def _image(size):
    canvas, n_val, n_test = (32, 512, 1024) if size == "arena" else (16, 32, 32)

    def make(n, rng, split="train"):
        return tasks.digit_canvas(n, canvas, scale=canvas // 16, split=split, rng=rng)
    return experiment.Task(name="image", make=make, vocab_size=tasks.DIGIT_LEVELS,
                           n_classes=10, length=canvas * canvas, n_val=n_val, n_test=n_test,
                           splits=True, params={"generator": "tasks.digit_canvas",
                                                "size": canvas, "scale": canvas // 16})


def _pathfinder(size):
    side, n_val, n_test = (32, 512, 1024) if size == "arena" else (8, 32, 32)
    path_length = (14, 28) if size == "arena" else (3, 6)

    def make(n, rng):
        return tasks.pathfinder(n, side, path_length=path_length, rng=rng)
    return experiment.Task(name="pathfinder", make=make,
                           vocab_size=len(tasks.PATHFINDER_TOKENS), n_classes=2,
                           length=side * side, n_val=n_val, n_test=n_test,
                           params={"generator": "tasks.pathfinder", "size": side,
                                   "path_length": list(path_length)})


def _selective_copying(size):
    task = experiment.selective_copying_task(1024 if size == "arena" else 32, n_tokens=4,
                                             vocab=16)
    return dataclasses.replace(task, name="selective_copying", n_val=512 if size == "arena"
                               else 32, n_test=1024 if size == "arena" else 32)


def _mqar(size):
    task = experiment.mqar_task(256 if size == "arena" else 32, n_pairs=8 if size == "arena"
                                else 2, n_keys=32, n_values=32)
    return dataclasses.replace(task, name="mqar", n_val=512 if size == "arena" else 32,
                               n_test=1024 if size == "arena" else 32)


TASKS = {t.name: t for t in (
    ArenaTask("listops", _listops, "hierarchy: a stack of open brackets, over the whole "
              "expression (up to 512 tokens)", steps=600, batch_size=16, n_params=40_000),
    ArenaTask("image", _image, "2-D structure from a 1-D sequence: pixels 32 apart are "
              "neighbours; the digit may sit anywhere among distracting strokes",
              steps=600, batch_size=16, n_params=40_000),
    ArenaTask("pathfinder", _pathfinder, "follow a path across rows of a 32 x 32 image; "
              "which pixels matter depends on the image (L = 1,024)", steps=600,
              batch_size=16, n_params=40_000),
    ArenaTask("selective_copying", _selective_copying, "content-based selection: keep 4 "
              "tokens among 1,020 blanks at random places, in order", steps=600,
              batch_size=16, n_params=40_000),
    ArenaTask("mqar", _mqar, "associative recall: 8 key-value pairs, each asked once "
              "later, up to 256 tokens on", steps=600, batch_size=16, n_params=40_000),
)}
MODELS = models.MIXERS
"""The twelve mixers of the book (``models.MIXERS``), each with its own field's
initialisation (see ``seqlearn.models``)."""


def task(name, size="arena"):
    """The experiment.Task of arena task ``name`` at ``size`` ("arena" or "tiny")."""
    option("name", name, tuple(TASKS))
    option("size", size, SIZES)
    return TASKS[name].make(size)


def specs(name, size="arena"):
    """{model: SequenceModel arguments} for task ``name``: every mixer of ``MODELS`` at the
    width that gives it the task's parameter budget, and the memory-free "bag"."""
    entry = TASKS[option("name", name, tuple(TASKS))]
    t = task(name, size)
    n_params = entry.n_params if size == "arena" else 4_000
    n_layers = entry.n_layers if size == "arena" else 1
    readout = "all" if t.per_position else "mean"
    out = {}
    for mixer in MODELS:
        common = {"mixer": mixer, "n_layers": n_layers, "readout": readout}
        d_model, _ = models.match_width(mixer, n_params, vocab_size=t.vocab_size,
                                        n_classes=t.n_classes, max_len=t.length,
                                        multiple=8, largest=512, **{k: v for k, v in common.items()
                                                        if k != "mixer"})
        out[mixer] = {**common, "d_model": d_model}
    out[BAG] = {"mixer": "s4d", "n_layers": 0, "readout": readout,    # no mixer layer:
                "d_model": out["s4d"]["d_model"]}     # the mean of the tokens, or each alone
    return out


def budget(name, size="arena"):
    """(steps, batch_size) of task ``name`` at ``size`` (tiny: 5 steps of 4)."""
    entry = TASKS[option("name", name, tuple(TASKS))]
    return (entry.steps, entry.batch_size) if option("size", size, SIZES) == "arena" else (5, 4)


def results_path(name, size="arena", out=RESULTS):
    """The file of task ``name``'s grid at ``size``: ``out / f"{name}_{size}.jsonl"``."""
    return Path(out) / f"{option('name', name, tuple(TASKS))}_{option('size', size, SIZES)}.jsonl"


def run(name, model, seeds=SEEDS, size="arena", out=RESULTS, device="cpu", steps=None,
        progress=True):
    """Train ``model`` (a name of ``MODELS`` or "bag") on task ``name`` at every rate of
    ``LRS`` with each of ``seeds``; runs already in the task's file are skipped. ``steps``
    overrides the budget (a different configuration, so a different file: ``<task>_<size>
    _s<steps>.jsonl``). Returns the task's runs so far."""
    t = task(name, size)
    grid = specs(name, size)
    option("model", model, tuple(grid))
    seeds = [integer("seeds", s, 0, maximum=2**32 - 1) for s in seeds]
    n_steps, batch_size = budget(name, size)
    path = results_path(name, size, out)
    if steps is not None:
        n_steps = integer("steps", steps, maximum=10**6)
        path = path.with_name(f"{path.stem}_s{n_steps}.jsonl")
    all_seeds = sorted(set(SEEDS) | set(seeds))
    return experiment.compare(grid, t, n_steps, LRS, all_seeds, batch_size, path=path,
                              progress=progress, only=[model], seeds_now=seeds, device=device)


def units(shard="1/1"):
    """The grid's (task, model) pairs of shard "i/n": every n-th, starting at the i-th."""
    try:
        i, n = (int(part) for part in str(shard).split("/"))
    except ValueError:
        raise ValueError(f"shard: expected 'i/n' with 1 <= i <= n, got {shard!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"shard: expected 'i/n' with 1 <= i <= n, got {shard!r}")
    pairs = [(t, m) for t in TASKS for m in MODELS + (BAG,)]
    return pairs[i - 1::n]


def merge(paths, into):
    """Join the files of one task's grid written on several machines (``--shard``) into
    ``into``: every header must carry the same configuration hash; a (model, lr, seed) run
    in several files is kept once. Returns the number of runs written."""
    if isinstance(paths, (str, Path)) or not paths:
        raise ValueError(f"paths: expected a list of result files, got {paths!r}")
    loaded = [experiment.load(p) for p in paths]
    hashes = {h["config_hash"] for h, _ in loaded}
    if len(hashes) != 1:
        raise ValueError(f"paths: expected files of one configuration, got hashes "
                         f"{sorted(hashes)}")
    runs = {}
    for _, rs in loaded:
        for r in rs:
            runs.setdefault((r["model"], r["lr"], r["seed"]), r)
    header = loaded[0][0]
    into = Path(into)
    into.parent.mkdir(parents=True, exist_ok=True)
    into.write_text("".join(json.dumps(x, default=str) + "\n" for x in [header, *runs.values()]))
    return len(runs)


def chance(name, size="arena"):
    """The accuracy of always answering the test set's most frequent class (per answer)."""
    t = task(name, size)
    _, (x, y), _ = experiment._held_out(t)
    y = y.numpy()
    y = y[y != tasks.IGNORE]
    return float(np.bincount(y).max() / len(y))


def table(size="arena", out=RESULTS):
    """The leaderboard as text: per task, each model's test accuracy at its best rate
    (mean [min, max] over seeds), parameters, seconds per step and peak memory."""
    lines = []
    for name in TASKS:
        path = results_path(name, size, out)
        if not path.is_file():
            continue
        _, runs = experiment.load(path)
        if not runs:
            continue
        lines.append(f"{name} (chance {chance(name, size):.3f})")
        summary = experiment.summary(runs)
        for model, row in sorted(summary.items(), key=lambda kv: -kv[1]["mean"]):
            peak = max((r.get("peak_mb", 0) for r in runs if r["model"] == model), default=0)
            lines.append(f"  {model:18s} {row['params']:7d} lr {row['lr']:.0e}  "
                         f"{row['mean']:.3f} [{row['min']:.3f}, {row['max']:.3f}] "
                         f"n={len(row['test'])}  {row['seconds_per_step']:.3f} s/step  "
                         f"{peak:.0f} MB")
    return "\n".join(lines)


def _main(argv=None):
    p = argparse.ArgumentParser(prog="python -m seqlearn.arena", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=list(TASKS))
    p.add_argument("--model", choices=list(MODELS) + [BAG])
    p.add_argument("--all", action="store_true", help="every (task, model) of the shard")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--size", choices=SIZES, default="arena")
    p.add_argument("--steps", type=int, default=None, help="override the budget (own file)")
    p.add_argument("--device", choices=experiment.DEVICES, default="cpu")
    p.add_argument("--shard", default="1/1", help="i/n: every n-th (task, model) pair")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--list", action="store_true", help="the tasks and models")
    p.add_argument("--table", action="store_true", help="the leaderboard from the files")
    p.add_argument("--merge", nargs="+", metavar="FILE", help="join shards' files of one task")
    a = p.parse_args(argv)
    if a.list:
        for t in TASKS.values():
            print(f"{t.name:18s} {t.needs}")
        print("models:", ", ".join(MODELS + (BAG,)))
        return 0
    if a.table:
        print(table(a.size, a.out) or f"no results under {a.out}")
        return 0
    if a.merge:
        header, _ = experiment.load(a.merge[0])
        into = results_path(header["config"]["task"], a.size, a.out)
        print(f"{merge(a.merge, into)} runs -> {into}")
        return 0
    if a.all:
        from tqdm.auto import tqdm
        todo = units(a.shard)
        failed = []
        for name, model in tqdm(todo, desc=f"arena {a.shard}"):
            cmd = [sys.executable, "-m", "seqlearn.arena", "--task", name, "--model", model,
                   "--size", a.size, "--device", a.device, "--out", a.out, "--seeds",
                   *map(str, a.seeds)] + ([] if a.steps is None else ["--steps", str(a.steps)])
            if subprocess.run(cmd, env={**os.environ, "SEQLEARN_ARENA_QUIET": "1"}).returncode:
                failed.append((name, model))
        if failed:
            print("failed:", failed)
        return 1 if failed else 0
    if not (a.task and a.model):
        p.error("give --task and --model, or --all, --list, --table or --merge")
    runs = run(a.task, a.model, a.seeds, a.size, a.out, a.device, a.steps,
               progress=not os.environ.get("SEQLEARN_ARENA_QUIET"))
    mine = [r for r in runs if r["model"] == a.model]
    print(f"{a.task} {a.model}: {len(mine)} runs in {results_path(a.task, a.size, a.out)}"
          f"{'' if a.steps is None else f' (_s{a.steps})'}; best test "
          f"{max(r['test_acc'] for r in mine):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
