r"""MyST Markdown to plain Markdown, for notebooks opened outside the book.

The notebooks are written in MyST Markdown (Jupyter Book 1.x with
sphinx-exercise); Jupyter and Colab show that markup raw. ``plain_markdown``
converts one Markdown cell, for the student and reader copies written by
``seqlearn.notebooks``:

====================================================  ==============================================
MyST                                                  plain Markdown
====================================================  ==============================================
```{exercise} Title  (with ``:label: ex-x``)          ``**Exercise 3** (Title)``, then the body
```{solution-start} ex-x                              ``**Solution to Exercise 3** (Title)``
```{solution-end}                                     nothing
```{admonition} Title, ```{note} (and the others)     a quote: ``> **Title**``, then ``> `` lines
``$$ ... $$ (eq-x)``                                  ``$$ ... \tag{4} $$``
{eq}`eq-x`                                            ``(4)``
{cite:p}`a,b`                                         ``(Gu et al. 2022; Gu and Dao 2024)``
{cite:t}`a`                                           ``Gu et al. (2022)``, with ``2022a``, ``2022b``
                                                      where two entries would read alike
{doc}`text <target>`, {doc}`target`                   the text (or the target's title), linked to
                                                      the target's ``.ipynb`` when it is a notebook
                                                      in the same folder
``(label)=``                                          dropped
====================================================  ==============================================

The numbers are the rendered book's. Its table of contents is not numbered,
so Sphinx numbers exercises and labelled equations through the whole book, in
the order of ``_toc.yml`` (three exercises in chapter 0 make chapter 1's
first one Exercise 4); ``read_book`` collects them. Citations are author-year
like the book's, in the order the book prints them (its bibliography's).

Code blocks are copied as they are. Anything else MyST (another directive,
role or option, a MyST comment, a block break, a substitution, a definition
list, an amsmath environment outside ``$$``) raises ValueError naming the
notebook, the cell and the construct: raw MyST never reaches a reader.
"""

import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
DIRECTIVE = re.compile(r"^\{(?P<name>[^{}\s]+)\}[ \t]*(?P<arg>.*?)\s*$")
OPTION = re.compile(r"^\s*:(?P<key>[\w-]+):[ \t]*(?P<value>.*?)\s*$")
TARGET = re.compile(r"^ {0,3}\([^()\s]+\)=\s*$")
LABELLED_MATH = re.compile(r"\$\$(?P<body>(?:(?!\$\$).)*?)\$\$[ \t]*\((?P<label>[^()\s]+)\)", re.S)
MATH = re.compile(r"\$\$(?:(?!\$\$).)*?\$\$(?:[ \t]*\([^()\s]+\))?|\$[^$\n]+\$", re.S)
# A code span, or a role: {name} directly followed by a code span. The opening run of
# backticks is whole (not preceded by one) and possessive (never shortened), so a run of
# n backticks costs O(n), not O(n^3) by backtracking (2,000 backticks took 40 s).
ROLE_OR_CODE = re.compile(r"(?:\{(?P<role>[A-Za-z][\w:+.-]*)\})?(?<!`)(?P<ticks>`++)"
                          r"(?P<text>.+?)(?<!`)(?P=ticks)(?!`)", re.S)
DOC_TARGET = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)

ADMONITIONS = {"admonition": None, "note": "Note", "tip": "Tip", "hint": "Hint",
               "important": "Important", "seealso": "See also", "attention": "Attention",
               "caution": "Caution", "warning": "Warning", "danger": "Danger", "error": "Error"}
OPTIONS = {"exercise": {"label", "class"}, "solution-start": {"class"}, "solution-end": set(),
           **{name: {"class"} for name in ADMONITIONS}}
