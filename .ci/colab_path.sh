#!/usr/bin/env bash
# The Colab path, tested: every notebook executed the way a reader on Colab
# runs it -- the reader copy in book/colab/ that the book's launch button
# opens -- in a fresh virtual environment that holds only what a
# Colab runtime brings to execute notebooks (a kernel and nbclient/nbconvert,
# at requirements.txt's pins), where the notebook's own first cell -- the set-up
# cell of seqlearn.notebooks.colab_cell_source -- pip-installs seqlearn from
# the repository by URL with pyproject.toml's dependencies only (never
# requirements.txt). The URL is this clone's (git+file://), the revision its
# HEAD commit; .ci/colab-constraints.txt (PIP_CONSTRAINT) holds torch at the
# CPU build so nothing huge is pulled. Catches a missing dependency or missing
# package data before a reader does.
#
# Usage: bash .ci/colab_path.sh      (or `make colab-test`; any cwd; ~10 min)
#
#   What is tested is the COMMITTED state: seqlearn is installed from HEAD and
#   the notebooks, notebooks.py, _config.yml and requirements.txt are taken
#   from HEAD too; uncommitted changes in the working tree are not tested
#   (commit them first, e.g. on a scratch branch). COLAB_REF=<rev> tests
#   another commit.
#
# Environment knobs: PYTHON (default python3.11) makes the venv;
# COLAB_KEEP=1 keeps the temp folder (venv, executed notebooks) for a look;
# COLAB_TIMEOUT=<s> overrides the per-cell timeout (default: execute.timeout
# of _config.yml, as `make book` applies it); COLAB_ONLY="book/07_* lectures/*"
# executes only the notebooks matching these patterns (the first one installs).
# Network: only the package index pip is configured with (PyPI or a mirror);
# the CPU torch wheel must be reachable (find-links, or
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
#
# Exit 1 on any cell error (naming the notebook, with the traceback) or when
# a check fails: seqlearn installed from the git URL at HEAD (not editable,
# not from src/), every tracked file of src/seqlearn installed (package data),
# nothing installed beyond seqlearn's dependency closure (plus the kernel and
# executor), no CUDA wheels, `pip check` clean.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
SHA="$(git -C "$ROOT" rev-parse --verify "${COLAB_REF:-HEAD}^{commit}")"
CONSTRAINTS="$ROOT/.ci/colab-constraints.txt"

# The URL the set-up cell installs from. "file://localhost/ABS" rather than
# "file:///ABS": pip < 24.1 (this python3.11's bundled 23.2.1) rejects the
# cell's PEP 508 form "seqlearn @ git+file:///ABS@REV" ("Invalid requirement
# ... It looks like a path": its packaging wants a non-empty host); with a
# host it accepts it, and git treats file://localhost/ABS as file:///ABS.
# The https://github.com/... URL of Colab has a host, so is not affected.
URL="file://localhost$ROOT"

step() { echo; echo "=== $* ($(date +%T))"; }
SECONDS=0

WORK="$(mktemp -d "${TMPDIR:-/tmp}/colab-path.XXXXXX")"
cleanup() {
  if [ "${COLAB_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
VENV="$WORK/venv"; VPY="$VENV/bin/python"
TREE="$WORK/tree"     # files of the tested commit
RUN="$WORK/run"       # the reader copies alone, as on Colab: book/*.ipynb, lectures/*.ipynb
mkdir -p "$TREE" "$RUN"

step "the Colab path at ${SHA:0:12} ($URL)"
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]; then
  echo "note: the working tree has uncommitted changes; they are NOT tested (HEAD is)"
fi
git -C "$ROOT" archive --format=tar "$SHA" -- _config.yml requirements.txt src/seqlearn book lectures \
  | tar -x -C "$TREE"

# A clean run: none of the caller's Python, pip or Jupyter settings leak in.
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PIP_USER PIP_TARGET PIP_PREFIX PIP_REQUIREMENT PIP_EDITABLE
export PYTHONNOUSERSITE=1
export PIP_CONSTRAINT="$CONSTRAINTS"   # replaces (does not add to) a constraint of pip's config files
export PIP_NO_COLOR=1                  # pip in the kernel writes to this log: no ANSI codes
export JUPYTER_PATH="$WORK/jupyter/share/jupyter"   # searched first: our python3 kernelspec wins
export JUPYTER_CONFIG_DIR="$WORK/jupyter/config" JUPYTER_RUNTIME_DIR="$WORK/jupyter/runtime"
export IPYTHONDIR="$WORK/ipython" MPLCONFIGDIR="$WORK/mpl"

step "fresh venv ($PYTHON) with only a kernel and a notebook executor"
"$PYTHON" -m venv "$VENV"
pin() {  # NAME==VERSION of requirements.txt at the tested commit
  local line; line="$(grep -E "^$1==" "$TREE/requirements.txt" | head -n1)" || true
  [ -n "$line" ] || { echo "error: requirements.txt pins no $1" >&2; exit 1; }
  echo "${line%%[[:space:]#]*}"
}
KERNEL="$(pin ipykernel)"; EXECUTOR="$(pin nbconvert)"   # nbconvert brings nbclient
"$VPY" -m pip install -q "$KERNEL" "$EXECUTOR"
"$VPY" -m ipykernel install --prefix "$WORK/jupyter" --name python3 >/dev/null
"$VPY" -m pip list --format=freeze > "$WORK/baseline.txt"
"$VPY" -c 'import importlib.util as u; assert u.find_spec("seqlearn") is None, "seqlearn already importable"'
echo "installed: $KERNEL $EXECUTOR, with their dependencies $(wc -l < "$WORK/baseline.txt") packages"

step "notebooks: the set-up cell rewritten to install from this clone at ${SHA:0:12}"
"$VPY" - "$TREE" "$RUN" "$URL" "$SHA" <<'PY'
import re, sys
from pathlib import Path
tree, run, url, sha = Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:]
# the book tooling of the tested commit, from its source: it needs only the
# standard library for this (this process alone; the kernels do not see it)
sys.path.insert(0, str(tree / "src"))
from seqlearn import notebooks as nbtools
cell = nbtools.colab_cell_source(url, sha)
found = re.findall(r'"seqlearn @ git\+' + re.escape(f"{url}@{sha}") + '"', cell)
if len(found) != 1:
    sys.exit("error: colab_cell_source no longer writes one \"seqlearn @ git+URL@REV\" "
             "requirement; update .ci/colab_path.sh\n" + cell)
