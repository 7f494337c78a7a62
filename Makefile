# `make demo` installs everything and runs the main job on the demo catalogue; `make test` runs
# the tests. Both are idempotent: the virtual environment is rebuilt only when pyproject.toml
# changes, pip caches wheels (llama-cpp-python compiles once), encoded features are cached.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo test

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

demo: install
	$(PY) -m retrieval demo

test: install
	$(PY) -m pytest
