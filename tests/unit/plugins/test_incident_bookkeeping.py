"""The incident's bookkeeping in Python: the outcome table (status, reason, silence, lock), the decision a host
read allows, and the actions incident_phase and incident_outcome through a real ansible-playbook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import (
    diagnosis,
    expire_silence,
    failure_class,
    outcome,
    quarantine_decision,
    silence_state,
)

PLAN = {"id": "INC-1", "service": "demo-app", "mitigation": "restart", "act": True, "decision": "act: P0",
        "alert": {"name": "DemoAppDown", "all_labels": {"alertname": "DemoAppDown", "instance": "h:8080"}}}  # fmt: skip
SERVICE = {"unit": "demo-app.service", "health_url": "http://127.0.0.1:8080/health"}
SILENCE = {"changed": True, "silence_id": "s-1"}
FIXED = {"mitigation": "restart", "outcome": "fixed", "changed": True, "message": "restarted, ready in 1.2 s",
         "verified": [{"check": "health http://127.0.0.1:8080/health", "kind": "health", "result": "ready"}],
         "steps": [{"step": "restart", "outcome": "ready", "seconds": 1.2}], "details": {}}  # fmt: skip
UNCHANGED = {**FIXED, "outcome": "unchanged", "changed": False, "verified": [], "steps": [],
             "message": "demo-app.service is active and healthy: not restarted"}  # fmt: skip


def record(**given):
    base = dict(plan=PLAN, check_mode=False, failure={}, failed_task="", mitigation_result={},
                verify={}, service=SERVICE, verify_alert=True, diagnosed={}, evidence="/e", lock={"message": "lease"},
                unlock={}, silence=SILENCE, unsilence={"changed": True}, silence_duration="30m",
                started="s", ended="e")  # fmt: skip
    return outcome(**{**base, **given})


# fmt: off
TABLE = [
    # (what happened, the status, the start of the reason, the class, the silence expired)
    ("not acting", dict(plan={**PLAN, "act": False, "decision": "diagnose only, as asked"}, silence={"skipped": True},
                        unsilence={"skipped": True}, lock={"skipped": True}),
     "diagnosed", "diagnose only, as asked", None, False),
    ("check mode", dict(check_mode=True, unsilence={"skipped": True}), "checked",
     "check mode: nothing was changed, the mitigation reported what it would do", None, False),
    ("fixed and verified", dict(mitigation_result=FIXED), "resolved", "verified healthy", None, True),
    ("unchanged and verified", dict(mitigation_result=UNCHANGED), "resolved",
     "verified healthy; the restart changed nothing: demo-app.service is active and healthy", None, True),
    ("refused by the mitigation", dict(mitigation_result={**FIXED, "outcome": "refused"},
                                       failure={"msg": "3 restarts in the last 900 s"}, failed_task="Fail with it"),
     "refused", "3 restarts in the last 900 s (task: Fail with it)", "refused", True),
    ("security stop", dict(mitigation_result={**FIXED, "outcome": "security"}, failure={"msg": "12 artifacts"},
                           unsilence={"changed": True}), "failed", "12 artifacts", "security", True),
    ("failed in the mitigation", dict(mitigation_result={**FIXED, "outcome": "failed"}, failure={"msg": "no"},
                                      unsilence={"skipped": True}), "failed", "no", "failed", False),
    ("verify failed after a fix", dict(mitigation_result=FIXED, failure={"msg": "still firing"},
                                       failed_task="Verify", unsilence={"skipped": True}),
     "failed", "still firing (task: Verify)", "failed", False),
    ("a lease held past the wait", dict(failure={"msg": "refused: held", "acquired": False,
                                                 "waited_for": {"owner": "INC-0"}}), "refused", "refused: held",
     "refused", True),
    ("a quarantine found after waiting", dict(failure={"msg": "refused: after waiting", "incident_refused": True}),
     "refused", "refused: after waiting", "refused", True),
    ("a message saying refused from a role with a result is not a refusal",
     dict(mitigation_result=FIXED, failure={"msg": "refused: words only"}, unsilence={"skipped": True}),
     "failed", "refused: words only", "failed", False),
]
# fmt: on


@pytest.mark.parametrize(("given", "status", "reason", "klass", "expired"), [t[1:] for t in TABLE],
                         ids=[t[0] for t in TABLE])  # fmt: skip
def test_the_outcome_table(given, status, reason, klass, expired):
    done = record(**given)
    assert done["status"] == status and done["reason"].startswith(reason), done
    assert done.get("failure") == klass
    assert expire_silence(status, klass or "", "keep") is expired
    if expired and status != "checked":
        assert done["silence"]["state"] == "expired", "the test gives an expiry where one is made"
    assert done["mitigation"] == "restart" and done["started"] == "s" and done["evidence"] == "/e"


def test_a_resolved_outcome_shows_what_the_mitigation_proved_and_the_alert():
    done = record(mitigation_result=FIXED, verify={
        "health": {"skipped": True}, "queries": {"results": [{"item": {"query": "up"}, "value": 1, "held_for": 3,
                                                              "attempts": 4}]},
        "alert": {"held_for": 3, "attempts": 5}})  # fmt: skip
    assert [c["check"] for c in done["verification"]] == [
        "health http://127.0.0.1:8080/health", "up",
        'ALERTS of DemoAppDown {"alertname": "DemoAppDown", "instance": "h:8080"}']  # fmt: skip
    assert done["verification"][2]["result"] == "no ALERTS series of this alert, held 3 s after 5 queries"
    assert done["actions"] == FIXED["steps"], "the steps the mitigation took"
    assert done["result"]["outcome"] == "fixed"


def test_a_check_the_mitigation_proved_is_named_by_its_kind():
    said = {**FIXED, "verified": [{"check": "http://h/health", "kind": "health", "result": "ready"},
                                  {"check": "u.service active", "kind": "unit", "result": "active"},
                                  {"check": "up == 1", "kind": "queries", "result": "held"}]}  # fmt: skip
    checks = [c["check"] for c in record(mitigation_result=said)["verification"]]
    assert checks[:3] == ["health http://h/health", "unit u.service active", "up == 1"]


def test_the_incidents_own_health_check_and_an_alert_not_checked():
    done = record(verify={"health": {"json": {"status": "ready"}, "elapsed": 0.2}, "alert": {"skipped": True}})
    assert done["verification"][0] == {"check": "health http://127.0.0.1:8080/health",
                                       "result": '{"status": "ready"} after 0.2 s'}  # fmt: skip
    assert done["verification"][1]["result"].startswith("not checked: no Prometheus URL is known (services.demo-app.")
    unit_only = record(service={"unit": "u.service"}, verify={"unit": {"unit": {"ActiveState": "active"}}})
    assert unit_only["verification"][0] == {"check": "unit u.service", "result": "active"}


def test_the_incidents_health_command_is_named_in_the_verification():
    """Without a health_url, verify's unit read runs the service's health_command: the record names it."""
    service = {"unit": "u.service", "health_command": ["/usr/local/bin/health_check.sh", "--quick"]}
    ran = {"command": service["health_command"], "status": 0, "error": "", "seconds": 0.4, "healthy": True}
    done = record(service=service, verify={"unit": {"unit": {"ActiveState": "active"}, "health": ran}})
    assert done["verification"][:2] == [
        {"check": "unit u.service", "result": "active"},
        {"check": "health /usr/local/bin/health_check.sh --quick", "result": "exit 0 after 0.4 s"},
    ]


@pytest.mark.parametrize(("silence", "unsilence", "act", "state"), [
    ({"skipped": True}, {}, False, "none (diagnosis only: the alert keeps paging)"),
    ({"skipped": True}, {}, True, "none (no Alertmanager or no alert)"),
    ({"silence_id": "", "msg": "connection refused"}, {}, True, "not created: connection refused"),
    (SILENCE, {"failed": False, "msg": "HTTP 500"}, True, "not expired: HTTP 500"),
    (SILENCE, {"changed": True}, True, "expired"),
    (SILENCE, {"skipped": True}, True, "kept until it ends (30m), the incident not being resolved"),
])  # fmt: skip
def test_the_silence_state(silence, unsilence, act, state):
    assert silence_state(act, silence, unsilence, "30m")["state"] == state


def test_the_lock_text():
    assert record(lock={"skipped": True})["lock"] == "not taken (the run ended before resolve)"
    held = {"message": "lease taken", "lease": {"expires_at": "T"}}
    assert record(lock=held, unlock={"failed": False, "msg": "disk full"})["lock"] == (
        "lease taken; the lease could not be released (disk full): it expires at T"
    )


def test_a_quarantined_or_unread_host_only_diagnoses():
    read = {"quarantine": None, "unit": {}}
    assert quarantine_decision(PLAN, read, "u", "/q") == ""
    assert quarantine_decision({**PLAN, "act": False}, {}, "u", "/q") == "", "a diagnosis stays one"
    assert quarantine_decision(PLAN, {"failed": True, "msg": "journal_lines\n bad"}, "u", "/q").startswith(
        "diagnose only: the host could not be read (journal_lines bad), so whether u is quarantined is unknown"
    )
    said = quarantine_decision(PLAN, {"quarantine": {"since": "T", "incident": "INC-0", "reason": "tampering"}},
                               "u", "/q")  # fmt: skip
    assert (
        said == "u is quarantined since T by incident INC-0 (tampering): diagnose only; remove /q/u.json after review"
    )


def test_the_diagnosis_summary():
    host = {"unit": {"ActiveState": "failed", "SubState": "failed"}, "health": {"error": "refused"}}
    alerts = {"series": [{"metric": {"alertstate": "firing"}}]}
    assert diagnosis(host, alerts, {"files": []}, "/e") == {
        "unit": "failed/failed", "health": "refused", "alert_series": "1", "alert_firing": True,
        "evidence": "/e/diagnose"}  # fmt: skip
    assert diagnosis({}, {"skipped": True}, {"msg": "cannot write"}, "/e")["evidence"] == "cannot write"


def test_no_failure_no_class():
    assert failure_class({}, FIXED) == "" and failure_class("", {}) == ""


RESTART_FAILED = {
    "mitigation": "restart",
    "outcome": "failed",
    "message": "not healthy",
    "restored": False,
    "reason": "not healthy (task: Check)",
    "stop": False,
    "steps": [{"step": "restart", "outcome": "no"}],
}
ROLLED_BACK = {"mitigation": "rollback", "outcome": "fixed", "message": "rolled back and healthy", "restored": True,
               "reason": "", "stop": False, "steps": [{"step": "switch"}]}  # fmt: skip


def test_a_ladder_climbed_shows_every_rung_its_steps_and_why_the_next_was_tried():
    rollback = {**FIXED, "mitigation": "rollback", "message": "rolled back and healthy", "steps": [{"step": "switch"}]}
    done = record(mitigation_result=rollback, ladder=[RESTART_FAILED, ROLLED_BACK])
    assert done["status"] == "resolved" and done["mitigation"] == "restart", "the mitigation asked for"
    assert done["reason"] == ("verified healthy after rung 2, rollback; restart did not restore the service "
                              "(failed: not healthy (task: Check))")  # fmt: skip
    assert [r["mitigation"] for r in done["ladder"]] == ["restart", "rollback"]
    assert "steps" not in done["ladder"][0], "the steps are the actions, not repeated per rung"
    assert done["actions"][0] == {"step": "restart", "outcome": "no"}
    assert done["actions"][1]["step"] == "rollback"
    assert done["actions"][1]["outcome"] == ("restart did not restore the service (failed): fixed, rolled back and "
                                             "healthy")  # fmt: skip
    assert done["result"]["message"] == "rolled back and healthy", "the last rung's result"
    refused = {"mitigation": "rollback", "outcome": "refused", "message": "refused: already escalated", "stop": True,
               "restored": False, "reason": "refused: already escalated", "steps": []}  # fmt: skip
    stopped = record(failure={"msg": "refused: already escalated", "incident_refused": True},
                     ladder=[RESTART_FAILED, refused], unsilence={"changed": True})  # fmt: skip
    assert stopped["status"] == "refused" and stopped["failure"] == "refused"
    assert stopped["reason"] == "refused: already escalated", "the refused rung never ran: no 'ladder tried'"
    assert [a["step"] for a in stopped["actions"]] == ["restart"], "nor a step of its own (the storm counts them)"
    spent = "refused: budget spent"
    budget = {**RESTART_FAILED, "outcome": "refused", "message": spent, "reason": spent}
    climbed = record(mitigation_result=rollback, ladder=[budget, ROLLED_BACK])
    assert climbed["reason"].endswith("restart did not restore the service (refused: budget spent)"), "said once"
    one = record(mitigation_result=FIXED, ladder=[{**ROLLED_BACK, "mitigation": "restart"}])
    assert one["reason"] == "verified healthy" and one["actions"] == [{"step": "switch"}]


# --- the actions, through a real ansible-playbook ------------------------------------------------------
@pytest.fixture(autouse=True)
def _no_timeline(monkeypatch, tmp_path):
    """The timeline callback (enabled in ansible.cfg) off: its summary would follow the JSON on stdout."""
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "ansible.builtin.junit")
    monkeypatch.setenv("JUNIT_OUTPUT_DIR", str(tmp_path / "junit"))


def phase(name, **args):
    return {"incident.remediation.incident_phase": {"phase": name, **args}, "register": f"__{name}"}


def test_incident_phase_declares_enters_and_decides(ansible_task, tmp_path):
    services = {"demo-app": SERVICE}
    ack, diagnose, verify, close = ansible_task([
        phase("acknowledge", plan=PLAN, services=services, evidence_dir=f"{tmp_path}/ev"),
        phase("diagnose", host={"quarantine": {"reason": "tampering"}}, quarantine_dir="/q"),
        phase("verify", result=FIXED),
        phase("close", failure={}, result=FIXED),
    ])  # fmt: skip
    assert ack["incident_event"] == [{"event": "phase", "phase": "acknowledge"}, {"event": "incident", "data": PLAN}]
    facts = ack["ansible_facts"]
    assert facts["_incident_service"] == SERVICE and facts["_incident_evidence"].startswith(f"{tmp_path}/ev/INC-1/")
    assert facts["_incident_silence_comment"] == "incident INC-1: restart by incident.remediation"
    assert (
        diagnose["incident_event"][0]["event"] == "incident" and not diagnose["ansible_facts"]["incident_plan"]["act"]
    )
    assert "is quarantined" in diagnose["msg"]
    assert verify["ansible_facts"]["_incident_check_health"] is False, "the restart proved health"
    assert verify["ansible_facts"]["_incident_check_queries"] is True
    assert close["ansible_facts"]["_incident_status"] == "diagnosed", "the plan turned to a diagnosis"


def test_the_diagnose_phase_keeps_the_evidence_and_never_fails_for_it(ansible_task, tmp_path):
    read = {"quarantine": None, "unit": {"ActiveState": "failed"}, "health": {"healthy": False},
            "logs": {"status": "STATUS", "journal": "JOURNAL <b>", "dmesg": "DMESG"}, "errors": []}  # fmt: skip
    alerts = {"series": [{"metric": {"alertname": "DemoAppDown", "alertstate": "firing"}}]}
    (tmp_path / "full").write_text("a file where the folder should be: writing under it fails")
    kept, not_kept = ansible_task([
        phase("acknowledge", plan=PLAN, services={"demo-app": SERVICE}, evidence_dir=str(tmp_path / "ev")),
        phase("diagnose", host=read, alert_state=alerts, journal_lines=200, dmesg_lines=100),
    ])[1:] + ansible_task([
        phase("acknowledge", plan=PLAN, services={"demo-app": SERVICE}, evidence_dir=str(tmp_path / "full")),
        phase("diagnose", host=read),
    ])[1:]  # fmt: skip
    folder = Path(kept["saved"]["dir"])
    assert folder.parent.parent.parent == tmp_path / "ev" and folder.name == "diagnose" and "msg" not in kept["saved"]
    logs = (folder / "logs.txt").read_text()
    assert "==== systemctl status demo-app.service\nSTATUS" in logs and "(last 200 lines)\nJOURNAL <b>" in logs
    summary = json.loads((folder / "diagnosis.json").read_text())
    assert summary["alert_series"] == alerts["series"] and summary["unit"] == {"ActiveState": "failed"}
    assert not not_kept.get("failed") and not_kept["saved"]["msg"].startswith("cannot write evidence in "), not_kept
    assert not_kept["incident_event"][0]["phase"] == "diagnose", "the phase is entered all the same"


def test_incident_phase_refuses_a_lease_held_past_the_wait_and_needs_a_plan(ansible_task):
    held = {"acquired": False, "waited_for": {"owner": "INC-0"}, "msg": "refused: demo-app.service ... is locked"}
    unusable = {"acquired": False, "waited_for": None, "msg": "the lease /l is not one this module wrote"}
    refused, broken, taken, no_plan = ansible_task([
        {**phase("acknowledge", plan=PLAN, services={"demo-app": SERVICE}), "register": "x"},
        phase("resolve", lease=held), phase("resolve", lease=unusable), phase("resolve", lease={"acquired": True}),
    ])[1:] + ansible_task([phase("verify")])  # fmt: skip
    assert refused["failed"] and refused["msg"] == held["msg"] and refused["waited_for"] == {"owner": "INC-0"}
    assert failure_class(refused, {}) == "refused", "another mitigation under way: a refusal"
    assert broken["failed"] and failure_class(broken, {}) == "failed", "a lease file that cannot be used: a failure"
    assert not taken.get("failed"), "a lease taken: the resolve phase is entered"
    assert no_plan["failed"] and "no incident plan" in no_plan["msg"]


def test_incident_outcome_records_then_fails_an_unresolved_incident(ansible_task):
    task = {"plan": PLAN, "service": SERVICE, "evidence": "/e", "silence": SILENCE}
    resolved, failed, checked = ansible_task([
        {"incident.remediation.incident_outcome": {**task, "result": FIXED}, "register": "a"},
        {"incident.remediation.incident_outcome": {**task, "failure": {"msg": "down"}, "failed_task": "T"},
         "register": "b", "ignore_errors": True},
    ]) + ansible_task([{"incident.remediation.incident_outcome": task}], check=True)  # fmt: skip
    assert resolved["ansible_facts"]["incident_outcome"]["status"] == "resolved"
    assert resolved["incident_event"] == [{"event": "outcome", "data": resolved["ansible_facts"]["incident_outcome"]}]
    assert failed["failed"] and failed["incident_event"][0]["data"]["status"] == "failed"
    assert failed["msg"].startswith("incident INC-1 on ") and failed["msg"].endswith(": down (task: T)")
    assert checked["ansible_facts"]["incident_outcome"]["status"] == "checked"


def test_a_failure_that_names_its_task_already_is_not_named_twice():
    """A role's rescue hands back "<msg> (task: <its task>)" and fails again with that message: the incident named
    the role's last task after it ("... (task: Check) (task: Fail with the restart's result)")."""
    named = {"msg": "demo-app.service is not healthy (task: Check that health came back)"}
    done = record(mitigation_result={**FIXED, "outcome": "failed", "message": named["msg"]}, failure=named,
                  failed_task="Fail with the restart's result", unsilence={"skipped": True})  # fmt: skip
    assert done["reason"] == "demo-app.service is not healthy (task: Check that health came back)", done["reason"]


