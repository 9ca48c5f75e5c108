"""protect_data's outcome, ``protected`` (the service stopped on purpose to protect its data, a SEV-1 for people),
through the contract's result, the ladder and the incident's record (seed 001, 4.4)."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.module_utils.ladder import climb, next_rung, rung_record
from ansible_collections.incident.remediation.plugins.module_utils.mitigations import (
    FAILURES,
    FINAL,
    OUTCOMES,
    SERVICE_NEEDS,
    complete_options,
    mitigation_result,
)
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import (
    expire_silence,
    failure_class,
    outcome,
)

LADDER = [{"mitigation": "protect_data", "options": {}}, {"mitigation": "restart", "options": {}}]
PROTECTED = mitigation_result(
    "protect_data", "protected", "SEV-1: demo-app.service stopped, snapshot /var/backups/d.db (8192 bytes)",
    changed=True, details={"severity": "SEV-1", "snapshot": "/var/backups/d.db"},
)  # fmt: skip


def test_protected_is_an_outcome_of_the_contract_and_a_failure_class():
    assert "protected" in OUTCOMES and "protected" in FAILURES
    assert PROTECTED["outcome"] == "protected" and PROTECTED["changed"] is True
    assert PROTECTED["details"]["severity"] == "SEV-1"


def test_protect_data_needs_a_snapshot_command_and_takes_a_reason():
    assert SERVICE_NEEDS["protect_data"] == ("snapshot_command",)
    assert complete_options("protect_data", {}) == {"reason": ""}
    assert complete_options("protect_data", {"reason": "audit log gap"}) == {"reason": "audit log gap"}


@pytest.mark.parametrize(
    ("result", "restored"),
    [
        (PROTECTED, False),  # the SEV-1 stop
        ({"outcome": "failed", "message": "snapshot-data exited 3"}, False),  # stopped, the snapshot failed
        ({**PROTECTED, "check_mode": True}, True),  # check mode: nothing failed, nothing was done
        ({"outcome": "unchanged", "message": "already protected"}, False),  # run again: verify found it stopped
    ],
    ids=["protected", "snapshot failed", "check mode", "already protected"],
)
def test_no_rung_runs_after_protect_data_whatever_it_handed_back(result, restored):
    """A later rung (a restart, a rollback) would start again the service stopped to keep its data as it is."""
    assert "protect_data" in FINAL
    decided = next_rung(LADDER, [rung_record("protect_data", result, restored=restored)])
    assert decided["next"] is None, decided
    assert decided["why"].startswith("protect_data stopped the service to protect its data: no further rung"), decided
    done = climb(LADDER, [], "protect_data", result, {} if restored else {"msg": result["message"]})
    assert done["final"] and done["next"] is None and len(done["climbed"]) == 1


def test_the_record_of_a_protected_incident_is_failed_class_protected_and_pages_people():
    failure = {"msg": PROTECTED["message"], "mitigation_result": PROTECTED}
    assert failure_class(failure, PROTECTED) == "protected"
    assert expire_silence("failed", "protected", "keep") is True, "a SEV-1: the alert must page, not stay silenced"
    record = outcome(
        plan={"id": "INC-9", "service": "ledger", "mitigation": "protect_data", "act": True, "decision": "act"},
        check_mode=False, failure=failure, failed_task="Raise the SEV-1", mitigation_result=PROTECTED, verify={},
        service={"unit": "ledger.service"}, verify_alert=True, diagnosed={}, evidence="/e", lock={"message": "l"},
        unlock={}, silence={"silence_id": "s"}, unsilence={"changed": True}, silence_duration="30m",
        started="s", ended="e",
    )  # fmt: skip
    assert record["status"] == "failed" and record["failure"] == "protected", record
    assert record["reason"].startswith("SEV-1: demo-app.service stopped"), record
    assert record["result"]["details"]["severity"] == "SEV-1"
    assert record["silence"]["state"] == "expired"


def test_a_protect_data_that_failed_pages_people_too_and_other_failures_keep_their_silence():
    assert expire_silence("failed", "failed", "keep", mitigation="protect_data") is True
    assert expire_silence("failed", "failed", "keep", mitigation="restart") is False
    assert expire_silence("failed", "failed", "keep") is False
