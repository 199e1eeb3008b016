# Every target bootstraps .venv from nothing, so a fresh clone needs only Python 3.10+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench perf clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,otlp,otlp-grpc,azure-monitor,opencensus,bench]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/funcscope demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy funcscope
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) build *.egg-info
