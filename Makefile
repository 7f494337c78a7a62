# `make demo` installs everything, prints a short scripted conversation on the demo catalogue and
# serves the assistant (the URL is printed; Ctrl-C stops it); `make test` runs
# the tests. Both are idempotent: the virtual environment is rebuilt only when pyproject.toml
# changes, pip caches wheels (llama-cpp-python compiles once), encoded features are cached.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install browser demo lint test

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

demo: install
	$(PY) -m ui --demo

# The UI tests drive Debian's Chromium (Playwright's own browser download is not used).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Style (ruff) and structure (import-linter: layers, no import circle), then the tests.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo

test: install browser lint
	$(PY) -m pytest
