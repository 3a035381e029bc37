# The commands of the README. Every setting comes from the environment (see .env.example);
# with nothing set, everything runs locally: SQLite, a filesystem broker, e-mails as files.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
VAR_DIR ?= $(CURDIR)/var
export PORT VAR_DIR

# Local development secrets, generated once under $(VAR_DIR) and used unless the
# environment already sets them.
DEV_ENV = export DEBUG="$${DEBUG:-1}" \
	SECRET_KEY="$${SECRET_KEY:-$$(cat $(VAR_DIR)/secret_key)}" \
	FIELD_ENCRYPTION_KEYS="$${FIELD_ENCRYPTION_KEYS:-$$(cat $(VAR_DIR)/field_encryption_key)}";

.PHONY: help run test bench-import bench-send bench-web lint format translations

help:  ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: $(VENV)/.installed-run $(VAR_DIR)/secret_key $(VAR_DIR)/field_encryption_key translations  ## Migrate, seed the demo, start web + worker + beat (Ctrl-C stops all)
	@$(DEV_ENV) $(PY) manage.py migrate --no-input
	@$(DEV_ENV) $(PY) manage.py seed_demo
	@echo
	@echo "  Voltaire Communications: http://127.0.0.1:$(PORT)/connexion/"
	@echo "  Demo administrator:      admin@demo.voltaire.example / voltaire-demo-2026"
	@echo "  Django admin (support):  http://127.0.0.1:$(PORT)/admin/ as support@demo.voltaire.example / voltaire-demo-2026"
	@echo "  E-mails are written to:  $(VAR_DIR)/mail/"
	@echo "  Ctrl-C stops the web server, the Celery worker and Celery beat."
	@echo
	@$(DEV_ENV) exec $(VENV)/bin/honcho start --no-colour -f Procfile.dev -e /dev/null

test: $(VENV)/.installed-dev translations  ## Run the whole test suite (REQUIRE_SERVICES=1 fails instead of skipping)
	$(VENV)/bin/pytest

bench-import: $(VENV)/.installed-run  ## Time the CSV import on a large generated file
	$(PY) bench/bench_import.py

bench-send: $(VENV)/.installed-dev  ## Measure dispatch and end-to-end sending of 100,000 messages (needs PostgreSQL and Redis; ARGS=--no-pipelining)
	$(PY) bench/bench_send.py $(ARGS)

bench-web: $(VENV)/.installed-dev  ## Measure the administrators' pages under load: locust, gunicorn, 100,000 learners (needs PostgreSQL; ARGS=--keep/--reuse)
	$(PY) bench/bench_web.py $(ARGS)

lint: $(VENV)/.installed-dev  ## ruff check, ruff format --check, mypy, and no missing migration
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	DJANGO_SETTINGS_MODULE=voltaire_comms.settings.test $(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.installed-dev  ## Fix what ruff can fix and format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Compile locale/*/LC_MESSAGES/django.po into .mo files; nothing to do without .po files.
translations: $(VENV)/.installed-run
	@if [ -n "$$(find locale -name '*.po' 2>/dev/null | head -n 1)" ]; then \
		$(VENV)/bin/pybabel -q compile -d locale -D django; \
	fi

$(PY):
	@test -n "$(PYTHON)" || { echo "python3.11 or python3 is needed to create $(VENV)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# The stamp files make pip run only when a requirements file changed.
$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

$(VAR_DIR)/secret_key: | $(VENV)/.installed-run
	@mkdir -p $(VAR_DIR)
	@umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

$(VAR_DIR)/field_encryption_key: | $(VENV)/.installed-run
	@mkdir -p $(VAR_DIR)
	@umask 077 && $(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > $@
