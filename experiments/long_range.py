"""Chapter 6's comparison under the protocol (``seqlearn.experiment``): the first-token
task of chapter 1 at lengths up to 1,024, S4D against the recurrent networks, every model
on the same two-layer backbone with about 7,000 parameters, each with its field's
initialisation, the same budget and the same learning-rate grid.

Two pairs are fair in two senses:
- told nothing about the task: S4D with its papers' step sizes (Delta in [1e-3, 1e-1]),
  the LSTM with a forget-gate bias of 1 (Jozefowicz et al. 2015);
- told the task's length L: S4D with Delta in [1e-3, 1e-2] (timescales 1/Delta up to
  1,000 steps), the LSTM and GRU with chrono initialisation (b_f = log U(1, L - 1),
  Tallec & Ollivier 2018).
The LSTM with PyTorch's default initialisation (the baseline of earlier versions of the
chapter) runs at L <= 256; the memory-free bag of tokens and last token at every length.

    .venv/bin/python experiments/long_range.py                 # the whole grid, resumable
    .venv/bin/python experiments/long_range.py --lengths 64    # one length

Writes src/seqlearn/data/results/long_range_L{L}.jsonl (``experiment.RESULTS``, one file
per length; a finished run is skipped when the command is run again) and prints the table.
About an hour on one core (234 runs; S4D at L = 1024: 0.13-0.18 s a step, the GRU 0.3-0.4 s).
``tests/test_experiment.py`` checks that each stored file was made with the configuration
below and that the models' sizes agree within 10 %.
"""

import argparse

import torch

from seqlearn import experiment

LENGTHS = (64, 256, 1024)
N_CLASSES, N_NOISE = 4, 8
STEPS, BATCH, LRS, SEEDS = 400, 32, (3e-3, 1e-2, 3e-2), (0, 1, 2)
LAYERS = 2
"""The budget: 400 steps of 32 fresh sequences; two layers; the learning-rate grid."""

# widths from seqlearn.models.match_width: every model within 10 % of S4D's 6,948
# parameters (tests/test_experiment.py checks it)
S4D = dict(mixer="s4d", d_model=32, n_layers=LAYERS, d_state=32)
SPECS = {
    "S4D (papers' Delta)": S4D,
    "S4D (Delta to 1e-2)": dict(S4D, dt_max=1e-2),
    "LSTM (forget bias 1)": dict(mixer="lstm", d_model=20, n_layers=LAYERS,
                                 init="forget_bias_1"),
    "LSTM (chrono)": dict(mixer="lstm", d_model=20, n_layers=LAYERS, init="chrono"),
    "GRU (chrono)": dict(mixer="gru", d_model=22, n_layers=LAYERS, init="chrono"),
    "Elman RNN (identity)": dict(mixer="rnn", d_model=38, n_layers=LAYERS, init="identity"),
    "LSTM (PyTorch init)": dict(mixer="lstm", d_model=20, n_layers=LAYERS, init="pytorch"),
    "last token only": dict(mixer="rnn", d_model=32, n_layers=0, readout="last"),
    "bag of tokens": dict(mixer="rnn", d_model=32, n_layers=0, readout="mean"),
}
SHORT_ONLY = ("LSTM (PyTorch init)",)
"""Rows run at L <= 256 only (it is at chance from L = 64)."""


def specs(length):
    """The rows of the comparison at length L."""
    return {k: v for k, v in SPECS.items() if length <= 256 or k not in SHORT_ONLY}


def task(length):
    """The first-token task of ``tasks.first_token_classification`` at length L."""
    return experiment.first_token_task(length, N_CLASSES, N_NOISE)


def path(length):
    return experiment.RESULTS / f"long_range_L{length}.jsonl"


def configuration(length):
    """(config, hash) of the stored file for this length."""
    return experiment.configuration(task(length), specs(length), STEPS, LRS, SEEDS, BATCH)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--models", nargs="+", choices=list(SPECS), default=None,
                        help="train these rows only (e.g. one per process, two processes "
                             "sharing the grid's file)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for length in args.lengths:
        only = None if args.models is None else [m for m in args.models if m in specs(length)]
        runs = experiment.compare(specs(length), task(length), STEPS, LRS, SEEDS, BATCH,
                                  path=path(length), only=only)
        print(f"\nL = {length}\n" + experiment.format_table(experiment.summary(runs)))


if __name__ == "__main__":
    main()
