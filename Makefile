# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install run test lint format newman e2e containers bench

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install  ## the whole stack locally
	scripts/run.sh

test: install  ## the test suite (ruff, import contracts, pytest with real workers)
	$(VENV)/bin/ruff check .
	scripts/test.sh

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

bench: install  ## the saga benchmark against the pipeline's ceiling: make bench ARGS="--clients 200 --duration 30"
	.venv/bin/python scripts/bench.py $(ARGS)
