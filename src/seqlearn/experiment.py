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
               (and at each longer test length, for a test of length generalisation)

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
from seqlearn import tasks
from seqlearn.tasks import IGNORE
from seqlearn._checks import MAX_STEPS, flag, function, integer, number, option
from seqlearn.models import SequenceModel, count_parameters
from seqlearn.train import fit, seed_everything

VAL_SEED, TEST_SEED = 10_001, 10_002
"""The validation and test sets are drawn with these seeds, the training stream of seed
s with (s, 0): three different streams of numpy.random.default_rng."""
RESULTS = Path(__file__).parent / "data" / "results"
"""The stored results of the book's comparisons (written by the scripts in experiments/,
shipped with the package so that a chapter redraws them wherever seqlearn is installed)."""


@dataclasses.dataclass(frozen=True)
class Task:
    """A task of the protocol.

    name : str;  make(n, rng) -> (x (n, L) int64 token ids, or (n, L, input_dim) features,
    y (n,) labels or (n, L) per-position targets with IGNORE where no answer is due), rng
    a numpy Generator;
    vocab_size : the token ids' range, or None for a task of features;  n_classes : int;
    length : L;  per_position : y is (n, L);
    params : the generator's arguments (for the configuration record);
    n_val, n_test : the sizes of the validation and test sets;
    test_lengths : longer lengths to test at as well (length generalisation, chapter 7):
        then make(n, rng, length=L') draws the test set at L' (the same n_test examples,
        drawn with the test seed), and each run reports its accuracy at every L'.
    input_dim : None (token ids), or the number of features of x (float, chapter 8); then
        vocab_size is None and the models embed x with a Linear layer.
    splits : False (every set is drawn from one generator, with different seeds), or True:
        the task draws from fixed data split three ways (chapter 10's digits), so make takes
        split="train", "val" or "test" as well, and each set reads only its own part.
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
    test_lengths: tuple = ()
    input_dim: object = None
    splits: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        function("make", self.make)
        for field in ("n_classes", "length", "n_val", "n_test"):
            integer(field, getattr(self, field), maximum=MAX_STEPS)
        if self.input_dim is None:
            integer("vocab_size", self.vocab_size, maximum=MAX_STEPS)
        else:
            integer("input_dim", self.input_dim, maximum=MAX_STEPS)
            if self.vocab_size is not None:
                raise ValueError(f"vocab_size: expected None for a task of features "
                                 f"(input_dim={self.input_dim}), got {self.vocab_size!r}")
        flag("per_position", self.per_position)
        flag("splits", self.splits)
        if not isinstance(self.params, dict):
            raise ValueError(f"params: expected a dict (the generator's arguments), got "
                             f"{type(self.params).__name__}")
        if not isinstance(self.test_lengths, tuple):
            raise ValueError(f"test_lengths: expected a tuple of lengths, got "
                             f"{type(self.test_lengths).__name__}")
        for length in self.test_lengths:
            integer("test_lengths", length, maximum=MAX_STEPS)


def first_token_task(length, n_classes=4, n_noise=8):
    """Chapter 1's task as a Task: ``tasks.first_token_classification`` at length T, the
    label the first token (chance 1 / n_classes), vocabulary n_classes + n_noise."""
    length = integer("length", length, maximum=MAX_STEPS)
    n_classes = integer("n_classes", n_classes, 2, maximum=10**6)
    n_noise = integer("n_noise", n_noise, maximum=10**6)
    return Task(
        name=f"first_token_T{length}",
        make=lambda n, rng: tasks.first_token_classification(n, length, n_classes, n_noise,
                                                             rng=rng),
        vocab_size=n_classes + n_noise, n_classes=n_classes, length=length,
        params={"generator": "tasks.first_token_classification", "length": length,
                "n_classes": n_classes, "n_noise": n_noise})



def copying_task(m=8, vocab=30):
    """Chapter 2's copy task as a per-position Task: m content tokens (ids 2 .. vocab - 1)
    then m markers, the j-th marker asking for the j-th token (``tasks.selective_copying``
    with the content packed at the start: the answer at t is the token at t - m); chance
    1 / (vocab - 2), and ``tasks.order_free_copy_accuracy(m, vocab - 2)`` for a model
    that knows the tokens but not their order."""
    m = integer("m", m, maximum=MAX_STEPS // 2)
    vocab = integer("vocab", vocab, 3, maximum=10**6)
    return Task(name=f"copying_m{m}",
                make=lambda n, rng: tasks.selective_copying(n, 2 * m, (m, m), vocab, rng=rng),
                vocab_size=vocab, n_classes=vocab, length=2 * m, per_position=True,
                params={"generator": "tasks.selective_copying", "length": 2 * m,
                        "n_markers": [m, m], "vocab": vocab})


def padded_patterns_task(pad, n_classes=8, pattern_length=16, noise=0.3, template_seed=0):
    """Chapter 8's memory across padding as a Task of features: one of n_classes fixed
    +-1 patterns (``tasks.noise_padded_patterns``, templates fixed by ``template_seed``),
    then ``pad`` steps of noise; the class is asked for at the last step (chance
    1 / n_classes). x is float (n, pattern_length + pad, 1)."""
    pad = integer("pad", pad, minimum=0, maximum=MAX_STEPS)
    n_classes = integer("n_classes", n_classes, 2, maximum=10**6)
    pattern_length = integer("pattern_length", pattern_length, maximum=MAX_STEPS)
    noise = number("noise", noise, 0)
    template_seed = integer("template_seed", template_seed, 0, maximum=2**32 - 1)
    return Task(name=f"padded_patterns_pad{pad}",
                make=lambda n, rng: tasks.noise_padded_patterns(
                    n, pad, n_classes, pattern_length, noise, rng=rng,
                    template_seed=template_seed),
                vocab_size=None, input_dim=1, n_classes=n_classes,
                length=pattern_length + pad,
                params={"generator": "tasks.noise_padded_patterns", "pad": pad,
                        "n_classes": n_classes, "pattern_length": pattern_length,
                        "noise": noise, "template_seed": template_seed})

def _lengths(test_lengths):
    if isinstance(test_lengths, (str, bytes)) or not hasattr(test_lengths, "__iter__"):
        raise ValueError(f"test_lengths: expected a list of lengths, got {test_lengths!r:.100}")
    return tuple(integer("test_lengths", L, maximum=MAX_STEPS) for L in test_lengths)


def selective_copying_task(length=64, n_tokens=4, vocab=16, test_lengths=()):
    """Chapter 7's selective copying as a per-position Task: ``tasks.selective_copying``
    with n_tokens content tokens to copy (always n_tokens, at every length), vocabulary
    ``vocab`` (content ids 2 .. vocab - 1: chance 1 / (vocab - 2)); trained at ``length``,
    tested also at each of ``test_lengths`` (the same number of tokens, more blanks)."""
    length = integer("length", length, maximum=MAX_STEPS)
    n_tokens = integer("n_tokens", n_tokens, maximum=MAX_STEPS)
    vocab = integer("vocab", vocab, 3, maximum=10**6)
    test_lengths = _lengths(test_lengths)

    def make(n, rng, length=length):
        return tasks.selective_copying(n, length, (n_tokens, n_tokens), vocab, rng=rng)
    return Task(name=f"selective_copying_L{length}", make=make, vocab_size=vocab,
                n_classes=vocab, length=length, per_position=True, test_lengths=test_lengths,
                params={"generator": "tasks.selective_copying", "length": length,
                        "n_tokens": n_tokens, "vocab": vocab})


def induction_heads_task(length=64, vocab=16, test_lengths=()):
    """Chapter 7's induction heads as a per-position Task: ``tasks.induction_heads`` (one
    answer, at the last position; chance 1 / (vocab - 1)); trained at ``length``, tested
    also at each of ``test_lengths``."""
    length = integer("length", length, maximum=MAX_STEPS)
    vocab = integer("vocab", vocab, 2, maximum=10**6)
    test_lengths = _lengths(test_lengths)

    def make(n, rng, length=length):
        return tasks.induction_heads(n, length, vocab, rng=rng)
    return Task(name=f"induction_heads_L{length}", make=make, vocab_size=vocab,
                n_classes=vocab, length=length, per_position=True, test_lengths=test_lengths,
                params={"generator": "tasks.induction_heads", "length": length,
                        "vocab": vocab})


def mqar_task(length=64, n_pairs=4, n_keys=16, n_values=16, test_lengths=()):
    """Chapter 9's multi-query associative recall as a per-position Task: ``tasks.mqar``
    (an answer at each of the n_pairs queries; chance 1 / n_values), vocabulary
    n_keys + n_values + 1; trained at ``length``, tested also at each of ``test_lengths``."""
    length = integer("length", length, maximum=MAX_STEPS)
    n_pairs = integer("n_pairs", n_pairs, maximum=10**6)
    n_keys = integer("n_keys", n_keys, maximum=10**6)
    n_values = integer("n_values", n_values, maximum=10**6)
    test_lengths = _lengths(test_lengths)
    vocab = n_keys + n_values + 1

    def make(n, rng, length=length):
        return tasks.mqar(n, length, n_pairs, n_keys, n_values, rng=rng)
    return Task(name=f"mqar_L{length}", make=make, vocab_size=vocab, n_classes=vocab,
                length=length, per_position=True, test_lengths=test_lengths,
                params={"generator": "tasks.mqar", "length": length, "n_pairs": n_pairs,
                        "n_keys": n_keys, "n_values": n_values})


def _tensors(pair, features=False):
    """(x, y) as tensors: x int64 ids, or float32 features; y int64."""
    x, y = pair
    return (torch.as_tensor(np.asarray(x), dtype=torch.float32 if features else torch.long),
            torch.as_tensor(np.asarray(y), dtype=torch.long))


def _task(task):
    if not isinstance(task, Task):
        raise ValueError(f"task: expected a seqlearn.experiment.Task, got {type(task).__name__}")
    return task


def _spec(name, spec):
    if not isinstance(spec, dict) or "mixer" not in spec:
        raise ValueError(f"{name}: expected a dict of SequenceModel arguments with a 'mixer', "
                         f"got {spec!r:.200}")
    return spec


def _grid(task, specs, steps, lrs, seeds, batch_size):
    """The arguments of a comparison, checked: (specs, steps, lrs, seeds, batch_size)."""
    _task(task)
    if not isinstance(specs, dict) or not specs or not all(isinstance(k, str) for k in specs):
        raise ValueError(f"specs: expected {{name: dict of SequenceModel arguments}}, got "
                         f"{specs!r:.200}")
    for spec in specs.values():
        _spec("specs", spec)
    steps = integer("steps", steps, maximum=MAX_STEPS)
    batch_size = integer("batch_size", batch_size, maximum=100_000)
    if isinstance(lrs, (str, bytes)) or not hasattr(lrs, "__iter__"):
        raise ValueError(f"lrs: expected a list of learning rates, got {lrs!r}")
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds: expected a list of seeds, got {seeds!r}")
    lrs = [number("lrs", lr, 0, strict=True) for lr in lrs]
    seeds = [integer("seeds", s, 0, maximum=2**32 - 1) for s in seeds]
    if not lrs:
        raise ValueError("lrs: expected at least one learning rate, got none")
    if not seeds:
        raise ValueError("seeds: expected at least one seed, got none")
    return specs, steps, lrs, seeds, batch_size


def configuration(task, specs, steps, lrs, seeds, batch_size, eval_every=None):
    """The record of everything that decides the results, and its hash (12 hex digits)."""
    specs, steps, lrs, seeds, batch_size = _grid(task, specs, steps, lrs, seeds, batch_size)
    eval_every = _every(eval_every, steps)
    config = {"task": task.name, "task_params": task.params, "length": task.length,
              "vocab_size": task.vocab_size, "n_classes": task.n_classes,
              "per_position": task.per_position, "n_val": task.n_val, "n_test": task.n_test,
              "models": specs, "steps": steps, "lrs": list(lrs), "seeds": list(seeds),
              "batch_size": batch_size, "optimizer": "Adam", "max_grad_norm": 1.0,
              "val_seed": VAL_SEED, "test_seed": TEST_SEED}
    if task.test_lengths:         # (absent otherwise: the hashes of earlier files stand)
        config["test_lengths"] = list(task.test_lengths)
    if task.input_dim is not None:                                    # (the same)
        config["input_dim"] = task.input_dim
    if eval_every is not None:                                        # (the same)
        config["eval_every"] = eval_every
    if task.splits:                                                   # (the same)
        config["splits"] = True
    return config, digest(config)


def digest(config):
    """The hash of a configuration (a JSON-able dict): 12 hex digits of the SHA-256 of its
    canonical JSON text (keys sorted), as every stored result's header records it."""
    if not isinstance(config, dict):
        raise ValueError(f"config: expected a dict, got {type(config).__name__}")
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _every(eval_every, steps):
    if eval_every is None:
        return None
    return integer("eval_every", eval_every, maximum=steps)


