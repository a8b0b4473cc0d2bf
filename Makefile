# One obvious way to run things. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
KAFKA_STATE ?= var/kafka

.DEFAULT_GOAL := help
.PHONY: help setup demo test browser promtool lint typecheck unit integration bench bench-soak faults kafka-start kafka-stop schemas sample clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml deploy/kafka/pom.xml server/dashboard/package-lock.json
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "learnstream needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python deploy/kafka/local_kafka.py fetch
	npm ci --prefix server/dashboard --no-audit --no-fund --loglevel=error
	touch $(STAMP)

setup: $(STAMP)  ## install Python packages into .venv, the Kafka jars into .cache/kafka, the dashboard's charting library

demo: setup  ## start local Kafka, feed a simulated organisation through the live connectors, worker and loader into chDB, print trends, stop all
	bash deploy/demo.sh

test: setup lint typecheck browser promtool  ## lint, type-check, and run the whole suite (starts and stops its own Kafka)
	$(BIN)/python -m pytest

browser: /usr/bin/chromedriver  ## Debian's chromium and chromium-driver, for the dashboard's browser test

/usr/bin/chromedriver:
	@command -v apt-get >/dev/null || { echo "the dashboard test needs Debian's chromium and chromium-driver packages" >&2; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

promtool: /usr/bin/promtool  ## Debian's prometheus package, whose promtool checks deploy/prometheus in the tests

/usr/bin/promtool:
	@command -v apt-get >/dev/null || { echo "the alert rules' test needs Debian's prometheus package (promtool)" >&2; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus

lint: setup  ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup  ## mypy on the packages
	$(BIN)/mypy

unit: setup  ## unit tests only (no network)
	$(BIN)/python -m pytest tests/unit

integration: setup  ## integration tests only (real Kafka, real chDB)
	$(BIN)/python -m pytest tests/integration

faults: setup  ## the fault-injection suite: every scenario against the real processes, then the table (FAULTS.md)
	$(BIN)/python bench/faults.py

bench: setup  ## all benchmarks (about 20 minutes; figures against baselines measured in the same run)
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/stages.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/pipeline.py --activities 1000000 --skip-baselines --latency-seconds 0
	$(BIN)/python bench/connectors.py

bench-soak: setup  ## the 1M-activity end-to-end run alone: rate, CPU and RSS of worker and loader over time
	$(BIN)/python bench/pipeline.py --activities 1000000 --skip-baselines --latency-seconds 0

kafka-start: setup  ## start a local broker on 127.0.0.1 ($$LEARNSTREAM_LOCAL_KAFKA_PORT, default 9092)
	$(BIN)/python deploy/kafka/local_kafka.py start --state-dir $(KAFKA_STATE)

kafka-stop:  ## stop the local broker started by kafka-start
	$(BIN)/python deploy/kafka/local_kafka.py stop --state-dir $(KAFKA_STATE)

schemas: setup  ## regenerate the JSON Schema files in schemas/json
	$(BIN)/learnstream schemas export

sample: setup  ## rebuild samples/activities.jsonl from ../shared/data
	$(BIN)/learnstream sample build

clean:  ## remove local state (var/); keeps .venv and the jar cache
	rm -rf var
