"""The OpenAPI description and the receiver say the same thing (the running receiver is checked against it
in tests/integration/test_receiver_openapi.py)."""

from __future__ import annotations

import schemathesis

from incident_remediation import __version__
from incident_remediation.journal import STATES
from incident_remediation.receiver import OPEN, ROUTES, description


def test_it_describes_exactly_the_routes_served():
    served = {(path, method.lower()) for method, path, _ in ROUTES}
    described = {(path, method) for path, operations in description()["paths"].items() for method in operations}
    assert served == described


def test_the_open_paths_are_the_ones_without_the_token():
    paths = description()["paths"]
    unauthenticated = {path for path, ops in paths.items() for op in ops.values() if op.get("security") == []}
    assert unauthenticated == set(OPEN)
    assert description()["security"] == [{"bearer": []}]


def test_job_states_and_version_are_the_packages():
    assert description()["info"]["version"] == __version__
    assert tuple(description()["components"]["schemas"]["JobState"]["enum"]) == STATES


def test_it_loads_as_openapi_with_every_operation():
    loaded = schemathesis.openapi.from_dict(description())
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == len(ROUTES)
