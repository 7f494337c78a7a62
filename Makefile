# `make demo` installs everything, prints a short scripted conversation on the demo catalogue and
# serves the assistant (the URL is printed; Ctrl-C stops it); `make test` runs
# the tests. Both are idempotent: the virtual environment is updated only when pyproject.toml or
# this file changes (llama-cpp-python then compiles again, a few minutes), pip caches the other
# wheels, encoded features are cached.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | sha1sum | cut -c1-12)
LLAMA := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)

.PHONY: install browser demo lint test

install: $(STAMP)

# llama.cpp is compiled for any x86-64 with AVX2 rather than for this CPU: on Sapphire Rapids
# machines its AMX kernels crash on the first token (ggml-org/llama.cpp#20824). No wheel cache
# for it, since a cached wheel may be a native build.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install --no-cache-dir --force-reinstall --no-deps '$(LLAMA)'
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
