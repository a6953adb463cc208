"""MyST Markdown to plain Markdown: each construct, the book's numbering, and refusals."""

import json
import re
import subprocess
import sys
import textwrap

import pytest

from seqlearn.plain_markdown import plain_markdown, read_book

# MyST syntax that no converted cell may contain: a directive fence, a role,
# an equation label, a target.
MYST_LEFT = re.compile(r"```\{|:::\{|\{[\w:+.-]+\}`|\$\$[ \t]*\([^()\s]+\)|^[ \t]*\([^()\s]+\)=[ \t]*$", re.M)

BIB = r"""
@article{elman1990finding, author = {Elman, Jeffrey L.}, title = {Finding Structure in Time}, year = {1990}}
@article{schafer2006recurrent, author = {Sch{\"a}fer, Anton and Zimmermann, Hans Georg},
         title = {Recurrent Neural Networks}, year = {2006}}
@article{bengio1994learning, author = {Bengio, Yoshua and Simard, Patrice and Frasconi, Paolo},
         title = {Learning Long-Term Dependencies}, year = {1994}}
"""


def notebook(*markdown):
    cells = [{"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": text}
             for i, text in enumerate(markdown)]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def book(tmp_path):
    """A two-page book: a notebook with two exercises and two labelled equations, then another."""
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: book/intro
        parts:
          - caption: Chapters
            chapters:
              - file: book/a
              - file: book/b
    """))
    (tmp_path / "_config.yml").write_text("bibtex_bibfiles: [book/refs.bib]\n")
    (tmp_path / "book" / "refs.bib").write_text(BIB)
    (tmp_path / "book" / "intro.md").write_text("# The intro\n\nNo numbers here.\n")
    a = notebook("# A. First chapter\n\n$$\nx = 1\n$$ (eq-one)\n",
                 "```{exercise} Warm-up\n:label: ex-one\n\nUse {eq}`eq-two`.\n```",
                 "$$ y = 2 $$ (eq-two)\n\n```{exercise}\n:label: ex-two\n:class: hard\n\nNo title.\n```")
    b = notebook("# B. Second chapter\n\n```{exercise} Later\n:label: ex-three\n```\n\n"
                 "$$\n\\begin{aligned}\nz &= 3\n\\end{aligned}\n$$ (eq-three)")
    (tmp_path / "book" / "a.ipynb").write_text(json.dumps(a))
    (tmp_path / "book" / "b.ipynb").write_text(json.dumps(b))
    return read_book(tmp_path)


def convert(text, book, page="book/b"):
    return plain_markdown(text, book, page, "book/b.ipynb: cell 7")


def test_exercises_and_equations_are_numbered_through_the_book_in_toc_order(book):
    assert book.exercises == {"ex-one": (1, "Warm-up"), "ex-two": (2, ""), "ex-three": (3, "Later")}
    assert book.equations == {"eq-one": 1, "eq-two": 2, "eq-three": 3}
    assert book.titles["book/a"] == "A. First chapter" and book.titles["book/intro"] == "The intro"


def test_an_exercise_becomes_a_bold_numbered_heading(book):
    text = "Before.\n```{exercise} Warm-up\n:label: ex-one\n\nUse {eq}`eq-two`.\n```\nAfter."
    assert convert(text, book) == "Before.\n\n**Exercise 1** (Warm-up)\n\nUse (2).\n\nAfter."
    assert convert("```{exercise}\n:label: ex-two\n:class: hard\n\nNo title.\n```", book) == (
        "**Exercise 2**\n\nNo title.")


def test_solution_markers_become_a_heading_and_nothing(book):
    start = "```{solution-start} ex-three\n:class: dropdown\n```\nThe answer is $z = 3$."
    assert convert(start, book) == "**Solution to Exercise 3** (Later)\n\nThe answer is $z = 3$."
    assert convert("```{solution-end}\n```", book) == ""


def test_labelled_equations_get_a_tag_and_references_their_number(book):
    text = "$$\n\\begin{aligned}\nz &= 3\n\\end{aligned}\n$$ (eq-three)\n\nsee {eq}`eq-one`"
    assert convert(text, book) == "$$\n\\begin{aligned}\nz &= 3\n\\end{aligned} \\tag{3}\n$$\n\nsee (1)"
    assert convert("$$ y = 2 $$ (eq-two)", book) == "$$ y = 2 \\tag{2} $$"
    assert convert("$$\nw = 0\n$$\n\nunlabelled", book) == "$$\nw = 0\n$$\n\nunlabelled"


def test_citations_are_author_year_in_the_books_order(book):
    assert convert("{cite:p}`elman1990finding`", book) == "(Elman 1990)"
    assert convert("{cite:p}`schafer2006recurrent,elman1990finding, bengio1994learning`", book) == (
        "(Bengio et al. 1994; Elman 1990; Schäfer and Zimmermann 2006)")
    with pytest.raises(ValueError, match=r"book/b.ipynb: cell 7: unknown citation key 'nobody2020'"):
        convert("{cite:p}`elman1990finding,nobody2020`", book)


def test_textual_citations_name_the_authors_with_the_year_in_parentheses(book):
    assert convert("as {cite:t}`elman1990finding` showed", book) == "as Elman (1990) showed"
    assert convert("{cite:t}`schafer2006recurrent,bengio1994learning`", book) == (
        "Bengio et al. (1994); Schäfer and Zimmermann (2006)")


def test_doc_references_become_text_or_a_link_to_a_sibling_notebook(book):
    assert convert("{doc}`the first <a>`", book) == "[the first](a.ipynb)"
    assert convert("{doc}`a`", book) == "[A. First chapter](a.ipynb)"
    assert convert("{doc}`intro`", book) == "The intro"  # a Markdown page: no notebook to open
    with pytest.raises(ValueError, match=r"cell 7: \{doc\}`nowhere` names no page"):
        convert("{doc}`nowhere`", book)


def test_admonitions_become_quotes_and_targets_go(book):
    text = "(sec-x)=\n## Section\n\n```{admonition} Learning objectives\n:class: tip\nYou can\n\n- a\n```"
    assert convert(text, book) == "## Section\n\n> **Learning objectives**\n>\n> You can\n>\n> - a"
    assert convert("```{note}\n**Signs.** $A$ is {eq}`eq-one`.\n```", book) == (
        "> **Note**\n>\n> **Signs.** $A$ is (1).")


def test_code_is_left_alone(book):
    text = "Run `{eq}` and\n\n```python\nprint('{eq}`x`', '$$ (y)')\n```\n\n````md\n```{exercise}\n```\n````"
    assert convert(text, book) == text
    assert convert("plain *Markdown* with $x^{2}$ math", book) == "plain *Markdown* with $x^{2}$ math"


@pytest.mark.parametrize("text, construct", [
    ("{ref}`sec-x`", r"unknown MyST role \{ref\}"),
    ("{cite:ps}`elman1990finding`", r"unknown MyST role \{cite:ps\}"),
    ("```{figure} a.png\n```", r"unknown MyST directive \{figure\}"),
    (":::{note}\ntext\n:::", None),  # a colon fence is understood
    ("```{exercise} X\n:label: ex-one\n:nonumber:\n```", r"unknown option :nonumber: of the \{exercise\}"),
    ("```{note}\n:label: n\n```", r"unknown option :label: of the \{note\}"),
    ("% a MyST comment", r"a MyST comment"),
    ("+++", r"a MyST block break"),
    ("{{ version }}", r"a substitution"),
    ("Term\n: definition", r"a definition list"),
    ("\\begin{align}\nx\n\\end{align}", r"an amsmath environment outside \$\$"),
    ("```{note}\nnever closed", r"the fence '```\{note\}' is never closed"),
    ("$$ x $$ (eq-nowhere)", r"no equation labelled 'eq-nowhere'"),
    ("{eq}`eq-nowhere`", r"no equation labelled 'eq-nowhere'"),
    ("```{solution-start} ex-nowhere\n```", r"no exercise labelled 'ex-nowhere'"),
])
def test_unknown_myst_is_refused_naming_notebook_cell_and_construct(book, text, construct):
    if construct is None:
        assert convert(text, book) == "> **Note**\n>\n> text"
        return
    with pytest.raises(ValueError, match=r"^book/b.ipynb: cell 7: .*" + construct):
        convert(text, book)


def test_the_real_books_numbers_are_the_rendered_books(root):
    # Read off a build of the book (Jupyter Book 1.0.4, Sphinx 7.4.7, sphinx-exercise 1.2.1):
    # with no numbered toc, numbers run through the book (chapter 1 opens with Exercise 5).
    book = read_book(root)
    assert len(book.exercises) == 106 and len(book.equations) == 39
    assert {label: book.exercises[label][0] for label in
            ["ex-ema", "ex-half-life", "ex-rnn-step", "ex-explode", "ex-causal-mask",
             "ex-legs-scale", "ex-nplr", "ex-mamba-step", "ex-mamba-scan", "ex-hankel-matrix",
             "ex-hankel-alpha", "ex-ssd-mask", "ex-ssd-linear-attention"]} == {
        "ex-ema": 1, "ex-half-life": 3, "ex-rnn-step": 5, "ex-explode": 7, "ex-causal-mask": 20,
        "ex-legs-scale": 46, "ex-nplr": 64, "ex-mamba-step": 74, "ex-mamba-scan": 77,
        "ex-hankel-matrix": 85, "ex-hankel-alpha": 91, "ex-ssd-mask": 96,
        "ex-ssd-linear-attention": 100}
    assert {label: book.equations[label] for label in
            ["eq-linear-recurrence", "eq-ema-kernel", "eq-elman", "eq-attention", "eq-hippo",
             "eq-ssm", "eq-kernel", "eq-s4d", "eq-s6", "eq-lti-transfer", "eq-freq-grad",
             "eq-ssd", "eq-ssd-attention", "eq-rope", "eq-gla"]} == {
        "eq-linear-recurrence": 1, "eq-ema-kernel": 3, "eq-elman": 4, "eq-attention": 9,
        "eq-rope": 12, "eq-hippo": 18, "eq-ssm": 22, "eq-kernel": 26, "eq-s4d": 28,
        "eq-s6": 29, "eq-lti-transfer": 31, "eq-freq-grad": 36, "eq-ssd": 37,
        "eq-ssd-attention": 38, "eq-gla": 39}
    assert book.cite("gu2023mamba,dao2024mamba2", "here") == "(Dao and Gu 2024; Gu and Dao 2024)"


def test_importing_seqlearn_does_not_need_pybtex():
    code = ("import sys, seqlearn, seqlearn.notebooks, seqlearn.plain_markdown; "
            "assert 'pybtex' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_long_run_of_backticks_takes_linear_time():
    """2,000 backticks took 35-44 s (cubic backtracking; reliability review turn 3);
    20,000 now take milliseconds. The bound, 2 s, is 100x the time of a linear scan."""
    import time
    from seqlearn.plain_markdown import plain_text
    start = time.perf_counter()
    plain_text(["`" * 20_000], {}, "page", "where")
    assert time.perf_counter() - start < 2.0
