# Everything a fresh machine needs: `make run` and `make test` create .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install run test test-slow bench clean

$(VENV)/.installed: pyproject.toml
	@# Browser tests drive Debian's chromium (Playwright's own download does not work here).
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	  echo "note: chromium not installed; browser tests will be skipped"
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Main job on the shipped default data: learn a time-dependent isotropic
# Fokker-Planck operator (PS-Tensor) and report its test rollout error.
run: install
	$(VENV)/bin/collop train fp data/langevin.nc \
	  --train uniform_-5_5_-5_5,uniform_-5_0_-5_0,normal_0_0,normal_-1_-1,normal_-1_0 \
	  --test normal_-2_-2,normal_-2_0,normal_rot45,ring_1.0,ring_1.5 \
	  --model tensor --smooth 1 --out runs/langevin-ps-tensor

test: install
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

bench: install
	$(PY) benchmarks/bench_training.py

clean:
	rm -rf $(VENV) .pytest_cache
