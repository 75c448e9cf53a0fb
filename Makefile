# jetkit — two commands do all set-up on a fresh machine:
#   make lab    create .venv if absent, install the kit, open JupyterLab on notebooks/
#   make test   create .venv if absent, install the kit, run every test (unit, property,
#               fjcontrib reference, notebooks through nbval, browser)
# Helpers: make data | make notebooks | make bench | make clean

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.jetkit-installed
LAB_ARGS ?=
# Jupyter refuses to start as root unless told; containers and CI machines often run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=

.PHONY: lab test data notebooks bench clean install screenshots

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/00_tour_of_jets.ipynb $(ROOT_FLAG) $(LAB_ARGS)

# The persistent XLA cache lets the notebooks reuse what the unit tests compiled (same run).
test: $(STAMP)
	JAX_COMPILATION_CACHE_DIR="$(CURDIR)/.jax_cache" \
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider $(PYTEST_ARGS)

# Regenerate the shipped datasets from their recorded seeds (about 30 min on 2 cores).
data: $(STAMP)
	$(BIN)/python -m jetkit.data.generate top_qcd --jobs 2
	$(BIN)/python -m jetkit.data.generate jet5 --jobs 2
	$(BIN)/python -m jetkit.data.generate top_qcd_fsr --jobs 2

# Rebuild every notebook from its source in notebooks/build/, then re-execute it in place so the
# committed outputs are current.
notebooks: $(STAMP)
	cd notebooks/build && for b in build_*.py; do ../../$(BIN)/python $$b || exit 1; done
	$(BIN)/python benchmarks/notebooks.py --write

# Re-take the README's widget screenshots (docs/images/<notebook>-<widget>.png) with the browser tests.
screenshots: $(STAMP)
	JETKIT_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/test_browser_*.py -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/notebooks.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/train_loop.py
	$(BIN)/python benchmarks/edgeconv.py
	$(BIN)/python benchmarks/taggers.py
	$(BIN)/python benchmarks/generation.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
