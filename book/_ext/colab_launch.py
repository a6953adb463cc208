"""Point the Colab and Binder launch buttons at the page's reader copy.

sphinx-book-theme's launch buttons open the page's own notebook,
``book/NN.ipynb``, whose MyST markup Colab shows raw. This rewrites the
Colab and Binder URLs to the reader copy, ``book/colab/NN.ipynb`` (decks:
``book/colab/lectures/NN.ipynb``): the same notebook in plain Markdown,
written by ``make colab-copies`` (see ``seqlearn.notebooks``). It runs after
the theme's ``add_launch_buttons`` (priority 501) and warns when a copy is
missing, which ``--warningiserror`` turns into a failed build.
"""

from pathlib import Path

from sphinx.util import logging

from seqlearn.notebooks import colab_copy_path

LOGGER = logging.getLogger(__name__)
REWRITTEN = ("Colab", "Binder")


def reader_copy_url(url, pagename):
    """``url``, which ends with ``pagename + ".ipynb"``, ending with the reader copy's path instead."""
    notebook = f"{pagename}.ipynb"
    if not url.endswith(notebook):
        raise ValueError(f"{pagename}: launch URL {url!r} does not end with {notebook!r}")
    return url[: -len(notebook)] + colab_copy_path(notebook)


def point_launch_buttons_at_copies(app, pagename, templatename, context, doctree):
    """``html-page-context`` hook: rewrite the Colab and Binder entries of the launch group."""
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("text") in REWRITTEN:
                button["url"] = reader_copy_url(button["url"], pagename)
        copy = Path(app.srcdir, colab_copy_path(f"{pagename}.ipynb"))
        if not copy.is_file():
            LOGGER.warning(f"{pagename}: no reader copy {copy} for the launch buttons; "
                           f"run `make colab-copies`")


def setup(app):
    app.connect("html-page-context", point_launch_buttons_at_copies, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
