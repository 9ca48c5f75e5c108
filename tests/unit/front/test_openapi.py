"""The OpenAPI description and the receiver say the same thing (the running receiver is checked against it
in tests/integration/test_receiver_openapi.py)."""

from __future__ import annotations

import schemathesis

from incident_remediation import __version__, webhook
from incident_remediation.dispatcher import VERDICTS
from incident_remediation.journal import STATES
from incident_remediation.receiver import MAX_JOBS_SHOWN, OPEN, ROUTES, description


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


def ecma(pattern) -> str:
    """A Python pattern as the description writes it: JSON Schema's ``$`` is the end, Python's needs ``\\Z``."""
    assert pattern.pattern.endswith("\\Z"), pattern.pattern
    return pattern.pattern[: -len("\\Z")] + "$"


def test_the_webhook_limits_are_the_parsers():
    schemas = description()["components"]["schemas"]
    labels, alert, payload = schemas["Labels"], schemas["Alert"]["properties"], schemas["WebhookPayload"]["properties"]
    lengths = {schemas["Strings"]["additionalProperties"]["maxLength"], labels["additionalProperties"]["maxLength"],
               labels["properties"]["alertname"]["maxLength"]}  # fmt: skip
    assert lengths == {webhook.MAX_VALUE}
    assert labels["propertyNames"]["pattern"] == ecma(webhook.LABEL_NAME)
    assert alert["fingerprint"]["pattern"] == ecma(webhook.FINGERPRINT)
    assert tuple(alert["status"]["enum"]) == webhook.STATUSES
    assert payload["version"]["enum"] == [webhook.VERSION]
    assert payload["alerts"]["maxItems"] == webhook.MAX_ALERTS
    assert schemas["Strings"]["maxProperties"] == labels["maxProperties"] == webhook.MAX_LABELS
    not_json = description()["components"]["responses"]["NotJson"]["description"]
    assert f"nested deeper than {webhook.MAX_DEPTH} levels" in not_json


def test_verdicts_and_the_job_listing_cap_are_the_receivers():
    verdict = description()["components"]["schemas"]["Verdict"]["properties"]["verdict"]
    assert tuple(verdict["enum"]) == VERDICTS
    (limit,) = [p for p in description()["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "limit"]
    assert f"above {MAX_JOBS_SHOWN} give {MAX_JOBS_SHOWN}" in limit["description"]


def test_it_loads_as_openapi_with_every_operation():
    loaded = schemathesis.openapi.from_dict(description())
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) == len(ROUTES)
