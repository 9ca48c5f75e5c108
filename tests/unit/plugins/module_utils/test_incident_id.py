"""The incident id, one format for alerts and operators (plugins/module_utils/incident_id.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.incident_id import (
    for_operator,
    from_alert,
    incident_id,
    is_incident_id,
)

OPERATOR = re.compile(r"^OPS-\d{8}T\d{6}Z-[0-9a-f]{4}\Z")


def test_an_alert_is_named_by_its_start_and_fingerprint():
    alert = {"fingerprint": "ABCDEF0123456789ffff", "startsAt": "2026-12-01T10:00:00.123Z"}
    assert from_alert(alert) == "INC-20261201T100000-abcdef0123456789"
    assert incident_id(alert) == from_alert(alert)


def test_an_operator_run_gets_one_format_unique_per_call():
    assert for_operator(datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "beef") == "OPS-20261201T100000Z-beef"
    ids = {incident_id({}) for _ in range(50)}
    assert all(OPERATOR.match(value) for value in ids) and len(ids) > 40
    assert OPERATOR.match(incident_id({"labels": {"alertname": "X"}}))  # an alert without a fingerprint


def test_a_given_id_wins_and_is_checked():
    assert incident_id({"fingerprint": "ab"}, "INC-1234") == "INC-1234"
    for bad in ("../x", "a b", "x" * 129, "{{ lookup('pipe', 'id') }}", "-leading"):
        assert not is_incident_id(bad)
        with pytest.raises(ValueError, match="must be letters"):
            incident_id({}, bad)
