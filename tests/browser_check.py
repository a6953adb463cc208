"""Open the built book in a real browser and check what a reader sees.

    python tests/browser_check.py _build/html        (``make site-test``)

Serves the built site on 127.0.0.1 (a random free port), opens chapter 0 in
headless Chromium (Debian's ``chromium`` + ``chromium-driver``, through
Selenium), and checks:

- every math element was typeset by MathJax, with no TeX errors;
- figures loaded (at least one, and no broken image);
- the Colab launch link points at this notebook's reader copy (``book/colab/...``,
  which installs seqlearn itself) in the repository of ``_config.yml``, and that
  copy exists in this checkout;
- the embedded ipywidgets rendered (vendored widget manager, no CDN);
- solutions are collapsed;
- every resource the page loaded came from localhost: it works offline;

and, when ``make lectures`` has built it, the same for chapter 0's slide deck
(reveal.js started, MathJax 2 typeset the formulas, the figure loaded).

Writes screenshots to ``_build/site-test/`` and exits 1 on any failure.
It is not a pytest file: it needs a built book and a browser.
"""

import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from seqlearn.notebooks import colab_copy_path, repository  # noqa: E402

PAGE = "book/00_how_to_use.html"
DECK = "lectures/00_how_to_use.slides.html"
NOTEBOOK = "book/00_how_to_use.ipynb"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,900",
]


# Console errors that are not ours and harm nothing: pydata-sphinx-theme
# logs this on a first visit, before a light/dark choice is stored.
BENIGN_CONSOLE = ["Got invalid theme mode: . Resetting to auto."]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser(user_data_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={user_data_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)


def wait_for(driver, script, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: d.execute_script(script))
    except Exception:
        return driver.execute_script(script)


def check_page(driver, base, out_dir):
    failures, notes = [], []
    driver.get(f"{base}/{PAGE}")

    # Math: every .math element holds MathJax output, none holds a TeX error.
    typeset = wait_for(driver, """
        const m = document.querySelectorAll('.math');
        const done = [...m].filter(e => e.querySelector('mjx-container')).length;
        return m.length > 0 && done === m.length ? [m.length, done] : null;""")
    counts = driver.execute_script("""
        const m = document.querySelectorAll('.math');
        return [m.length, [...m].filter(e => e.querySelector('mjx-container')).length,
                document.querySelectorAll('mjx-merror').length];""")
    if not typeset or counts[2]:
        failures.append(f"math: {counts[1]} of {counts[0]} math elements typeset, {counts[2]} TeX errors")
    else:
        notes.append(f"math: all {counts[0]} math elements typeset by MathJax, no TeX errors")

    # Figures: loaded and none broken.
    images = wait_for(driver, """
        const imgs = [...document.querySelectorAll('main img')];
        return imgs.length && imgs.every(i => i.complete) ?
            imgs.map(i => [i.getAttribute('src'), i.naturalWidth]) : null;""") or []
    loaded = [src for src, width in images if width > 0]
    broken = [src for src, width in images if width == 0]
    if not loaded or broken:
        failures.append(f"figures: {len(loaded)} loaded, broken: {broken}")
    else:
        notes.append(f"figures: {len(loaded)} images loaded, none broken")

    # The Colab launch link.
    url, branch = repository(ROOT / "_config.yml")
    path = url.split("github.com/", 1)[-1]
    copy = colab_copy_path(NOTEBOOK)
    want = f"https://colab.research.google.com/github/{path}/blob/{branch}/{copy}"
    if not (ROOT / copy).exists():
        failures.append(f"colab: the reader copy {copy} is missing (make colab-copies)")
    links = driver.execute_script(
        "return [...document.querySelectorAll('a[href*=\"colab.research.google.com\"]')].map(a => a.href);")
    if want not in links:
        failures.append(f"colab: no link to {want}; found {links}")
    else:
        notes.append(f"colab: launch link {want}")

    # Widgets: each embedded widget view rendered by the vendored manager.
    n_views = driver.execute_script(
        "return document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length;")
    if n_views:
        rendered = wait_for(driver, """
            const n = document.querySelectorAll('.widget-slider, .jupyter-widgets.widget-interact').length;
            return n > 0 ? n : null;""")
        if not rendered:
            failures.append(f"widgets: {n_views} widget views embedded, none rendered")
        else:
            notes.append(f"widgets: {n_views} embedded widget views rendered ({rendered} widget elements)")

    # Solutions collapsed.
    solutions = driver.execute_script("""
        return [...document.querySelectorAll('.solution')].map(s =>
            [...s.children].filter(c => !c.classList.contains('admonition-title'))
                .some(c => getComputedStyle(c).visibility !== 'hidden'
                           && c.getBoundingClientRect().height > 0));""")
    if not solutions:
        failures.append("solutions: none found on the page")
    elif any(solutions):
        failures.append(f"solutions: {sum(solutions)} of {len(solutions)} are expanded; expected collapsed")
    else:
        notes.append(f"solutions: all {len(solutions)} collapsed")

    _check_offline_and_console(driver, base, failures, notes)

    # Screenshots: the top of the page, and the whole page.
    out_dir.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(out_dir / "chapter0-top.png"))
    height = driver.execute_script("return document.body.scrollHeight;")
    driver.set_window_size(1280, min(int(height) + 100, 16000))
    driver.save_screenshot(str(out_dir / "chapter0-full.png"))
    return failures, notes


