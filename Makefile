# The two commands a user needs: `make run` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
DATA ?= ../shared/data
STAMP := $(VENV)/.installed
QUIX_STAMP := .venvs/quix/.installed
SPARK_STAMP := .venvs/spark/.installed

.PHONY: run test test-soak install tools kafka kafka-stop kafka-status cluster cluster-stop cluster-status topics lint typecheck unit integration train eval bench bench-soak bench-peers clean

run: install kafka topics ## Start Kafka and the worker with its web view (foreground)
	$(BIN)/faust -A app worker -l info

# Test files run this many at a time: most of an integration test is waiting on a worker
# or the broker, so two at once on two cores take 11 minutes instead of 15.
TEST_WORKERS ?= 2

test: install tools kafka lint typecheck ## The whole suite against the real broker (and its 15 slowest tests)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

test-soak: install ## Half an hour on a three-node cluster at 3,000 events/s (SOAK_SECONDS)
	$(PY) -m pytest -q -m soak tests/soak

install: $(STAMP) ## Local virtualenv with exact pins

$(STAMP): pyproject.toml models/_ngrams.c
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

tools: ## Debian's kcat and chromium, which the tests drive the app with
	@missing=""; command -v kcat >/dev/null || missing="kcat"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  [ "$$(id -u)" = 0 ] || { echo "missing:$$missing (sudo apt-get install$$missing)"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

kafka: install ## Fetch (once) and start the local broker; reuses a running one
	$(PY) broker/local_kafka.py start

kafka-stop:
	$(PY) broker/local_kafka.py stop

kafka-status:
	$(PY) broker/local_kafka.py status

# Three combined KRaft nodes, data and logs in .kafka/cluster/node-N; KAFKA_AUTH=1 for SASL + ACLs.
CLUSTER := KAFKA_HOME=$(CURDIR)/.kafka/cluster KAFKA_NODES=3 KAFKA_PORT=19092

cluster: install ## A replicated three-node cluster on 127.0.0.1:19092-19094
	$(CLUSTER) $(PY) broker/local_kafka.py start
	@echo "point the app at it: export BROKER_URL=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"

cluster-stop:
	$(CLUSTER) $(PY) broker/local_kafka.py stop

cluster-status:
	$(CLUSTER) $(PY) broker/local_kafka.py status

topics: install kafka ## Create the app's topics up front
	$(BIN)/faust -A app create-topics

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy .

train: install ## Retrain every registered pipeline's shipped model from $(DATA)
	$(PY) -m pipelines.train --data $(DATA)

eval: install ## Reproduce the shipped models' figures from $(DATA)
	$(PY) -m pipelines.train --evaluate --data $(DATA)

bench: install kafka $(QUIX_STAMP) ## Throughput and latency beside the peers; prints a table and JSON
	$(PY) -m bench.run

bench-soak: install kafka ## Ten minutes at 5,000 heart events/s: lag, p99, busy share, errors
	$(PY) -m bench.soak

bench-peers: install kafka $(SPARK_STAMP) ## The seed's Spark DEMO 1 measured like the app (needs $(DATA))
	$(PY) -m bench.peers --data $(DATA)

$(SPARK_STAMP): bench/spark-requirements.txt ## pyspark for the seed's job, in a virtualenv of its own
	$(PYTHON) -m venv .venvs/spark
	.venvs/spark/bin/python -m pip install -q -r bench/spark-requirements.txt
	touch $@

$(QUIX_STAMP): pyproject.toml ## Quix Streams, the peer the bench measures, in a virtualenv of its own
	$(PYTHON) -m venv .venvs/quix
	.venvs/quix/bin/python -m pip install -q --upgrade pip
	.venvs/quix/bin/python -m pip install -q -e '.[quix]'
	touch $@

clean:
	rm -rf $(VENV) .venvs .pytest_cache .mypy_cache .ruff_cache test-output
