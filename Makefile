# The book's entry points. `make test` and `make book` create the environment themselves.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV_STAMP := $(VENV)/.installed
CHAPTER ?=
PROFILE ?= quick
DEVICE ?= auto
DATASETS ?= mnist fashion-mnist digits imdb ptb
FALLBACK ?= none

.PHONY: help env data browser lint test book run plan bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(ENV_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[book,dev,cluster]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

env: $(ENV_STAMP)  ## create .venv (re-done when pyproject.toml or constraints.txt change)

data: $(ENV_STAMP)  ## fetch the offline datasets into data/cache (chapters fetch what they use on first use)
	$(PY) -m optim.data fetch $(DATASETS)

# Headless Chromium renders the built pages in the tests. Installed from Debian when it is
# missing and we may (root, or sudo without a password); otherwise those tests are skipped.
browser:  ## install headless Chromium for the page tests, if missing and allowed
	@command -v chromium > /dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2> /dev/null; then SUDO="sudo -n"; \
	else echo "note: chromium is missing and cannot be installed without root; its page tests will be skipped"; exit 0; fi; \
	echo "installing chromium (Debian) for the page tests"; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium > /dev/null 2>&1 || \
	{ $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium > /dev/null; }

lint: $(ENV_STAMP)  ## ruff over the package, the tests and the chapters' code (lint and import order)
	$(PY) -m ruff check optim tests chapters

test: $(ENV_STAMP) data browser lint  ## lint, then every test: package, engine, chapters (quick profile) and the book
	$(PY) -m pytest

book: $(ENV_STAMP) data  ## build the HTML book into _build/html (warnings are errors; incomplete stored results stop it unless FALLBACK=quick)
	$(PY) -m optim.book build --fallback $(FALLBACK)

run: $(ENV_STAMP)  ## execute one chapter (fetching only the datasets it uses): make run CHAPTER=adam PROFILE=full DEVICE=cuda
	$(PY) -m optim.book run $(CHAPTER) --profile $(PROFILE) --device $(DEVICE)

plan: $(ENV_STAMP)  ## each chapter's runs (stored, missing, stale) and their estimated time: make plan PROFILE=full [CHAPTER=adam]
	$(PY) -m optim.book plan $(CHAPTER) --profile $(if $(filter command line,$(origin PROFILE)),$(PROFILE),full)

bench: $(ENV_STAMP) data  ## measure optimizer steps, training throughput and the whole book; store the table
	$(PY) -m optim.bench --book

clean:  ## remove the build and the environment (keeps data and stored results)
	rm -rf _build $(VENV)
