# Every target bootstraps .venv from nothing, so a fresh clone needs only Python 3.10+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-realworker worker-venv lint bench perf clean

# The real classic worker (azure_functions_worker 4.34 with its own mock host) the real-worker tests run against.
# It is not on PyPI in that version, so it comes as a folder; its venv is its own, with the worker's pins (they
# clash with newer protobuf), the worker installed from a copy of the folder, and this checkout of funcscope.
REALWORKER ?= ../shared/realworker
WORKER_PYTHON ?= python3.11
WORKER_VENV := .venv-worker
WORKER_STAMP := $(WORKER_VENV)/.installed
WORKER_PINS := "grpcio~=1.59.0" "protobuf~=4.25.3" "azure-functions==1.22.0b4" "python-dateutil~=2.9.0" \
	requests azurefunctions-extensions-base
WORKER_SOURCES := $(shell find $(REALWORKER)/azure_functions_worker $(REALWORKER)/pyproject.toml -name '*.py' \
	-o -name pyproject.toml 2>/dev/null)
ifneq ($(wildcard $(REALWORKER)/azure_functions_worker),)
WORKER_READY := $(WORKER_STAMP)
endif
# Where the tests find the worker: without it they are skipped with a banner, and fail in CI.
WORKER_ENV := FUNCSCOPE_REALWORKER="$(abspath $(REALWORKER))" FUNCSCOPE_REALWORKER_PYTHON="$(abspath $(WORKER_VENV))/bin/python"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,otlp,otlp-grpc,azure-monitor,opencensus,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/funcscope demo

$(WORKER_STAMP): pyproject.toml tests/realworker/prepare_worker.py $(WORKER_SOURCES)
	$(WORKER_PYTHON) -m venv $(WORKER_VENV)
	$(WORKER_VENV)/bin/python tests/realworker/prepare_worker.py $(REALWORKER) $(WORKER_VENV)/worker-src
	$(WORKER_VENV)/bin/python -m pip install --quiet $(WORKER_PINS) $(WORKER_VENV)/worker-src -e .
	$(WORKER_VENV)/bin/python -c "import azure_functions_worker.protos, funcscope"
	touch $(WORKER_STAMP)

worker-venv: $(WORKER_READY)
ifeq ($(WORKER_READY),)
	@echo "*** REALWORKER=$(REALWORKER) holds no azure_functions_worker: the real-worker tests will not run ***"
endif

test: $(STAMP) worker-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy funcscope
	$(WORKER_ENV) $(BIN)/python -m pytest -q

# Only the tests that run in the real classic worker.
test-realworker: $(STAMP) worker-venv
	$(WORKER_ENV) $(BIN)/python -m pytest -q tests/realworker

# The full run takes several minutes; `make bench BENCH_ARGS=--quick` for a short one. Use a quiet machine.
BENCH_ARGS ?=
bench: $(STAMP)
	APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL=true APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED=true $(BIN)/funcscope bench --json bench.json --plot bench.png $(BENCH_ARGS)

# The pytest-benchmark suites: per-invocation overhead per configuration and a few throughput cells.
perf: $(STAMP)
	APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL=true APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED=true $(BIN)/python -m pytest perf -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy funcscope

clean:
	rm -rf $(VENV) $(WORKER_VENV) build *.egg-info
