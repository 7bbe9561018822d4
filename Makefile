# Two commands do all the set-up on a fresh machine: `make bench` (the main job) and `make test`.
# Each creates .venv when it is missing and installs archzoo with the pinned versions first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install test lint bench models gpu-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -n 2 --durations=15

models: $(STAMP)
	$(VENV)/bin/zoo models

bench: $(STAMP)
	$(VENV)/bin/zoo bench --preset quick

gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) *.egg-info