def versions():
    """The versions a result depends on."""
    return {"seqlearn": seqlearn.__version__, "torch": torch.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "machine": platform.machine(), "threads": torch.get_num_threads()}


def build(spec, task):
    """SequenceModel(**spec) with the task's sizes: vocab_size, n_classes, max_len = L, and
    readout "all" for a per-position task."""
    spec = dict(_spec("spec", spec))
    _task(task)
    spec.setdefault("readout", "all" if task.per_position else "last")
    return SequenceModel(vocab_size=task.vocab_size, input_dim=task.input_dim,
                         n_classes=task.n_classes, max_len=max(task.length, 2), **spec)


def _split(task, name):
    """make's split argument, for a task with fixed splits; none for the others."""
    return {"split": name} if task.splits else {}


def _held_out(task):
    """(val, test, {L': test set at L'}): the fixed sets every run of a task is scored on."""
    features = task.input_dim is not None
    return (_tensors(task.make(task.n_val, np.random.default_rng(VAL_SEED),
                               **_split(task, "val")), features),
            _tensors(task.make(task.n_test, np.random.default_rng(TEST_SEED),
                               **_split(task, "test")), features),
            {L: _tensors(task.make(task.n_test, np.random.default_rng(TEST_SEED), length=L,
                                   **_split(task, "test")), features)
             for L in task.test_lengths})


