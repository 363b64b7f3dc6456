# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
# Python packages come from uv.lock, installed by uv (itself pinned here): one resolution for
# make install, CI and the image, and an install in seconds.
UV_VERSION := 0.13.9
UV := UV_PROJECT_ENVIRONMENT=$(VENV) $(VENV)/bin/uv
LOCKED := $(shell cat pyproject.toml uv.lock | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(LOCKED)
BENCH_STAMP := $(VENV)/.installed-bench-$(LOCKED)

.PHONY: install lock run test lint format newman e2e containers bench check-history

$(STAMP): pyproject.toml uv.lock
	@echo "install: the locked Python packages (uv.lock) into $(VENV)/"
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --frozen --inexact --extra dev
	rm -f $(VENV)/.installed-* && touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	@echo "install: the benchmark's packages (the bench extra)"
	$(UV) sync --frozen --inexact --extra dev --extra bench
	touch $(BENCH_STAMP)

install: $(STAMP)

lock: install  ## resolve pyproject.toml's ranges again into uv.lock: make lock ARGS=--upgrade
	$(UV) lock $(ARGS)

run: install  ## the whole stack locally
	scripts/run.sh

test: install  ## the test suite (ruff, import contracts, pytest with real workers)
	$(VENV)/bin/ruff check .
	scripts/test.sh

check-history: install  ## the history checker, longer: make check-history ARGS="--seconds 600 --seed N"
	$(VENV)/bin/python scripts/check_history.py $(ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

newman:  ## the Postman suite against a running stack: make newman BASE_URL=http://127.0.0.1:8000
	BASE_URL=$(or $(BASE_URL),http://127.0.0.1:8000) scripts/newman.sh

e2e: install  ## start the stack on its own port, run the Postman suite against it, stop it
	scripts/e2e.sh

containers: install  ## build the image, run every role of the chart in containers, pass the Postman suite, kill a worker mid-saga
	scripts/containers.sh

bench: $(BENCH_STAMP)  ## the saga benchmark against the pipeline's ceiling: make bench ARGS="--clients 200 --duration 30"
	.venv/bin/python scripts/bench.py $(ARGS)
