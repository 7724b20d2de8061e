# The two commands of the README: `make dev` and `make test`. Both start from nothing but a
# Python >= 3.11 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/tollhouse dev

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

# The component benchmarks print their own tables (bench/ceiling.py: nginx, a bare Python proxy
# and the gateway side by side, with CPU per request); bench/all.py runs the issue's figures
# (gateway.py, propagation.py with tokens.py) and prints them as one table. The data-plane
# benchmarks need nginx and wrk from the system's packages (docs/performance.md).
BENCH_TOOLS := nginx wrk

bench: $(STAMP)
	@missing=""; for tool in $(BENCH_TOOLS); do \
	  PATH="$$PATH:/usr/sbin" command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
	  echo "installing$$missing with apt-get"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/controlplane.py
	$(BIN)/python bench/policies.py
	$(BIN)/python bench/expressions.py
	$(BIN)/python bench/ceiling.py
	$(BIN)/python bench/all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
