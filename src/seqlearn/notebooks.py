"""Book tooling: the Colab set-up cell, student copies and reader copies of the notebooks.

Command line (the Makefile wraps each)::

    python -m seqlearn.notebooks colab-cell                  # rewrite the first code cell of every notebook
    python -m seqlearn.notebooks student OUT_DIR [--root R]  # write student copies of book/ and lectures/
    python -m seqlearn.notebooks colab-copies [--root R]     # rewrite the reader copies under book/colab/

``colab-cell`` runs in the repository root. ``student`` and ``colab-copies``
work from anywhere: ``--root`` defaults to the first folder at or above the
current one that holds ``_toc.yml`` and ``book/``; finding none, or no
notebooks there, is an error.

**The Colab cell.** The repository URL lives in one place, ``repository.url``
(and ``repository.branch``) of ``_config.yml``, which also drives the book's
launch buttons. ``colab_cell_source`` renders the first code cell of every
notebook from it: on Colab, where ``import seqlearn`` fails, the cell installs
the package from the repository; locally it does nothing. A test checks that
every notebook's first code cell is exactly this text.

**Plain Markdown.** Jupyter and Colab show the book's MyST markup raw, so both
kinds of copy convert every Markdown cell with ``seqlearn.plain_markdown``
(exercises and equations numbered as in the rendered book, citations as
author-year text); a cell left empty by the conversion (a
``{solution-end}``) is dropped.

**Student copies.** ``student_copy`` drops every cell tagged ``solution``
(the ``{solution-start}`` / ``{solution-end}`` Markdown cells and the code
between them), clears outputs and execution counts, and keeps every other
cell and its metadata. A pen-and-paper exercise (an ``{exercise}`` with no
code stub tagged ``exercise`` before its solution) gets a "*Your answer:*"
Markdown cell where the solution was. An untagged cell that still holds a
``{solution`` directive is an authoring mistake and raises ValueError, so a
solution cannot leak into a student copy.

**Reader copies.** The book's Colab and Binder buttons open ``reader_copy``
of the page (``book/_ext/colab_launch.py`` points them there): the whole
notebook, solutions, outputs and set-up cell included, with plain Markdown.
As in the book, a reader must choose to open a solution: its Markdown cells
become collapsed ``<details>`` blocks (Jupyter and Colab render them closed),
and its code cells stay runnable (later cells may use what they define) but
hidden: ``jupyter.source_hidden`` and ``outputs_hidden`` (JupyterLab and
Notebook 7 collapse the cell) and a Colab form (``cellView: "form"`` and a
``# @title`` line, which Colab shows instead of the code). The copy ends with
a "References" cell listing the entries the page cites, in the book's format
(``plain_markdown.read_references``).
They are committed under ``book/colab/`` (``colab_copy_path``: chapters in
``book/colab/``, decks in ``book/colab/lectures/``) and a test checks that
each equals the conversion of its source: after re-executing or editing a
notebook, run ``make colab-copies``.
"""

import argparse
import copy
import json
import re
import sys
from pathlib import Path

from seqlearn.plain_markdown import cited_keys, plain_markdown, read_book, scan

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
COLAB_TAG = "colab-setup"
NOTEBOOK_DIRS = ("book", "lectures")
COLAB_DIR = "book/colab"
ANSWER_SOURCE = "*Your answer:* …"


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


def dumps(nb):
    """``nb`` as ``write`` stores it."""
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def write(nb, path):
    Path(path).write_text(dumps(nb), encoding="utf-8")


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


def find_root(start):
    """The first folder at or above ``start`` holding ``_toc.yml`` and ``book/``."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / "_toc.yml").is_file() and (folder / "book").is_dir():
            return folder
    raise ValueError(f"no folder with _toc.yml and book/ at or above {start}: "
                     f"run it from the repository or pass --root")


def colab_copy_path(path):
    """Where the reader copy of ``path`` (relative to the root, e.g. ``book/01_x.ipynb``) lives.

    ``book/X`` -> ``book/colab/X``; ``lectures/X`` -> ``book/colab/lectures/X``.
    """
    path = Path(path)
    inside = path.relative_to("book") if path.parts[0] == "book" else path
    return (Path(COLAB_DIR) / inside).as_posix()


def _page(book, path):
    """``path`` of a notebook as a page name relative to the book's root: ``book/00_how_to_use``."""
    path = Path(path)
    if path.is_absolute():
        path = path.relative_to(book.root)
    return path.with_suffix("").as_posix()


def _with_plain_markdown(cells, book, path):
    """``cells`` with every Markdown cell in plain Markdown; cells it leaves empty are dropped."""
    page, out = _page(book, path), []
    for i, cell in cells:
        if cell["cell_type"] == "markdown":
            text = plain_markdown(source(cell), book, page, f"{page}.ipynb: cell {i}")
            if not text.strip():
                continue
            cell["source"] = re.findall(r"[^\n]*\n|[^\n]+$", text)  # lines, as notebooks store them
        out.append(cell)
    return out


def _answer_cell(nb, label):
    cell = {"cell_type": "markdown", "metadata": {}, "source": [ANSWER_SOURCE]}
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        cell["id"] = re.sub(r"[^A-Za-z0-9_-]", "-", f"answer-{label}")[:64]
    return cell


