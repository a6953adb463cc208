"""Chapter 0's table of the package's modules names every module there is, and no other."""

import pkgutil
import re
from pathlib import Path

import seqlearn
from seqlearn.notebooks import read, source

ROOT = Path(__file__).resolve().parents[1]


def test_chapter_0_lists_every_module_of_seqlearn_and_no_other():
    nb = read(ROOT / "book" / "00_how_to_use.ipynb")
    table = next(source(c) for c in nb["cells"]
                 if c["cell_type"] == "markdown" and "| module | chapter |" in source(c))
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    modules = {m.name for m in pkgutil.iter_modules(seqlearn.__path__)
               if not m.name.startswith("_") and m.name != "data"}   # data: text files
    assert listed - modules == set(), f"the table names modules that do not exist: {listed - modules}"
    assert modules - listed == set(), f"modules missing from the table: {modules - listed}"
