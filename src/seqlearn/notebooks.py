"""Book tooling: the Colab set-up cell and the student copy of the notebooks.

Command line (run from the repository root; the Makefile wraps both)::

    python -m seqlearn.notebooks colab-cell          # rewrite the first code cell of every notebook
    python -m seqlearn.notebooks student OUT_DIR     # write student copies of book/ and lectures/

**The Colab cell.** The repository URL lives in one place, ``repository.url``
(and ``repository.branch``) of ``_config.yml``, which also drives the book's
launch buttons. ``colab_cell_source`` renders the first code cell of every
notebook from it: on Colab, where ``import seqlearn`` fails, the cell installs
the package from the repository; locally it does nothing. A test checks that
every notebook's first code cell is exactly this text.

**Student copies.** ``student_copy`` drops every cell tagged ``solution``
(the ``{solution-start}`` / ``{solution-end}`` Markdown cells and the code
between them), clears outputs and execution counts, and keeps every other
cell, source and metadata as it was. An untagged cell that still holds a
``{solution`` directive is an authoring mistake and raises ValueError, so a
solution cannot leak into a student copy.
"""

import argparse
import copy
import json
import sys
from pathlib import Path

SOLUTION_TAG = "solution"
COLAB_TAG = "colab-setup"
NOTEBOOK_DIRS = ("book", "lectures")


def repository(config_path="_config.yml"):
    """(url, branch) of the course repository, read from ``_config.yml``."""
    import yaml

    config = yaml.safe_load(Path(config_path).read_text())
    repo = config.get("repository") or {}
    url, branch = repo.get("url"), repo.get("branch", "main")
    if not url:
        raise ValueError(f"{config_path}: expected a repository.url entry, found none")
    return url.rstrip("/"), branch


def colab_cell_source(url, branch):
    """The source of the set-up cell that opens every notebook."""
    return (
        "# Set-up: on Colab (or wherever seqlearn is missing) install the course\n"
        "# package from its repository. Locally (`make book`, `pip install -e .`)\n"
        "# this does nothing.\n"
        "try:\n"
        "    import seqlearn\n"
        "except ImportError:\n"
        "    import subprocess, sys\n"
        "    subprocess.check_call([sys.executable, \"-m\", \"pip\", \"install\", \"-q\",\n"
        f"                           \"seqlearn @ git+{url}@{branch}\"])\n"
        "    import seqlearn"
    )


def notebook_paths(root="."):
    """Every notebook of the book and of the lectures, sorted."""
    root = Path(root)
    return sorted(p for d in NOTEBOOK_DIRS for p in (root / d).glob("*.ipynb"))


def read(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write(nb, path):
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def source(cell):
    """A cell's source as one string (notebooks store it as a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def first_code_cell(nb):
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            return cell
    return None


def set_colab_cell(nb, cell_source):
    """Make the first code cell of ``nb`` the set-up cell (inserted if missing); in place."""
    cell = first_code_cell(nb)
    if cell is None or COLAB_TAG not in tags(cell):
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": ""}
        if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
            cell["id"] = COLAB_TAG  # cell ids are required from nbformat 4.5 on
        index = next((i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"),
                     len(nb["cells"]))
        nb["cells"].insert(index, cell)
    cell["source"] = cell_source.splitlines(keepends=True)
    cell_tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    for tag in (COLAB_TAG, "remove-cell"):  # the rendered book does not show it
        if tag not in cell_tags:
            cell_tags.append(tag)
    return nb


def student_copy(nb, name="notebook"):
    """A copy of ``nb`` without solution cells and without outputs.

    Every cell tagged ``solution`` is dropped; code cells keep their source
    and metadata but lose outputs and execution counts; notebook metadata
    is kept except stored widget state. Raises ValueError naming ``name``
    and the cell when an untagged cell holds a ``{solution`` directive.
    """
    out = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(out["cells"]):
        if SOLUTION_TAG in tags(cell):
            continue
        if "{solution" in source(cell):
            raise ValueError(
                f"{name}: cell {i} holds a {{solution}} directive but is not tagged "
                f"'{SOLUTION_TAG}'; tag it so the student copy leaves it out")
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    out["cells"] = cells
    out.get("metadata", {}).pop("widgets", None)
    return out


def _main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m seqlearn.notebooks",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("colab-cell", help="rewrite the set-up cell of every notebook from _config.yml")
    student = sub.add_parser("student", help="write student copies (no solutions, no outputs)")
    student.add_argument("out", type=Path, help="output folder, e.g. _build/student")
    args = parser.parse_args(argv)

    if args.command == "colab-cell":
        cell_source = colab_cell_source(*repository())
        for path in notebook_paths():
            nb = read(path)
            before = json.dumps(nb)
            set_colab_cell(nb, cell_source)
            if json.dumps(nb) != before:
                write(nb, path)
                print(f"updated {path}")
        return 0

    for path in notebook_paths():
        try:
            nb = student_copy(read(path), name=str(path))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        target = args.out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        write(nb, target)
    print(f"student notebooks written under {args.out}/ (book/ and lectures/)")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
