# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install lint migrate seed clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput -v 0

seed: migrate
	$(PY) manage.py seed_demo

# Installs, migrates, seeds, then starts web, worker, beat and the Mailchimp sandbox.
run: seed
	$(PY) scripts/run_dev.py

# The same set-up, then the whole suite (browser tests need /usr/bin/chromium); -rs prints
# why each skipped test was skipped.
test: install
	$(PY) -m pytest -rs

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var
