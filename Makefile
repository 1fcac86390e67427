# salesdw: `make demo` and `make test` do all set-up on a fresh Linux machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_START ?= 2026-01-01
DEMO_END ?= 2026-01-03
DEMO_DAYS ?= 3
DEMO_SCALE ?= 0.2
DEMO_DIRTY ?= 0.002
# three years of history, so the CLV backtest has a past 12-month window and the year before it
DEMO_HISTORY_DAYS ?= 1100

.PHONY: install demo test docs lock clean stop bench bench-load bench-nightly example-maven

install: $(STAMP)

# pip reads the lock as constraints: every package, direct or not, at its pinned version
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "salesdw needs Python 3.11, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,test]'
	touch $(STAMP)

demo: install
	$(BIN)/salesdw db start
	$(BIN)/salesdw generate --start $(DEMO_START) --days $(DEMO_DAYS) --scale $(DEMO_SCALE) --dirty $(DEMO_DIRTY) \
		--history-days $(DEMO_HISTORY_DAYS)
	$(BIN)/salesdw run --start $(DEMO_START) --end $(DEMO_END) --backfill
	@$(MAKE) --no-print-directory $(DBT_DOCS)
	$(BIN)/salesdw summary

# dbt docs for the demo, again only when the project changed (`make docs` refreshes them at will)
DBT_DOCS := dbt_project/target/index.html
$(DBT_DOCS): $(shell find dbt_project/models dbt_project/macros dbt_project/seeds dbt_project/tests -type f) dbt_project/dbt_project.yml
	$(BIN)/salesdw dbt docs generate --quiet

test: install
	$(BIN)/pytest -q -rs

# A real CRM export (examples/maven_crm/: its CSVs and a deployment file, no code) to published marts,
# in a warehouse of its own; the last line printed is the BI login's libpq URL of that warehouse.
MAVEN_DIR ?= .salesdw-maven
MAVEN_PORT ?= 54339
MAVEN_DATE ?= 2017-12-31# the day the export was taken: its last day
example-maven: install
	@export SALESDW_CONFIG=$(abspath examples/maven_crm/salesdw.yml) SALESDW_STATE_DIR=$(abspath $(MAVEN_DIR)) \
		SALESDW_DATA_DIR=$(abspath $(MAVEN_DIR))/data SALESDW_PG_PORT=$(MAVEN_PORT) \
		AIRFLOW_HOME=$(abspath $(MAVEN_DIR))/airflow; \
	$(BIN)/salesdw db start && $(BIN)/salesdw run --date $(MAVEN_DATE) && $(BIN)/salesdw summary && \
	$(BIN)/salesdw db url --role bi

# The loader against plain COPY on the same 1,000,000-row file, in one run (not a timed test).
bench-load: install
	$(BIN)/python bench/bench_load.py

# The whole path at a scale (10: ~500 reps, 50,000 accounts, 200,000 opportunities a year, three years of
# history), each stage beside a bare baseline, in a warehouse of its own (docs/benchmarks.md).
SCALE ?= 10
bench: install
	$(BIN)/python bench/bench_scale.py --scale $(SCALE)

# One night through Airflow against the same work bare in one process, taking turns (overhead ratio).
bench-nightly: install
	$(BIN)/python bench/bench_nightly.py

docs: install
	$(BIN)/salesdw dbt docs generate
	@echo "dbt docs: dbt_project/target/index.html (serve with: $(BIN)/salesdw dbt docs serve)"

# Re-pin the whole tree after changing a top-level pin in pyproject.toml (setuptools included: dlt needs a newer one
# than a fresh venv has).
lock: install
	(echo "# Full pin of the environment (pip freeze). Regenerate with: make lock"; \
	 $(BIN)/pip freeze --all --exclude-editable | grep -v '^salesdw\|^pip==') > requirements.lock

stop:
	-$(BIN)/salesdw db stop
	-test ! -d $(MAVEN_DIR) || SALESDW_STATE_DIR=$(MAVEN_DIR) $(BIN)/salesdw db stop
	-test ! -d .salesdw-bench || SALESDW_STATE_DIR=.salesdw-bench $(BIN)/salesdw db stop
	-test ! -d .salesdw-bench-scale || SALESDW_STATE_DIR=.salesdw-bench-scale $(BIN)/salesdw db stop

clean: stop
	rm -rf .salesdw .salesdw-maven .salesdw-bench .salesdw-bench-scale data dbt_project/target dbt_project/logs dbt_project/.vocabulary
