"""Every chapter's exercises: how many, of which kinds, how many checked.

Issue 32 asks for at least ten exercises in every chapter from 1 on, of several
kinds, climbing from recall to transfer, each with a solution. The kind is the
first word(s) of the exercise's title, one of ``KINDS`` (chapter 0 explains them
to students), so a reader sees what is asked before reading the statement, and
this test can count them. Parsing uses the grader's own reader of the exercises
(``seqlearn.grading.exercises``), which raises on an exercise without a solution.
"""

import re
from pathlib import Path

import pytest

from seqlearn import grading
from seqlearn.notebooks import read, source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))

KINDS = ("Implement", "Derive", "Predict and measure", "Debug", "Concept")
"""The five kinds of exercise, as each title begins: ``Kind: title``."""

AT_LEAST = 10        # exercises per chapter from 1 on
CHECKED_AT_LEAST = 3  # of them checked by a ``check(...)`` cell


def kinds_of(path):
    """``[(label, kind or None, checked)]`` of a chapter notebook, in order."""
    nb = read(path)
    out = []
    for item in grading.exercises(nb, path.name):
        first = source(nb["cells"][item.statement[0]]).lstrip().splitlines()[0]
        title = re.sub(r"^`{3,}\{exercise\}\s*", "", first)
        kind = next((k for k in KINDS if title.startswith(k + ": ")), None)
        out.append((item.label, kind, item.kind == "code"))
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_exercise_title_names_its_kind(path):
    unnamed = [label for label, kind, _ in kinds_of(path) if kind is None]
    assert not unnamed, (f"{path.name}: these exercises' titles do not begin with one of "
                         f"{', '.join(k + ':' for k in KINDS)}: {unnamed}")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if int(p.name[:2]) >= 1],
                         ids=lambda p: p.name[:2])
def test_each_chapter_has_ten_exercises_of_every_kind(path):
    found = kinds_of(path)
    assert len(found) >= AT_LEAST, f"{path.name}: {len(found)} exercises, expected ≥ {AT_LEAST}"
    missing = set(KINDS) - {kind for _, kind, _ in found}
    assert not missing, f"{path.name}: no exercise of kind {sorted(missing)}"
    checked = sum(checked for *_, checked in found)
    assert checked >= CHECKED_AT_LEAST, (
        f"{path.name}: {checked} checked exercises, expected ≥ {CHECKED_AT_LEAST}")


def test_the_count_fails_on_a_chapter_with_too_few(tmp_path):
    """The test can fail: a chapter with one exercise without a kind is caught."""
    import json
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {"tags": ["exercise"]}, "source":
         "```{exercise} A title\n:label: ex-a\n\nDo it.\n```"},
        {"cell_type": "markdown", "metadata": {"tags": ["solution"]}, "source":
         "```{solution-start} ex-a\n:class: dropdown\n```\nDone."},
        {"cell_type": "markdown", "metadata": {"tags": ["solution"]}, "source":
         "```{solution-end}\n```"}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(nb))
    assert kinds_of(path) == [("ex-a", None, False)]
    with pytest.raises(AssertionError, match="1 exercises"):
        test_each_chapter_has_ten_exercises_of_every_kind(path)
