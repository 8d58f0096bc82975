# The two commands of the README. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/online_retail

.PHONY: demo test lint chromium java bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,spark]'
	touch $(STAMP)

## demo: segment the UCI Online Retail data shipped in data/ and write the outputs to runs/
demo: $(STAMP)
	$(BIN)/custseg run data/online_retail.parquet --out $(OUT) --seed 0

## test: the linters (pinned versions), the quick benchmark (timings are printed, never
## asserted), then the whole test suite (installs Debian's chromium for the report's browser test
## and Java 17 for the Spark engine's tests where they are missing)
test: $(STAMP) chromium java lint
	$(BIN)/python bench/run.py --quick
	$(BIN)/python -m pytest

## lint: ruff (rules and format), mypy, and the import-linter contracts of pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

## bench-quick: Online Retail and 1 M synthetic lines against the notebook and the bare scan (≤ 2 min)
bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

## chromium: the headless browser the report test drives (Debian package, no download of our own)
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else \
	    echo "make test: /usr/bin/chromium is missing; install it as root: apt-get install -y chromium" >&2; \
	    echo "(the browser test of the report is skipped without it)" >&2; \
	  fi; \
	fi

## java: the Java runtime local Spark runs on (Debian package), for the Spark engine's tests
java:
	@if ! command -v java >/dev/null 2>&1 && [ -z "$$JAVA_HOME" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y openjdk-17-jre-headless; \
	  else \
	    echo "make test: java is missing; install it as root: apt-get install -y openjdk-17-jre-headless" >&2; \
	    echo "(the Spark engine's tests are skipped without it)" >&2; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) runs .pytest_cache
