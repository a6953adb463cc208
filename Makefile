# The course's commands. The two that matter (see README.md):
#   make book   set up .venv, execute every notebook, build the HTML book
#   make test   set up .venv, run the package tests and nbval over every notebook
# Others: make lectures | student | site-test | execute | colab-cell | clean

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SETUP  := $(VENV)/.installed
VENDOR := book/_vendor
VENDOR_STAMP := $(VENDOR)/static/.installed
NOTEBOOKS := $(wildcard book/*.ipynb lectures/*.ipynb)

.PHONY: setup vendor book test lectures student site-test execute colab-cell clean

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

book: $(SETUP) $(VENDOR_STAMP)
	$(BIN)/jupyter-book build . --all --warningiserror --nitpick --keep-going
	@echo "Book built: open file://$(CURDIR)/_build/html/index.html"

test: $(SETUP)
	$(BIN)/python -m pytest tests book lectures --nbval --nbval-current-env -p no:cacheprovider
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

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
	  --SlidesExporter.reveal_url_prefix=vendor/reveal.js \
	  --SlidesExporter.reveal_theme=white \
	  --SlidesExporter.mathjax_url="vendor/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe" \
	  --SlidesExporter.require_js_url=vendor/require.js \
	  --SlidesExporter.jquery_url=vendor/jquery.min.js \
	  --SlidesExporter.widget_renderer_url=vendor/html-manager/embed-amd.js \
	  lectures/*.ipynb
	@echo "Slides built: open file://$(CURDIR)/$(SLIDES_OUT)/<deck>.slides.html"

# Student copies: solutions removed, outputs cleared.
student: $(SETUP)
	$(BIN)/python -m seqlearn.notebooks student _build/student

# Serve the built book on localhost and check chapter 0 in headless Chromium.
site-test: $(SETUP)
	@test -f _build/html/index.html || { echo "no built book: run 'make book' first"; exit 1; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "site-test needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"; exit 1; }
	$(BIN)/python tests/browser_check.py _build/html

# Authoring: re-execute every notebook in place, so stored outputs (what
# nbval compares and GitHub shows) match the code.
execute: $(SETUP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace $(NOTEBOOKS)

# Authoring: rewrite the Colab set-up cell of every notebook from _config.yml.
colab-cell: $(SETUP)
	$(BIN)/python -m seqlearn.notebooks colab-cell

clean:
	rm -rf _build
