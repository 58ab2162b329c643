# FlowSentinel: `make demo` runs the main job, `make test` the whole test suite.
# Both set everything up on a fresh machine (a virtual environment in .venv).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
FS     := $(VENV)/bin/flowsentinel
STAMP  := $(VENV)/.installed
# Folder holding cicids2017-improved-sample/ (override with FLOWSENTINEL_DATA).
DATA   ?= $(or $(FLOWSENTINEL_DATA),../shared/data)
SAMPLE := $(DATA)/cicids2017-improved-sample
OUT    ?= out

.PHONY: setup system-deps demo test bench fixtures golden clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build; a plain `torch` would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	@if [ ! -d "$(SAMPLE)" ]; then \
	  echo "make demo needs the labelled CICIDS-2017 sample at $(SAMPLE)"; \
	  echo "(a folder of CSVs of either release). Point DATA or FLOWSENTINEL_DATA at the folder that holds"; \
	  echo "cicids2017-improved-sample/, e.g.  make demo DATA=/path/to/data"; \
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
