# Mereo: `make demo` and `make test` set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test test-fast lint train install clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mereo demo --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest tests -p no:cacheprovider

test-fast: $(STAMP)   # unit tests only: no training runs, no whole-eval runs
	$(BIN)/python -m pytest tests -p no:cacheprovider -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check mereo tests
	$(BIN)/ruff format --check mereo tests
	$(BIN)/mypy mereo

train: $(STAMP)
	$(BIN)/mereo train all

bench: $(STAMP)
	$(BIN)/mereo bench

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache
