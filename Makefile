# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export FLASK_APP := balancer

.PHONY: run test test-sqlite test-postgresql test-mariadb test-all bench migrate clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(VENV)/bin/flask db upgrade

## Run Balancer under gunicorn on the embedded SQLite database (instance/).
run: migrate
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

## The whole suite on SQLite; BALANCER_TEST_DB=postgresql|mariadb picks another database.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: $(STAMP)
	BALANCER_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)
	BALANCER_TEST_DB=postgresql $(PY) -m pytest $(PYTEST_ARGS)
	BALANCER_TEST_DB=mariadb $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/proxy_bench.py

clean:
	rm -rf $(VENV) .pytest_cache
