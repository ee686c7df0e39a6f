# Each target sets up .venv itself when it is missing or the lock files changed.
# Every install is exactly the locked set, with hashes: requirements-dev.lock (pyproject.toml's
# dependencies and its `dev` extra, at the versions of requirements.lock, which the Docker image
# installs) and requirements-argos.lock (argostranslate alone, --no-deps). `make lock` regenerates them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check
UV     := uv==0.13.9
LOCK   := uv pip compile --generate-hashes --universal --python-version 3.11 --quiet

.PHONY: run test bench eval server lock clean

$(STAMP): requirements.lock requirements-dev.lock requirements-argos.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(PIP) install --quiet --require-hashes --no-deps -r requirements-argos.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/newsflow ingest seeds

# The report test opens the page in Debian's Chromium; as root, `make test` installs it when missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the report test"; \
		apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	else echo "no $(CHROMIUM): the report's browser test will be skipped (install Debian's chromium package)"; fi

# Two pytest workers, each taking whole test files (their module fixtures run once): most tests
# wait on a subprocess or a server, so two run side by side on two cores. TEST_WORKERS=0: one process.
# The longest files first (tests/conftest.py orders them), so that both workers finish together.
TEST_WORKERS ?= 2
test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q --durations=15 $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

bench: $(STAMP)
	$(BIN)/python -m bench.ingest_bench
	# One very large text file (4 to 200 MB) through extract, language and the whole ingest (needs ~4 GB free; storing 200 MB needs a 1GB writer).
	NEWSFLOW_WAREHOUSE_MEMORY_LIMIT=1GB $(BIN)/python -m bench.large_file_bench
	# Issue 22's texts (20 and 50 MB of short lines, 50 MB of 20 words) through newsflow ingest in-process and on 2 workers, then a 2 KB file (~3 min).
	$(BIN)/python -m bench.large_file_bench --hostile --output bench/results/hostile_texts_default_limit.json
	# The writer memory storing and replacing one long article needs, by bisection (~5 min).
	$(BIN)/python -m bench.writer_memory_bench --output bench/results/writer_memory.json
	# Soak: 20,000 documents of the benchmark corpus through the real `newsflow ingest`, per 1,000-document window (long; ~80 KB of disk an input).
	$(BIN)/python -m bench.soak_bench --json bench/results/soak.json
	# Scaling: 2,000 docs with --workers 1 / all cores / a user-started Dask cluster, HTML vs trafilatura alone, 1k/5k/20k docs (~60 min on 2 cores, ~5 GB in /tmp).
	$(BIN)/python -m bench.scale_bench --json bench/results/scale.json
	# What Dask's default worker heap setting costs the stages, against newsflow's workers and this process.
	$(BIN)/python -m bench.worker_heap_bench
	# HTML pages: CPU a page of newsflow's worker stages against trafilatura.extract alone, in one process (~3 min).
	$(BIN)/python -m bench.html_stage_costs
	# Starting and closing 2 local workers: spawned (Dask's default) against forked from newsflow's forkserver.
	$(BIN)/python -m bench.worker_start_bench
	# Dask's event-loop and system monitors at their defaults against newsflow's quieter ones: idle CPU and extraction on 2 workers.
	$(BIN)/python -m bench.cluster_idle_bench
	# How long `newsflow ingest` takes to exit after its last line of output.
	$(BIN)/python -m bench.cli_exit_bench
	# Stopping: 10 SIGTERMs and 10 Ctrl-Cs at random moments of a --workers 2 run, each checked (exit code, one line, counts against rows, no process left; ~15 min).
	$(BIN)/python -m bench.stop_bench --json bench/results/stop.json
	# Translation: argostranslate per document vs newsflow vs one translate_batch call (builds bench/.venv-argos once).
	$(BIN)/python -m bench.translate_bench
	# Duplicate detection: refresh_duplicates on the 2,000- and 20,000-document corpus (first, unchanged, +1% new).
	$(BIN)/python -m bench.duplicates_bench --json bench/results/duplicates.json
	# Archive scale: runs adding / finding unchanged / updating 100 files, search, status, report, export on a 10,000-article
	# archive (~5 min; the larger sizes by flag: --sizes 10000,100000,1000000 --work DIR --keep, ~1.5 h and ~25 GB at 1M).
	$(BIN)/python -m bench.archive_bench --json bench/results/archive.json
	# Search: index build / refresh / query times on 2,000 and 20,000 corpus articles (~15 min on 2 cores).
	$(BIN)/python -m bench.search_bench --json bench/results/search.json
	# Web fetching: pages/s from local test sites, politeness off, one host polite, 20 hosts polite (about 50 s).
	$(BIN)/python -m bench.web_bench --json bench/results/web.json
	# Web deadline: how long a server dripping its body, headers or robots.txt holds a fetch and a poll (about 40 s).
	$(BIN)/python -m bench.web_deadline_bench --json bench/results/web_deadline.json
	# WARC: the development pages ingested as a WARC against as files (records/s, pages/s), and reading a WARC with warcio (~5 min).
	$(BIN)/python -m bench.warc_bench --json bench/results/warc.json

eval: $(STAMP)
	$(BIN)/newsflow eval

# `make server PORT=4300` for another port; Ctrl-C stops the server and its Prefect child.
server: $(STAMP)
	$(BIN)/newsflow server $(if $(PORT),--port $(PORT))

# Re-resolve the locked versions from pyproject.toml and requirements-argos.in (needs the package index).
lock: $(STAMP)
	$(PIP) install --quiet $(UV)
	cd $(CURDIR) && $(BIN)/$(LOCK) pyproject.toml -o requirements.lock
	cd $(CURDIR) && $(BIN)/$(LOCK) pyproject.toml --extra dev -c requirements.lock -o requirements-dev.lock
	cd $(CURDIR) && $(BIN)/$(LOCK) --no-deps requirements-argos.in -o requirements-argos.lock
	$(PIP) uninstall --quiet --yes uv

clean:
	rm -rf $(VENV) .pytest_cache
