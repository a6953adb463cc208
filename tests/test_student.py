"""Student copies: solutions gone, everything else kept, and the copy runs."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from seqlearn.notebooks import SOLUTION_TAG, notebook_paths, read, source, student_copy, tags

ROOT = Path(__file__).resolve().parents[1]


def strip_outputs(cell):
    cell = copy.deepcopy(cell)
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_student_copy_drops_solutions_and_keeps_everything_else(path):
    nb = read(path)
    student = student_copy(nb, str(path))
    assert not any(SOLUTION_TAG in tags(c) or "{solution" in source(c) for c in student["cells"])
    kept = [strip_outputs(c) for c in nb["cells"] if SOLUTION_TAG not in tags(c)]
    assert student["cells"] == kept
    assert all(c.get("outputs", []) == [] for c in student["cells"])
    meta = {k: v for k, v in nb["metadata"].items() if k != "widgets"}
    assert student["metadata"] == meta
    assert (student["nbformat"], student["nbformat_minor"]) == (nb["nbformat"], nb["nbformat_minor"])
    nbformat.validate(nbformat.from_dict(student))
    assert read(path) == nb, "student_copy must not modify its input"


def test_book_notebooks_have_solutions_to_strip():
    assert any(SOLUTION_TAG in tags(c) for p in notebook_paths(ROOT) for c in read(p)["cells"])


def test_untagged_solution_is_refused():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("```{solution-start} ex-x\n```"),
    ])
    with pytest.raises(ValueError, match=r"demo.ipynb: cell 0 .* not tagged 'solution'"):
        student_copy(nb, "demo.ipynb")


def test_make_student_cli_writes_every_notebook(tmp_path, root):
    subprocess.run([sys.executable, "-m", "seqlearn.notebooks", "student", str(tmp_path)],
                   cwd=root, check=True, capture_output=True)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.ipynb"))
    assert written == [p.relative_to(root) for p in notebook_paths(root)]
    for p in tmp_path.rglob("*.ipynb"):
        assert not any(SOLUTION_TAG in tags(c) for c in read(p)["cells"])


def test_student_copy_of_chapter_0_runs_and_the_checkers_say_what_is_missing(root):
    nb = nbformat.reads(json.dumps(student_copy(read(root / "book" / "00_how_to_use.ipynb"))), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(root / "book")}}).execute()
    printed = "\n".join("".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
                        for o in c.outputs)
    assert "❌ intro.ema: case 1 of 5 fails." in printed and "not implemented yet" in printed
    assert "❌ intro.ema_kernel" in printed
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
