"""Chapter 9's comparison under the protocol (``seqlearn.experiment``): multi-query
associative recall (MQAR; 4 key-value pairs, 16 keys, 16 values), trained at length 64 and
tested at 64, 128, 256 and 512, every model on the same two-layer backbone with about
18,000 parameters, the same budget and the same learning-rate grid.

The rows: Mamba-2, Mamba, H3 and S4D (chapters 6, 7 and 9), softmax attention (a
Transformer, GPT-2 init, sinusoidal positions: the model MQAR was designed to favour; and
attention alone, without the MLP, wider at the same size, PyTorch's init: chapter 7's mixer),
linear attention (chapter 2; the form SSD generalises), an LSTM (chrono initialisation)
and no mixer at all (each position sees its own token: chance, 1/16).

    .venv/bin/python experiments/recall.py             # the whole grid, resumable

Writes src/seqlearn/data/results/mqar_L64.jsonl and prints the table. About 40 minutes on
one core. ``tests/test_experiment.py`` checks the stored file against this configuration
and the models' sizes (within 10 %).
"""

import argparse

import torch

from seqlearn import experiment

STEPS, BATCH, LRS, SEEDS = 1000, 32, (1e-3, 3e-3, 1e-2), (0, 1, 2)
"""The budget: 1,000 steps of 32 fresh sequences, the same for every row."""
TASK = experiment.mqar_task(64, n_pairs=4, n_keys=16, n_values=16,
                            test_lengths=(128, 256, 512))
# widths from seqlearn.models.match_width: within 10 % of Mamba-2's 17,945
SPECS = {
    "Mamba-2": dict(mixer="mamba2", d_model=32, n_layers=2, d_state=16, head_dim=16,
                    chunk_size=32),
    "Mamba": dict(mixer="mamba", d_model=28, n_layers=2, d_state=16),
    "H3": dict(mixer="h3", d_model=36, n_layers=2, d_state=16),
    "S4D": dict(mixer="s4d", d_model=66, n_layers=2, d_state=16),
    "Transformer": dict(mixer="transformer", d_model=26, n_layers=2, n_heads=2),
    "attention (no MLP)": dict(mixer="attention", d_model=44, n_layers=2, n_heads=2),
    "linear attention": dict(mixer="linear_attention", d_model=26, n_layers=2, n_heads=2),
    "LSTM (chrono)": dict(mixer="lstm", d_model=30, n_layers=2, init="chrono"),
    "no mixer": dict(mixer="rnn", d_model=32, n_layers=0),
}


def path():
    return experiment.RESULTS / f"{TASK.name}.jsonl"


def configuration():
    """(config, hash) of the stored file."""
    return experiment.configuration(TASK, SPECS, STEPS, LRS, SEEDS, BATCH)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(SPECS), default=None,
                        help="train these rows only (e.g. one per process, two processes "
                             "sharing the grid's file)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = experiment.compare(SPECS, TASK, STEPS, LRS, SEEDS, BATCH, path=path(),
                              only=args.models)
    print(experiment.format_table(experiment.summary(runs)))


if __name__ == "__main__":
    main()