print("cell installs:", found[0])
paths = nbtools.notebook_paths(tree)
if not paths:
    sys.exit("error: no notebooks found")
for path in paths:
    copy = tree / nbtools.colab_copy_path(path.relative_to(tree))   # what the launch button opens
    if not copy.is_file():
        sys.exit(f"error: no reader copy {copy.relative_to(tree)} (run `make colab-copies`)")
    nb = nbtools.read(copy)
    first = nbtools.first_code_cell(nb)
    if first is None or nbtools.COLAB_TAG not in nbtools.tags(first):
        sys.exit(f"error: {path.relative_to(tree)}: the first code cell is not the "
                 f"'{nbtools.COLAB_TAG}' cell (run `make colab-cell`)")
    nbtools.set_colab_cell(nb, cell)
    target = run / path.relative_to(tree)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbtools.write(nb, target)
print(f"{len(paths)} notebooks copied to {run}")
PY

step "executing every notebook in the new venv's kernel"
status=0
"$VPY" - "$TREE/_config.yml" "$RUN" "$WORK/times.tsv" <<'PY' || status=1
import fnmatch, os, re, sys, time, traceback
from datetime import datetime
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

config, run, times = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
# _config.yml's execute.timeout, applied as `make book` applies it (myst-nb
# hands it to nbclient: seconds per cell, the set-up cell's install included)
m = re.search(r"^execute:\s*\n(?:[ \t]+.*\n|\s*\n)*?[ \t]+timeout:\s*(\d+)", config.read_text(), re.M)
if not m:
    sys.exit(f"error: no execute.timeout in {config}")
timeout = int(os.environ.get("COLAB_TIMEOUT") or m.group(1))
print(f"timeout: {timeout} s per cell ("
      + ("COLAB_TIMEOUT" if os.environ.get("COLAB_TIMEOUT") else "execute.timeout of _config.yml") + ")")

def seconds(cell):
    t = cell.get("metadata", {}).get("execution", {})
    try:
        return (datetime.fromisoformat(t["shell.execute_reply"])
                - datetime.fromisoformat(t["iopub.execute_input"])).total_seconds()
    except (KeyError, ValueError):
        return float("nan")

failed, rows = [], []
only = os.environ.get("COLAB_ONLY", "").split()   # e.g. "book/07_* lectures/*": a subset
for path in sorted(run.glob("book/*.ipynb")) + sorted(run.glob("lectures/*.ipynb")):
    name = str(path.relative_to(run))
    if only and not any(fnmatch.fnmatch(name, pattern) for pattern in only):
        continue
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            record_timing=True, resources={"metadata": {"path": str(path.parent)}})
    t0 = time.monotonic()
    try:
        client.execute()
        error = None
    except Exception as exc:  # CellExecutionError, CellTimeoutError, DeadKernelError, ...
        error = exc
    dt = time.monotonic() - t0
    nbformat.write(nb, path)
    setup = seconds(next(c for c in nb.cells if c.cell_type == "code"))
    rows.append((name, dt, setup, "FAILED" if error else "ok"))
    print(f"{'FAILED' if error else 'ok':>6}  {dt:7.1f} s  (set-up cell {setup:5.1f} s)  {name}", flush=True)
    if error:
        failed.append(name)
        # a cell's error carries the cell's traceback; any other (a dead kernel, a signal
        # -- nbclient then shuts the kernel down and fails a bare assert) needs its own
        text = str(error) if isinstance(error, (CellExecutionError, CellTimeoutError)) else "".join(
            traceback.format_exception(error))
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # no ANSI colours
        print(f"\n----- {name}: {type(error).__name__}\n{text}\n----- end of {name}\n", flush=True)
