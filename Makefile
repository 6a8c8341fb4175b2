# Two commands on a fresh machine: `make demo` and `make test`. Nothing else is installed by hand.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.melab-installed
MEDIAPIPE := mediapipe==0.10.14
MAMBA_SSM := mamba-ssm==2.3.2.post1

.PHONY: install demo test lint pytest nbval notebooks lab clean

install: $(STAMP)

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools packaging

$(STAMP): pyproject.toml constraints.txt Makefile | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[lab,test,face]"
	$(PIP) install --quiet --no-deps $(MEDIAPIPE)
	MAMBA_FORCE_BUILD=TRUE MAMBA_SKIP_CUDA_BUILD=TRUE \
	  $(PIP) install --quiet --no-build-isolation --no-deps $(MAMBA_SSM)
	touch $@

demo: $(STAMP)
	$(PY) -m melab demo

lint: $(STAMP)
	$(PY) -m ruff check melab tests benchmarks

pytest: $(STAMP)
	$(PY) -m pytest -q

# Notebooks are executed and checked with progress bars off, so their stored outputs are deterministic.
nbval: $(STAMP)
	TQDM_DISABLE=1 $(PY) -m pytest -q --nbval --sanitize-with tests/nbval_sanitize.cfg notebooks/

notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do \
	  TQDM_DISABLE=1 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; \
	done

test: lint pytest nbval

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

clean:
	rm -rf build .pytest_cache
