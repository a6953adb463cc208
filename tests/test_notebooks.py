"""Rules every notebook of the book and the lectures follows (read from the
stored .ipynb files; nbval separately re-runs them against these outputs)."""

import builtins
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from seqlearn.notebooks import (COLAB_TAG, SOLUTION_TAG, colab_cell_source, first_code_cell,
                                notebook_paths, read, repository, source, tags)

ROOT = Path(__file__).resolve().parents[1]
ROOT_PATHS = notebook_paths(ROOT)  # not the CWD: pytest may run from anywhere


def nb_id(path):
    return f"{path.parent.name}/{path.name}"


@pytest.fixture(params=ROOT_PATHS, ids=nb_id)
def notebook(request):
    return request.param, read(request.param)


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and source(c).strip()]


def test_there_are_notebooks_in_book_and_lectures(root):
    dirs = {p.parent.name for p in notebook_paths(root)}
    assert dirs == {"book", "lectures"}


def test_every_notebook_is_in_the_table_of_contents(root):
    toc = (root / "_toc.yml").read_text()
    listed = set(re.findall(r"file:\s*(\S+)", toc))
    on_disk = {str(p.relative_to(root).with_suffix("")) for p in notebook_paths(root)}
    assert on_disk <= listed, f"notebooks missing from _toc.yml: {on_disk - listed}"


def test_first_code_cell_is_the_colab_cell_from_config(root, notebook):
    path, nb = notebook
    cell = first_code_cell(nb)
    assert source(cell) == colab_cell_source(*repository(root / "_config.yml")), (
        f"{path}: first code cell differs from the Colab cell; run `make colab-cell`")
    assert COLAB_TAG in tags(cell) and "remove-cell" in tags(cell)
    assert cell["outputs"] == [], "the Colab cell prints nothing locally"


def test_colab_cell_uses_the_single_repository_url(root):
    config = yaml.safe_load((root / "_config.yml").read_text())
    url, branch = repository(root / "_config.yml")
    assert url == config["repository"]["url"].rstrip("/") and branch == config["repository"]["branch"]
    assert f"git+{url}@{branch}" in colab_cell_source(url, branch)


def test_colab_cell_does_nothing_when_seqlearn_is_importable(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: calls.append(a))
    exec(colab_cell_source("https://github.com/o/r", "main"), {})
    assert calls == []


def test_colab_cell_installs_from_the_repository_when_seqlearn_is_missing(monkeypatch):
    calls = []
    real_import = builtins.__import__
    state = {"installed": False}

    def fake_import(name, *args, **kwargs):
        if name == "seqlearn" and not state["installed"]:
            raise ImportError("No module named 'seqlearn'")
        return real_import(name, *args, **kwargs)

    def fake_check_call(cmd, *args, **kwargs):
        calls.append(cmd)
        state["installed"] = True

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(subprocess, "check_call", fake_check_call)
    exec(colab_cell_source("https://github.com/o/r", "dev"), {})
    assert len(calls) == 1
    assert calls[0][1:4] == ["-m", "pip", "install"] and "seqlearn @ git+https://github.com/o/r@dev" in calls[0]


def test_stored_outputs_are_complete_and_clean(notebook):
    path, nb = notebook
    cells = code_cells(nb)
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path}: some code cells were never executed (run `make execute`)"
    assert counts == sorted(counts), f"{path}: cells were executed out of order (run `make execute`)"
    for i, cell in enumerate(cells):
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"{path}: code cell {i} stores an error"
            data = out.get("data", {})
            assert "image/svg+xml" not in data, f"{path}: SVG output changes every run; use PNG"
            text = "".join(out.get("text", "")) + "".join(data.get("text/plain", ""))
            assert not re.search(r" at 0x[0-9a-f]{6,}", text), (
                f"{path}: code cell {i} prints an object address (nbval sees it change); end the line with ;")


