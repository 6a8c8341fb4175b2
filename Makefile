# Two commands on a fresh machine: `make demo` and `make test`. Nothing else is installed by hand.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.melab-installed
MEDIAPIPE := mediapipe==0.10.14
MAMBA_SSM := mamba-ssm==2.3.2.post1

.PHONY: install browser demo test lint pytest nbval notebooks student artefacts lab clean gpu-check

install: $(STAMP)

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools packaging

$(STAMP): pyproject.toml constraints.txt Makefile | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[lab,test,face,cluster]"
	$(PIP) install --quiet --no-deps $(MEDIAPIPE)
	MAMBA_FORCE_BUILD=TRUE MAMBA_SKIP_CUDA_BUILD=TRUE \
	  $(PIP) install --quiet --no-build-isolation --no-deps $(MAMBA_SSM)
	touch $@

# The browser test drives Debian's chromium. Install it when we can (root with apt-get, as in CI);
# elsewhere the test is skipped with a visible reason.
browser:
	@if command -v chromium >/dev/null; then true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else echo "chromium not found and cannot install it here: the browser test will be skipped"; fi

# Seconds a notebook cell may run before its execution fails with the cell named (a stuck kernel must not
# hang the run). nbval reads the same limit from pyproject.toml (nbval_cell_timeout, see conftest.py).
CELL_TIMEOUT ?= 600

demo: $(STAMP)
	$(PY) -m melab demo --out build/demo
	TQDM_DISABLE=1 $(VENV)/bin/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=$(CELL_TIMEOUT) \
	  --output-dir build/notebooks notebooks/*.ipynb
	@echo "demo outputs: build/demo/ (contact sheet, corpus summary, sample spots) and build/notebooks/*.html"

lint: $(STAMP)
	$(PY) -m ruff check melab tests benchmarks

pytest: $(STAMP)
	$(PY) -m pytest -q

# The notebooks are checked exactly as a tutorial maintainer runs nbval: no environment variables. Checked cells
# show no progress bar (they pass progress=False), so their stored outputs are deterministic either way.
nbval: $(STAMP)
	$(PY) -m pytest -q --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks/

notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do \
	  TQDM_DISABLE=1 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=$(CELL_TIMEOUT) "$$nb" || exit 1; \
	done

# The student release: the committed notebooks without their solution cells (tagged "solution") and without outputs,
# built by nbconvert's preprocessors (notebooks/student_config.py), with the glossary and the session plan. Written
# to a temporary folder first and moved into place, so build/student/ is never half-built.
student: $(STAMP)
	mkdir -p build
	tmp=$$(mktemp -d build/.student.XXXXXX) && \
	  $(VENV)/bin/jupyter nbconvert --config notebooks/student_config.py --output-dir "$$tmp" notebooks/*.ipynb && \
	  cp notebooks/GLOSSARY.md notebooks/SESSIONS.md "$$tmp"/ && \
	  rm -rf build/student && mv "$$tmp" build/student
	@echo "student release: build/student/ ($$(du -sh build/student | cut -f1))"

test: browser lint pytest nbval

# The GPU path: melab's scan and Mamba layer against mamba-ssm's CUDA kernels, and one epoch of a paper-size
# spotter (melab and reference layouts) and MERba trained with device="cuda". On a machine whose torch sees a GPU, mamba-ssm is first
# rebuilt with its kernels (once; needs nvcc). Elsewhere every test is skipped with its reason.
gpu-check: $(STAMP)
	@if $(PY) -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then \
	  $(PY) -c "import selective_scan_cuda, causal_conv1d_cuda" 2>/dev/null || { \
	    echo "building mamba-ssm and causal-conv1d with their CUDA kernels"; \
	    MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE $(PIP) install --no-build-isolation --no-deps \
	      --force-reinstall $(MAMBA_SSM) "causal-conv1d>=1.4.0"; }; \
	else echo "no CUDA GPU visible to torch: the cuda tests will be skipped"; fi
	$(PY) -m pytest -m cuda -v -rs tests/

# Rebuild the shipped checkpoints, LOSO scores and decoding defaults in data/ (about 30 min on this busy 2-core
# machine; see data/artefacts.json).
# PARTS="merba" (or "spotter") rebuilds one family only.
PARTS ?= spotter merba
artefacts: $(STAMP)
	$(PY) -c "from melab.train import build_artefacts; build_artefacts('data', parts='$(PARTS)'.split())"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root,)

clean:
	rm -rf build .pytest_cache
