"""Reader copies (book/colab/): what the book's Colab and Binder buttons open.

Each committed copy must be exactly the plain-Markdown conversion of its
notebook, and every page's launch buttons must point at a copy that exists.
"""

import importlib.util
import types
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from test_plain_markdown import MYST_LEFT

from seqlearn.notebooks import (COLAB_DIR, SOLUTION_TAG, colab_copy_path, dumps, notebook_paths, read,
                                reader_copy, source, tags)
from seqlearn.plain_markdown import read_book

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
    assert [c for c in copy["cells"] if c["cell_type"] == "code"] == [
        c for c in nb["cells"] if c["cell_type"] == "code"]
    assert copy["metadata"] == nb["metadata"]
    solutions = [s for s in map(source, nb["cells"]) if "{solution-start}" in s]
    headings = [s for s in map(source, copy["cells"]) if s.startswith("**Solution to Exercise ")]
    assert len(headings) == len(solutions)
    assert sum(SOLUTION_TAG in tags(c) for c in copy["cells"]) == (
        sum(SOLUTION_TAG in tags(c) for c in nb["cells"]) - len(solutions))  # the {solution-end}s go
    for i, cell in enumerate(copy["cells"]):
        if cell["cell_type"] == "markdown":
            assert not MYST_LEFT.search(source(cell)), f"{copy_of(path)}: cell {i} still holds MyST"


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
