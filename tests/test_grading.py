"""seqlearn.grading: a chapter's exercises as an nbgrader assignment, and grading a folder.

The main test plants seven submissions of chapter 0 (correct, partly wrong, empty, an
endless loop, ``os._exit``, a notebook that redefines ``check`` and patches NumPy, one
that prints 10 MB) and checks every score of ``grades.csv``. It runs nbgrader itself
(one kernel per submission): about a minute.
"""

import copy
import csv
import json
from pathlib import Path

import pytest

from seqlearn import grading
from seqlearn.notebooks import read

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(int(p.name[:2]) for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_book_solutions_pass_the_grader(chapter):
    """Every code exercise, graded from its answer cell alone (as a submission is), passes
    with the book's solution; a written one has a solution to grade against."""
    nb = read(grading.chapter_notebook(ROOT, chapter))
    items = grading.exercises(nb)
    assert items
    _, setup = grading.setup_cells(nb)
    answers = {item.label: item.solution for item in items if item.kind == "code"}
    for item in items:
        if item.kind == "written":
            assert item.solution_cells, item.label
            continue
        points, message = grading.score_code(item, answers, setup)
        assert points == item.points, message


def test_an_answer_that_leans_on_the_course_scores_zero():
    nb = read(grading.chapter_notebook(ROOT, 7))
    items = {item.label: item for item in grading.exercises(nb)}
    _, setup = grading.setup_cells(nb)
    answer = "from seqlearn import mamba\nmy_combine = lambda l, r: mamba.combine(l, r)"
    points, message = grading.score_code(items["ex-mamba-combine"],
                                         {"ex-mamba-combine": answer}, setup)
    assert points == 0 and "seqlearn.mamba.combine" in message


def test_a_written_answer_is_graded_against_the_books_solution_in_plain_markdown():
    from seqlearn.plain_markdown import read_book

    path = grading.chapter_notebook(ROOT, 1)
    nb, items = grading.source_notebook(read(path), read_book(ROOT), path.relative_to(ROOT), 1)
    written = [c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] == "ex-explode"]
    assert len(written) == 1 and written[0]["metadata"]["nbgrader"]["points"] == 2
    text = written[0]["source"]
    assert text.startswith("**Solution to Exercise") and "1.7 \\times 10^4" in text
    assert "{solution" not in text


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="chapter: no notebook book/42"):
        grading.chapter_notebook(ROOT, 42)
    with pytest.raises(ValueError, match="chapter: expected a chapter number"):
        grading.chapter_notebook(ROOT, "7")
    with pytest.raises(ValueError, match="submissions: expected a folder"):
        grading.collect(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="submissions: no notebooks"):
        grading.collect(tmp_path)


def _by_id(nb):
    return {cell["metadata"]["nbgrader"]["grade_id"]: cell for cell in nb["cells"]
            if "nbgrader" in cell["metadata"]}


