# The two commands of README.md, each setting up whatever is missing first:
#   make demo   the main job (shoprank demo, end to end)
#   make test   the test suite (what .ci/run calls)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
EXTRAS := pipeline,kernels,client,serving,bench,test
# Debian packages the build, the tests, perf_analyzer (libb64) and the guard in front
# of Triton (nginx with its njs module) need (installed when missing, as root).
DEBIAN_PACKAGES := g++ libb64-0d nginx-light libnginx-mod-http-js

SYSTEM := $(VENV)/.system-ready
DEPS   := $(VENV)/.deps-ready
BUILT  := $(VENV)/.engine-built
ENGINE_SOURCES := $(shell find engine csrc -type f) CMakeLists.txt

.PHONY: demo test setup build bench clean

demo: $(BUILT)
	$(BIN)/shoprank demo

test: $(BUILT)
	$(BIN)/python -m pytest

setup: $(DEPS)
build: $(BUILT)

# PyTorch is a benchmark peer only, installed in a step of its own: it needs a newer
# typing-extensions than tensorflow-cpu 2.12 declares (both work together in practice).
BENCH_ONLY := $(shell sed -n 's/^\# bench-only: //p' constraints.txt)
bench: $(BUILT)
	$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install $(BENCH_ONLY)
	$(BIN)/python benchmarks/bench_topk.py
	$(BIN)/python benchmarks/bench_etl.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_ranker.py
	$(BIN)/python benchmarks/bench_serving.py

$(SYSTEM): Makefile
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update && apt-get install -y --no-install-recommends $$missing; fi
	$(PYTHON) -m venv $(VENV)
	touch $@

$(DEPS): $(SYSTEM) constraints.txt pyproject.toml
	$(PIP) install -q -c constraints.txt pip
	$(PIP) install -c constraints.txt wheel setuptools cmake ninja scikit-build-core pybind11
	$(PIP) install -c constraints.txt --no-build-isolation -e '.[$(EXTRAS)]'
	touch $@

$(BUILT): $(DEPS) $(ENGINE_SOURCES)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $@

clean:
	rm -rf build $(VENV)
