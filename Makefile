# The course's commands. The two that matter (see README.md):
#   make book   set up .venv, execute every notebook, build the HTML book
#   make test   set up .venv, run the package tests and nbval over every notebook
#   make test-other-machine   nbval again with another kernel set and thread count
#   make test-other-machine-units   the unit tests with that kernel set and thread count
#   make colab-test           the Colab path: a fresh venv, the notebooks' own install cell
# Others: make lectures | student | site-test | reader-copy-test | execute | colab-cell | colab-copies | arena | clean

PYTHON ?= python3
ROOT   := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
VENV   := .venv
BIN    := $(VENV)/bin
SETUP  := $(VENV)/.installed
VENDOR := book/_vendor
VENDOR_STAMP := $(VENDOR)/static/.installed
NOTEBOOKS := $(wildcard book/*.ipynb lectures/*.ipynb)

.PHONY: setup vendor book test test-other-machine test-other-machine-units lectures student site-test reader-copy-test execute colab-cell clean

# .venv with the pinned requirements and seqlearn (editable); redone when
# requirements.txt or pyproject.toml change.
setup: $(SETUP)
$(SETUP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

# JavaScript served by the book and the slides instead of a CDN: require.js
# and the ipywidgets HTML manager (book), reveal.js, MathJax 2, jQuery (slides).
vendor: $(VENDOR_STAMP)
$(VENDOR_STAMP): $(VENDOR)/package.json $(VENDOR)/package-lock.json $(VENDOR)/widgets-offline.js
	cd $(VENDOR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	rm -rf $(VENDOR)/static && mkdir -p $(VENDOR)/static/vendor
	cp $(VENDOR)/node_modules/requirejs/require.js $(VENDOR)/static/vendor/require.min.js
	cp -r $(VENDOR)/node_modules/@jupyter-widgets/html-manager/dist $(VENDOR)/static/vendor/html-manager
	cp $(VENDOR)/widgets-offline.js $(VENDOR)/static/vendor/
	@touch $@

# BOOK_EXECUTE=off builds the pages from the notebooks' stored outputs instead of
# re-running every notebook (force, _config.yml's choice). CI does this right after
# `make test`, whose nbval pass has just checked those outputs against the code.
BOOK_EXECUTE ?= force
BOOK_EXECUTE_MODES := force off cache auto
book: $(SETUP) $(VENDOR_STAMP)
	@test -n "$(filter $(BOOK_EXECUTE),$(BOOK_EXECUTE_MODES))" || { \
	  echo "BOOK_EXECUTE: expected one of $(BOOK_EXECUTE_MODES), got '$(BOOK_EXECUTE)'"; exit 2; }
ifeq ($(BOOK_EXECUTE),force)
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going
else
	@mkdir -p _build
	sed -e 's/^\(  execute_notebooks:\) force .*/\1 "$(BOOK_EXECUTE)"/' \
	    -e 's#: book/_ext#: $(CURDIR)/book/_ext#' _config.yml > _build/_config.$(BOOK_EXECUTE).yml
	@grep -q '^  execute_notebooks: "$(BOOK_EXECUTE)"' _build/_config.$(BOOK_EXECUTE).yml || { \
	  echo "BOOK_EXECUTE: _config.yml has no 'execute_notebooks: force' line to change"; exit 2; }
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going \
	  --config _build/_config.$(BOOK_EXECUTE).yml
endif
	@echo "Book built: open file://$(CURDIR)/_build/html/index.html"

test: $(SETUP)
	$(BIN)/python -m pytest tests book lectures --nbval --nbval-current-env -p no:cacheprovider
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# nbval over the notebooks again, as a machine with another CPU would run them:
# torch's non-vectorised kernels (ATEN_CPU_CAPABILITY=default), MKL's AVX2 code
# (no AVX-512), Numba's code for an AVX2 CPU (NUMBA_CPU_NAME=haswell: the compiled
# scan's backward then sums in 8-wide lanes; compiled once, ~30 s) and another
# thread count than `make test` (1; 2 on a 1-core machine). Each changes torch's,
# NumPy's or the scan's rounding; what nbval compares must not change.
# NB=book/07_mamba.ipynb checks one notebook.
NB ?= book lectures
OTHER_THREADS = $(shell $(PYTHON) -c "import os; print(1 if (os.cpu_count() or 1) > 1 else 2)")
OTHER_MACHINE := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=AVX2 NUMBA_CPU_NAME=haswell \
  OMP_NUM_THREADS=$(OTHER_THREADS) MKL_NUM_THREADS=$(OTHER_THREADS) OPENBLAS_NUM_THREADS=$(OTHER_THREADS)
test-other-machine: $(SETUP)
	$(OTHER_MACHINE) $(BIN)/python -c "import torch; print('torch kernels:', \
	  torch.backends.cpu.get_cpu_capability(), '| threads:', torch.get_num_threads())"
	$(OTHER_MACHINE) $(BIN)/python -m pytest $(NB) --nbval --nbval-current-env -p no:cacheprovider

# The unit tests under the same settings: a tolerance that held only by one CPU's
# rounding fails here. Not in CI (231 s more on 2 cores, measured); run it when a
# numerical test changes.
test-other-machine-units: $(SETUP)
	$(OTHER_MACHINE) $(BIN)/python -m pytest tests -p no:cacheprovider -q

# Slides: reveal.js HTML that works offline, in _build/html/lectures/ (next
# to the book, so a published site carries them).
SLIDES_OUT := _build/html/lectures
# The parts of MathJax 2 (which nbconvert's slides use) for TeX in CommonHTML.
MATHJAX2_PARTS := MathJax.js config/TeX-AMS_CHTML-full.js config/Safe.js extensions jax/input/TeX \
                  jax/output/CommonHTML jax/element fonts/HTML-CSS/TeX/woff localization/en
lectures: $(SETUP) $(VENDOR_STAMP)
	rm -rf $(SLIDES_OUT)/vendor && mkdir -p $(SLIDES_OUT)/vendor/reveal.js $(SLIDES_OUT)/vendor/mathjax
	cp -r $(VENDOR)/node_modules/reveal.js/dist $(VENDOR)/node_modules/reveal.js/plugin $(SLIDES_OUT)/vendor/reveal.js/
	cd $(VENDOR)/node_modules/mathjax && tar cf - $(MATHJAX2_PARTS) | tar xf - -C $(CURDIR)/$(SLIDES_OUT)/vendor/mathjax
	cp $(VENDOR)/node_modules/jquery/dist/jquery.min.js $(VENDOR)/node_modules/requirejs/require.js \
	   book/favicon.svg $(SLIDES_OUT)/vendor/
	cp -r $(VENDOR)/static/vendor/html-manager $(SLIDES_OUT)/vendor/html-manager
	$(BIN)/jupyter nbconvert --to slides --template-file $(VENDOR)/slides.html.j2 --output-dir $(SLIDES_OUT) \
	  --TagRemovePreprocessor.enabled=True --TagRemovePreprocessor.remove_input_tags=remove-input \
	  --SlidesExporter.reveal_url_prefix=vendor/reveal.js \
	  --SlidesExporter.reveal_theme=white \
	  --SlidesExporter.mathjax_url="vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe" \
	  --SlidesExporter.require_js_url=vendor/require.js \
	  --SlidesExporter.jquery_url=vendor/jquery.min.js \
	  --SlidesExporter.widget_renderer_url=vendor/html-manager/embed-amd.js \
	  lectures/*.ipynb
	@echo "Slides built: open file://$(CURDIR)/$(SLIDES_OUT)/<deck>.slides.html"

# Student copies: solutions removed, outputs cleared, plain Markdown; in
# _build/student/ of the repository, from any folder (make -f .../Makefile student).
student:
	@$(MAKE) -s --no-print-directory -C $(ROOT) setup
	$(ROOT)$(BIN)/python -m seqlearn.notebooks student $(ROOT)_build/student --root $(ROOT)

# Instructors: a chapter's exercises as an nbgrader assignment, and grading a folder of
# submitted notebooks (seqlearn/grading.py). Both write under _build/grading/chNN/.
#   make assignment CH=7                  -> nbgrader/release/ch07/ch07.ipynb (for students)
#   make grade CH=7 SUBMISSIONS=dir/      -> grades.csv, feedback/<student>.md
.PHONY: assignment grade
assignment:
	@test -n "$(CH)" || { echo "usage: make assignment CH=7"; exit 2; }
	@$(MAKE) -s --no-print-directory -C $(ROOT) setup
	$(ROOT)$(BIN)/python -m seqlearn.grading assignment $(CH) --root $(ROOT)

grade:
	@test -n "$(CH)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade CH=7 SUBMISSIONS=dir/"; exit 2; }
	@$(MAKE) -s --no-print-directory -C $(ROOT) setup
	$(ROOT)$(BIN)/python -m seqlearn.grading grade $(CH) $(abspath $(SUBMISSIONS)) --root $(ROOT)

# Chapter 10's grid (python -m seqlearn.arena --all): every model on every task, resumable
# (finished runs are skipped), results in experiments/results/arena/. One thread per process:
# on 2 cores run `make arena SHARD=1/2` and `make arena SHARD=2/2` side by side.
SHARD ?= 1/1
.PHONY: arena
arena: $(SETUP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m seqlearn.arena --all --shard $(SHARD)

# Authoring: rewrite the reader copies in book/colab/ (what the Colab button
# opens) after editing or re-executing a notebook; a test says when they are stale.
.PHONY: colab-copies
colab-copies:
	@$(MAKE) -s --no-print-directory -C $(ROOT) setup
	$(ROOT)$(BIN)/python -m seqlearn.notebooks colab-copies --root $(ROOT)

# Open a reader copy in JupyterLab in headless Chromium: solutions collapsed, references listed.
#   make reader-copy-test [COPY=book/colab/07_mamba.ipynb]
COPY ?= book/colab/00_how_to_use.ipynb
reader-copy-test: $(SETUP)
	$(BIN)/python tests/reader_copy_check.py $(COPY)

# Serve the built book on localhost and check chapter 0 in headless Chromium.
site-test: $(SETUP)
	@test -f _build/html/index.html || { echo "no built book: run 'make book' first"; exit 1; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "site-test needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"; exit 1; }
	$(BIN)/python tests/browser_check.py _build/html

# Authoring: re-execute every notebook in place, so stored outputs (what
# nbval compares and GitHub shows) match the code.
# EXECUTE=book/07_mamba.ipynb re-executes one notebook. The reader copies in
# book/colab/ are rewritten after it.
EXECUTE ?= $(NOTEBOOKS)
execute: $(SETUP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace $(EXECUTE)
	$(MAKE) --no-print-directory colab-copies

# Authoring: rewrite the Colab set-up cell of every notebook from _config.yml.
colab-cell: $(SETUP)
	$(BIN)/python -m seqlearn.notebooks colab-cell

# The Colab path: every notebook in a fresh venv where its set-up cell installs HEAD by git URL.
.PHONY: colab-test
colab-test:
	bash .ci/colab_path.sh

clean:
	rm -rf _build
