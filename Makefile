# rlmx — every target bootstraps what it needs on a fresh machine.
VENV    ?= .venv
SYS_PY  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.train-installed
VF_VENV := .venv-verifiers
VF_STAMP := $(VF_VENV)/.installed
# llama-cpp-python compiles from source (no Linux wheel on PyPI): 3-12 min the first time.
# The multimodal library is not needed. A native build (GGML_NATIVE, the default) segfaults
# in its first decode on Xeons with AMX (seen on this project's machines, 2026-12), and a
# wheel built natively on one machine can break on another: build for the common x86-64
# feature set instead. pip's own wheel cache ignores CMAKE_ARGS (a native wheel cached by an
# older checkout came back and crashed CI), so the wheel is built here, with pip's cache off,
# into a folder named for the version and the flags, and installed from there.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python[^=]*==\([0-9.]*\)".*/\1/p' pyproject.toml)
LLAMA_FLAGS   := $(shell echo '$(CMAKE_ARGS)' | cksum | cut -d' ' -f1)
LLAMA_WHEELS  := $(HOME)/.cache/rlmx/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_FLAGS)
LLAMA_STAMP   := $(LLAMA_WHEELS)/.built
DEMO_Q  := What is the special magic number for lively-harbor?
# video: synthetic test videos (ffmpeg, espeak-ng, sox, fonts) and the OCR fallback
VIDEO_APT := ffmpeg espeak-ng sox tesseract-ocr fonts-dejavu-core
APT     := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: setup train-setup verifiers-setup system-deps models test lint docs demo bench mutation clean

setup: system-deps $(STAMP)

# bubblewrap gives the default sandbox; without it rlmx falls back to rlimits only.
# podman (with runc: its default crun cannot run on a cgroup v1 host) gives the 'container'
# mode, which the sandbox conformance tests then run against too.
# postgresql is only for the tests of the PostgreSQL store (they start their own server);
# chromium is only for the web UI tests (Playwright drives Debian's build); VIDEO_APT makes
# the synthetic videos the video tests and benchmarks use.
system-deps:
	@command -v bwrap >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq bubblewrap; } \
	  || echo "warning: could not install bubblewrap; the sandbox falls back to 'process' mode"
	@{ command -v podman && command -v runc && command -v catatonit; } >/dev/null 2>&1 \
	  || { $(APT) update -qq && $(APT) install -y -qq podman runc catatonit; } \
	  || echo "warning: could not install podman; the 'container' sandbox mode is not tested"
	@command -v chromium >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq chromium; } \
	  || echo "warning: could not install chromium; the web UI tests will fail"
	@[ -n "$$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || { $(APT) update -qq && $(APT) install -y -qq postgresql; } \
	  || echo "warning: could not install postgresql; the PostgreSQL store tests will fail"
	@for tool in ffmpeg espeak-ng sox tesseract; do command -v $$tool >/dev/null 2>&1 || missing=1; done; \
	  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing=1; \
	  [ -z "$$missing" ] || { $(APT) update -qq && $(APT) install -y -qq $(VIDEO_APT); } \
	  || echo "warning: could not install $(VIDEO_APT); the video tests will fail"

$(STAMP): pyproject.toml
	$(SYS_PY) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	[ -f $(LLAMA_STAMP) ] || { $(PY) -m pip wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS) \
	  "llama-cpp-python==$(LLAMA_VERSION)" && touch $(LLAMA_STAMP); }
	$(PY) -m pip install -q $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PY) -m pip install -q -e ".[dev,local,server,video,eval,otel,docs,ray,postgres]"
	touch $@

# the training stack (torch, TRL, PEFT, datasets) for rlmx train and its tests; kept out of
# setup so `make demo` stays small
train-setup: $(TRAIN_STAMP)
$(TRAIN_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[train]"
	touch $@

# the verifiers adapter (rlmx_verifiers) in its own venv: verifiers pins openai<3 and
# mcp==2.0.0, which the dev venv's newer openai and mcp do not meet
verifiers-setup: $(VF_STAMP)
$(VF_STAMP): pyproject.toml
	$(SYS_PY) -m venv $(VF_VENV)
	$(VF_VENV)/bin/pip install -q --upgrade pip
	$(VF_VENV)/bin/pip install -q -e ".[verifiers]"
	touch $@

models: setup
	$(VENV)/bin/rlmx models pull qwen2.5-coder-1.5b
	$(VENV)/bin/rlmx models pull smollm2-135m

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

# the documentation site (MkDocs Material + mkdocstrings): warnings, broken links and
# anchors fail the build
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test: setup train-setup verifiers-setup lint docs
	$(VENV)/bin/rlmx models pull smollm2-135m
	$(VENV)/bin/rlmx models pull qwen2.5-coder-1.5b
	$(VENV)/bin/pytest -q

# Mutation testing of the core modules with their tests ([tool.mutmut] in pyproject.toml):
# the survivors are listed; benchmarks/RESULTS.md has the score. Of worker.py only the
# restore of reserved names, the output capture and the interrupt: the rest runs only in
# the worker process, where mutmut's trampolines never pick a mutant (mode "none" runs
# these in the test process). A mutant that loops appending to a list would fill the memory before its
# timeout: each process gets at most 6 GiB of address space, so it dies of MemoryError.
WORKER_PARTS := x?Worker?_restore_reserved x?Worker?execute x?Worker?_run_code x?Worker?_report \
  x?Worker?_begin_capture x?Worker?_end_capture x?Worker?_interrupt x?Worker?_take_interrupt \
  x?Worker?_start_cell x?Worker?_end_cell x?CappedText?* x?_ThreadRoutedStream?* \
  x__thread_routers
# isolation.py's and modes.py's mutants run against their own tests only (mutation_focused.py says
# why): mutmut would run every test that starts a sandbox for each of them.
MUTANTS := $(foreach m,core.protocol core.budget repl.frames citations answers eval.scoring core.turns,\
  'rlmx.$(m).*') $(foreach f,$(WORKER_PARTS),'rlmx.repl.worker.$(f)__mutmut_*')
ISOLATION_TESTS := --tests tests/test_sandbox.py --tests tests/security/test_jail.py
mutation: setup
	rm -rf mutants
	ulimit -v 6291456 && $(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	ulimit -v 6291456 && $(PY) benchmarks/mutation_focused.py 'rlmx.repl.isolation.*' 'rlmx.repl.modes.*' \
	  $(ISOLATION_TESTS) --jobs 2
	$(VENV)/bin/mutmut results

# The embedded default model finds one fact in a ~1M-token document.
demo: setup
	$(VENV)/bin/rlmx models pull qwen2.5-coder-1.5b
	$(PY) examples/make_haystack.py demo-data/haystack.txt --tokens 1000000
	$(VENV)/bin/rlmx ask demo-data/haystack.txt -q "$(DEMO_Q)"

bench: setup
	$(PY) benchmarks/cell_roundtrip.py
	$(PY) benchmarks/trust_boundary.py
	$(PY) benchmarks/context_load.py
	$(PY) benchmarks/iteration_overhead.py
	$(PY) benchmarks/batched_subcalls.py
	$(PY) benchmarks/telemetry_overhead.py
	$(PY) benchmarks/server_ui.py
	$(PY) benchmarks/video_index.py

clean:
	rm -rf $(VENV) $(VF_VENV) demo-data test-artifacts .pytest_cache .ruff_cache mutants site
