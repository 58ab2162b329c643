# FlowSentinel: `make demo` runs the main job (the live dashboard on simulated traffic),
# `make test` the whole test suite.  Both set everything up on a fresh machine (a virtual
# environment in .venv).  `make report` trains and evaluates on the CICIDS-2017 sample.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
FS     := $(VENV)/bin/flowsentinel
STAMP  := $(VENV)/.installed
# Folder holding cicids2017-improved-sample/ (override with FLOWSENTINEL_DATA).
DATA   ?= $(or $(FLOWSENTINEL_DATA),../shared/data)
SAMPLE := $(DATA)/cicids2017-improved-sample
OUT    ?= out
# Extra arguments for `flowsentinel serve` in `make demo`, e.g. SERVE_ARGS="--port 8080".
SERVE_ARGS ?=

.PHONY: setup system-deps demo report test bench fixtures golden clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build; a plain `torch` would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The live service on the built-in traffic simulator.  The first run trains bundles/demo on
# simulated traffic (under a minute, with progress bars); then it prints the dashboard's URL.
demo: setup
	$(FS) serve $(SERVE_ARGS)

# Train both detectors on the labelled CICIDS-2017 sample, evaluate them, write the report.
report: setup
	@if [ ! -d "$(SAMPLE)" ]; then \
	  echo "make report needs the labelled CICIDS-2017 sample at $(SAMPLE)"; \
	  echo "(a folder of CSVs of either release). Point DATA or FLOWSENTINEL_DATA at the folder that holds"; \
	  echo "cicids2017-improved-sample/, e.g.  make report DATA=/path/to/data"; \
	  exit 2; \
	fi
	$(FS) train --data "$(SAMPLE)" --out $(OUT)/demo-bundle --overwrite
	$(FS) evaluate --bundle $(OUT)/demo-bundle --data "$(SAMPLE)" \
	    --json $(OUT)/demo-eval.json --report $(OUT)/demo-report.html
	@echo "open $(OUT)/demo-report.html"

system-deps:
	scripts/install-system-deps.sh

test: setup system-deps
	FLOWSENTINEL_DATA="$(DATA)" $(VENV)/bin/pytest

bench: setup
	FLOWSENTINEL_DATA="$(DATA)" $(PY) benchmarks/run.py

fixtures: setup
	$(PY) scripts/make_fixtures.py

golden: setup
	$(PY) scripts/make_golden_pcaps.py

clean:
	rm -rf $(OUT) .pytest_cache build *.egg-info
