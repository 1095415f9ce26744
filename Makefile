# The two commands: `make demo` and `make test`. Both bootstrap .venv from uv.lock first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.airgenome-synced
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: help install system-packages demo demo-genome test lint bench down clean FORCE

help:
	@echo "make demo   - install, start embedded Airflow, run CLAIMED's CT pipeline (biased + unbiased), print where to look"
	@echo "make demo-genome - the same for Genome's tabular demo (forest + SHAP)"
	@echo "make test   - install and run the whole test suite"
	@echo "make lint   - ruff, mypy, import-linter"
	@echo "make bench  - benchmarks (printed ratios against in-run anchors)"
	@echo "make down   - stop the embedded Airflow"

# Debian packages the suite needs: graphviz (dtreeviz's `dot`), chromium (page tests) and a Java
# runtime (Spark `local[*]`).
system-packages:
	@missing=""; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v java >/dev/null || missing="$$missing default-jre-headless"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo ">> installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# uv comes from PyPI when absent; the venv is synced exactly to the committed uv.lock, with
# compiled bytecode: where PYTHONDONTWRITEBYTECODE=1 (as here) a venv without .pyc files makes
# every process recompile what it imports (`import tensorflow` 8.6 s instead of 3.1 s;
# docs/benchmarks.md). A venv synced before that (no $(BYTECODE) marker) is synced once more,
# which only compiles.
BYTECODE := $(VENV)/.airgenome-bytecode
ifeq ($(wildcard $(BYTECODE)),)
$(STAMP): FORCE
endif
$(STAMP): uv.lock pyproject.toml
	@command -v uv >/dev/null || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
	@PATH="$$HOME/.local/bin:$$PATH" uv sync --frozen --all-extras --compile-bytecode --python python3.11
	@touch $(BYTECODE) $(STAMP)

FORCE:

install: system-packages $(STAMP)

demo: install
	$(VENV)/bin/airgenome demo

demo-genome: install
	$(VENV)/bin/airgenome demo --genome

test: install
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m tests.import_layers  # lint-imports over every folder (see pyproject)

# wrk: the explanation bench's C client (a Python client's own ~1 ms a call would hide the
# server latency it measures).
bench: install
	@command -v wrk >/dev/null || { if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  echo ">> installing Debian packages: wrk"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	BENCH=$(BENCH) $(PY) tests/bench/run_all.py

down:
	$(VENV)/bin/airgenome down

clean: down
	rm -rf .airgenome