def test_kernel_is_python3(notebook):
    path, nb = notebook
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_exercises_have_a_tagged_solution_and_a_checker(notebook):
    path, nb = notebook
    cells = nb["cells"]
    inside = False  # between a {solution-start} and its {solution-end}
    for i, cell in enumerate(cells):
        text = source(cell)
        if "{solution" in text:
            assert SOLUTION_TAG in tags(cell), f"{path}: cell {i} holds a solution but is not tagged"
        if "{solution-start}" in text:
            assert not inside, f"{path}: cell {i} starts a solution inside another one"
            inside = True
        if SOLUTION_TAG in tags(cell) and "{solution" not in text:
            # a cell of a solution's body (Markdown or code) between its start and end
            assert inside, f"{path}: cell {i} is tagged solution but is outside a solution block"
        if SOLUTION_TAG not in tags(cell):
            assert not inside, f"{path}: cell {i} is inside a solution block but not tagged solution"
        if "{solution-end}" in text:
            assert inside, f"{path}: cell {i} ends a solution that was never started"
            inside = False
        labels = re.findall(r"```\{exercise\}[^\n]*\n(?::[^\n]*\n)*?:label:\s*(\S+)", text)
        for label in labels:
            rest = [source(c) for c in cells[i + 1:]]
            assert any(f"{{solution-start}} {label}" in r or f"{{solution}} {label}" in r for r in rest), (
                f"{path}: exercise {label} has no solution block")


def test_random_sources_are_seeded(notebook):
    path, nb = notebook
    code = "\n".join(source(c) for c in code_cells(nb))
    unseeded = re.findall(r"np\.random\.(?!default_rng\(\d)(rand|randn|normal|uniform|choice|default_rng\(\))", code)
    assert not unseeded, f"{path}: unseeded NumPy randomness {unseeded}; use np.random.default_rng(SEED)"
    if "torch" in code and re.search(r"torch\.(randn|rand|randint|nn\.)", code):
        assert "torch.manual_seed(" in code or "seed_everything(" in code, (
            f"{path}: uses torch randomness without torch.manual_seed or seed_everything")


def test_lecture_cells_have_slide_metadata(root):
    for path in (root / "lectures").glob("*.ipynb"):
        for i, cell in enumerate(read(path)["cells"]):
            assert "slideshow" in cell["metadata"], f"{path}: cell {i} has no slide_type"


SLIDE_CODE_LINES, SLIDE_CODE_WIDTH = 16, 90


def test_deck_code_fits_a_slide(root):
    """A code cell a deck shows must fit a slide: at most 16 lines of at most 90
    characters. Longer code (a figure's) is tagged `remove-input`: the slides and the
    book show its output only, and the notebook keeps the code."""
    for path in sorted((root / "lectures").glob("*.ipynb")):
        for i, cell in enumerate(read(path)["cells"]):
            if (cell["cell_type"] != "code" or "remove-input" in tags(cell)
                    or cell["metadata"]["slideshow"].get("slide_type") == "skip"):
                continue
            lines = source(cell).splitlines()
            assert len(lines) <= SLIDE_CODE_LINES and max(map(len, lines)) <= SLIDE_CODE_WIDTH, (
                f"{path}: cell {i} shows {len(lines)} lines of code (up to "
                f"{max(map(len, lines))} characters) on a slide; tag it remove-input")


def test_widget_cells_are_ignored_by_nbval(notebook):
    """nbval does not run the widget protocol (Output widgets, clear_output), so
    a widget cell's outputs differ under it: such cells carry the
    `nbval-ignore-output` tag or a `# NBVAL_IGNORE_OUTPUT` first line (they are still
    executed, so errors still fail)."""
    path, nb = notebook
    for i, cell in enumerate(code_cells(nb)):
        has_widget = any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                         for o in cell["outputs"])
        ignored = "nbval-ignore-output" in tags(cell) or "# NBVAL_IGNORE_OUTPUT" in source(cell)
        if has_widget:
            assert ignored, f"{path}: widget cell {i} needs the nbval-ignore-output tag"
