"""Drop duplicate <script> entries from each page.

Sphinx 7.4 adds a script registered with ``app.add_js_file`` after
``Builder.init()`` twice: once when it is registered, and again in
``prepare_writing``, where an inline script's filename ``None`` becomes ''
so the two copies no longer compare equal. sphinx-thebe registers its
inline ``const THEBE_JS_URL = ...`` that way, and the second copy is a
SyntaxError in every page's console. This keeps the first copy of each
(filename, attributes) pair.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, scripts = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        filename = getattr(script, "filename", script) or ""  # None and '' alike
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
