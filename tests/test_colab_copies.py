"""Reader copies (book/colab/): what the book's Colab and Binder buttons open.

Each committed copy must be exactly the plain-Markdown conversion of its
notebook, and every page's launch buttons must point at a copy that exists.
"""

import importlib.util
import re
import types
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from test_plain_markdown import MYST_LEFT

from seqlearn.notebooks import (COLAB_DIR, SOLUTION_TAG, SOLUTION_TITLE, colab_copy_path, dumps,
                                notebook_paths, read, reader_copy, source, tags)
from seqlearn.plain_markdown import cited_keys, read_book, read_citations, read_references

ROOT = Path(__file__).resolve().parents[1]
BOOK = read_book(ROOT)
STALE = "run `make colab-copies` (after editing or re-executing a notebook) and commit book/colab/"


def nb_id(path):
    return f"{path.parent.name}/{path.name}"


def copy_of(path):
    return ROOT / colab_copy_path(path.relative_to(ROOT))


def test_there_is_one_copy_per_notebook_and_no_other():
    on_disk = sorted((ROOT / COLAB_DIR).rglob("*.ipynb"))
    assert on_disk == sorted(copy_of(p) for p in notebook_paths(ROOT)), STALE


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=nb_id)
def test_each_copy_is_exactly_the_conversion_of_its_notebook(path):
    assert copy_of(path).is_file(), f"{copy_of(path).relative_to(ROOT)} is missing: {STALE}"
    expected = dumps(reader_copy(read(path), BOOK, path))
    assert copy_of(path).read_text(encoding="utf-8") == expected, (
        f"{copy_of(path).relative_to(ROOT)} differs from {path.relative_to(ROOT)}: {STALE}")


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=nb_id)
def test_a_copy_keeps_code_outputs_and_solutions_and_holds_no_myst(path):
    nb, copy = read(path), read(copy_of(path))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    copied = [c for c in copy["cells"] if c["cell_type"] == "code"]
    assert len(copied) == len(code)
    for book_cell, cell in zip(code, copied):
        assert cell["outputs"] == book_cell["outputs"]
        body = source(cell)
        if SOLUTION_TAG in tags(book_cell):  # runnable, with a Colab form title above the code
            first, _, body = body.partition("\n")
            title = re.escape(SOLUTION_TITLE).replace(re.escape("{number}"), r"\d+")
            assert re.fullmatch(title, first), first
        assert body == source(book_cell)
        assert {k: v for k, v in cell["metadata"].items() if k not in ("cellView", "jupyter")} == (
            book_cell["metadata"])
    assert copy["metadata"] == nb["metadata"]
    solutions = [s for s in map(source, nb["cells"]) if "{solution-start}" in s]
    headings = [s for s in map(source, copy["cells"])
                if s.startswith("<details>\n<summary><b>Solution to Exercise ") and "continued" not in s]
    assert len(headings) == len(solutions)
    bare_ends = [s for s in map(source, nb["cells"])
                 if re.fullmatch(r"\s*```\{solution-end\}\s*```\s*", s)]
    assert sum(SOLUTION_TAG in tags(c) for c in copy["cells"]) == (
        sum(SOLUTION_TAG in tags(c) for c in nb["cells"]) - len(bare_ends))  # a bare {solution-end} goes
    for i, cell in enumerate(copy["cells"]):
        if cell["cell_type"] == "markdown":
            assert not MYST_LEFT.search(source(cell)), f"{copy_of(path)}: cell {i} still holds MyST"


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=nb_id)
def test_a_copy_hides_every_solution_until_the_reader_opens_it(path):
    """Jupyter and Colab render a ``<details>`` block closed, and collapse a code cell
    whose metadata says ``jupyter.source_hidden`` (JupyterLab, Notebook 7) or
    ``cellView: form`` (Colab, which shows the ``# @title`` line instead)."""
    copy = read(copy_of(path))
    for i, cell in enumerate(copy["cells"]):
        if SOLUTION_TAG not in tags(cell):
            continue
        text = source(cell)
        if cell["cell_type"] == "markdown":
            assert text.startswith("<details>\n<summary>") and text.endswith("\n</details>"), i
            assert "<details open" not in text and text.count("<details>") == 1, i
        else:
            assert cell["metadata"]["cellView"] == "form", i
            assert cell["metadata"]["jupyter"] == {"source_hidden": True, "outputs_hidden": True}, i
            assert text.startswith("# @title Solution to Exercise "), i


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=nb_id)
def test_a_copy_ends_with_the_references_it_cites(path):
    """Every author-year citation in a copy's text has its entry in the last cell, and the
    list holds nothing the page does not cite."""
    copy = read(copy_of(path))
    cited = set().union(*(cited_keys(source(c)) for c in read(path)["cells"]
                          if c["cell_type"] == "markdown"))
    if not cited:
        assert not source(copy["cells"][-1]).startswith("## References")
        return
    last = source(copy["cells"][-1]).split("\n")
    assert last[:2] == ["## References", ""]
    entries = last[2:]
    labels = read_citations(BOOK.bibfiles)
    assert len(entries) == len(cited)
    for key in cited:
        who, _, year = labels[key].rpartition(" ")
        surname = who.split(" and ")[0].removesuffix(" et al.")
        assert any(e.startswith(f"- {surname}, ") and f"({year})." in e for e in entries), key


