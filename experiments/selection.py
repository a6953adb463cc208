"""Chapter 7's comparisons under the protocol (``seqlearn.experiment``): does *selection*
(Delta, B, C computed from the input) beat time invariance, with the block held fixed?

Two tasks, each trained at length 64 and tested at 64 and longer (the same number of
tokens that matter, more noise between them):
- selective copying (4 tokens to copy, vocabulary 16; tested at 64, 128, 256, 512);
- induction heads (vocabulary 16; tested at 64, 256, 1024).

The rows, every one on the same two-layer backbone with about 18,000 parameters:
- the Mamba block, selective, and the *same* block with Delta, B and C independent of
  the input (``mixer="mamba_lti"``): the block-matched ablation of the Mamba paper's
  Table 1;
- S4D (LTI, chapter 6), a Transformer (GPT-2 init, sinusoidal positions, chapter 2), and
  attention alone (no MLP, wider at the same size, PyTorch's init);
- an LSTM (chrono initialisation for the training length): an RNN's gates are selective
  too, so it tests whether the win is selection or the state space model;
- no mixer at all (each position sees its own token): the memory-free baseline.

    .venv/bin/python experiments/selection.py                    # both grids, resumable
    .venv/bin/python experiments/selection.py --tasks induction_heads

Writes src/seqlearn/data/results/{selective_copying,induction_heads}_L64.jsonl and prints
the tables. About 20-25 minutes per task on one core. ``tests/test_experiment.py`` checks the
stored files against this configuration and the models' sizes (within 10 %).
"""

import argparse

import torch

from seqlearn import experiment

STEPS, BATCH, LRS, SEEDS = 800, 32, (3e-3, 1e-2, 3e-2), (0, 1, 2)
"""The budget: 800 steps of 32 fresh sequences, the same for every row."""
TASKS = {
    "selective_copying": experiment.selective_copying_task(
        64, n_tokens=4, vocab=16, test_lengths=(128, 256, 512)),
    "induction_heads": experiment.induction_heads_task(64, vocab=16,
                                                       test_lengths=(256, 1024)),
}
# widths from seqlearn.models.match_width: within 10 % of the Mamba block's 17,904
SPECS = {
    "Mamba (selective)": dict(mixer="mamba", d_model=32, n_layers=2, d_state=8),
    "Mamba block, LTI": dict(mixer="mamba_lti", d_model=32, n_layers=2, d_state=8),
    "S4D": dict(mixer="s4d", d_model=72, n_layers=2, d_state=16),
    "Transformer": dict(mixer="transformer", d_model=26, n_layers=2, n_heads=2),
    "attention (no MLP)": dict(mixer="attention", d_model=46, n_layers=2, n_heads=2),
    "LSTM (chrono)": dict(mixer="lstm", d_model=32, n_layers=2, init="chrono"),
    "no mixer": dict(mixer="rnn", d_model=32, n_layers=0),
}


def path(name):
    return experiment.RESULTS / f"{TASKS[name].name}.jsonl"


def configuration(name):
    """(config, hash) of the stored file of task ``name``."""
    return experiment.configuration(TASKS[name], SPECS, STEPS, LRS, SEEDS, BATCH)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--models", nargs="+", choices=list(SPECS), default=None,
                        help="train these rows only (e.g. one per process, two processes "
                             "sharing the grid's file)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.tasks:
        runs = experiment.compare(SPECS, TASKS[name], STEPS, LRS, SEEDS, BATCH,
                                  path=path(name), only=args.models)
        print(f"\n{name}\n" + experiment.format_table(experiment.summary(runs)))


if __name__ == "__main__":
    main()
