# Everything a fresh machine needs: `make run` and `make test` create .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install browser run test test-slow bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Browser tests drive Debian's chromium (Playwright's own download does not work here); only the
# tests need it, not the app.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "note: chromium not installed; browser tests will be skipped"

# Main job: the app on the shipped default data (data/langevin.nc), listening on
# localhost only: open http://localhost:5006/app
run: install
	$(VENV)/bin/panel serve app.py --address 127.0.0.1 --port 5006 \
	  --allow-websocket-origin=localhost:5006 --allow-websocket-origin=127.0.0.1:5006 --warm

test: install browser
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/bench_training.py

clean:
	rm -rf $(VENV) .pytest_cache
