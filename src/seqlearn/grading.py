"""Assign a chapter's exercises and grade a folder of submissions, with nbgrader.

Command line (the Makefile wraps both)::

    python -m seqlearn.grading assignment CH [--out DIR]               # make assignment CH=7
    python -m seqlearn.grading grade CH SUBMISSIONS [--out DIR]        # make grade CH=7 SUBMISSIONS=dir/

**Why nbgrader.** It is the grader Jupyter itself maintains, and it runs here as
plain commands on a course folder with an SQLite gradebook: no server, no
Docker, no login (otter-grader grades in Docker by default). It writes the
release (solutions and hidden parts removed, the checking cells locked), runs
every submission in a kernel of its own, keeps the scores in its gradebook
(``nbgrader export``, its web "formgrader" for the written answers) and writes
feedback. ``nbgrader==0.9.6`` is pinned in ``requirements.txt``.

**The assignment** (``assignment``): ``DIR`` (default ``_build/grading/chNN``)
becomes an nbgrader course folder. ``source/chNN/chNN.ipynb`` holds the
chapter's exercises: the set-up and import cells, then for each exercise its
statement, an answer cell and, for a code exercise, a locked cell
``assert check("chapter.name", my_fn)`` worth ``POINTS["code"]``; a written
exercise's answer cell is graded by hand, worth ``POINTS["written"]``. The
book's solutions are the source's answers. ``nbgrader generate_assignment``
writes ``release/chNN/chNN.ipynb``: what students get.

**Grading** (``grade``): every ``*.ipynb`` in ``SUBMISSIONS`` (the file's name
is the student's id; or one notebook per folder ``SUBMISSIONS/<id>/``) is put
where nbgrader expects it and ``nbgrader autograde`` runs each in its own
kernel, with ``CELL_TIMEOUT_S`` per cell. A kernel runs the student's code
beside the checker, so it can be fooled (a cell that redefines ``check``) or
killed (``os._exit``) by what it grades. So the score of a code exercise is
decided again, outside any kernel: this process never runs a line of a
submission. For each code exercise a forked child executes the chapter's
set-up code, then the student's answer cell (and the answer cells of earlier
exercises whose functions the book's solution uses, e.g. ``my_step`` in
``my_scan``), and calls the function on fixed and hidden cases; the parent
compares, as ``check`` does (``seqlearn.exercises._isolated``). What one
answer cell does (loop, exit, print megabytes, patch NumPy or the checker)
costs that exercise, with the reason, and nothing else. Those scores are
written into nbgrader's gradebook (so ``nbgrader export`` and the formgrader
agree) and into ``DIR/grades.csv``: one row per student, one column per
exercise, the total, and a column counting the written answers still to grade
by hand (their scores are read from the gradebook once entered in the
formgrader; run ``grade`` again). ``DIR/feedback/<id>.md`` gives each student
every exercise's score and the checker's verdict.
"""

import argparse
import ast
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from seqlearn.notebooks import (COLAB_TAG, EXERCISE_TAG, SOLUTION_TAG, _with_plain_markdown,
                                find_root, read, source, tags)
from seqlearn.plain_markdown import read_book

POINTS = {"code": 2, "written": 2}
"""Points of a code exercise (all or nothing, from the hidden cases) and of a written one."""

CELL_TIMEOUT_S = 60
"""nbgrader's limit on one cell of a submission, in seconds."""

NBGRADER = "nbgrader==0.9.6"
_SCHEMA = 3   # nbgrader's cell metadata schema


@dataclass
class Item:
    """One exercise of a chapter, as the assignment asks it.

    label: the exercise's label in the book (``ex-mamba-step``), also its grade_id.
    kind: "code" (a function checked by ``check``) or "written" (graded by hand).
    check, function: the exercise name and the student's function name (code only).
    needs: labels of earlier code exercises whose functions the book's solution calls.
    statement, solution_cells: the book's cells (by index) of the statement and of the
        solution.
    solution: the book's solution code (code exercises; "" for a written one).
    stub: the book's code stub, or None.
    """

    label: str
    kind: str
    statement: list
    solution_cells: list
    solution: str
    stub: str = None
    check: str = None
    function: str = None
    needs: tuple = ()
    points: int = 0
    number: int = 0