def test_two_entries_alike_are_told_apart_by_a_letter(tmp_path):
    """S4 and S4D are both "Gu et al. 2022": the citation and the reference say 2022a, 2022b."""
    bib = tmp_path / "refs.bib"
    bib.write_text("""
@inproceedings{one, author = {Gu, Albert and Goel, Karan and R{\\'e}, Christopher},
  title = {First}, booktitle = {ICLR}, year = {2022}}
@inproceedings{two, author = {Gu, Albert and Gupta, Ankit and Goel, Karan and R{\\'e}, Christopher},
  title = {Second?}, booktitle = {NeurIPS}, year = {2022}}
@misc{three, author = {Yu, Annan}, title = {Alone}, howpublished = {Talk, \\url{https://x.org}},
  year = {2024}}
""")
    assert read_citations([bib]) == {"one": "Gu et al. 2022a", "two": "Gu et al. 2022b",
                                     "three": "Yu 2024"}
    assert read_references([bib]) == {
        "one": "Gu, A., Goel, K. and Ré, C. (2022a). First. ICLR.",
        "two": "Gu, A., Gupta, A., Goel, K. and Ré, C. (2022b). Second? NeurIPS.",
        "three": "Yu, A. (2024). Alone. Talk, https://x.org."}


def load_extension():
    spec = importlib.util.spec_from_file_location("colab_launch", ROOT / "book" / "_ext" / "colab_launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launch_buttons(page):
    """The launch group sphinx-book-theme builds for ``page`` from _config.yml, then rewritten."""
    from jupyter_book.config import yaml_to_sphinx
    from sphinx_book_theme.header_buttons import update_context_with_repository_info
    from sphinx_book_theme.header_buttons.launch import add_launch_buttons

    class Config(dict):
        __getattr__ = dict.__getitem__

    sphinx_config = yaml_to_sphinx(yaml.safe_load((ROOT / "_config.yml").read_text()))[0]
    config = Config(html_theme_options=sphinx_config["html_theme_options"], html_context={})
    env = types.SimpleNamespace(doc2path=lambda name: str(ROOT / f"{name}.ipynb"),
                                metadata={page: {"kernelspec": {"name": "python3"}}})
    app = types.SimpleNamespace(config=config, builder=None, env=env, srcdir=str(ROOT))
    update_context_with_repository_info(app)
    context = dict(config.html_context, pagename=page, sourcename=f"{page}.ipynb", header_buttons=[])
    add_launch_buttons(app, page, "page.html", context, None)
    load_extension().point_launch_buttons_at_copies(app, page, "page.html", context, None)
    (group,) = [g for g in context["header_buttons"] if g.get("label") == "launch-buttons"]
    return {button["text"]: button["url"] for button in group["buttons"]}


@pytest.mark.parametrize("path", notebook_paths(ROOT), ids=nb_id)
def test_the_launch_buttons_open_the_pages_reader_copy(path):
    page = path.relative_to(ROOT).with_suffix("").as_posix()
    urls = launch_buttons(page)
    assert set(urls) == {"Colab", "Binder"}
    colab = urlsplit(urls["Colab"]).path.split("/blob/main/", 1)[1]
    binder = parse_qs(urlsplit(urls["Binder"]).query)["urlpath"][0].removeprefix("tree/")
    assert colab == binder == colab_copy_path(path.relative_to(ROOT))
    assert (ROOT / colab).is_file(), f"the launch buttons of {page} open {colab}, which does not exist"


def test_an_unexpected_launch_url_is_an_error():
    with pytest.raises(ValueError, match="book/01_x: launch URL .* does not end with 'book/01_x.ipynb'"):
        load_extension().reader_copy_url("https://colab.research.google.com/github/o/r/blob/main/x.md",
                                         "book/01_x")


def test_the_extension_is_registered():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"]["colab_launch"] == "book/_ext"
