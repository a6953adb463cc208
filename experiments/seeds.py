"""Run a chapter's experiment again under other seeds, to choose and check its claims.

A training chapter sets its seed once, in a line ``SEED = 0`` at the start of
its experiment; every seeded call of the experiment (model initialisation and
the order of the training batches; the data sets stay the same) reads it.
This script executes the whole notebook once per seed with that line changed,
and prints what the experiment's cells printed, seed by seed, so that the
margin a compared cell asserts can be chosen from several seeds and the prose
can quote the range rather than one run's digits::

    .venv/bin/python experiments/seeds.py book/07_mamba.ipynb --seeds 0 1 2

Options: ``--threads N`` (torch threads, default: torch's own choice),
``--timeout`` (seconds per notebook, default 900). Nothing is written back
into the notebook.
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

SEED_LINE = re.compile(r"^SEED = 0\b.*$", re.M)


def with_seed(nb, seed):
    """A copy of ``nb`` whose ``SEED = 0`` line reads ``SEED = seed``; the index of that cell."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    hits = [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and SEED_LINE.search(c.source)]
    if len(hits) != 1:
        raise ValueError(f"expected exactly one code cell with a line 'SEED = 0', "
                         f"found {len(hits)}")
    cell = nb.cells[hits[0]]
    cell.source = SEED_LINE.sub(f"SEED = {seed}", cell.source)
    return nb, hits[0]


def experiment_outputs(nb, first):
    """The printed text of the code cells from ``first`` to the next '## ' heading."""
    texts = []
    for cell in nb.cells[first:]:
        if cell.cell_type == "markdown" and cell.source.startswith("## ") and texts:
            break
        if cell.cell_type == "code":
            texts += ["".join(o.get("text", "")) for o in cell.outputs
                      if o.get("output_type") == "stream" and o.get("name") == "stdout"]
    return "".join(texts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        parser.error(f"notebook: no such file {args.notebook}")
    source = nbformat.read(args.notebook, as_version=4)
    for seed in args.seeds:
        nb, first = with_seed(source, seed)
        if args.threads:
            nb.cells.insert(0, nbformat.v4.new_code_cell(
                f"import torch; torch.set_num_threads({args.threads})"))
            first += 1
        start = time.perf_counter()
        NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(args.notebook.parent)}}).execute()
        print(f"=== {args.notebook} SEED = {seed} ({time.perf_counter() - start:.0f} s)")
        print(experiment_outputs(nb, first), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
