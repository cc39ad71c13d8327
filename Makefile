# Everything a new user needs, from nothing but Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Dagster writes a new run's planned events (one per partition and asset) in batches of this size.
export DAGSTER_EVENT_BATCH_SIZE ?= 1000

.PHONY: install demo test ui bench crash clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned: the CPU build; left to the resolver it pulls several GB of CUDA packages.
$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## make demo: install, then ingest the bundled samples (they are copied into the inbox)
demo: install $(DAGSTER_HOME)/dagster.yaml
	mkdir -p inbox
	cp -R samples/. inbox/
	$(BIN)/ingestctl ingest

## make test: install, then run the whole test suite (real Dagster, LanceDB, model, PostgreSQL)
test: install
	$(BIN)/pytest

## make ui: the Dagster UI and daemon (sensors, schedules) on http://127.0.0.1:3000
ui: install $(DAGSTER_HOME)/dagster.yaml
	mkdir -p inbox
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

## make bench: the benchmark (N=200 documents, 100,000-file scale test); prints a table and writes bench/out/results.json
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## make crash: 10 random SIGKILLs during ingestion, each followed by recovery and an exact-rows check
crash: install
	$(BIN)/python bench/crash_trials.py --trials 10

clean:
	rm -rf $(VENV) .dagster_home data inbox
