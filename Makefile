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
# -DGGML_<EXTENSION>=ON for each AVX-512 extension /proc/cpuinfo lists (none on other CPUs).
AVX512 := $(shell for pair in avx512f:AVX512 avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16 \
  avx512vbmi:AVX512_VBMI; do grep -qw $${pair%%:*} /proc/cpuinfo 2>/dev/null && \
  printf -- '-DGGML_%s=ON ' $${pair##*:}; done)

.PHONY: install browser demo lint test

install: $(STAMP)

# llama.cpp is compiled for this CPU's AVX-512 extensions when it has them (AVX2 otherwise) but
# never natively: on Sapphire Rapids machines the AMX kernels a native build adds crash on the
# first token (ggml-org/llama.cpp#20824). AVX-512 gives the first token 1.5x sooner than AVX2
# here. No wheel cache for it, since a cached wheel may be built for another CPU.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CMAKE_ARGS="-DGGML_NATIVE=OFF $(AVX512)" $(PY) -m pip install --no-cache-dir --force-reinstall --no-deps '$(LLAMA)'
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