def _check_offline_and_console(driver, base, failures, notes):
    """Nothing fetched from outside this server; no console errors but known benign ones."""
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name);")
    outside = [r for r in resources if not r.startswith(base) and not r.startswith("data:")]
    if outside:
        failures.append(f"offline: the page fetched from outside localhost: {outside}")
    else:
        notes.append(f"offline: all {len(resources)} resources came from localhost")
    severe = [e["message"] for e in driver.get_log("browser")
              if e.get("level") == "SEVERE" and not any(b in e["message"] for b in BENIGN_CONSOLE)]
    if severe:
        failures.append("console errors: " + json.dumps(severe, indent=1))


def check_deck(driver, base, out_dir):
    """The lecture deck of chapter 0: reveal.js, MathJax 2, a figure, offline."""
    failures, notes = [], []
    driver.set_window_size(1280, 800)
    driver.get(f"{base}/{DECK}")
    # nbconvert loads reveal.js through require.js, so Reveal is no global:
    # read its state from the DOM (it marks .reveal "ready").
    slides = wait_for(driver, """
        return document.querySelector('.reveal.ready') ?
            document.querySelectorAll('.reveal .slides > section').length : null;""")
    if not slides or slides < 3:
        failures.append(f"deck: reveal.js did not start (slides: {slides})")
        return failures, notes
    notes.append(f"deck: reveal.js started with {slides} slides")
    math = wait_for(driver, """
        if (!window.MathJax || !MathJax.Hub || MathJax.Hub.queue.pending) return null;
        const n = document.querySelectorAll('.MathJax_CHTML, .mjx-chtml').length;
        const raw = [...document.querySelectorAll('.reveal .slides p, .reveal .slides td')]
            .filter(e => /\$[^$]+\$/.test(e.textContent)).length;
        return n > 0 ? [n, raw, document.querySelectorAll('.MathJax_Error, .mjx-merror').length] : null;""")
    if not math or math[1] or math[2]:
        failures.append(f"deck math: [typeset, raw $..$ left, errors] = {math}")
    else:
        notes.append(f"deck math: {math[0]} formulas typeset by MathJax 2, none left raw")
    images = driver.execute_script(
        "return [...document.querySelectorAll('.reveal img')].map(i => i.complete && i.naturalWidth > 0);")
    if not images or not all(images):
        failures.append(f"deck figures: loaded flags {images}")
    else:
        notes.append(f"deck figures: {len(images)} loaded")
    _check_offline_and_console(driver, base, failures, notes)
    driver.execute_script("location.hash = '#/2';")
    wait_for(driver, "return document.querySelector('.reveal .slides > section.present h2') ? true : null;", 5)
    driver.execute_script("return new Promise(r => setTimeout(r, 1000));")
    driver.save_screenshot(str(out_dir / "deck0-slide3.png"))
    return failures, notes


def main(argv):
    site = Path(argv[1] if len(argv) > 1 else ROOT / "_build" / "html")
    if not (site / PAGE).is_file():
        print(f"no {PAGE} under {site}: run `make book` first")
        return 1
    out_dir = site.parent / "site-test"
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            failures, notes = check_page(driver, base, out_dir)
            if (site / DECK).is_file():
                more_failures, more_notes = check_deck(driver, base, out_dir)
                failures, notes = failures + more_failures, notes + more_notes
            else:
                notes.append(f"deck: {DECK} not built (run `make lectures`); skipped")
        finally:
            driver.quit()
            server.shutdown()
    for note in notes:
        print("ok  ", note)
    for failure in failures:
        print("FAIL", failure)
    print(f"screenshots: {', '.join(sorted(p.name for p in out_dir.glob('*.png')))} in {out_dir}")
    total = len(notes) + len(failures)
    print(f"site test: {len(failures)} of {total} checks failed" if failures else f"site test: all {total} checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
