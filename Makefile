# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Bootstrap, Bootstrap Icons and Chart.js for the admin UI, from package-lock.json.
NPM_STAMP := node_modules/.installed

export FLASK_APP := balancer

.PHONY: run test test-sqlite test-postgresql test-mariadb test-all bench bench-targets migrate clean chromium assets

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

assets: $(NPM_STAMP)

## The browser tests drive Debian's chromium; nothing downloads a browser of its own.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

migrate: $(STAMP)
	$(VENV)/bin/flask db upgrade

## Run Balancer under gunicorn on the embedded SQLite database (instance/), on
## 127.0.0.1:8000 unless HOST and PORT say otherwise.
run: migrate $(NPM_STAMP)
	$(VENV)/bin/gunicorn -c gunicorn.conf.py

## The whole suite on SQLite; BALANCER_TEST_DB=postgresql|mariadb picks another database.
test: $(STAMP) $(NPM_STAMP) chromium
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: $(STAMP) $(NPM_STAMP) chromium
	BALANCER_TEST_DB=sqlite $(PY) -m pytest $(PYTEST_ARGS)
	BALANCER_TEST_DB=postgresql $(PY) -m pytest $(PYTEST_ARGS)
	BALANCER_TEST_DB=mariadb $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/proxy_bench.py

## The four figures of a light, steady proxy and their targets; nginx answers as the upstream.
bench-targets: $(STAMP)
	@command -v nginx >/dev/null 2>&1 || (apt-get update && apt-get install -y nginx-light)
	$(PY) bench/targets_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache node_modules