times.write_text("".join(f"{n}\t{dt:.1f}\t{s:.1f}\t{st}\n" for n, dt, s, st in rows))
print(f"notebooks: {len(rows) - len(failed)} ok, {len(failed)} failed; "
      f"execution {sum(r[1] for r in rows):.0f} s in all")
if failed:
    sys.exit("error: cell errors in " + ", ".join(failed))
PY

step "checks: how seqlearn was installed, and what else"
git -C "$ROOT" ls-tree -r --name-only "$SHA" -- src/seqlearn > "$WORK/tracked.txt"
"$VPY" - "$URL" "$SHA" "$WORK/baseline.txt" "$WORK/tracked.txt" <<'PY' || status=1
import json, subprocess, sys, sysconfig
from importlib import metadata
from pathlib import Path
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canon

url, sha, baseline, tracked = sys.argv[1:]
problems = []
def check(ok, message):
    print(("ok    " if ok else "FAIL  ") + message)
    if not ok:
        problems.append(message)

try:
    dist = metadata.distribution("seqlearn")
except metadata.PackageNotFoundError:
    sys.exit("FAIL  seqlearn is not installed in the venv: the set-up cell did not run there")

# installed from the git URL at the tested commit, as a regular (not editable) install
direct = json.loads(dist.read_text("direct_url.json") or "{}")
vcs = direct.get("vcs_info", {})
check(direct.get("url") == url and vcs.get("vcs") == "git" and vcs.get("commit_id") == sha,
      f"seqlearn {dist.version} from git {direct.get('url')} @ {vcs.get('commit_id', '?')[:12]}")
check(not direct.get("dir_info", {}).get("editable"), "not an editable install")
import seqlearn
purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
where = Path(seqlearn.__file__).resolve()
check(where.is_relative_to(purelib), f"imported from the venv's site-packages ({where.parent})")

# package data: every tracked file of src/seqlearn is in the installed package
installed = {str(f) for f in dist.files or []}
want = {p.removeprefix("src/") for p in Path(tracked).read_text().split()}
missing = sorted(want - installed)
check(not missing, f"all {len(want)} tracked files of src/seqlearn installed"
      + (f"; missing: {', '.join(missing)}" if missing else ""))

# nothing beyond seqlearn's dependency closure was installed (by the cell or a notebook)
def closure(name, extras=()):
    seen, todo = set(), [(canon(name), frozenset(extras))]
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        try:
            reqs = metadata.distribution(key[0]).requires or []
        except metadata.PackageNotFoundError:
            continue  # `pip check` reports it
        for r in map(Requirement, reqs):
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in key[1] | {""}):
                todo.append((canon(r.name), frozenset(r.extras)))
    return {n for n, _ in seen}
before = {canon(l.split("==")[0]) for l in Path(baseline).read_text().split()}
now = {canon(d.metadata["Name"]) for d in metadata.distributions()}
deps = closure("seqlearn")
extra = sorted(now - before - deps)
check(not extra, f"{len(now - before)} packages added, all in seqlearn's dependency closure"
      + (f"; outside it: {', '.join(extra)}" if extra else ""))
cuda = sorted(n for n in now if n.startswith("nvidia-"))
check(not cuda, "no CUDA wheels" + (f"; found: {', '.join(cuda)}" if cuda else ""))
pc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
check(pc.returncode == 0, "pip check: " + (pc.stdout.strip() or pc.stderr.strip()))

versions = []
for n in ("torch", "triton", "numpy", "scipy", "matplotlib", "ipywidgets", "ipykernel", "nbclient"):
    try:
        versions.append(f"{n} {metadata.version(n)}")
    except metadata.PackageNotFoundError:
        versions.append(f"{n} (not installed)")
print("versions: " + ", ".join(versions))
if problems:
    sys.exit(1)
PY

step "summary"
if [ -s "$WORK/times.tsv" ]; then
  awk -F'\t' '{printf "  %-38s %7.1f s  (set-up cell %5.1f s)  %s\n", $1, $2, $3, $4; t += $2}
              END {printf "  %-38s %7.1f s\n", "all notebooks", t}' "$WORK/times.tsv"
fi
echo "  venv size: $(du -sh "$VENV" | cut -f1)"
echo "  colab path ${SHA:0:12}: $([ "$status" = 0 ] && echo passed || echo FAILED) in ${SECONDS}s"
exit "$status"
