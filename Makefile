# cchc-monitor. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := schemas kpi agents streams clients service
CODE := $(PACKAGES) tests $(wildcard bench)

.PHONY: install tools run test unit lint typecheck bench bench-report bench-scrape soak flood clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,rocksdb]'
	touch $(STAMP)

install: $(STAMP)

# Tests also need promtool, a real Prometheus, docker-compose and Chromium (for the
# browser tests, driven by Playwright): Debian's packages.
SYSTEM_PACKAGES := prometheus docker-compose chromium
tools:
	@if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null \
	    || ! command -v docker-compose >/dev/null || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "make test needs: apt-get install $(SYSTEM_PACKAGES) (as root)" >&2; exit 1; \
	  fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

# DEMO_FORMAT=envelope|arrays|query feeds the same demo as national sync records, as the
# three kinds of real one-stop system send them; dvcqg in the portal's field list (§9).
# Ctrl-C stops everything it started (worker, web, embedded broker, demo feed) within
# 10 s; it says so when it starts.
DEMO_FORMAT ?= events
run: $(STAMP)
	$(BIN)/cchc run --demo --demo-format $(DEMO_FORMAT)

# Everything: lint, types, the pure tests and doctests, and the integration tests that
# start the embedded broker, Prometheus and Chromium themselves.
test: $(STAMP) tools lint typecheck
	$(BIN)/pytest -q --doctest-modules $(PACKAGES) tests

# The pure tests and doctests alone: no broker, no tools, well under a minute.
unit: $(STAMP)
	$(BIN)/pytest -q --doctest-modules $(PACKAGES) tests/unit

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py

# One /metrics scrape with a year of the province and 1,000 unlisted units.
bench-report: $(STAMP)
	$(BIN)/python bench/report.py

bench-scrape: $(STAMP)
	$(BIN)/python bench/scrape.py

# Ten minutes at 500 events/s with hostile input, a killed worker and a frozen broker.
soak: $(STAMP)
	$(BIN)/python bench/soak.py

# Native events and alerts while eight one-stop systems flood POST /ingest/dvcqg.
flood: $(STAMP)
	$(BIN)/python bench/flood.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
