"""Chapter 8's frequency-bias experiment, run long enough to see what the bias does: one
S4D channel (16 states, Delta initialised at 0.02, every SSM parameter trained) fitted to
``tasks.two_tone_kernel`` (components at 0.3 and 2.5 rad/step) with ``s4.fit_kernel``.

S4D-Lin (alpha = 1) starts with every mode below 0.44 rad/step, far from the high
component; alpha = 7 spreads them up to 3.1. Both at three learning rates (10x apart) and
three seeds, 8,000 Adam steps, the error and the highest mode frequency recorded every 50
steps: does training move a mode to 2.5, and how long does it take?

    .venv/bin/python experiments/frequency_bias.py          # about 5 minutes on one core

Writes src/seqlearn/data/results/frequency_bias.jsonl (resumable: runs already in the
file are kept). ``tests/test_experiment.py`` checks it against this configuration.
"""

import json

import numpy as np
import torch

from seqlearn import experiment, s4, tasks

ALPHAS, LRS, SEEDS, STEPS, EVERY = (1.0, 7.0), (3e-3, 1e-2, 3e-2), (0, 1, 2), 8000, 50
D_STATE, DT, L = 16, 0.02, 256
FITTED = 0.05
"""An error below this counts as fitted: both components' energy (about half each) in."""
PATH = experiment.RESULTS / "frequency_bias.jsonl"


def configuration():
    config = {"experiment": "frequency_bias", "target": "tasks.two_tone_kernel", "L": L,
              "d_state": D_STATE, "dt": DT, "alphas": list(ALPHAS), "lrs": list(LRS),
              "seeds": list(SEEDS), "steps": STEPS, "every": EVERY, "optimizer": "Adam",
              "dtype": "float64", "fitted": FITTED}
    return config, experiment.digest(config)


def run(alpha, lr, seed):
    """One fit: the record of ``s4.fit_kernel`` with its alpha, lr and seed."""
    torch.manual_seed(seed)
    layer = s4.S4DLayer(1, d_state=D_STATE, dt_min=DT, dt_max=DT, alpha=alpha).double()
    out = s4.fit_kernel(layer, torch.tensor(tasks.two_tone_kernel(L)), STEPS, lr, EVERY)
    return {"alpha": alpha, "lr": lr, "seed": seed,
            **{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}}


def main():
    torch.set_num_threads(1)
    config, digest = configuration()
    path = experiment.start_file(PATH, config, digest)
    done = {(r["alpha"], r["lr"], r["seed"]) for r in experiment.load(path)[1]}
    for alpha in ALPHAS:
        for lr in LRS:
            for seed in SEEDS:
                if (alpha, lr, seed) not in done:
                    with path.open("a") as f:
                        f.write(json.dumps(run(alpha, lr, seed)) + "\n")
    runs = experiment.load(path)[1]
    print(f"steps to an error below {FITTED} (None: not within {STEPS}), seeds {SEEDS}")
    for alpha in ALPHAS:
        for lr in LRS:
            mine = [r for r in runs if r["alpha"] == alpha and r["lr"] == lr]
            print(f"alpha {alpha:g}  lr {lr:g}:  {[s4.steps_to_fit(r, FITTED) for r in mine]}  final error "
                  f"{[round(r['error'][-1], 3) for r in mine]}")


if __name__ == "__main__":
    main()
