"""The book cites what a reader can find: no "seed 00x", "lecture notes", "reviewer" or
"was not run here" in the book, the decks or the README (the course grew from lecture
slides a reader does not have; a fact from them cites its paper or the lecture itself)."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = re.compile(r"\bseed\s+00\d|\bseed's\b|lecture\s+notes|\breviewer|was\s+not\s+run\s+here",
                     re.I)
"""Searched in whole cells (and whole files), so a phrase broken across lines is caught."""


def _sources():
    yield from sorted((ROOT / "book").glob("*.ipynb"))
    yield from sorted((ROOT / "book" / "colab").glob("*.ipynb"))   # the reader copies
    yield from sorted((ROOT / "book").glob("*.md"))
    yield from sorted((ROOT / "lectures").glob("*.ipynb"))
    yield ROOT / "README.md"


def _texts(path):
    """(where, text): a notebook's cells one by one (source and text outputs), or the file."""
    if path.suffix != ".ipynb":
        yield str(path), path.read_text()
        return
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        outputs = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
        yield f"{path}, cell {i}", "".join(cell["source"]) + "\n" + outputs


def _found(paths):
    return [f"{where}: {PRIVATE.search(text).group()!r}"
            for path in paths for where, text in _texts(path) if PRIVATE.search(text)]


def test_no_reference_a_reader_cannot_follow():
    found = _found(_sources())
    assert not found, "\n".join(found)


def test_a_planted_source_is_found(tmp_path):
    """The scan itself can fail: a copy of chapter 0 with "seed 002" planted in one Markdown
    cell, and a README that says "lecture notes", are both reported, by cell."""
    nb = json.loads((ROOT / "book" / "00_how_to_use.ipynb").read_text())
    first_md = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")
    nb["cells"][first_md]["source"] = ["The kernel of seed 002 shows it.\n"]
    planted = tmp_path / "00_how_to_use.ipynb"
    planted.write_text(json.dumps(nb))
    readme = tmp_path / "README.md"
    readme.write_text("As the lecture\nnotes say.\n")
    assert _found([planted]) == [f"{planted}, cell {first_md}: 'seed 002'"]
    assert _found([readme]) == [f"{readme}: 'lecture\\nnotes'"]
    assert _found([ROOT / "book" / "00_how_to_use.ipynb"]) == []


def test_the_pattern_catches_the_phrases():
    for text in ("(seed 002)", "the seed's task", "The lecture notes write", "Our reviewer",
                 "was not run here", "poles are near the axis.** Seed\n002 says"):
        assert PRIVATE.search(text), text
    for text in ("SEED = 0", "three seeds", "the seed of Mamba's selection", "seed_everything",
                 "it depends on the seed and the learning rate", "in one seed\nof three"):
        assert not PRIVATE.search(text), text
