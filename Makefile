# Every target bootstraps .venv from nothing, so a fresh clone needs only Python 3.10+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The real classic worker (azure_functions_worker 4.34 with its own mock host) the real-worker tests run against.
# It is not on PyPI in that version, so it comes as a folder; its venv is its own, with the worker's pins (they
# clash with newer protobuf), the worker installed from a copy of the folder, and this checkout of funcscope with
# the Azure Monitor distro, so the tests of what leaves a stopped worker have a real exporter to flush.
REALWORKER ?= ../shared/realworker
WORKER_PYTHON ?= python3.11
WORKER_VENV := .venv-worker
WORKER_STAMP := $(WORKER_VENV)/.installed
# The Durable Functions library, the FastAPI HTTP extension and the SDK-type blob bindings are there for the tests
# of those triggers; the HTTP clients and an Azure SDK client for the tests of the dependencies a function's calls
# become.
WORKER_PINS := "grpcio~=1.59.0" "protobuf~=4.25.3" "azure-functions==1.22.0b4" "python-dateutil~=2.9.0" \
	requests httpx aiohttp azure-storage-blob azurefunctions-extensions-base azure-functions-durable \
	azurefunctions-extensions-http-fastapi azurefunctions-extensions-bindings-blob
WORKER_SOURCES := $(shell find $(REALWORKER)/azure_functions_worker $(REALWORKER)/pyproject.toml -name '*.py' \
	-o -name pyproject.toml 2>/dev/null)
ifneq ($(wildcard $(REALWORKER)/azure_functions_worker),)
WORKER_READY := $(WORKER_STAMP)
WORKER_ENV_IF_READY = $(WORKER_ENV)
endif
# Where the tests find the worker: without it they are skipped with a banner, and fail in CI.
WORKER_ENV := FUNCSCOPE_REALWORKER="$(abspath $(REALWORKER))" FUNCSCOPE_REALWORKER_PYTHON="$(abspath $(WORKER_VENV))/bin/python"

# The Python 3.13+ worker's runtimes (azure-functions-runtime for v2 apps, -v1 for v1 apps) need Python 3.13: the
# tests that drive them run in a venv of their own. PYTHON313 is `python3.13` when that runs, else pyenv's 3.13.
PYTHON313 ?= $(shell for py in python3.13 "$$(pyenv prefix 3.13 2>/dev/null)/bin/python3.13"; do \
	"$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && { echo "$$py"; break; }; done)
VENV313 := .venv313
BIN313 := $(VENV313)/bin
STAMP313 := $(VENV313)/.installed
# The runtimes, and protobuf and grpcio for the FunctionRpc messages the proxy hands them (generated code the v1
# runtime ships). funcscope[azure-monitor] brings the distro, which the runtime itself configures when told to.
RUNTIME313 := azure-functions-runtime==1.3.0 azure-functions-runtime-v1==1.2.0 protobuf~=5.29 grpcio

.PHONY: demo test test-realworker test313 worker-venv lint bench perf clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,otlp,otlp-grpc,azure-monitor,opencensus,bench]"
	# The original OpenCensus extension's requests integration, for the tests that run the original next to
	# funcscope's drop-in. Without its dependencies: it pins wrapt<2, which it does not need, and funcscope uses wrapt 2.
	$(BIN)/python -m pip install --quiet --no-deps "opencensus-ext-requests==0.8.0"
	touch $(STAMP)

$(STAMP313): pyproject.toml
	@test -n "$(PYTHON313)" || { echo "make: no Python 3.13 found (tried python3.13 and pyenv's 3.13); the tests of" \
		"the Python 3.13+ worker's runtimes need one: install it, or pass PYTHON313=/path/to/python3.13." >&2; exit 1; }
	$(PYTHON313) -m venv $(VENV313)
	$(BIN313)/python -m pip install --quiet --upgrade pip
	$(BIN313)/python -m pip install --quiet -e ".[dev,azure-monitor]" $(RUNTIME313)
	touch $(STAMP313)

demo: $(STAMP)
	$(BIN)/funcscope demo

$(WORKER_STAMP): Makefile pyproject.toml tests/realworker/prepare_worker.py $(WORKER_SOURCES)
	$(WORKER_PYTHON) -m venv $(WORKER_VENV)
	$(WORKER_VENV)/bin/python tests/realworker/prepare_worker.py $(REALWORKER) $(WORKER_VENV)/worker-src
	$(WORKER_VENV)/bin/python -m pip install --quiet $(WORKER_PINS) $(WORKER_VENV)/worker-src \
		-e ".[azure-monitor,instrumentation,opencensus,original-opencensus]"
	$(WORKER_VENV)/bin/python -m pip install --quiet --no-deps "opencensus-ext-requests==0.8.0"
	$(WORKER_VENV)/bin/python -c "import azure_functions_worker.protos, funcscope"
	touch $(WORKER_STAMP)

worker-venv: $(WORKER_READY)
ifeq ($(WORKER_READY),)
	@echo "*** REALWORKER=$(REALWORKER) holds no azure_functions_worker: the real-worker tests will not run ***"
endif

test: $(STAMP) worker-venv $(STAMP313)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy funcscope
	$(WORKER_ENV) $(BIN)/python -m pytest -q
	$(BIN313)/python -m pytest -q tests/runtime313

# Only the tests that run in the real classic worker.
test-realworker: $(STAMP) worker-venv
	$(WORKER_ENV) $(BIN)/python -m pytest -q tests/realworker

# Only the tests against the Python 3.13+ worker's runtimes.
test313: $(STAMP313)
	$(BIN313)/python -m pytest -q tests/runtime313

# The full run takes several minutes; `make bench BENCH_ARGS=--quick` for a short one. Use a quiet machine.
BENCH_ARGS ?=
# With the real worker (REALWORKER) it measures round trips through it too.
bench: $(STAMP) worker-venv
	APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL=true APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED=true $(WORKER_ENV_IF_READY) \
		$(BIN)/funcscope bench --json bench.json --plot bench.png $(BENCH_ARGS)

# The pytest-benchmark suites: per-invocation overhead per configuration, a few throughput cells, and round trips
# through the real worker (skipped, saying so, without it).
perf: $(STAMP) worker-venv
	APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL=true APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED=true $(WORKER_ENV) \
		$(BIN)/python -m pytest perf -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy funcscope

clean:
	rm -rf $(VENV) $(WORKER_VENV) $(VENV313) build *.egg-info
