"""Open a reader copy in JupyterLab, in headless Chromium, and check what a reader sees.

    python tests/reader_copy_check.py [book/colab/00_how_to_use.ipynb]   (``make reader-copy-test``)

Starts JupyterLab on 127.0.0.1 (a free port, no token, no browser) at the
repository's root, opens the copy, and checks in the rendered page:

- every solution's Markdown is a closed ``<details>`` block (its summary shown,
  its body not);
- every solution's code cell is collapsed (JupyterLab shows a placeholder, not
  the code);
- the last cell is the reference list, with one entry per cited work.

Writes screenshots (the first solution, the references) to ``_build/reader-copy-test/``
and exits 1 on any failure. Not a pytest file: it needs Chromium (Debian's ``chromium``
and ``chromium-driver``) and takes about half a minute. The structure of every copy
is tested without a browser by tests/test_colab_copies.py.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from seqlearn.notebooks import read, source  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "reader-copy-test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(port):
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--IdentityProvider.token=", f"--ServerApp.root_dir={ROOT}",
           f"--LabApp.workspaces_dir={OUT / 'workspaces'}", f"--LabApp.user_settings_dir={OUT / 'settings'}"]
    shutil.rmtree(OUT / "workspaces", ignore_errors=True)   # open only the copy, in a fresh layout
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # containers run as root
        cmd.append("--allow-root")
    log = open(OUT / "jupyterlab.log", "w")
    lab = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(360):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=1)
            return lab
        except OSError:
            time.sleep(0.5)
    lab.kill()
    raise SystemExit(f"JupyterLab did not start in 180 s: see {OUT / 'jupyterlab.log'}")


def main(copy="book/colab/00_how_to_use.ipynb"):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    expected = sum(source(c).startswith("<details>\n<summary><b>Solution to Exercise ")
                   and "continued" not in source(c) for c in read(ROOT / copy)["cells"])

    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lab = start_lab(port)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")),
                              options=options)
    failures, notes = [], []
    try:
        driver.get(f"http://127.0.0.1:{port}/lab/tree/{copy}")
        deadline = time.time() + 90
        while time.time() < deadline and not driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"):
            time.sleep(0.5)
        time.sleep(3)   # let the rest of the cells render
        # JupyterLab renders cells lazily: ask every cell to render by scrolling through.
        driver.execute_script("""
            const nb = document.querySelector('.jp-WindowedPanel-outer, .jp-Notebook');
            return nb ? nb.scrollHeight : 0;""")
        details = driver.execute_script("""
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer') || document.scrollingElement;
            const seen = new Map(); let y = 0;
            return new Promise(done => {
              const step = () => {
                document.querySelectorAll('.jp-MarkdownCell details').forEach((d, i) => {
                  const s = d.querySelector('summary');
                  seen.set(s ? s.textContent : String(i), d.open);
                });
                if (y > panel.scrollHeight) { done([...seen.entries()]); return; }
                y += 400; panel.scrollTop = y; setTimeout(step, 400);
              };
              step();
            });""")
        solutions = [s for s, _ in details if s.startswith("Solution to Exercise")
                     and not s.endswith("continued")]
        if len(solutions) != expected:
            failures.append(f"{len(solutions)} solution blocks rendered, the copy has {expected}")
        opened = [s for s, is_open in details if is_open]
        if opened:
            failures.append(f"solutions rendered open: {opened[:3]}")
        notes.append(f"{len(solutions)} solution blocks rendered, all closed" if not opened else "")
        # A collapsed code cell shows a placeholder with its first line; an open one, the code.
        code = driver.execute_script("""
            return [...document.querySelectorAll('.jp-CodeCell')].map(c => [
              (c.querySelector('.jp-InputPlaceholder') || {textContent: ''}).textContent,
              (c.querySelector('.jp-InputArea .cm-content') || {textContent: ''}).textContent]);""")
        collapsed = [p for p, _ in code if "@title Solution to Exercise" in p]
        shown = [i for i, (_, text) in enumerate(code) if text.startswith("# @title Solution")]
        if shown:
            failures.append(f"solution code shown in code cells {shown}")
        if not collapsed:
            failures.append("no collapsed solution code cell rendered")
        notes.append(f"{len(collapsed)} solution code cells in view, collapsed to their title")
        # The first solution, as a reader meets it.
        driver.execute_script("""
            const s = [...document.querySelectorAll('.jp-MarkdownCell summary')]
              .find(s => s.textContent.startsWith('Solution to Exercise'));
            if (s) s.scrollIntoView({block: 'center'});""")
        time.sleep(1)
        driver.save_screenshot(str(OUT / "solution.png"))
        panel_end = """
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer') || document.scrollingElement;
            panel.scrollTop = panel.scrollHeight;"""
        driver.execute_script(panel_end)
        time.sleep(2)
        driver.execute_script(panel_end)
        time.sleep(1)
        headings = driver.execute_script(
            "return [...document.querySelectorAll('.jp-MarkdownCell h2')].map(h => h.textContent);")
        if not any(h.startswith("References") for h in headings):
            failures.append(f"no References heading at the end; h2s seen: {headings[-3:]}")
        else:
            items = driver.execute_script("""
                const h = [...document.querySelectorAll('.jp-MarkdownCell h2')]
                  .find(h => h.textContent.startsWith('References'));
                h.scrollIntoView({block: 'start'});
                return [...h.closest('.jp-MarkdownCell').querySelectorAll('li')].length;""")
            time.sleep(1)
            notes.append(f"References: {items} entries")
        driver.save_screenshot(str(OUT / "references.png"))
    finally:
        driver.quit()
        lab.kill()
    for note in filter(None, notes):
        print("ok:", note)
    for failure in failures:
        print("FAIL:", failure)
    print(f"screenshots in {OUT}/")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