# MyST left over in text once roles, code spans and math are taken out.
UNKNOWN = [
    (re.compile(r"\{[A-Za-z][\w:+.-]*\}`"), "a role without its closing backtick"),
    (re.compile(r"^ {0,3}%", re.M), "a MyST comment (% ...)"),
    (re.compile(r"^ {0,3}\+\+\+", re.M), "a MyST block break (+++)"),
    (re.compile(r"\{\{[^{}]*\}\}"), "a substitution ({{ ... }})"),
    (re.compile(r"^ {0,3}:[ \t]", re.M), "a definition list (: ...)"),
    (re.compile(r"^ {0,3}\\begin\{", re.M), "an amsmath environment outside $$"),
    (re.compile(r"\$\$"), "an unclosed $$"),
]


@dataclass
class Book:
    """What converting a page needs to know about the whole book (see ``read_book``)."""

    root: Path        # the folder of _toc.yml
    exercises: dict   # label -> (number, title)
    equations: dict   # label -> number
    titles: dict      # page ("book/01_recurrent_networks") -> its title
    notebooks: set    # the pages that are notebooks
    bibfiles: list    # the .bib files, read at the first citation
    citations: dict = field(default=None, repr=False)  # key -> "Author et al. 2020"
    references: dict = field(default=None, repr=False)  # key -> "Author, A. (2020). Title. Venue."

    def exercise(self, label, where):
        if label not in self.exercises:
            raise ValueError(f"{where}: no exercise labelled {label!r} in the book")
        return self.exercises[label]

    def equation(self, label, where):
        if label not in self.equations:
            raise ValueError(f"{where}: no equation labelled {label!r} in the book ({{eq}}`{label}`)")
        return self.equations[label]

    def cite(self, keys, where, textual=False):
        """``(A 1990; B and C 1997; D et al. 2020)`` for the comma-separated ``keys``; with
        ``textual`` ({cite:t}) ``A (1990); B and C (1997)``, the citation as a noun."""
        if self.citations is None:
            self.citations = read_citations(self.bibfiles)
        wanted = {key.strip() for key in keys.split(",")}
        unknown = sorted(wanted - set(self.citations))
        if unknown:
            raise ValueError(f"{where}: unknown citation key {unknown[0]!r} in {{cite:p}}`{keys}` "
                             f"(not in {', '.join(map(str, self.bibfiles))})")
        labels = [label for key, label in self.citations.items() if key in wanted]
        if textual:
            return "; ".join(f"{who} ({year})" for who, _, year in
                             (label.rpartition(" ") for label in labels))
        return "(" + "; ".join(labels) + ")"

    def reference_list(self, keys):
        """The entries of ``keys`` (cited on one page) as Markdown list lines, in the book's order."""
        if self.references is None:
            self.references = read_references(self.bibfiles)
        return [f"- {text}" for key, text in self.references.items() if key in keys]

    def doc(self, content, page, where):
        """The text of {doc}`text <target>` or the title of {doc}`target`, linked to a sibling notebook."""
        match = DOC_TARGET.match(content)
        text, target = (match["text"], match["target"]) if match else ("", content)
        target = target.strip()
        if target.startswith("/"):
            target = target.lstrip("/")
        else:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), target))
        target = re.sub(r"\.(md|ipynb)$", "", target)
        if target not in self.titles:
            raise ValueError(f"{where}: {{doc}}`{content}` names no page of the table of contents")
        text = text or self.titles[target]
        if target in self.notebooks and posixpath.dirname(target) == posixpath.dirname(page):
            return f"[{text}]({posixpath.basename(target)}.ipynb)"
        return text


