"""What chapter 10's grid costs: seconds per training step of every model on every arena
task at its arena size, and the grid's projected wall-clock time, before running it.

    OMP_NUM_THREADS=1 python benchmarks/arena_costs.py [--tasks listops mqar] [--repeat 3]

One training step = a batch drawn from the task's generator + forward + backward + Adam,
exactly what seqlearn.experiment.run_one times; the best of ``repeat`` steps after two
warm-up steps (the first call of a compiled scan compiles). The projection multiplies by
the task's step budget, the learning-rate grid and the seeds (``seqlearn.arena``), and adds
nothing for evaluation and start-up (a few per cent). Run it on a quiet machine: two busy
processes on two cores make torch 30-60x slower.
"""

import argparse
import time

import numpy as np
import torch

from seqlearn import arena, experiment
from seqlearn.tasks import IGNORE


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(arena.TASKS), choices=list(arena.TASKS))
    parser.add_argument("--models", nargs="+", default=list(arena.MODELS) + [arena.BAG])
    parser.add_argument("--repeat", type=int, default=3, help="timed steps, best kept (3)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("need --repeat >= 1")
    return args


def step_seconds(spec, task, batch_size, repeat):
    """(data seconds, model seconds) of one training step, best of ``repeat``."""
    torch.manual_seed(0)
    model = experiment.build(spec, task)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    split = {"split": "train"} if task.splits else {}
    data_t, model_t = [], []
    for i in range(repeat + 2):
        start = time.perf_counter()
        x, y = experiment._tensors(task.make(batch_size, rng, **split))
        mid = time.perf_counter()
        out = model(x)
        if task.per_position:
            loss = torch.nn.functional.cross_entropy(out.flatten(0, 1), y.flatten(),
                                                     ignore_index=IGNORE)
        else:
            loss = torch.nn.functional.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        end = time.perf_counter()
        if i >= 2:
            data_t.append(mid - start)
            model_t.append(end - mid)
    return min(data_t), min(model_t)


def main():
    args = parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    total = 0.0
    for name in args.tasks:
        task, specs = arena.task(name), arena.specs(name)
        steps, batch = arena.budget(name)
        runs = len(arena.LRS) * len(arena.SEEDS)
        print(f"\n{name}: L = {task.length}, batch {batch}, {steps} steps x {runs} runs")
        for model in args.models:
            data, step = step_seconds(specs[model], task, batch, args.repeat)
            hours = (data + step) * steps * runs / 3600
            total += hours
            print(f"  {model:18s} d_model {specs[model]['d_model']:4d}  step {step:7.3f} s  "
                  f"data {data:6.3f} s  -> {hours:6.2f} h")
    print(f"\nprojected grid: {total:.1f} h on this machine (one process)")


if __name__ == "__main__":
    main()
