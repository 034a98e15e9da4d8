# The two commands: `make run` runs the platform with demo data, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint services-up services-down bench clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) platform/run.py

test: $(STAMP)
	$(PY) platform/test.py

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

services-up: $(STAMP)
	$(PY) platform/services.py up

services-down: $(STAMP)
	$(PY) platform/services.py down

bench: $(STAMP)
	$(PY) bench/tenant_create.py

clean: services-down
	rm -rf var
