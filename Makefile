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
DATASETS ?= mnist fashion-mnist digits

.PHONY: help env data test book run bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(ENV_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[book,dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

env: $(ENV_STAMP)  ## create .venv (re-done when pyproject.toml or constraints.txt change)

data: $(ENV_STAMP)  ## fetch the offline datasets into data/cache
	$(PY) -m optim.data fetch $(DATASETS)

test: $(ENV_STAMP) data  ## run every test: package, engine, chapters (quick profile) and the book
	$(PY) -m pytest

book: $(ENV_STAMP) data  ## build the HTML book into _build/html (warnings are errors)
	$(PY) -m optim.book build

run: $(ENV_STAMP) data  ## execute one chapter: make run CHAPTER=adam PROFILE=full DEVICE=cuda
	$(PY) -m optim.book run $(CHAPTER) --profile $(PROFILE) --device $(DEVICE)

bench: $(ENV_STAMP) data  ## measure optimizer steps, training throughput and the whole book; store the table
	$(PY) -m optim.bench --book

clean:  ## remove the build and the environment (keeps data and stored results)
	rm -rf _build $(VENV)