def student_copy(nb, book, path):
    """A copy of ``nb`` (the notebook at ``path``) for students: no solutions, no outputs.

    Every cell tagged ``solution`` is dropped, and a pen-and-paper exercise
    gets a "*Your answer:*" cell in place of its solution; code cells keep
    their source and metadata but lose outputs and execution counts;
    Markdown is converted to plain Markdown; notebook metadata is kept
    except stored widget state. ``book`` is ``plain_markdown.read_book(root)``.
    Raises ValueError naming ``path`` and the cell when an untagged cell
    holds a ``{solution`` directive.
    """
    out = copy.deepcopy(nb)
    cells, paper_exercise = [], None  # label of an exercise with no code stub yet
    for i, cell in enumerate(out["cells"]):
        if SOLUTION_TAG in tags(cell):
            if paper_exercise is not None:
                cells.append((i, _answer_cell(out, paper_exercise)))
                paper_exercise = None
            continue
        if "{solution" in source(cell):
            raise ValueError(
                f"{path}: cell {i} holds a {{solution}} directive but is not tagged "
                f"'{SOLUTION_TAG}'; tag it so the student copy leaves it out")
        if cell["cell_type"] == "markdown":
            exercises, _ = scan(source(cell), f"{path}: cell {i}")
            paper_exercise = exercises[-1][0] if exercises else paper_exercise
        if cell["cell_type"] == "code":
            if EXERCISE_TAG in tags(cell):
                paper_exercise = None
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append((i, cell))
    out["cells"] = _with_plain_markdown(cells, book, path)
    out.get("metadata", {}).pop("widgets", None)
    return out


SOLUTION_TITLE = "# @title Solution to Exercise {number}: the code (double-click to show)"
"""The first line a solution's code cell gets in a reader copy (Colab shows it as the form's title)."""


def _collapsed(cell, number, title):
    """A solution cell of a reader copy (already plain Markdown), collapsed."""
    if cell["cell_type"] == "code":
        cell["source"] = [SOLUTION_TITLE.format(number=number) + "\n"] + (
            re.findall(r"[^\n]*\n|[^\n]+$", source(cell)))
        cell["metadata"]["cellView"] = "form"
        cell["metadata"].setdefault("jupyter", {}).update(source_hidden=True, outputs_hidden=True)
        return cell
    text = source(cell).strip("\n")
    heading = f"**Solution to Exercise {number}**" + (f" ({title})" if title else "")
    if text.startswith(heading):
        summary, text = heading.replace("**", "<b>", 1).replace("**", "</b>", 1), text[len(heading):]
    else:
        summary = f"<b>Solution to Exercise {number}</b>, continued"
    text = text.strip() or "The code is in the next cell, hidden: double-click its title to show it."
    cell["source"] = re.findall(r"[^\n]*\n|[^\n]+$",
                                f"<details>\n<summary>{summary}</summary>\n\n{text}\n\n</details>")
    return cell


def reader_copy(nb, book, path):
    """The whole of ``nb`` (the notebook at ``path``) with its Markdown in plain Markdown.

    What the book's Colab button opens: outputs, metadata and the set-up cell
    stay; solutions stay but are collapsed (``_collapsed``); a last cell lists
    the references the page cites.
    """
    out = copy.deepcopy(nb)
    cells, solving = [], None  # (number, title) of the exercise whose solution this is
    cited = set()
    for i, cell in enumerate(out["cells"]):
        text = source(cell)
        if cell["cell_type"] == "markdown":
            cited |= cited_keys(text)
        start = re.search(r"\{solution-start\}\s*(\S+)", text) if cell["cell_type"] == "markdown" else None
        if start:
            solving = book.exercise(start[1], f"{path}: cell {i}")
        plain = _with_plain_markdown([(i, cell)], book, path)
        if SOLUTION_TAG in tags(cell) and plain and solving:
            plain = [_collapsed(plain[0], *solving)]
        cells += plain
    if cited:
        cells.append({"cell_type": "markdown", "metadata": {},
                      "source": re.findall(r"[^\n]*\n|[^\n]+$", "\n".join(
                          ["## References", ""] + book.reference_list(cited)))})
        if (out.get("nbformat"), out.get("nbformat_minor", 0)) >= (4, 5):
            cells[-1]["id"] = "references"
    out["cells"] = cells
    return out


def write_student_copies(root, out_dir, book):
    for path in notebook_paths(root):
        target = out_dir / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        write(student_copy(read(path), book, path), target)
    print(f"student notebooks written under {out_dir}/ (book/ and lectures/)")


def write_colab_copies(root, book):
    """(Re)write ``book/colab/``: one reader copy per notebook, stale copies removed."""
    wanted = set()
    for path in notebook_paths(root):
        target = root / colab_copy_path(path.relative_to(root))
        wanted.add(target)
        text = dumps(reader_copy(read(path), book, path))
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"updated {target.relative_to(root)}")
    for stale in sorted(set((root / COLAB_DIR).rglob("*.ipynb")) - wanted):
        stale.unlink()
        print(f"removed {stale.relative_to(root)} (its notebook is gone)")
    print(f"reader copies under {root / COLAB_DIR}/ are up to date")


def _main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m seqlearn.notebooks",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("colab-cell", help="rewrite the set-up cell of every notebook from _config.yml")
    student = sub.add_parser("student", help="write student copies (no solutions, no outputs)")
    student.add_argument("out", type=Path, help="output folder, e.g. _build/student")
    copies = sub.add_parser("colab-copies", help="rewrite the reader copies under book/colab/")
    for command in (student, copies):
        command.add_argument("--root", type=Path, help="the repository root (default: the folder "
                             "with _toc.yml and book/ at or above the current one)")
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

    try:
        root = (args.root or find_root(Path.cwd())).resolve()
        if not notebook_paths(root) or not (root / "_toc.yml").is_file():
            raise ValueError(f"no notebooks (or no _toc.yml) in {root}: looked for "
                             f"{', '.join(f'{root / d}/*.ipynb' for d in NOTEBOOK_DIRS)}; "
                             f"run it from the repository or pass --root")
        book = read_book(root)
        if args.command == "student":
            write_student_copies(root, args.out, book)
        else:
            write_colab_copies(root, book)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