def _book_answer(source_cell):
    lines = "".join(source_cell["source"]).splitlines()
    return "\n".join(line for line in lines if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("grading")
    grading.write_assignment(0, out, ROOT)
    course = out / "nbgrader"
    source = json.loads((course / "source/ch00/ch00.ipynb").read_text())
    release = json.loads((course / "release/ch00/ch00.ipynb").read_text())
    good = {gid: _book_answer(cell) for gid, cell in _by_id(source).items()
            if gid in ("ex-ema", "ex-ema-kernel", "ex-gated-ema")}
    wrong_kernel = good["ex-ema-kernel"].replace("(1 - alpha) * ", "")
    assert wrong_kernel != good["ex-ema-kernel"]
    plants = {
        "correct": {**good, "ex-half-life": "$h = \\ln 2 / \\ln(1/\\alpha)$ steps."},
        "partly": {**good, "ex-ema-kernel": wrong_kernel},
        "empty": {},
        "loop": {**good, "ex-ema": "while True:\n    pass\n" + good["ex-ema"],
                 "ex-gated-ema": "def my_gated_ema(x, a):\n    while True:\n        pass"},
        "exits": {**good, "ex-ema-kernel": "import os\nos._exit(0)"},
        "tamper": {**good, "ex-gated-ema": (
            "import numpy as np\nnp.allclose = lambda *a, **k: True\n"
            "check = lambda *a, **k: True\n"
            "def my_gated_ema(x, a):\n    return np.zeros_like(x)")},
        "chatty": {**good, "ex-ema": "print('x' * 10_000_000)\n" + good["ex-ema"]},
    }
    submissions = out / "submissions"
    submissions.mkdir()
    for student, answers in plants.items():
        nb = copy.deepcopy(release)
        cells = _by_id(nb)
        for gid, text in answers.items():
            cells[gid]["source"] = text
        (submissions / f"{student}.ipynb").write_text(json.dumps(nb))
    (submissions / "broken.ipynb").write_text("{not json")
    grading.grade(0, submissions, out, ROOT, cell_timeout=10)
    with open(out / "grades.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return out, rows


EXPECTED = {   # ex-ema, ex-ema-kernel, ex-gated-ema (2 points each, from the hidden cases)
    "correct": ("2", "2", "2"),
    "partly": ("2", "0", "2"),
    "empty": ("0", "0", "0"),
    "loop": ("0", "2", "0"),
    "exits": ("2", "0", "2"),
    "tamper": ("2", "2", "0"),
    "chatty": ("2", "2", "2"),
    "broken": ("0", "0", "0"),
}


def test_planted_submissions_get_the_expected_scores(graded):
    out, rows = graded
    assert set(rows) == set(EXPECTED)
    for student, scores in EXPECTED.items():
        row = rows[student]
        assert (row["ex-ema"], row["ex-ema-kernel"], row["ex-gated-ema"]) == scores, student
        assert row["total"] == str(sum(int(s) for s in scores)), student
        assert row["max"] == "8"
    # The written answer: to grade by hand where it was answered (or nbgrader could not
    # run the notebook); nbgrader scores an untouched answer cell 0.
    assert rows["correct"]["ex-half-life"] == "" and rows["correct"]["to_grade_by_hand"] == "1"
    assert rows["empty"]["ex-half-life"] == "0" and rows["empty"]["to_grade_by_hand"] == "0"


def test_feedback_says_why(graded):
    out, _ = graded
    feedback = {p.stem: p.read_text() for p in (out / "feedback").glob("*.md")}
    assert set(feedback) == set(EXPECTED)
    assert "no answer after" in feedback["loop"] and "endless loop" in feedback["loop"]
    assert "exited with status 0" in feedback["exits"]
    assert "passed when the whole notebook ran in one kernel" in feedback["tamper"]
    assert "not implemented yet" in feedback["empty"]   # the release's stub, untouched
    assert "not a readable notebook" in feedback["broken"]
    assert len(feedback["chatty"]) < 20_000   # the 10 MB it printed are cut


def test_the_gradebook_holds_the_same_scores(graded):
    """nbgrader's own gradebook (``nbgrader export``, the formgrader) agrees with grades.csv."""
    from nbgrader.api import Gradebook

    out, rows = graded
    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gb:
        grade = gb.find_grade("ex-gated-ema-check", "ch00", "ch00", "tamper")
        assert grade.score == 0   # the kernel's run said 2: the notebook redefined check
        grade = gb.find_grade("ex-ema-check", "ch00", "ch00", "correct")
        assert grade.score == 2


def test_collect_reads_files_and_one_folder_per_student(tmp_path, capsys):
    (tmp_path / "ada.ipynb").write_text("{}")
    (tmp_path / "bob" / "ch07").mkdir(parents=True)
    (tmp_path / "bob" / "ch07" / "ch07.ipynb").write_text("{}")
    (tmp_path / "cy").mkdir()
    (tmp_path / "cy" / "a.ipynb").write_text("{}")
    (tmp_path / "cy" / "b.ipynb").write_text("{}")   # two notebooks: which one? skipped
    (tmp_path / "d e.ipynb").write_text("{}")       # an id keeps no spaces
    (tmp_path / "notes.txt").write_text("")
    found = grading.collect(tmp_path)
    assert sorted(found) == ["ada", "bob", "d_e"]
    assert found["bob"] == tmp_path / "bob" / "ch07" / "ch07.ipynb"
    assert "skipped" in capsys.readouterr().out


def test_a_debug_exercise_releases_its_broken_code():
    """A stub with code in it (a Debug exercise) reaches the student as it is, with the
    solution after it between nbgrader's markers; a placeholder stub keeps its signature."""
    debug = grading.Item("ex-d", "code", [0], [1], "def f(x):\n    return x + 2",
                         stub="def f(x):\n    return x + 1  # off by one?")
    text = grading._answer_source(debug)
    assert text.startswith("def f(x):\n    return x + 1  # off by one?\n\n" + grading.FIX_ABOVE)
    assert text.endswith("### BEGIN SOLUTION\ndef f(x):\n    return x + 2\n### END SOLUTION")
    blank = grading.Item("ex-b", "code", [0], [1], "def f(x):\n    return x + 2",
                         stub="def f(x):\n    # Your code here\n    raise NotImplementedError")
    assert not grading._is_given_code(blank.stub)
    assert grading._answer_source(blank) == (
        "def f(x):\n    ### BEGIN SOLUTION\n    return x + 2\n    ### END SOLUTION")