def test_incident_rung_refuses_a_spent_escalation_and_records_the_climb(ansible_task):
    """The action of the ladder, through a real ansible-playbook: rung 1 failed, rung 2 is entered only with the
    window's escalation; a spent one is refused (escalation_refused), and the record makes it the incident's end."""
    ladder_plan = {
        **PLAN,
        "ladder": [{"mitigation": "restart", "options": {}}, {"mitigation": "rollback", "options": {}}],
    }
    ack = {**phase("acknowledge", plan=ladder_plan, services={"demo-app": SERVICE}), "register": "x"}
    rung = "incident.remediation.incident_rung"
    spent = {"allowed": False, "message": "already escalated in the last 15 min (at 10:00)", "path": "/b.json"}
    _, first, allowed, refused, last = ansible_task([
        ack,
        {rung: {"step": "record", "index": 0, "result": {"outcome": "failed", "message": "not healthy"},
                "failure": {"msg": "not healthy"}, "failed_task": "Check"}, "register": "a"},
        {rung: {"step": "enter", "index": 1, "escalation": {"allowed": True, "message": "escalation allowed"}},
         "register": "b"},
        {rung: {"step": "enter", "index": 1, "escalation": spent}, "register": "c"},
        {rung: {"step": "record", "index": 1, "result": {}, "failure": "{{ c }}"}, "register": "d"},
    ])  # fmt: skip
    state = first["ansible_facts"]["_incident_ladder"]
    assert state["next"] == 1 and state["why"].startswith("restart did not restore the service (failed: not healthy")
    assert "_incident_failure" not in first["ansible_facts"], "not the last rung: the incident goes on"
    assert not allowed.get("failed") and "rung 2: rollback" in allowed["msg"]
    assert refused["failed"] and refused["incident_refused"] and refused["escalation_refused"]
    assert refused["msg"].startswith("refused: not healthy, and already escalated"), refused["msg"]
    assert "already escalated in the last 15 min (at 10:00): not trying rollback on localhost" in refused["msg"]
    facts = last["ansible_facts"]
    assert facts["_incident_ladder"]["next"] is None and facts["_incident_failure"]["escalation_refused"]
    assert [r["stop"] for r in facts["_incident_ladder"]["climbed"]] == [False, True]
    assert failure_class(facts["_incident_failure"], facts["_incident_result"]) == "refused"