DEVICES = ("cpu", "cuda")


def peak_memory_mb(device="cpu"):
    """The peak memory of this process so far, in MB: on "cuda" torch's peak allocation
    since the last reset, on "cpu" the resident set's high-water mark (ru_maxrss: the whole
    process, data and Python included; Linux reports it in KiB, macOS in bytes)."""
    device = option("device", device, DEVICES)
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    import resource
    import sys
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run_one(spec, task, lr, seed, steps, batch_size, data=None, return_model=False,
            eval_fn=None, eval_every=None, device="cpu"):
    """Train one model once; returns its record (accuracies, parameters, time per step, and
    with ``task.test_lengths`` the test accuracy at each of them, "test_by_length").
    data : the held-out sets (val, test, {L': test}), drawn once by ``compare`` and shared
    by every run, or None to draw them here;  return_model : also return the trained
    model, (record, model), for a chapter that looks inside it;  eval_fn(model) -> number,
    eval_every : ``train.fit``'s, to follow a run during training (the record then has
    "eval_step" and "eval"; its time per step includes the evaluations);  device : "cpu" or
    "cuda" (the model and batches live there; the record has "device" and "peak_mb",
    ``peak_memory_mb``)."""
    _task(task)
    _spec("spec", spec)
    lr = number("lr", lr, 0, strict=True)
    seed = integer("seed", seed, 0, maximum=2**32 - 1)
    steps = integer("steps", steps, maximum=MAX_STEPS)
    batch_size = integer("batch_size", batch_size, maximum=100_000)
    return_model = flag("return_model", return_model)
    device = option("device", device, DEVICES)
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: expected a device this machine has, got 'cuda' (torch sees "
                         "no GPU)")
    if data is not None and (not isinstance(data, tuple) or len(data) != 3):
        raise ValueError(f"data: expected (val, test, {{length: test}}) (x, y) pairs, or None, "
                         f"got {type(data).__name__}")
    val, test, longer = data if data is not None else _held_out(task)
    seed_everything(seed)
    model = build(spec, task).to(device)
    stream = np.random.default_rng([seed, 0])
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def batch(step):
        x, y = _tensors(task.make(batch_size, stream, **_split(task, "train")),
                        task.input_dim is not None)
        return x.to(device), y.to(device)

    def loss(model, b):
        out = model(b[0])
        if task.per_position:
            return torch.nn.functional.cross_entropy(out.flatten(0, 1), b[1].flatten(),
                                                     ignore_index=IGNORE)
        return torch.nn.functional.cross_entropy(out, b[1])

    start = time.perf_counter()
    history = fit(model, loss, batch, torch.optim.Adam(model.parameters(), lr=lr), steps,
                  eval_fn=eval_fn, eval_every=eval_every, max_grad_norm=1.0, progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    peak = peak_memory_mb(device)
    (val_acc, val_bad), (test_acc, test_bad) = (score(model, *val, task.per_position),
                                                score(model, *test, task.per_position))
    by_length = {L: score(model, *longer[L], task.per_position, batch_size=64)
                 for L in task.test_lengths}
    tail = history["loss"][-max(1, steps // 10):]
    record = {"lr": lr, "seed": seed, "val_acc": val_acc, "test_acc": test_acc,
              "params": count_parameters(model), "seconds_per_step": seconds,
              "final_loss": float(np.mean(tail)), "device": device, "peak_mb": round(peak, 1),
              "diverged": bool(val_bad or test_bad or any(bad for _, bad in by_length.values())
                               or not np.all(np.isfinite(tail)))}
    if by_length:
        record["test_by_length"] = {str(L): acc for L, (acc, _) in by_length.items()}
    if eval_fn is not None:
        record.update(eval_step=history["eval_step"], eval=history["eval"])
    return (record, model) if return_model else record


def score(model, x, y, per_position=False, batch_size=256):
    """(accuracy, diverged): the fraction of answers (rows, or targets != IGNORE) whose
    argmax is right, an answer with a NaN or inf logit counting as wrong; diverged is True
    when any logit is not finite (a run whose weights blew up scores what it gets right).
    Run in eval mode under torch.no_grad().

    model : a torch.nn.Module, x (N, L) -> logits (N, n_classes) or (N, L, n_classes);
    x : a tensor (N, ...) of its inputs;  y : an int tensor (N,) or (N, L) of labels
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    per_position = flag("per_position", per_position)
    batch_size = integer("batch_size", batch_size, maximum=10**6)
    if not isinstance(x, torch.Tensor) or x.ndim < 1 or len(x) == 0:
        raise ValueError(f"x: expected a non-empty tensor (N, ...), got {type(x).__name__}")
    if (not isinstance(y, torch.Tensor) or y.dtype.is_floating_point or y.is_complex()
            or y.dtype == torch.bool or y.ndim != (2 if per_position else 1) or len(y) != len(x)):
        raise ValueError(f"y: expected an int tensor of {len(x)} labels "
                         f"({'(N, L)' if per_position else '(N,)'}), got "
                         f"{getattr(y, 'dtype', type(y).__name__)} of shape "
                         f"{tuple(getattr(y, 'shape', ()))}")
    was = model.training
    device = next(iter(model.parameters()), torch.empty(0)).device
    model.eval()
    right = due = 0
    bad = False
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                try:
                    out = model(x[i:i + batch_size].to(device)).cpu()
                except (RuntimeError, TypeError, IndexError) as e:
                    raise ValueError(f"x: expected inputs the model takes, got "
                                     f"{x.dtype} of shape {tuple(x.shape)} ({e})") from None
                target = y[i:i + batch_size]
                labels = target[target != IGNORE] if per_position else target
                if labels.numel() and (int(labels.min()) < 0
                                       or int(labels.max()) >= out.shape[-1]):
                    raise ValueError(f"y: expected labels in [0, {out.shape[-1]}) (the "
                                     f"model's classes), got {int(labels.min())} to "
                                     f"{int(labels.max())}")
                finite = torch.isfinite(out).all(-1)
                bad |= not bool(finite.all())
                ok = (out.argmax(-1) == target) & finite
                mask = target != IGNORE if per_position else torch.ones_like(target, dtype=bool)
                right += int((ok & mask).sum())
                due += int(mask.sum())
    finally:
        model.train(was)
    return right / max(due, 1), bad


def load(path):
    """(header, runs) from a results file: the header has the configuration, its hash and
    the versions; runs are the records, one per (model, lr, seed)."""
    if not isinstance(path, (str, Path)) or not Path(path).is_file():
        raise ValueError(f"path: expected the name of a results file, got {path!r}")
    try:
        lines = [json.loads(line) for line in Path(path).read_text().splitlines()
                 if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"path: expected a file of JSON lines, got {path} ({e})") from None
    if not lines or not isinstance(lines[0], dict) or "config" not in lines[0]:
        raise ValueError(f"path: expected a results file whose first line is its header, "
                         f"got {path}")
    return lines[0], lines[1:]


def start_file(path, config, config_hash):
    """Path(path), a results file of this configuration: a new file gets the header
    {"config", "config_hash", "versions"}; an existing one must be of the same hash."""
    if not isinstance(path, (str, Path)):
        raise ValueError(f"path: expected a file name, got {type(path).__name__}")
    if not isinstance(config, dict):
        raise ValueError(f"config: expected a dict, got {type(config).__name__}")
    if not isinstance(config_hash, str) or not config_hash:
        raise ValueError(f"config_hash: expected a non-empty string, got {config_hash!r:.100}")
    path = Path(path)
    if path.exists() and path.stat().st_size:
        header, _ = load(path)
        if header["config_hash"] != config_hash:
            raise ValueError(f"path: {path} holds results of another configuration "
                             f"({header['config_hash']}, this one is {config_hash}); remove "
                             f"it or write to another file")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"config": config, "config_hash": config_hash,
                                    "versions": versions()}, default=str) + "\n")
    return path


def stored(name):
    """(header, runs) of the stored comparison ``name`` (``RESULTS / f"{name}.jsonl"``)."""
    if not isinstance(name, str) or not (RESULTS / f"{name}.jsonl").is_file():
        have = sorted(p.stem for p in RESULTS.glob("*.jsonl"))
        raise ValueError(f"name: expected the name of a stored comparison, one of {have}, "
                         f"got {name!r}")
    return load(RESULTS / f"{name}.jsonl")


def compare(specs, task, steps, lrs, seeds, batch_size=32, path=None, progress=True,
            only=None, eval_every=None, seeds_now=None, device="cpu"):
    """Train every model spec at every learning rate with every seed; returns the runs.

    specs : {name: SequenceModel arguments (mixer, d_model, n_layers, ...)};  task : Task;
    steps : int (the same for every model);  lrs : >= 1 learning rates;  seeds : >= 1 ints
    path : a JSON-lines file: runs already in it (same configuration) are skipped, new
        ones appended as they finish; None keeps nothing. The file is read again before
        each run, so two processes may share one grid (each with its own ``only``).
    only : None (every model), or the names of the models to train now (the others'
        runs are returned if the file has them); the configuration is the whole grid's
    seeds_now : None (every seed), or the seeds to train now, in the same way
    device : "cpu" or "cuda", where the runs train (not part of the configuration: a run's
        record says where it ran)
    eval_every : None, or every how many steps to score the validation set during
        training: each record then has "eval_step" and "eval" (validation accuracy), the
        curve of accuracy against steps (its time per step includes the evaluations)
    returns a list of records {"model", "lr", "seed", "val_acc", "test_acc", "params",
    "seconds_per_step", "final_loss"}; ``summary`` turns them into the table.
    """
    specs, steps, lrs, seeds, batch_size = _grid(task, specs, steps, lrs, seeds, batch_size)
    progress = flag("progress", progress)
    if only is not None and (isinstance(only, str) or not hasattr(only, "__iter__")
                             or not set(only) <= set(specs)):
        raise ValueError(f"only: expected None or a list of model names from specs "
                         f"({sorted(specs)}), got {only!r:.200}")
    if seeds_now is not None and (isinstance(seeds_now, str) or not hasattr(seeds_now, "__iter__")
                                  or not set(seeds_now) <= set(seeds)):
        raise ValueError(f"seeds_now: expected None or a list of seeds from seeds ({seeds}), "
                         f"got {seeds_now!r:.200}")
    device = option("device", device, DEVICES)
    if path is not None and not isinstance(path, (str, Path)):
        raise ValueError(f"path: expected a file name or None, got {type(path).__name__}")
    config, config_hash = configuration(task, specs, steps, lrs, seeds, batch_size, eval_every)
    eval_every = config.get("eval_every")
    if path is not None:
        path = start_file(path, config, config_hash)

    def finished():
        return {} if path is None else {(r["model"], r["lr"], r["seed"]): r
                                        for r in load(path)[1]}

    data = _held_out(task)
    grid = [(name, lr, seed) for name in specs for lr in lrs for seed in seeds]
    out = []
    for name, lr, seed in tqdm(grid, desc=task.name, disable=not progress, mininterval=1.0):
        done = finished()
        if (name, lr, seed) in done:
            out.append(done[(name, lr, seed)])
            continue
        if (only is not None and name not in only) or (seeds_now is not None
                                                        and seed not in seeds_now):
            continue
        eval_fn = None if eval_every is None else (
            lambda model: score(model, *data[0], task.per_position)[0])
        record = {"model": name, **run_one(specs[name], task, lr, seed, steps, batch_size,
                                           data, eval_fn=eval_fn, eval_every=eval_every,
                                           device=device)}
        out.append(record)
        if path is not None:
            with path.open("a") as f:
                f.write(json.dumps(record) + "\n")
    if path is not None:            # with the runs another process added meanwhile
        done = finished()
        out = [done[key] for key in grid if key in done]
    return out


def summary(runs):
    """Per model: the learning rate with the best mean validation accuracy over seeds,
    and at that rate the test accuracies (mean, min, max, per seed; "by_length": {L':
    per seed} for a task with test lengths), parameters and seconds per step. Returns {model: dict}, in the order the models first appear."""
    keys = {"model", "lr", "seed", "val_acc", "test_acc", "params", "seconds_per_step"}
    if not isinstance(runs, (list, tuple)) or not runs or not all(
            isinstance(r, dict) and keys <= set(r) for r in runs):
        raise ValueError(f"runs: expected a non-empty list of run records with {sorted(keys)} "
                         f"(from compare or load), got {runs!r:.200}")
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
                       "by_length": {int(L): [r["test_by_length"][L] for r in best]
                                     for L in best[0].get("test_by_length", {})},
                       "seconds_per_step": float(np.mean([r["seconds_per_step"] for r in best]))}
    return table


def format_table(table):
    """The summary as aligned text: model, parameters, best lr, test mean [min, max]
    (and the mean at each longer test length, where the task has them)."""
    keys = {"params", "lr", "mean", "min", "max"}
    if not isinstance(table, dict) or not all(isinstance(t, dict) and keys <= set(t)
                                              for t in table.values()):
        raise ValueError(f"table: expected the dict of summary(runs), got {table!r:.200}")
    lengths = list(next(iter(table.values())).get("by_length", {})) if table else []
    rows = [f"{'model':24s}{'params':>9s}{'lr':>8s}   test accuracy: mean [min, max] over seeds"
            + "".join(f"{'at ' + str(L):>10s}" for L in lengths)]
    for name, t in table.items():
        test = (f"{100 * t['mean']:5.1f} % [{100 * t['min']:5.1f}, {100 * t['max']:5.1f}]"
                .ljust(43 if lengths else 0))
        rows.append(f"{name:24s}{t['params']:9,d}{t['lr']:8.0e}   {test}"
                    + "".join(f"{100 * np.mean(t['by_length'].get(L, np.nan)):8.1f} %"
                              for L in lengths))
    return "\n".join(rows)