def chapter_notebook(root, chapter):
    """The path of chapter ``chapter``'s notebook (``book/07_*.ipynb``)."""
    if isinstance(chapter, bool) or not isinstance(chapter, int) or chapter < 0:
        raise ValueError(f"chapter: expected a chapter number such as 7, got {chapter!r}")
    found = sorted(Path(root, "book").glob(f"{chapter:02d}_*.ipynb"))
    if not found:
        have = ", ".join(p.name[:2] for p in sorted(Path(root, "book").glob("[0-9][0-9]_*.ipynb")))
        raise ValueError(f"chapter: no notebook book/{chapter:02d}_*.ipynb (chapters: {have})")
    return found[0]


def assignment_name(chapter):
    return f"ch{chapter:02d}"


def _check_call(text):
    match = re.search(r'check\(\s*"([\w.]+)"\s*,\s*(\w+)', text)
    return match.groups() if match else (None, None)


def exercises(nb, path="notebook"):
    """The ``Item``s of a chapter notebook, in order.

    An exercise is a Markdown cell with an ``{exercise}`` directive, an optional
    code stub tagged ``exercise``, its cells tagged ``solution``, and, for a code
    exercise, the untagged cell ``check("chapter.name", my_fn)`` after them.
    Raises ValueError naming ``path`` and the label when the cells do not follow it.
    """
    items, current = [], None
    cells = nb["cells"]
    for i, cell in enumerate(cells):
        text = source(cell)
        if cell["cell_type"] == "markdown" and "{exercise}" in text:
            label = re.search(r":label:\s*(\S+)", text)
            if not label:
                raise ValueError(f"{path}: cell {i}: an exercise without a :label:")
            current = {"label": label.group(1), "statement": [i], "stub": None,
                       "solution": [], "check": (None, None)}
            items.append(current)
        elif current is None:
            continue
        elif cell["cell_type"] == "code" and EXERCISE_TAG in tags(cell):
            current["stub"] = text
        elif SOLUTION_TAG in tags(cell):
            current["solution"].append(i)
        elif cell["cell_type"] == "code" and "check(" in text and current["check"] == (None, None):
            current["check"] = _check_call(text)
        elif cell["cell_type"] == "markdown" and text.lstrip().startswith("#"):
            current = None
    out = []
    for number, raw in enumerate(items, start=1):
        name, fn = raw["check"]
        if not raw["solution"]:
            raise ValueError(f"{path}: exercise {raw['label']} has no solution cells")
        if name:
            if raw["stub"] is None:
                raise ValueError(f"{path}: exercise {raw['label']} is checked but has no stub")
            code = [source(cells[i]) for i in raw["solution"] if cells[i]["cell_type"] == "code"]
            out.append(Item(raw["label"], "code", raw["statement"], raw["solution"],
                            "\n\n".join(code), stub=raw["stub"], check=name, function=fn,
                            points=POINTS["code"], number=number))
        else:
            out.append(Item(raw["label"], "written", raw["statement"], raw["solution"], "",
                            stub=raw["stub"], points=POINTS["written"], number=number))
    earlier = {}   # function name -> label, of the code exercises before this one
    for item in out:
        if item.kind == "code":
            used = set(re.findall(r"\b(\w+)\s*\(", item.solution))
            item.needs = tuple(label for fn, label in earlier.items() if fn in used)
            earlier[item.function] = item.label
    return out


