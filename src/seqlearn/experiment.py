"""The comparison protocol: every model of a comparison trained alike, so that the
comparison is fair by construction (the chapters' experiments and chapter 10's arena).

    for each model spec m, learning rate lr in lrs, seed s in seeds:
        seed everything with s; model = SequenceModel(**m, + the task's sizes)
        Adam(lr), ``steps`` steps of ``batch_size`` fresh examples drawn from the
        training stream of seed s (the same examples for every model and lr), the
        gradient clipped at norm 1
        accuracy on the validation set and on the test set (fixed, drawn apart from training)
    per model: lr* = the lr with the best validation accuracy (mean over seeds);
               the test accuracy at lr*, mean, min and max over seeds, is the result

Every model gets the same number of steps and examples and the same learning-rate grid;
the rate is chosen on validation data, never on the test set. Each run is appended to a
JSON-lines file as it finishes (with the configuration's hash, versions and time per
step), and a run already in the file is skipped: an interrupted grid resumes, and a
figure is redrawn from the file without training (``load``).

Task: a named generator of (x, y) examples; ``tasks`` has the data, this module only
reads it through ``make(n, rng)``.
"""

import dataclasses
import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import seqlearn
from seqlearn._checks import MAX_STEPS, function, integer, number
from seqlearn.models import SequenceModel, count_parameters
from seqlearn.train import accuracy, fit, seed_everything, token_accuracy

VAL_SEED, TEST_SEED = 10_001, 10_002
"""The validation and test sets are drawn with these seeds, the training stream of seed
s with (s, 0): three different streams of numpy.random.default_rng."""
IGNORE = -100
"""A per-position target that asks for no answer (``tasks.IGNORE``)."""


@dataclasses.dataclass(frozen=True)
class Task:
    """A task of the protocol.

    name : str;  make(n, rng) -> (x (n, L) int64 token ids, y (n,) labels or (n, L)
    per-position targets with IGNORE where no answer is due), rng a numpy Generator;
    vocab_size, n_classes : ints;  length : L;  per_position : y is (n, L);
    params : the generator's arguments (for the configuration record);
    n_val, n_test : the sizes of the validation and test sets.
    """
    name: str
    make: object
    vocab_size: int
    n_classes: int
    length: int
    per_position: bool = False
    params: dict = dataclasses.field(default_factory=dict)
    n_val: int = 512
    n_test: int = 1024


def _tensors(pair):
    return tuple(torch.as_tensor(np.asarray(a), dtype=torch.long) for a in pair)


def configuration(task, specs, steps, lrs, seeds, batch_size):
    """The record of everything that decides the results, and its hash (12 hex digits)."""
    config = {"task": task.name, "task_params": task.params, "length": task.length,
              "vocab_size": task.vocab_size, "n_classes": task.n_classes,
              "per_position": task.per_position, "n_val": task.n_val, "n_test": task.n_test,
              "models": specs, "steps": steps, "lrs": list(lrs), "seeds": list(seeds),
              "batch_size": batch_size, "optimizer": "Adam", "max_grad_norm": 1.0,
              "val_seed": VAL_SEED, "test_seed": TEST_SEED}
    text = json.dumps(config, sort_keys=True, default=str)
    return config, hashlib.sha256(text.encode()).hexdigest()[:12]


