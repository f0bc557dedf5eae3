# The two commands that matter: `make demo` and `make test`. Both install first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The test suite runs against real PostgreSQL and Redis (see README, "Tests").
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/robo_advisor
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
PYTEST_WORKERS ?= auto

.PHONY: help install demo test lint services chromium migrate worker beat serve clean benchmarks

help:
	@echo "make demo    install, load the demo market and clients, serve http://127.0.0.1:8000"
	@echo "make test    install, lint, type-check, check the import contract, run the test suite"
	@echo "make install create .venv and install the pinned dependencies (quick when nothing changed)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24" wheel setuptools

# torch first, from the CPU build, so nothing pulls the CUDA wheels.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet --progress-bar off "torch==2.13.0"
	$(BIN)/pip install --quiet --progress-bar off -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python manage.py demo

chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "Installing Debian's chromium and chromium-driver"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

services:
	@bash scripts/ensure-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

# Tests run the production mode (PostgreSQL, Redis) over plain HTTP on loopback.
TEST_ENV := DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DJANGO_SECRET_KEY=test-only-secret \
	DJANGO_HTTPS=false DJANGO_STATIC_MANIFEST=false DATABASE_CONN_MAX_AGE=0 DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1,testserver

test: install chromium services lint
	$(TEST_ENV) $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

benchmarks: install services
	$(TEST_ENV) bash -c 'for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done'

migrate: install
	$(BIN)/python manage.py migrate

worker: install
	$(BIN)/celery -A worker worker --loglevel=INFO

beat: install
	$(BIN)/celery -A worker beat --loglevel=INFO --scheduler django_celery_beat.schedulers:DatabaseScheduler

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis var