def read_book(root):
    """The numbers, titles and bibliography of the book whose ``_toc.yml`` is in ``root``.

    Exercises and labelled equations are numbered 1, 2, ... through the pages
    in table-of-contents order, as Sphinx numbers them when the table of
    contents is not numbered.
    """
    import yaml

    root = Path(root).resolve()
    exercises, equations, titles, notebooks = {}, {}, {}, set()
    for page in toc_pages(root):
        texts = page_texts(root, page)
        if root.joinpath(page + ".ipynb").is_file():
            notebooks.add(page)
        for where, text in texts:
            page_exercises, page_equations = scan(text, where)
            for label, title in page_exercises:
                if label in exercises:
                    raise ValueError(f"{where}: a second exercise labelled {label!r}")
                exercises[label] = (len(exercises) + 1, title)
            for label in page_equations:
                if label in equations:
                    raise ValueError(f"{where}: a second equation labelled {label!r}")
                equations[label] = len(equations) + 1
        headings = (re.search(r"^#\s+(.+)$", text, re.M) for _, text in texts)
        titles[page] = next((h[1].strip() for h in headings if h), page)
    config = yaml.safe_load(root.joinpath("_config.yml").read_text()) or {}
    bibfiles = [root / f for f in config.get("bibtex_bibfiles", [])]
    return Book(root, exercises, equations, titles, notebooks, bibfiles)


