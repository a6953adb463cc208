"""Chapter 8's memory-across-padding comparison under the protocol (``seqlearn.experiment``):
which layers carry a pattern across noise, and does HOPE's window have an edge?

The task (``experiment.padded_patterns_task``): one of 8 fixed +-1 patterns of 16 steps
(noise 0.3), then ``pad`` steps of Gaussian noise; the class is asked for at the last step
(chance 1 / 8). Pads 16, 64 and 256. The rows, one layer of width 16 on the same backbone
(the S4 paper's classifier: postnorm LayerNorm, readout at the last step), about 2,500
parameters each:
- S4D (S4D-Lin, d_state 64, Delta in [1e-3, 1e-1]: the paper's range);
- HOPE with n = 128 Markov parameters, the same size, at the same Delta range;
- HOPE with n = 128 and Delta in [0.5, 1]: a window of about n / Delta = 128-256 steps;
- an LSTM of the same size (chrono initialisation for the sequence's length);
- the memory-free baseline: no layer, the mean of the embedded inputs (the pattern moves
  the mean, so this measures what the inputs give away without memory).

Every run is scored on the validation set every 100 steps ("eval"), so the chapter draws
accuracy against steps: is a model that has not learnt yet still training, or stuck?

    .venv/bin/python experiments/padding.py             # all three pads, resumable
    .venv/bin/python experiments/padding.py --pads 256 --models S4D "LSTM (chrono)"

Writes src/seqlearn/data/results/padded_patterns_pad{16,64,256}.jsonl and prints the
tables. ``tests/test_experiment.py`` checks the stored files against this configuration
and the models' sizes (within 10 %).
"""

import argparse

import torch

from seqlearn import experiment

STEPS, BATCH, LRS, SEEDS, EVAL_EVERY = 2000, 32, (3e-3, 1e-2, 3e-2), (0, 1, 2), 100
"""The budget: 2,000 steps of 32 fresh sequences, the same for every row."""
PADS = (16, 64, 256)
_LTI = dict(n_layers=1, d_model=16, prenorm=False, norm="layer")
SPECS = {
    "S4D": dict(mixer="s4d", d_state=64, **_LTI),
    "HOPE": dict(mixer="hope", d_state=128, **_LTI),
    "HOPE, window": dict(mixer="hope", d_state=128, dt_min=0.5, dt_max=1.0, **_LTI),
    "LSTM (chrono)": dict(mixer="lstm", d_model=16, n_layers=1, init="chrono"),
    "no mixer (mean)": dict(mixer="rnn", d_model=16, n_layers=0, readout="mean"),
}


def task(pad):
    return experiment.padded_patterns_task(pad)


def path(pad):
    return experiment.RESULTS / f"{task(pad).name}.jsonl"


def configuration(pad):
    """(config, hash) of the stored file of padding ``pad``."""
    return experiment.configuration(task(pad), SPECS, STEPS, LRS, SEEDS, BATCH, EVAL_EVERY)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pads", nargs="+", type=int, choices=PADS, default=list(PADS))
    parser.add_argument("--models", nargs="+", choices=list(SPECS), default=None,
                        help="train these rows only (e.g. one per process, two processes "
                             "sharing the grid's file)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for pad in args.pads:
        runs = experiment.compare(SPECS, task(pad), STEPS, LRS, SEEDS, BATCH, path=path(pad),
                                  only=args.models, eval_every=EVAL_EVERY)
        print(f"\npad {pad}\n" + experiment.format_table(experiment.summary(runs)))


if __name__ == "__main__":
    main()
