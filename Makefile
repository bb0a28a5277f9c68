# Two commands do everything on a fresh machine:
#   make demo   the whole muon study: simulate, train, evaluate, explain, report
#               (runs/demo-muon/report.html)
#   make test   run the test suite (installs Debian's chromium for the browser test if missing)
# Both create .venv on first use (torch's CPU wheel pinned first, then the package).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TORCH := torch==2.13.0
DEMO_FLAGS ?=

.PHONY: venv demo browser test bench bench-data bench-models bench-explain bench-tree bench-judging lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/hepxai demo muon --out runs/demo-muon $(DEMO_FLAGS)

# the report's browser test drives Debian's chromium through Playwright
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null) || \
		echo "warning: could not install chromium; the browser test will be skipped"

test: $(STAMP) browser
	$(BIN)/python -m pytest

bench: bench-data bench-models bench-explain

bench-data: $(STAMP)
	$(BIN)/python bench/run.py

bench-models: $(STAMP)
	$(BIN)/python bench/models.py

bench-explain: $(STAMP)
	$(BIN)/python bench/explain.py --data runs/demo-muon/data

# the decision-flow benchmark reads the distilled ConvSDT that 'make demo' trains
bench-tree: $(STAMP)
	$(BIN)/python bench/tree.py --checkpoint runs/demo-muon/models/convsdt-distilled/best.pt \
		--data runs/demo-muon/data

# judging tables of the attribution methods on the demo's trained CNNs
bench-judging: $(STAMP)
	$(BIN)/python bench/judging.py --run runs/demo-muon

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) data runs build *.egg-info
