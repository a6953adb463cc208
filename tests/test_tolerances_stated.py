"""Every numerical tolerance in the unit tests says where it comes from.

A tolerance is a promise about rounding error. Copied from what one CPU printed, it fails
on the next CPU (the HOPE Hankel test did, on an Intel Xeon, by 1.6e-10). So each one
states, in a comment beside it, the error bound of the method it checks: e.g. "float64
sums of n terms in another order differ by at most n·eps·sum|terms| ≈ 1e-13 here".

A *tolerance site* is a code line in ``tests/test_*.py`` with

- ``atol=``, ``rtol=``, ``abs=`` or ``rel=`` set to a number,
- a comparison ``<``, ``<=``, ``>``, ``>=`` with a number written with a negative exponent
  (``1e-12``), or
- a call of ``allclose``, ``isclose``, ``assert_allclose``, ``assert_close`` or ``approx``
  (their default tolerances are tolerances too).

It is *stated* if a ``#`` comment sits on the same line or on a line of the block of
non-blank lines directly above it, up to the enclosing ``def``: one comment may explain
several assertions that share a bound. A tolerance given by name (``atol=TOL``) is stated
where the name is defined. This test cannot judge a comment; it makes sure there is one to
judge, so a reviewer reads the bound next to the number.
"""

import pathlib
import re
import tokenize

import pytest

TESTS = pathlib.Path(__file__).parent
NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
SITE = re.compile(
    rf"\b(?:atol|rtol|abs|rel)\s*=\s*-?{NUMBER}"
    rf"|[<>]=?\s*-?(?:\d+\.?\d*|\.\d+)[eE]-\d+"
    r"|\b(?:allclose|isclose|assert_allclose|assert_close|approx)\s*\("
)


def _lines_of(path):
    """(comment lines, string lines) of ``path``, 1-based, from one pass of ``tokenize``:
    the lines holding a ``#`` comment token (not a ``#`` inside a string), and the lines a
    string token covers (so a docstring's words are not sites)."""
    comments, strings = set(), set()
    with tokenize.open(path) as f:
        for tok in tokenize.generate_tokens(f.readline):
            if tok.type == tokenize.COMMENT:
                comments.add(tok.start[0])
            elif tok.type == tokenize.STRING:
                strings.update(range(tok.start[0], tok.end[0] + 1))
    return comments, strings


def unstated(path):
    """The tolerance sites of ``path`` with no comment beside them: ``[(line, text), ...]``."""
    lines = path.read_text().splitlines()
    comments, strings = _lines_of(path)
    found = []
    for i, line in enumerate(lines, start=1):
        code = line.split("#", 1)[0] if i in comments else line
        if i in strings and not SITE.search(code.split('"""')[0]):
            continue
        if not SITE.search(code):
            continue
        j, stated = i, False
        while j >= 1:
            if j in comments:
                stated = True
                break
            text = lines[j - 1].strip()
            if j < i and (not text or text.startswith(("def ", "async def ", "class "))):
                break
            j -= 1
        if not stated:
            found.append((i, line.strip()))
    return found


FILES = sorted(p for p in TESTS.glob("test_*.py") if p.name != pathlib.Path(__file__).name)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_tolerance_states_its_bound(path):
    missing = unstated(path)
    assert not missing, (
        f"{len(missing)} tolerance(s) in {path.name} without a comment stating the error "
        "bound they come from:\n" + "\n".join(f"  line {n}: {text}" for n, text in missing))


def test_the_scan_finds_what_it_should():
    """The rule itself, on a made-up file: a bare tolerance is found, a commented one is not."""
    import tempfile
    src = (
        "def test_a():\n"
        "    assert abs(x - y) < 1e-12\n"
        "\n"
        "def test_b():\n"
        "    # float64, n = 10 terms: error <= 10 eps |x|\n"
        "    assert abs(x - y) < 1e-12\n"
        "    np.testing.assert_allclose(x, y)\n"
        "\n"
        "def test_c():\n"
        "    s = '# not a comment'\n"
        "    assert torch.allclose(x, y, atol=1e-6)\n"
        "    assert acc > 0.9\n"
    )
    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / "test_made_up.py"
        p.write_text(src)
        assert [n for n, _ in unstated(p)] == [2, 11]