def versions():
    """The versions a result depends on."""
    return {"seqlearn": seqlearn.__version__, "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "threads": torch.get_num_threads()}


def build(spec, task):
    """SequenceModel(**spec) with the task's sizes: vocab_size, n_classes, max_len = L, and
    readout "all" for a per-position task."""
    spec = dict(spec)
    spec.setdefault("readout", "all" if task.per_position else "last")
    return SequenceModel(vocab_size=task.vocab_size, n_classes=task.n_classes,
                         max_len=max(task.length, 2), **spec)


def run_one(spec, task, lr, seed, steps, batch_size, data=None):
    """Train one model once; returns its record (accuracies, parameters, time per step).
    data : (val, test) tensors, drawn once by ``compare`` and shared by every run."""
    val, test = data if data is not None else (
        _tensors(task.make(task.n_val, np.random.default_rng(VAL_SEED))),
        _tensors(task.make(task.n_test, np.random.default_rng(TEST_SEED))))
    seed_everything(seed)
    model = build(spec, task)
    stream = np.random.default_rng([seed, 0])

    def batch(step):
        return _tensors(task.make(batch_size, stream))

    def loss(model, b):
        out = model(b[0])
        if task.per_position:
            return torch.nn.functional.cross_entropy(out.flatten(0, 1), b[1].flatten(),
                                                     ignore_index=IGNORE)
        return torch.nn.functional.cross_entropy(out, b[1])

    start = time.perf_counter()
    history = fit(model, loss, batch, torch.optim.Adam(model.parameters(), lr=lr), steps,
                  max_grad_norm=1.0, progress=False)
    seconds = (time.perf_counter() - start) / steps
    score = ((lambda x, y: token_accuracy(model, x, y, ignore=IGNORE)) if task.per_position
             else (lambda x, y: accuracy(model, x, y)))
    return {"lr": lr, "seed": seed, "val_acc": score(*val), "test_acc": score(*test),
            "params": count_parameters(model), "seconds_per_step": seconds,
            "final_loss": float(np.mean(history["loss"][-max(1, steps // 10):]))}


def load(path):
    """(header, runs) from a results file: the header has the configuration, its hash and
    the versions; runs are the records, one per (model, lr, seed)."""
    lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or "config" not in lines[0]:
        raise ValueError(f"path: expected a results file whose first line is its header, "
                         f"got {path}")
    return lines[0], lines[1:]


def compare(specs, task, steps, lrs, seeds, batch_size=32, path=None, progress=True):
    """Train every model spec at every learning rate with every seed; returns the runs.

    specs : {name: SequenceModel arguments (mixer, d_model, n_layers, ...)};  task : Task;
    steps : int (the same for every model);  lrs : >= 1 learning rates;  seeds : >= 1 ints
    path : a JSON-lines file: runs already in it (same configuration) are skipped, new
        ones appended as they finish; None keeps nothing
    returns a list of records {"model", "lr", "seed", "val_acc", "test_acc", "params",
    "seconds_per_step", "final_loss"}; ``summary`` turns them into the table.
    """
    if not isinstance(task, Task):
        raise ValueError(f"task: expected a seqlearn.experiment.Task, got {type(task).__name__}")
    function("task.make", task.make)
    if not isinstance(specs, dict) or not specs or not all(
            isinstance(k, str) and isinstance(v, dict) and "mixer" in v for k, v in specs.items()):
        raise ValueError("specs: expected {name: dict of SequenceModel arguments with a "
                         f"'mixer'}}, got {specs!r:.200}")
    steps = integer("steps", steps, maximum=MAX_STEPS)
    batch_size = integer("batch_size", batch_size, maximum=100_000)
    lrs = [number("lrs", lr, 0, strict=True) for lr in lrs]
    seeds = [integer("seeds", s, 0) for s in seeds]
    if not lrs or not seeds:
        raise ValueError(f"lrs: expected at least one learning rate and one seed, got "
                         f"{len(lrs)} rates and {len(seeds)} seeds")
    config, digest = configuration(task, specs, steps, lrs, seeds, batch_size)
    done = {}
    if path is not None:
        path = Path(path)
        if path.exists() and path.stat().st_size:
            header, runs = load(path)
            if header["config_hash"] != digest:
                raise ValueError(f"path: {path} holds results of another configuration "
                                 f"({header['config_hash']}, this one is {digest}); remove "
                                 f"it or write to another file")
            done = {(r["model"], r["lr"], r["seed"]): r for r in runs}
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"config": config, "config_hash": digest,
                                        "versions": versions()}, default=str) + "\n")
    data = (_tensors(task.make(task.n_val, np.random.default_rng(VAL_SEED))),
            _tensors(task.make(task.n_test, np.random.default_rng(TEST_SEED))))
    grid = [(name, lr, seed) for name in specs for lr in lrs for seed in seeds]
    out = []
    for name, lr, seed in tqdm(grid, desc=task.name, disable=not progress, mininterval=1.0):
        if (name, lr, seed) in done:
            out.append(done[(name, lr, seed)])
            continue
        record = {"model": name, **run_one(specs[name], task, lr, seed, steps, batch_size,
                                           data)}
        out.append(record)
        if path is not None:
            with path.open("a") as f:
                f.write(json.dumps(record) + "\n")
    return out


def summary(runs):
    """Per model: the learning rate with the best mean validation accuracy over seeds,
    and at that rate the test accuracies (mean, min, max, per seed), parameters and
    seconds per step. Returns {model: dict}, in the order the models first appear."""
    table = {}
    for name in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == name]
        by_lr = {}
        for r in mine:
            by_lr.setdefault(r["lr"], []).append(r)
        lr = max(by_lr, key=lambda k: (np.mean([r["val_acc"] for r in by_lr[k]]), -k))
        best = sorted(by_lr[lr], key=lambda r: r["seed"])
        test = [r["test_acc"] for r in best]
        table[name] = {"lr": lr, "test": test, "mean": float(np.mean(test)),
                       "min": min(test), "max": max(test),
                       "val": float(np.mean([r["val_acc"] for r in best])),
                       "params": best[0]["params"],
                       "seconds_per_step": float(np.mean([r["seconds_per_step"] for r in best]))}
    return table


def format_table(table):
    """The summary as aligned text: model, parameters, best lr, test mean [min, max]."""
    rows = [f"{'model':24s}{'params':>9s}{'lr':>8s}   test accuracy: mean [min, max] over seeds"]
    for name, t in table.items():
        rows.append(f"{name:24s}{t['params']:9,d}{t['lr']:8.0e}   {100 * t['mean']:5.1f} % "
                    f"[{100 * t['min']:5.1f}, {100 * t['max']:5.1f}]")
    return "\n".join(rows)
