# Two commands do everything on a fresh machine:
#   make demo   simulate the muon data, run the classical baselines, write the results
#   make test   run the test suite
# Both create .venv on first use (torch's CPU wheel pinned first, then the package).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TORCH := torch==2.13.0
DEMO_PRESET ?= fast
DATA := data/muon
RUNS := runs/muon

.PHONY: venv demo test bench bench-data bench-models lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/hepxai simulate muon --preset $(DEMO_PRESET) --out $(DATA)
	$(BIN)/hepxai baselines muon --data $(DATA) --out $(RUNS)/baselines

test: $(STAMP)
	$(BIN)/python -m pytest

bench: bench-data bench-models

bench-data: $(STAMP)
	$(BIN)/python bench/run.py

bench-models: $(STAMP)
	$(BIN)/python bench/models.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) data runs build *.egg-info
