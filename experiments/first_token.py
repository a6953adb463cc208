"""Chapter 1's comparison under the protocol (``seqlearn.experiment``): who carries the
first token across T - 1 noise tokens, on one backbone, each cell with its own field's
initialisation, the same budget and the same learning-rate grid.

    .venv/bin/python experiments/first_token.py            # the whole grid, resumable
    .venv/bin/python experiments/first_token.py --lengths 30

Writes src/seqlearn/data/results/first_token_T{T}.jsonl (``experiment.RESULTS``: shipped
with the package, so that the chapter redraws them in Colab too; one file per length; a
finished run is skipped when the command is run again) and prints the table. The chapter draws these
files and re-runs one small configuration live. ``tests/test_experiment.py`` checks that
each stored file was made with the configuration below.
"""

import argparse

import torch

from seqlearn import experiment

LENGTHS = (5, 15, 30, 60, 120, 250)
N_CLASSES, N_NOISE = 4, 8
STEPS, BATCH, LRS, SEEDS = 150, 32, (1e-3, 3e-3, 1e-2, 3e-2), (0, 1, 2)
WIDTH = 32
"""The chapter's budget: 150 steps of 32 fresh sequences, width 32, one layer."""

SPECS = {
    # each cell with its field's initialisation (seqlearn.rnn.RecurrentMixer)
    "Elman RNN (identity)": dict(mixer="rnn", d_model=WIDTH, n_layers=1, init="identity"),
    "LSTM (chrono)": dict(mixer="lstm", d_model=WIDTH, n_layers=1, init="chrono"),
    "GRU (chrono)": dict(mixer="gru", d_model=WIDTH, n_layers=1, init="chrono"),
    # the same cells with PyTorch's default initialisation
    "Elman RNN (PyTorch init)": dict(mixer="rnn", d_model=WIDTH, n_layers=1, init="pytorch"),
    "Elman RNN (orthogonal)": dict(mixer="rnn", d_model=WIDTH, n_layers=1, init="orthogonal"),
    "LSTM (PyTorch init)": dict(mixer="lstm", d_model=WIDTH, n_layers=1, init="pytorch"),
    "GRU (PyTorch init)": dict(mixer="gru", d_model=WIDTH, n_layers=1, init="pytorch"),
    # memory-free: the last token alone, and the bag of all tokens
    "last token only": dict(mixer="rnn", d_model=WIDTH, n_layers=0, readout="last"),
    "bag of tokens": dict(mixer="rnn", d_model=WIDTH, n_layers=0, readout="mean"),
}


def task(length):
    """The first-token task of ``tasks.first_token_classification`` at length T."""
    return experiment.first_token_task(length, N_CLASSES, N_NOISE)


def path(length):
    return experiment.RESULTS / f"first_token_T{length}.jsonl"


def configuration(length):
    """(config, hash) of the stored file for this length."""
    return experiment.configuration(task(length), SPECS, STEPS, LRS, SEEDS, BATCH)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for length in args.lengths:
        runs = experiment.compare(SPECS, task(length), STEPS, LRS, SEEDS, BATCH,
                                  path=path(length))
        print(f"\nT = {length}\n" + experiment.format_table(experiment.summary(runs)))


if __name__ == "__main__":
    main()
