# `make book` and `make test` each set up what they need on a fresh machine: a .venv with the
# package in editable mode, the book tools, torch (a CPU build where there is no CUDA GPU), data.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kexue-installed
BOOK_DATA := mnist fashion-mnist chinese-poetry wqy-microhei

.PHONY: book test test-book setup data clean

$(STAMP): pyproject.toml tools/install-torch.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "could not create $(VENV): on Debian or Ubuntu, apt-get install python3-venv" >&2; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	tools/install-torch.sh $(PY)
	$(PY) -m pip install --quiet -e ".[book,test]"
	@touch $@

setup: $(STAMP)

# The poems are converted to simplified characters once (about 40 s) and cached with the data.
data: setup
	$(PY) -m kexue data $(BOOK_DATA)
	$(PY) -c "from kexue.text import corpora; print(len(corpora.poems()), 'poems, simplified')"

# Execute every notebook in the quick profile and build the HTML, warnings as errors. One torch
# thread per kernel: the quick profile's models are too small to gain from a second one, and on a
# busy 2-core machine a second OpenMP thread spinning for a core slowed some notebooks 5-10 times.
book: data
	@mkdir -p _build
	set -o pipefail; KEXUE_PROFILE=quick KEXUE_PROGRESS=0 OMP_NUM_THREADS=1 \
	  $(VENV)/bin/jupyter-book build . -W -n --keep-going 2>&1 | tee _build/build.log
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# The linter (unused imports and names, undefined names, import order), the chapters' code cells
# formatted to the page's width, then the test suite, with the data the book uses (tests that need
# the built book: `make test-book`).
test: data
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check chapters
	$(VENV)/bin/pytest -m "not book"

# Checks of the built HTML: notebook budgets, and the pages in headless Chromium, offline.
test-book: setup
	$(VENV)/bin/pytest -m book

clean:
	rm -rf _build
