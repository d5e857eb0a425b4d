# rlmx — every target bootstraps what it needs on a fresh machine.
VENV    ?= .venv
SYS_PY  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-dev
APT     := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: setup system-deps test lint demo bench clean

setup: system-deps $(STAMP)

# bubblewrap gives the default sandbox; without it rlmx falls back to rlimits only.
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq bubblewrap; } \
	  || echo "warning: could not install bubblewrap; the sandbox falls back to 'process' mode"

$(STAMP): pyproject.toml
	$(SYS_PY) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

test: setup lint
	$(VENV)/bin/pytest -q

demo: setup
	$(PY) examples/make_haystack.py demo-data/haystack.txt --tokens 1000000
	$(VENV)/bin/rlmx ask demo-data/haystack.txt -q "What is the special magic number for lively-harbor?" \
	  --root replay:examples/demo_replay.json

bench: setup
	$(PY) benchmarks/cell_roundtrip.py
	$(PY) benchmarks/context_load.py
	$(PY) benchmarks/iteration_overhead.py
	$(PY) benchmarks/batched_subcalls.py

clean:
	rm -rf $(VENV) demo-data test-artifacts .pytest_cache .ruff_cache
