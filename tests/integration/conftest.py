"""Real Prometheus (scraping a fixture exporter every second) and a real Alertmanager, one each per session."""

from __future__ import annotations

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
