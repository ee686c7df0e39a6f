# Each target sets up .venv itself when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGOS  := argostranslate==1.11.0

.PHONY: run test bench eval server clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# argostranslate's declared dependencies pull torch + CUDA (~6 GB); we only need its package module.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(ARGOS)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/newsflow ingest seeds

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench.ingest_bench
	# Translation: argostranslate per document vs newsflow vs one translate_batch call (builds bench/.venv-argos once).
	$(BIN)/python -m bench.translate_bench

eval: $(STAMP)
	$(BIN)/newsflow eval

server: $(STAMP)
	$(BIN)/newsflow server

clean:
	rm -rf $(VENV) .pytest_cache
