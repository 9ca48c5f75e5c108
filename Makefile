# Developer entry points. `make test` is what CI runs (.ci/run); `make demo` shows
# a real service on a real systemd host. Both set the machine up first.
SHELL := /bin/bash
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: help setup image lint ee unit integration e2e molecule test demo demo-clean build clean bench bench-restart bench-fleet bench-load bench-token

help:
	@echo "make test      set up, then lint, unit and integration tests, molecule scenarios (what CI runs)"
	@echo "make demo      set up, then run the demo service on a systemd test host and show its health"
	@echo "make bench     the benchmarks (restart, fleet, load, token): figures and plots into docs/benchmarks/"
	@echo "make lint | unit | integration | e2e | molecule | build | image | ee | setup | demo-clean | clean"

setup:
	scripts/setup

image: setup
	scripts/build-target-image

lint: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/ansible-lint
	$(VENV)/antsibull-changelog lint
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.collections $(VENV)/antsibull-docs lint-collection-docs --plugin-docs \
		.collections/ansible_collections/incident/remediation

# The AWX execution environment (execution-environment.yml), built or reused, and checked inside; integration runs
# the same test.
ee: setup
	scripts/pytest tests/integration/test_execution_environment.py

# The unit tests wait more than they compute (servers, timeouts, subprocesses): two at once halve the stage.
UNIT_XDIST ?= -n 2

unit: setup
	scripts/pytest tests/unit $(UNIT_XDIST)

# The integration and e2e tests mostly wait (podman hosts, Prometheus, ansible-playbook): pytest-xdist runs
# three test files at once. --dist loadfile keeps each file on one worker, as its podman host and its module
# fixtures need. XDIST= runs them one at a time, as before.
XDIST ?= -n 3 --dist loadfile --no-loadscope-reorder
# The slowest tests, printed at the end of each stage: where CI's time goes (docs/testing.md).
DURATIONS ?= --durations=25 --durations-min=20

integration: setup
	scripts/pytest tests/integration $(XDIST) $(DURATIONS)

# e2e: two stacks at once, not three: with three (the system packs' files beside the demo's), the demo's last
# scenario saw its error-rate alert never fire in 240 s, twice; alone and in sequence it passed (docs/testing.md).
E2E_XDIST ?= -n 2 --dist loadfile --no-loadscope-reorder

e2e: image
	scripts/pytest tests/e2e $(E2E_XDIST) $(DURATIONS)

build: setup
	scripts/build-collection

# Two scenarios at once: each has its own host, and a scenario waits on its host more than it computes.
molecule: image
	MOLECULE_JOBS=$${MOLECULE_JOBS:-2} scripts/molecule

test: setup image lint unit integration e2e molecule
	@echo "make test: all passed"

# Benchmarks (not tests): figures, ratios and plots written into docs/benchmarks/.
# BENCH_ARGS goes to restart.py and fleet.py, e.g. make bench-restart BENCH_ARGS=--mitogen
bench: bench-restart bench-fleet bench-load bench-token

bench-restart: image
	$(VENV)/python bench/restart.py --publish $(BENCH_ARGS)

bench-fleet: image
	$(VENV)/python bench/fleet.py --publish $(BENCH_ARGS)

bench-load: setup
	$(VENV)/python bench/load.py --publish

bench-token: setup
	$(VENV)/python bench/token_timing.py --publish

demo: image
	scripts/demo

demo-clean:
	scripts/demo --clean

clean:
	rm -rf .cache/build .pytest_cache .ruff_cache
