"""The book cites what a reader can find: no "seed 00x", "lecture notes", "reviewer" or
"was not run here" in the book, the decks or the README (the course grew from lecture
slides a reader does not have; a fact from them cites its paper or the lecture itself)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = re.compile(r"\bseed 00\d|\bseed(\\n\",?)?\s*$|\bseed's\b|lecture notes|\breviewer|"
                     r"was not run here", re.I)
"""A line that ends in "seed" is caught too: "Seed\n002" breaks across lines in the JSON."""


def _sources():
    yield from sorted((ROOT / "book").glob("*.ipynb"))
    yield from sorted((ROOT / "book").glob("*.md"))
    yield from sorted((ROOT / "lectures").glob("*.ipynb"))
    yield ROOT / "README.md"


def test_no_reference_a_reader_cannot_follow():
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
             for path in _sources()
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if PRIVATE.search(line)]
    assert not found, "\n".join(found)


def test_the_pattern_catches_the_phrases():
    for text in ("(seed 002)", "the seed's task", "The lecture notes write", "Our reviewer",
                 "was not run here", 'poles are near the axis.** Seed\\n",'):
        assert PRIVATE.search(text), text
    for text in ("SEED = 0", "three seeds", "the seed of Mamba's selection", "seed_everything",
                 "it depends on the seed and the learning rate"):
        assert not PRIVATE.search(text), text
