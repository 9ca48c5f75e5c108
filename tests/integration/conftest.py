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
# measured with -n 2 on a 2-core machine: 560, 391, 227, 224, 203, 187, 181, 144, 141, 90; every other file
# under 70. Only the order depends on this list (a file not in it runs after these, in pytest's order), and
# only with xdist: Makefile's XDIST has --no-loadscope-reorder, else xdist orders files by their test count.
LONGEST_FIRST = ("test_rollback_host.py", "test_fault_matrix.py", "test_unit_lock.py", "test_receiver_hardening.py",
                 "test_check_mode.py", "test_incident_flow.py", "test_role_secrets.py", "test_noop_runs.py",
                 "test_name_injection.py", "test_proxy_secrets.py")  # fmt: skip


def pytest_collection_modifyitems(items):
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker's collection is the one xdist schedules
        rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