def setup_cells(nb):
    """The Colab set-up cells, and the chapter's imports as one cell's source.

    The imports are every top-level ``import`` of the chapter's code cells (not
    its solutions), in order, once each, and the checker's own import.
    """
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    colab = [c for c in code if COLAB_TAG in tags(c)]
    imports = []
    for cell in code:
        if COLAB_TAG in tags(cell) or SOLUTION_TAG in tags(cell):
            continue
        text = "\n".join(line for line in source(cell).splitlines()
                         if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                statement = ast.get_source_segment(text, node)
                if statement not in imports:
                    imports.append(statement)
    checker = "from seqlearn.exercises import check"
    if checker not in imports:
        imports.append(checker)
    return colab[:1], "\n".join(imports)


def _cell(kind, text, grade_id=None, **flags):
    cell = {"cell_type": kind, "metadata": {}, "source": text}
    if kind == "code":
        cell.update(outputs=[], execution_count=None)
    if grade_id:
        cell["metadata"]["nbgrader"] = {"grade_id": grade_id, "schema_version": _SCHEMA,
                                        "grade": False, "solution": False, "locked": False,
                                        **flags}
        cell["id"] = re.sub(r"[^A-Za-z0-9_-]", "-", grade_id)[:64]
    return cell


PLACEHOLDER = re.compile(r"^(raise NotImplementedError.*|pass|\.\.\.|(def|class|import|from|@)\b.*)$")
"""A line of a stub that holds no code to keep: a placeholder, a signature or an import."""

FIX_ABOVE = "# Fix the code above; then delete this line and the two below."


def _is_given_code(stub):
    """Whether ``stub`` holds code for the student to work on (a Debug exercise's broken
    function), not just a signature, comments and ``raise NotImplementedError``."""
    lines = (line.strip() for line in stub.splitlines())
    return any(line and not line.startswith("#") and not PLACEHOLDER.match(line) for line in lines)


def _answer_source(item):
    """The source notebook's answer cell: the book's solution between nbgrader's markers.

    A stub with code to work on (a Debug exercise) is kept as it is, and the
    marked solution follows it: the release shows the broken code and, where
    the solution was, nbgrader's ``raise NotImplementedError()`` under a line
    saying to fix the code and delete it. Otherwise, when the solution is the
    stub's ``def`` line and a body, only the body is marked, so the release
    keeps the signature; else the stub is kept as a comment above the marked
    solution.
    """
    stub, solution = item.stub.splitlines(), item.solution.splitlines()
    if _is_given_code(item.stub):
        return f"{item.stub.rstrip()}\n\n{FIX_ABOVE}\n### BEGIN SOLUTION\n{item.solution}\n### END SOLUTION"
    body = solution[1:]
    if stub and solution and stub[0] == solution[0] and body and \
            all(not line.strip() or line.startswith("    ") for line in body):
        return "\n".join([solution[0], "    ### BEGIN SOLUTION", *body, "    ### END SOLUTION"])
    shown = "\n".join("# " + line if line.strip() else "#" for line in stub)
    return f"{shown}\n### BEGIN SOLUTION\n{item.solution}\n### END SOLUTION"


def source_notebook(nb, book, path, chapter):
    """The nbgrader source notebook of chapter ``chapter`` (``nb``, read from ``path``)."""
    items = exercises(nb, path)
    title = source(nb["cells"][0]).splitlines()[0].lstrip("# ").strip() if nb["cells"] else ""
    title = re.sub(r"^\d+\.\s*", "", title)
    name = assignment_name(chapter)
    intro = (
        f"# Assignment {name}: the exercises of chapter {chapter}, {title}\n\n"
        "Read the chapter first; this notebook holds only its exercises. Write each "
        "answer in the cell below its statement.\n\n"
        "- **Code**: the function keeps the name and arguments of the stub. Everything it "
        "needs (imports, helpers) goes in its own cell; it may also call your functions "
        "from earlier exercises that the statement names. Run the locked cell under it "
        "to check it: grading runs the same check on new hidden cases, with your answer "
        "cell on its own.\n"
        "- **Written**: replace *YOUR ANSWER HERE* with your answer (Markdown, with "
        "$\\LaTeX$); it is graded by hand.\n\n"
        f"Points: {POINTS['code']} per code exercise, {POINTS['written']} per written one.")
    colab, imports = setup_cells(nb)
    cells = [_cell("markdown", intro, "intro", locked=True)]
    for cell in colab:
        cells.append(_cell("code", source(cell), "colab-setup", locked=True))
    cells.append(_cell("code", imports, "setup", locked=True))

    def plain(indices):   # the book's cells as the reader copies show them
        return _with_plain_markdown([(i, copy.deepcopy(nb["cells"][i])) for i in indices],
                                    book, path)

    for item in items:
        for statement in plain(item.statement):
            cells.append(_cell("markdown", source(statement), f"{item.label}-statement",
                               locked=True))
        if item.kind == "code":
            cells.append(_cell("code", _answer_source(item), item.label, solution=True))
            cells.append(_cell("code", f'assert check("{item.check}", {item.function})',
                               f"{item.label}-check", grade=True, locked=True,
                               points=item.points))
        else:
            answer = "\n\n".join(source(c) if c["cell_type"] == "markdown" else
                                  f"```python\n{source(c)}\n```"
                                  for c in plain(item.solution_cells))
            cells.append(_cell("markdown", answer, item.label, solution=True, grade=True,
                               points=item.points))
    out = {"cells": cells, "metadata": copy.deepcopy(nb.get("metadata", {})),
           "nbformat": 4, "nbformat_minor": 5}
    out["metadata"].pop("widgets", None)
    return out, items


def _nbgrader(args, course, timeout):
    """Run an nbgrader command in ``course``; returns (exit status, its log)."""
    bin_dir = Path(sys.executable).parent
    exe = bin_dir / "nbgrader"
    if not exe.exists() and shutil.which("nbgrader") is None:
        raise RuntimeError(f"nbgrader is not installed: pip install {NBGRADER} "
                           "(make setup installs it)")
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        done = subprocess.run([str(exe) if exe.exists() else "nbgrader", *args], cwd=course,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return None, f"nbgrader {' '.join(args)} took more than {timeout} s\n{exc.stderr or ''}"
    return done.returncode, done.stdout + done.stderr


def _config(course, chapter, cell_timeout=CELL_TIMEOUT_S):
    Path(course, "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f'c.CourseDirectory.course_id = "seqlearn-{assignment_name(chapter)}"\n'
        f"c.Execute.timeout = {int(cell_timeout)}\n"
        "c.Execute.interrupt_on_timeout = True\n"
        "c.Execute.allow_errors = True\n")


def write_assignment(chapter, out=None, root=None):
    """Write the nbgrader course folder of ``chapter`` and its release; returns the folder."""
    root = Path(root) if root else find_root(Path.cwd())
    path = chapter_notebook(root, chapter)
    name = assignment_name(chapter)
    out = Path(out) if out else root / "_build" / "grading" / name
    course = out / "nbgrader"
    book = read_book(root)
    nb, items = source_notebook(read(path), book, path.relative_to(root), chapter)
    (course / "source" / name).mkdir(parents=True, exist_ok=True)
    _config(course, chapter)
    (course / "source" / name / f"{name}.ipynb").write_text(
        json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    status, log = _nbgrader(["generate_assignment", name, "--create", "--force"], course, 300)
    (course / "generate_assignment.log").write_text(log)
    if status != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed (see "
                           f"{course / 'generate_assignment.log'}):\n{log[-2000:]}")
    codes = sum(item.kind == "code" for item in items)
    print(f"{name}: {len(items)} exercises ({codes} checked by code, {len(items) - codes} "
          f"written); release: {course / 'release' / name / (name + '.ipynb')}")
    return out


def collect(submissions):
    """``{student id: notebook path}`` from a folder of submissions.

    A notebook ``<id>.ipynb`` directly in the folder, or a folder ``<id>/`` with one
    notebook (at any depth: nbgrader's ``<id>/chNN/chNN.ipynb`` works). An id keeps
    letters, digits, ``_``, ``-`` and ``.``.
    """
    folder = Path(submissions)
    if not folder.is_dir():
        raise ValueError(f"submissions: expected a folder of notebooks, got {str(folder)!r} "
                         f"({'a file' if folder.exists() else 'nothing there'})")
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix == ".ipynb":
            student, notebook = entry.stem, entry
        elif entry.is_dir() and not entry.name.startswith("."):
            notebooks = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if len(notebooks) != 1:
                print(f"skipped {entry}: expected one notebook in it, found {len(notebooks)}")
                continue
            student, notebook = entry.name, notebooks[0]
        else:
            continue
        student = re.sub(r"[^A-Za-z0-9_.-]", "_", student)
        if student in found:
            print(f"skipped {notebook}: a second submission of {student}")
            continue
        found[student] = notebook
    if not found:
        raise ValueError(f"submissions: no notebooks in {folder}")
    return found


def _answer_cells(path):
    """``{grade_id: source}`` of a submitted notebook's cells, or a reason it cannot be read."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = nb["cells"]
        out = {}
        for cell in cells:
            grade_id = ((cell.get("metadata") or {}).get("nbgrader") or {}).get("grade_id")
            if isinstance(grade_id, str) and grade_id not in out:
                text = cell.get("source", "")
                out[grade_id] = text if isinstance(text, str) else "".join(text)
        return out, None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return {}, f"the submission is not a readable notebook ({type(exc).__name__}: {exc})"


def score_code(item, answers, setup_code):
    """(points, verdict) of one code exercise, checked in a child process."""
    from seqlearn.exercises._checker import verdict
    from seqlearn.exercises._isolated import Source

    if item.label not in answers:
        return 0, f"❌ {item.check}: the answer cell ({item.label}) is missing from the notebook."
    parts = [setup_code]
    parts += [answers[label] for label in item.needs if label in answers]
    parts.append(answers[item.label])
    ok, message, printed = verdict(item.check, Source("\n\n".join(parts), item.function,
                                                      f"<answer {item.label}>"))
    if printed:
        message += "\n   it printed:\n" + "\n".join("     " + line for line in
                                                    printed.rstrip("\n").splitlines()[:20])
    return (item.points if ok else 0), message


def _gradebook_scores(course, name):
    """``{student: {grade_id: score or None}}`` from nbgrader's gradebook (written answers)."""
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{Path(course, 'gradebook.db')}") as gb:
        for student in gb.students:
            try:
                submission = gb.find_submission(name, student.id)
            except MissingEntry:
                continue
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    scores.setdefault(student.id, {})[grade.name] = grade.score \
                        if not grade.needs_manual_grade else None
    return scores


def _write_gradebook(course, name, results):
    """Store the code exercises' scores and verdicts as the autograde of nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{Path(course, 'gradebook.db')}") as gb:
        for student, rows in results.items():
            for label, (score, message) in rows.items():
                try:
                    grade = gb.find_grade(f"{label}-check", name, name, student)
                except MissingEntry:   # nbgrader could not run this notebook
                    continue
                grade.auto_score = float(score)
                grade.needs_manual_grade = False
                try:   # the verdict beside the answer cell, where the formgrader shows it
                    gb.find_comment(label, name, name, student).auto_comment = message
                except MissingEntry:
                    pass
        gb.db.commit()


def grade(chapter, submissions, out=None, root=None, cell_timeout=CELL_TIMEOUT_S):
    """Grade a folder of submissions of ``chapter``; writes grades.csv and feedback/.

    Returns ``{student: {label: points or None}}`` (None: a written answer not yet graded).
    """
    root = Path(root) if root else find_root(Path.cwd())
    name = assignment_name(chapter)
    out = Path(out) if out else root / "_build" / "grading" / name
    course = out / "nbgrader"
    if not (course / "release" / name / f"{name}.ipynb").exists():
        write_assignment(chapter, out, root)
    nb = read(chapter_notebook(root, chapter))
    items = exercises(nb)
    _, setup_code = setup_cells(nb)
    # The chapter's own import cell (the book's code, not a student's), run here once so
    # that each child process forked to check an answer starts with its modules loaded.
    exec(compile(setup_code, "<chapter imports>", "exec"), {"__name__": "__grading__"})
    students = collect(submissions)
    submitted = course / "submitted"
    if submitted.exists():
        shutil.rmtree(submitted)
    for student, notebook in students.items():
        target = submitted / student / name / f"{name}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copyfile(notebook, target)
    _config(course, chapter, cell_timeout)
    timeout = 120 + len(students) * (30 + 2 * cell_timeout)
    status, log = _nbgrader(["autograde", name, "--create", "--force"], course, timeout)
    (course / "autograde.log").write_text(log)
    failed = set(re.findall(r"error processing assignment '[^']*' for student '([^']+)'", log))
    kernel_scores = _gradebook_scores(course, name)
    results, table = {}, {}
    for student, notebook in students.items():
        answers, unreadable = _answer_cells(notebook)
        results[student], table[student] = {}, {}
        for item in items:
            if item.kind == "code":
                if unreadable:
                    points, message = 0, f"❌ {item.check}: {unreadable}"
                else:
                    points, message = score_code(item, answers, setup_code)
                in_kernel = kernel_scores.get(student, {}).get(f"{item.label}-check")
                if in_kernel and in_kernel > points:
                    message += ("\n   (it passed when the whole notebook ran in one kernel, "
                                "but not on its own: something else in the notebook changed "
                                "the checker or its inputs.)")
                results[student][item.label] = (points, message)
                table[student][item.label] = points
            else:
                table[student][item.label] = kernel_scores.get(student, {}).get(item.label)
    _write_gradebook(course, name, results)
    _write_reports(out, name, items, students, results, table, failed)
    return table


def _write_reports(out, name, items, students, results, table, failed):
    maximum = sum(item.points for item in items)
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *[item.label for item in items], "total", "max",
                         "to_grade_by_hand"])
        for student in students:
            row = [table[student][item.label] for item in items]
            writer.writerow([student, *["" if v is None else f"{v:g}" for v in row],
                             f"{sum(v or 0 for v in row):g}", maximum,
                             sum(v is None for v in row)])
    feedback = out / "feedback"
    if feedback.exists():
        shutil.rmtree(feedback)
    feedback.mkdir()
    for student in students:
        lines = [f"# {name}: feedback for {student}", ""]
        if student in failed:
            lines += ["nbgrader could not run the whole notebook (its kernel died or a "
                      "cell timed out): the code answers below were checked one by one.", ""]
        total = 0
        for item in items:
            score = table[student][item.label]
            total += score or 0
            shown = "to grade by hand" if score is None else f"{score:g} / {item.points}"
            lines.append(f"## Exercise {item.number} ({item.label}): {shown}")
            if item.kind == "code":
                lines += ["", "```", results[student][item.label][1], "```", ""]
            else:
                lines += ["", "A written answer, graded by hand.", ""]
        lines.append(f"**Total: {total:g} / {maximum}** (written answers not yet graded "
                     "count 0)")
        (feedback / f"{student}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{name}: graded {len(students)} submissions: {out / 'grades.csv'}, "
          f"{feedback}/")


def _main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m seqlearn.grading",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("assignment", help="write the nbgrader release of a chapter")
    a.add_argument("chapter", type=int)
    a.add_argument("--out", default=None)
    a.add_argument("--root", default=None)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks")
    g.add_argument("chapter", type=int)
    g.add_argument("submissions")
    g.add_argument("--out", default=None)
    g.add_argument("--root", default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "assignment":
            write_assignment(args.chapter, args.out, args.root)
        else:
            grade(args.chapter, args.submissions, args.out, args.root)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main())
