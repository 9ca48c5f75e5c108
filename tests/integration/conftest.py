"""Real Prometheus (scraping a fixture exporter every second) and a real Alertmanager, one each per session."""

from __future__ import annotations

import os

import pytest
from monitoring import Alertmanager, Exporter, Prometheus


@pytest.fixture(scope="session")
def exporter():
    server = Exporter()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus(exporter, tmp_path_factory):
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), targets=[exporter.address]).start()
    try:
        server.wait_for('up{job="fixture"} == 1')
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory):
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager")).start()
    yield server
    server.stop()


# With pytest-xdist (--dist loadfile) a worker that ends a file takes the next one in this order: the longest
# files go first, or one started last keeps a single worker busy long after the others are done. Seconds
# measured with -n 3 on a loaded 2-core machine (2026-12-01): 560, 391, 310, 227, 227, 224, 221, 214, 203, 200,
# 181, 160, 144, 141, 138, 137, 90, 80, 60; every other file under 60. Only the order depends on this list (a file
# not in it runs after these, in pytest's order), and only with xdist: Makefile's XDIST has
# --no-loadscope-reorder, else xdist orders files by their test count.
LONGEST_FIRST = ("test_rollback_host.py", "test_fault_matrix.py", "test_memory_limit_host.py", "test_incident_flow.py",
                 "test_unit_lock.py", "test_receiver_hardening.py", "test_rollback_strategies.py",
                 "test_tamper_fleet.py", "test_check_mode.py", "test_role_secrets.py",
                 "test_protect_data_host.py", "test_noop_runs.py", "test_name_injection.py", "test_evidence_host.py",
                 "test_stability_window.py", "test_proxy_secrets.py", "test_diagnosis_queries.py",
                 "test_execution_environment.py")  # fmt: skip


def pytest_collection_modifyitems(items):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker's collection is the one xdist schedules
        rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
