"""The repository's promises: pinned dependencies, the README's two commands, CI wiring."""

import re


def test_every_requirement_is_pinned(root):
    lines = [ln.split("#")[0].strip() for ln in (root / "requirements.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln]
    assert reqs
    unpinned = [r for r in reqs if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.+]+", r)]
    assert not unpinned, f"unpinned requirements: {unpinned}"
    assert "torch==2.13.0" in reqs, "torch must stay pinned to 2.13.0 (the CPU wheel)"
    names = {r.split("==")[0].lower() for r in reqs}
    for needed in ["jupyter-book", "numpy", "scipy", "matplotlib", "torch", "triton", "ipywidgets", "nbval"]:
        assert needed in names


def test_jupyter_book_is_1x(root):
    assert re.search(r"^jupyter-book==1\.", (root / "requirements.txt").read_text(), re.M)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one(root):
    readme = (root / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    ci = (root / ".ci" / "run").read_text()
    commands = "\n".join(ln for ln in ci.splitlines() if not ln.lstrip().startswith("#"))
    assert re.search(r'^\s*step\s+"[^"]*"\s+make test\s*$', commands, re.M), (
        ".ci/run must call `make test` as a step of its own")
    for target in ["test-other-machine", "colab-test"]:     # alone, or one side of side_by_side
        assert re.search(rf'(^|\s)make {target}(\s+--)?\s*\\?\s*$', commands, re.M), (
            f".ci/run must call `make {target}`")
    assert "make book" in commands, ".ci/run must build the book"


def test_book_build_is_strict(root):
    makefile = (root / "Makefile").read_text()
    build = next(ln for ln in makefile.splitlines() if "jupyter-book build" in ln)
    assert "--warningiserror" in build and "--all" in build
    config = (root / "_config.yml").read_text()
    assert re.search(r"execute_notebooks:\s*force", config)
    assert re.search(r"raise_on_error:\s*true", config)
    assert "sphinx-mathjax-offline" in config
