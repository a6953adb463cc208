"""Chapter 2's comparison under the protocol (``seqlearn.experiment``): what does attention
need to copy a sequence, and what does it do without positions?

The task (``experiment.copying_task``): 8 content tokens of 28, then 8 markers; the j-th
marker asks for the j-th token, so the answer at t is the token at t - 8. The rows, every
one on the same backbone with about 14,600 parameters:
- a Transformer block (GPT-2: prenorm LayerNorm, attention and an MLP, GPT-2's init) with
  sinusoidal positions, and the same block without them;
- two such blocks without positions (narrower, the same size): a causal stack can infer
  position from the mask (Haviv et al. 2022), one block cannot use it to order the tokens;
- an LSTM (chrono initialisation for the length 16): the recurrent answer;
- no mixer (each position sees its own token, a marker): the memory-free baseline, chance
  1 / 28. The order-free ceiling, ``tasks.order_free_copy_accuracy(8, 28)``, is exact.

    .venv/bin/python experiments/copying.py            # about 5 minutes on one core

Writes src/seqlearn/data/results/copying_m8.jsonl and prints the table.
``tests/test_experiment.py`` checks the stored file against this configuration and the
models' sizes (within 10 %).
"""

import argparse

import torch

from seqlearn import experiment

STEPS, BATCH, LRS, SEEDS = 1000, 64, (1e-3, 3e-3, 1e-2, 3e-2), (0, 1, 2)
"""The budget: 1,000 steps of 64 fresh sequences, the same for every row."""
TASK = experiment.copying_task(m=8, vocab=30)
# widths from seqlearn.models.match_width: within 10 % of the one-block Transformer's 14,590
SPECS = {
    "Transformer": dict(mixer="transformer", d_model=32, n_layers=1, n_heads=2, norm="layer"),
    "Transformer, no positions": dict(mixer="transformer", d_model=32, n_layers=1, n_heads=2,
                                      norm="layer", positions=False),
    "2 blocks, no positions": dict(mixer="transformer", d_model=22, n_layers=2, n_heads=2,
                                   norm="layer", positions=False),
    "LSTM (chrono)": dict(mixer="lstm", d_model=38, n_layers=1, init="chrono"),
    "no mixer": dict(mixer="rnn", d_model=32, n_layers=0),
}
PATH = experiment.RESULTS / f"{TASK.name}.jsonl"


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
    runs = experiment.compare(SPECS, TASK, STEPS, LRS, SEEDS, BATCH, path=PATH,
                              only=args.models)
    print(experiment.format_table(experiment.summary(runs)))


if __name__ == "__main__":
    main()