def toc_pages(root):
    """The pages of ``root/_toc.yml`` (``root``, ``parts``, ``chapters``, ``sections``), in order."""
    import yaml

    toc = yaml.safe_load(Path(root, "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "glob" in entry:
                raise ValueError(f"{root}/_toc.yml: 'glob' entries are not supported here")
            if "file" in entry:
                pages.append(re.sub(r"\.(md|ipynb)$", "", entry["file"]))
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    return pages


def page_texts(root, page):
    """[(where, MyST text)] of a page: one per Markdown cell of a notebook, or the whole .md file."""
    path = Path(root, page + ".ipynb")
    if path.is_file():
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return [(f"{page}.ipynb: cell {i}", "".join(c["source"]) if isinstance(c["source"], list)
                 else c["source"]) for i, c in enumerate(cells) if c["cell_type"] == "markdown"]
    path = path.with_suffix(".md")
    if path.is_file():
        return [(f"{page}.md", path.read_text(encoding="utf-8"))]
    raise ValueError(f"{root}/_toc.yml lists {page!r}, but neither {page}.ipynb nor {page}.md exists")


def _sorted_entries(bibfiles):
    """The entries of ``bibfiles`` in the order of sphinxcontrib-bibtex's default
    ("alpha") style, which is how the book orders the keys of one citation."""
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin

    entries = [entry for f in bibfiles for entry in parse_file(f).entries.values()]
    return find_plugin("pybtex.style.formatting", "alpha")().sort(entries)


def _text(latex):
    """A BibTeX field as plain text: braces, accents and ``\\url{...}`` resolved."""
    from pybtex.richtext import Text

    return Text.from_latex(re.sub(r"\\url\{([^{}]*)\}", r"\1", latex)).render_as("text")


def _people(entry, bibfiles):
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    if not people:
        raise ValueError(f"{', '.join(map(str, bibfiles))}: entry {entry.key!r} has no author")
    return people


def read_citations(bibfiles):
    """key -> "Author Year", "Author and Author Year" or "Author et al. Year", in the book's order.

    Two entries that would get the same label (S4 and S4D: "Gu et al. 2022")
    get the year's letters in that order: "Gu et al. 2022a", "Gu et al. 2022b".
    """
    labels = {}
    for entry in _sorted_entries(bibfiles):
        names = [_text(" ".join(p.prelast_names + p.last_names)) for p in _people(entry, bibfiles)]
        who = f"{names[0]} et al." if len(names) > 2 or "others" in names else " and ".join(names)
        labels[entry.key] = f"{who} {entry.fields.get('year', 'n.d.')}"
    same = {}
    for key, label in labels.items():
        same.setdefault(label, []).append(key)
    for keys in same.values():
        if len(keys) > 1:
            for letter, key in zip("abcdefghijklmnopqrstuvwxyz", keys):
                labels[key] += letter
    return labels


def read_references(bibfiles):
    """key -> "Gu, A., Goel, K. and Ré, C. (2022a). Title. Venue.", in the book's order.

    The year carries the same letter as the entry's citation label
    (``read_citations``); the venue is the journal, the proceedings, the
    report's institution, the publisher or ``howpublished``, whichever the
    entry has, with an arXiv identifier where there is one.
    """
    labels = read_citations(bibfiles)
    out = {}
    for entry in _sorted_entries(bibfiles):
        names = []
        for person in _people(entry, bibfiles):
            last = _text(" ".join(person.prelast_names + person.last_names))
            if last == "others":
                names.append("et al.")
                continue
            initials = " ".join(_text(n)[:1] + "." for n in person.first_names + person.middle_names)
            names.append(f"{last}, {initials}" if initials else last)
        if names[-1] == "et al.":
            authors = ", ".join(names[:-1]) + " et al."
        else:
            authors = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        f = entry.fields
        venue = next((f[k] for k in ("journal", "booktitle", "institution", "publisher",
                                     "howpublished") if k in f), "")
        if f.get("eprint") and "arxiv" not in venue.lower():
            venue = (venue + ", " if venue else "") + f"arXiv:{f['eprint']}"
        year = labels[entry.key].rpartition(" ")[2]
        title = _text(f.get("title", ""))
        text = f"{authors} ({year}). {title}" + ("" if title.endswith(("?", "!", ".")) else ".")
        out[entry.key] = text + (f" {_text(venue)}." if venue else "")
    return out


def blocks(text, where):
    """Split MyST text into ``("text", lines)`` runs and ``("fence", match, body, lines)`` blocks.

    A fence (``` or ~~~ code, or a ```{name} / :::{name} directive) ends at
    the first line of the same character, at least as long, and nothing else.
    """
    lines, run, i = text.split("\n"), [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            run.append(lines[i])
            i += 1
            continue
        fence = opening["fence"]
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        if end is None:
            raise ValueError(f"{where}: the fence {lines[i].strip()!r} is never closed")
        if run:
            yield "text", run
            run = []
        yield "fence", opening, lines[i + 1:end], lines[i:end + 1]
        i = end + 1
    if run:
        yield "text", run


def directive(opening, body, where):
    """(name, argument, options, body) of a directive; None for a code block."""
    match = DIRECTIVE.match(opening["info"].strip())
    if match is None:
        if opening["fence"].startswith(":"):
            raise ValueError(f"{where}: a ::: fence that is not a directive: {opening[0].strip()!r}")
        return None
    name, options = match["name"], {}
    while body and OPTION.match(body[0]):
        option = OPTION.match(body[0])
        options[option["key"]] = option["value"]
        body = body[1:]
    if body and body[0].strip() == "---":
        raise ValueError(f"{where}: YAML options (---) of the {{{name}}} directive are not supported")
    return name, match["arg"], options, body


def scan(text, where):
    """The exercises [(label, title)] and labelled equations [label] of a MyST text, in order."""
    exercises, equations = [], []
    for kind, *block in blocks(text, where):
        if kind == "text":
            equations += [m["label"] for m in LABELLED_MATH.finditer("\n".join(block[0]))]
            continue
        parsed = directive(block[0], block[1], where)
        if parsed is None:
            continue
        name, arg, options, body = parsed
        if name == "exercise":
            if not options.get("label"):
                raise ValueError(f"{where}: an {{exercise}} without a :label: (give it one)")
            exercises.append((options["label"], arg))
        inner_exercises, inner_equations = scan("\n".join(body), where)
        exercises += inner_exercises
        equations += inner_equations
    return exercises, equations


def plain_markdown(text, book, page, where):
    """``text`` (one Markdown cell of ``page``, e.g. ``"book/00_how_to_use"``) as plain Markdown.

    ``where`` ("book/00_how_to_use.ipynb: cell 15") starts every error message.
    """
    out = []  # lines, and None: a paragraph break between two non-blank lines
    for kind, *block in blocks(text, where):
        if kind == "text":
            out += plain_text(block[0], book, page, where).split("\n")
            continue
        opening, body, lines = block
        parsed = directive(opening, body, where)
        if parsed is None:
            out += lines
        else:
            indent = opening["indent"]
            out += [None] + [indent + line if line else line
                             for line in plain_directive(*parsed, book, page, where)] + [None]
    joined = []
    for k, line in enumerate(out):
        if line is not None:
            joined.append(line)
        elif joined and joined[-1].strip() and any(x is not None and x.strip() for x in out[k + 1:k + 2]):
            joined.append("")
    return "\n".join(joined)


def plain_directive(name, arg, options, body, book, page, where):
    """The plain-Markdown lines of one directive (see the module docstring)."""
    if name not in OPTIONS:
        raise ValueError(f"{where}: unknown MyST directive {{{name}}}")
    for key in options:
        if key not in OPTIONS[name]:
            raise ValueError(f"{where}: unknown option :{key}: of the {{{name}}} directive")
    inner = plain_markdown("\n".join(body), book, page, where).strip("\n")
    inner = inner.split("\n") if inner else []
    if name == "exercise":
        number, _ = book.exercise(options.get("label", ""), where)
        return [f"**Exercise {number}**" + (f" ({arg})" if arg else ""), ""] + inner
    if name == "solution-start":
        number, title = book.exercise(arg, where)
        return [f"**Solution to Exercise {number}**" + (f" ({title})" if title else "")] + inner
    if name == "solution-end":
        return inner
    title = arg or ADMONITIONS[name]
    if not title:
        raise ValueError(f"{where}: an {{admonition}} needs a title")
    return [f"> **{title}**"] + [f"> {line}" if line.strip() else ">" for line in [""] + inner]


def plain_text(lines, book, page, where):
    """Text outside fences: targets dropped, roles and labelled equations converted."""
    text = "\n".join(line for line in lines if not TARGET.match(line))
    skeleton = MATH.sub("x", ROLE_OR_CODE.sub("x", text))
    for pattern, construct in UNKNOWN:
        found = pattern.search(skeleton)
        if found:
            line = skeleton[:found.start()].count("\n")
            raise ValueError(f"{where}: MyST the plain-Markdown copy cannot show: {construct}, "
                             f"in {skeleton.split(chr(10))[line].strip()!r}")
    pieces, start = [], 0
    for match in ROLE_OR_CODE.finditer(text):
        pieces.append(tagged_equations(text[start:match.start()], book, where))
        pieces.append(plain_role(match["role"], match["text"], book, page, where)
                      if match["role"] else match[0])
        start = match.end()
    pieces.append(tagged_equations(text[start:], book, where))
    return "".join(pieces)


def tagged_equations(text, book, where):
    r"""``$$ ... $$ (label)`` -> ``$$ ... \tag{n} $$``, with the book's number n."""
    def tag(match):
        body = match["body"]
        number = book.equation(match["label"], where)
        return f"$${body.rstrip()} \\tag{{{number}}}{chr(10) if chr(10) in body else ' '}$$"
    return LABELLED_MATH.sub(tag, text)


def cited_keys(text):
    """The citation keys of the {cite:p} and {cite:t} roles in MyST ``text``."""
    return {key.strip() for match in ROLE_OR_CODE.finditer(text)
            if match["role"] in ("cite:p", "cite:t") for key in match["text"].split(",")}


def plain_role(name, content, book, page, where):
    """{eq}, {cite:p}, {cite:t} and {doc} as text; any other role is refused."""
    if name == "eq":
        return f"({book.equation(content.strip(), where)})"
    if name == "cite:p":
        return book.cite(content, where)
    if name == "cite:t":
        return book.cite(content, where, textual=True)
    if name == "doc":
        return book.doc(content, page, where)
    raise ValueError(f"{where}: unknown MyST role {{{name}}}`{content}`")
