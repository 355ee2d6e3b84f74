# The two set-up commands of the README: `make demo` and `make test`.
# Each installs what it needs, idempotently; a second run skips what is done.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA := $(abspath ../shared/data/fashion-mnist)
DEBIAN_DATA := /usr/share/datasets/fashion-mnist
KAFKA_LIBS := .cache/kafka/libs
APT_PACKAGES := openjdk-17-jre-headless maven
# The dashboard's browser test drives Debian's Chromium through its chromedriver.
BROWSER_PACKAGES := chromium chromium-driver
BROKER ?= apache-kafka
IMAGES ?= 1000
# Where `make bench` puts its run folders; its figures name that folder's file system.
BENCH_WORKDIR ?= workdir

# Prefer the data beside the project (CI, developers), then the Debian package.
DATA_DIR ?= $(if $(wildcard $(SHARED_DATA)/t10k-images-idx3-ubyte.gz),$(SHARED_DATA),$(DEBIAN_DATA))

.PHONY: demo test test-unit setup setup-dev system browser kafka data lint bench clean-state protos

demo: setup data kafka
	$(BIN)/fashion-pubsub demo --broker $(BROKER) --images $(IMAGES) --data-dir $(DATA_DIR)

# Unit tests first (seconds, no broker), then the integration tests on the real services.
test: test-unit kafka
	FASHION_PUBSUB_DATA_DIR=$(DATA_DIR) $(BIN)/pytest tests/integration

test-unit: setup-dev data
	FASHION_PUBSUB_DATA_DIR=$(DATA_DIR) $(BIN)/pytest tests/unit

lint: setup-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: setup data kafka
	$(BIN)/fashion-pubsub bench --data-dir $(DATA_DIR) --workdir $(BENCH_WORKDIR)

# The protobuf code is generated after the install (which brings grpcio-tools), never
# committed; a sub-make keeps that order under `make -j` too.
setup: system $(VENV)/.installed-app
	@$(MAKE) --no-print-directory -s protos
setup-dev: system browser $(VENV)/.installed-dev
	@$(MAKE) --no-print-directory -s protos

# Java and Maven from Debian when missing (needs root, as on the project's machines).
system:
	@command -v java >/dev/null && command -v mvn >/dev/null || { \
	  echo "installing $(APT_PACKAGES) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); }
	@test -x /usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator || \
	  echo "note: the Pub/Sub emulator is not installed (apt package google-cloud-cli-pubsub-emulator from Google Cloud's apt repository); Kafka works without it"

# Chromium and its driver from Debian when missing, for the dashboard's browser test.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing $(BROWSER_PACKAGES) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); }

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-app: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e ".[protos]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install -q -e ".[dev,train,protos]"
	# TF Serving's own gRPC client, for the tests: it requires `tensorflow`, which pip
	# does not consider satisfied by tensorflow-cpu, so without its dependencies
	$(BIN)/pip install -q --no-deps "tensorflow-serving-api>=2.16,<2.22"
	touch $@ $(VENV)/.installed-app

# The protobuf code (*_pb2.py, *_pb2.pyi) is generated from serving/protos/*.proto, never
# committed: `make setup` and `make setup-dev` run this, and it redoes only what a changed
# .proto makes stale. Another environment's grpcio-tools: make protos BIN=/path/to/venv/bin
PROTO_DIR := src/fashion_pubsub/serving/protos
PROTOS := $(wildcard $(PROTO_DIR)/*.proto)
protos: $(PROTOS:.proto=_pb2.py) $(PROTOS:.proto=_pb2.pyi)
$(PROTO_DIR)/%_pb2.py $(PROTO_DIR)/%_pb2.pyi: $(PROTO_DIR)/%.proto
	$(BIN)/python -m grpc_tools.protoc -I src --python_out=src --pyi_out=src $<

kafka: $(KAFKA_LIBS)/.resolved
$(KAFKA_LIBS)/.resolved: infra/kafka/pom.xml
	mvn -q -B -f infra/kafka/pom.xml dependency:copy-dependencies
	touch $@

# The data set is never part of the repository: use ../shared, else Debian's package.
data:
	@test -f $(DATA_DIR)/t10k-images-idx3-ubyte.gz || { \
	  echo "installing the Fashion-MNIST data set (Debian package dataset-fashion-mnist)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }

clean-state:
	-$(BIN)/fashion-pubsub infra down
	rm -rf .fashion-pubsub
