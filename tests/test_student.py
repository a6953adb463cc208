"""Student copies: solutions gone, plain Markdown, an answer cell per paper exercise, and the copy runs."""

import copy
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from test_plain_markdown import MYST_LEFT

from seqlearn.notebooks import (ANSWER_SOURCE, EXERCISE_TAG, SOLUTION_TAG, notebook_paths, read, source,
                                student_copy, tags)
from seqlearn.plain_markdown import plain_markdown, read_book

ROOT = Path(__file__).resolve().parents[1]
BOOK = read_book(ROOT)


def nb_id(path):
    return f"{path.parent.name}/{path.name}"


def strip_outputs(cell):
    cell = copy.deepcopy(cell)
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def paper_exercises(nb):
    """Labels of the exercises whose Markdown cell is followed directly by the solution (no stub)."""
    cells = nb["cells"]
    return [re.search(r":label:\s*(\S+)", source(c))[1] for c, after in zip(cells, cells[1:])
            if "{exercise}" in source(c) and SOLUTION_TAG in tags(after)]


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=nb_id)
def test_student_copy_drops_solutions_and_keeps_everything_else(path):
    nb = read(path)
    page = path.relative_to(ROOT).with_suffix("").as_posix()
    student = student_copy(nb, BOOK, path)
    cells = [c for c in student["cells"] if source(c) != ANSWER_SOURCE]
    assert not any(SOLUTION_TAG in tags(c) or "{solution" in source(c) for c in student["cells"])
    kept = [strip_outputs(c) for c in nb["cells"] if SOLUTION_TAG not in tags(c)]
    assert [c for c in cells if c["cell_type"] == "code"] == [c for c in kept if c["cell_type"] == "code"]
    markdown = [(c, plain_markdown(source(c), BOOK, page, f"cell {i}")) for i, c in enumerate(kept)
                if c["cell_type"] == "markdown"]
    assert [source(c) for c in cells if c["cell_type"] == "markdown"] == [text for _, text in markdown]
    assert [c["metadata"] for c in cells if c["cell_type"] == "markdown"] == [c["metadata"] for c, _ in markdown]
    assert all(c.get("outputs", []) == [] for c in student["cells"])
    meta = {k: v for k, v in nb["metadata"].items() if k != "widgets"}
    assert student["metadata"] == meta
    assert (student["nbformat"], student["nbformat_minor"]) == (nb["nbformat"], nb["nbformat_minor"])
    nbformat.validate(nbformat.from_dict(student))
    assert read(path) == nb, "student_copy must not modify its input"


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=nb_id)
def test_no_myst_is_left_in_a_student_copy(path):
    for i, cell in enumerate(student_copy(read(path), BOOK, path)["cells"]):
        if cell["cell_type"] == "markdown":
            assert not MYST_LEFT.search(source(cell)), f"{path}: cell {i} still holds MyST"


@pytest.mark.parametrize("path", [p for p in notebook_paths(ROOT) if paper_exercises(read(p))], ids=nb_id)
def test_a_paper_exercise_gets_an_answer_cell_where_its_solution_was(path):
    nb = read(path)
    cells = student_copy(nb, BOOK, path)["cells"]
    answers = [i for i, c in enumerate(cells) if source(c) == ANSWER_SOURCE]
    assert [c["id"] for c in cells if source(c) == ANSWER_SOURCE] == [
        f"answer-{label}" for label in paper_exercises(nb)]
    for i in answers:
        number = BOOK.exercises[cells[i]["id"].removeprefix("answer-")][0]
        assert source(cells[i - 1]).startswith(f"**Exercise {number}**")


def test_exercises_with_a_code_stub_get_no_answer_cell():
    path = ROOT / "book" / "00_how_to_use.ipynb"
    cells = student_copy(read(path), BOOK, path)["cells"]
    headed = [i for i, c in enumerate(cells) if source(c).startswith("**Exercise")]
    # ema, ema_kernel (stubs), half-life (on paper), gated_ema (stub)
    assert [source(cells[i + 1]) == ANSWER_SOURCE for i in headed] == [False, False, True, False]
    assert [EXERCISE_TAG in tags(cells[i + 1]) for i in headed] == [True, True, False, True]
    assert paper_exercises(read(path)) == ["ex-half-life"]


def test_book_notebooks_have_solutions_to_strip():
    assert any(SOLUTION_TAG in tags(c) for p in notebook_paths(ROOT) for c in read(p)["cells"])


def test_untagged_solution_is_refused():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("```{solution-start} ex-x\n```"),
    ])
    with pytest.raises(ValueError, match=r"demo.ipynb: cell 0 .* not tagged 'solution'"):
        student_copy(nb, BOOK, "demo.ipynb")


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "seqlearn.notebooks", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True)


def written(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*.ipynb"))


def test_make_student_cli_writes_every_notebook(tmp_path, root):
    run = run_cli("student", tmp_path, cwd=root)
    assert run.returncode == 0, run.stderr
    assert written(tmp_path) == [p.relative_to(root) for p in notebook_paths(root)]
    for p in tmp_path.rglob("*.ipynb"):
        assert not any(SOLUTION_TAG in tags(c) for c in read(p)["cells"])


def test_student_cli_outside_the_repository_fails_loudly(tmp_path):
    run = run_cli("student", "out", cwd=tmp_path)
    assert run.returncode != 0
    assert "run it from the repository or pass --root" in run.stderr and str(tmp_path) in run.stderr
    assert not (tmp_path / "out").exists()


def test_student_cli_with_root_works_from_anywhere(tmp_path, root):
    run = run_cli("student", "out", "--root", root, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert written(tmp_path / "out") == [p.relative_to(root) for p in notebook_paths(root)]


def test_student_cli_with_a_root_without_notebooks_fails(tmp_path):
    (tmp_path / "empty").mkdir()
    run = run_cli("student", "out", "--root", tmp_path / "empty", cwd=tmp_path)
    assert run.returncode == 1
    assert f"no notebooks (or no _toc.yml) in {tmp_path / 'empty'}" in run.stderr
    assert "pass --root" in run.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_student_from_another_folder_writes_the_repositorys_build(tmp_path, root):
    started = time.time() - 1
    run = subprocess.run(["make", "-f", str(root / "Makefile"), "student"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    out = root / "_build" / "student"
    assert written(out) == [p.relative_to(root) for p in notebook_paths(root)]
    assert all(p.stat().st_mtime >= started for p in out.rglob("*.ipynb"))
    assert list(tmp_path.iterdir()) == []


def test_student_copy_of_chapter_0_runs_and_the_checkers_say_what_is_missing(root):
    path = root / "book" / "00_how_to_use.ipynb"
    nb = nbformat.reads(json.dumps(student_copy(read(path), BOOK, path)), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(root / "book")}}).execute()
    printed = "\n".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
                        for o in c.outputs)
    assert "❌ intro.ema: case 1 of 6 fails." in printed and "not implemented yet" in printed
    assert "❌ intro.ema_kernel" in printed and "❌ intro.gated_ema" in printed
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
