"""The runbooks' stability windows in the incident's record (issue 23 item 8): a service with a window is
*mitigated* after the verification hold, not resolved; its silence is expired all the same (a regression
must page); the record carries what the confirmation at the window's end checks."""

from __future__ import annotations

from ansible_collections.incident.remediation.plugins.module_utils import notify
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import (
    STATUSES,
    expire_silence,
    outcome,
    stability_window,
)

PLAN = {"id": "INC-1", "service": "demo-app", "mitigation": "restart", "act": True, "decision": "act: P0",
        "alert": {"name": "DemoAppDown", "all_labels": {"alertname": "DemoAppDown", "instance": "h:8080"}}}  # fmt: skip
SERVICE = {"unit": "demo-app.service", "health_url": "http://127.0.0.1:8080/health"}
FIXED = {"mitigation": "restart", "outcome": "fixed", "changed": True, "message": "restarted, ready in 1.2 s",
         "verified": [{"check": "health http://127.0.0.1:8080/health", "kind": "health", "result": "ready"}],
         "steps": [{"step": "restart", "outcome": "ready", "seconds": 1.2}], "details": {}}  # fmt: skip
QUERY = {"query": "sum(rate(ok[1m]))", "comparison": ">", "threshold": 0.99, "hold": 60, "interval": 5}
CONFIRM = {"prometheus_url": "http://127.0.0.1:9090", "notify": [{"kind": "slack", "url_env": "HOOK"}]}


def record(service=SERVICE, **given):
    base = dict(plan=PLAN, check_mode=False, failure={}, failed_task="", mitigation_result=FIXED,
                verify={"alert": {"held_for": 3, "attempts": 4}}, service=service, verify_alert=True, diagnosed={},
                evidence="/e", lock={"message": "lease"}, unlock={}, silence={"changed": True, "silence_id": "s-1"},
                unsilence={"changed": True}, silence_duration="30m", started="s",
                ended="2026-12-01T23:00:00+00:00")  # fmt: skip
    return outcome(**{**base, **given})


def test_a_service_without_a_window_is_resolved_after_the_hold_as_before():
    done = record()
    assert done["status"] == "resolved"
    assert "stability" not in done


def test_a_service_with_a_window_is_mitigated_and_the_record_says_what_the_confirmation_checks():
    service = {**SERVICE, "stability": {"window": 900}, "verify_queries": [QUERY]}
    done = record(service=service, confirm=CONFIRM)
    assert done["status"] == "mitigated"
    assert "mitigated" in STATUSES
    assert done["reason"].startswith(
        "verified healthy; stability window 15 min: confirmation due at 2026-12-01T23:15:00"
    )
    assert done["verification"], "the verification evidence is kept for a mitigated incident"
    assert done["silence"]["state"] == "expired"
    assert done["stability"] == {
        "window": 900, "span": "15 min", "mitigated_at": "2026-12-01T23:00:00+00:00",
        "due": "2026-12-01T23:15:00+00:00",
        "prometheus_url": "http://127.0.0.1:9090",
        "alert": {"name": "DemoAppDown", "labels": {"alertname": "DemoAppDown", "instance": "h:8080"}},
        "conditions": [{"query": "sum(rate(ok[1m]))", "comparison": ">", "threshold": 0.99, "interval": 5}],
        "notify": CONFIRM["notify"],
    }  # fmt: skip


def test_the_window_of_an_alert_overrides_the_services_and_check_mode_has_none():
    service = {**SERVICE, "stability": {"window": 900, "alerts": {"DemoAppDown": 3600}}}
    assert stability_window(service, PLAN) == 3600
    assert stability_window({**SERVICE, "stability": {"window": 600}}, PLAN) == 600
    assert stability_window(SERVICE, PLAN) == 0
    assert record(service=service, check_mode=True)["status"] == "checked"


def test_a_mitigated_incident_does_not_keep_its_silence_over_its_window():
    assert expire_silence("mitigated", "", "keep") is True


def test_a_failed_incident_is_not_mitigated_whatever_its_window():
    service = {**SERVICE, "stability": {"window": 900}}
    done = record(service=service, failure={"msg": "health never ready"}, failed_task="Verify health")
    assert done["status"] == "failed"
    assert "stability" not in done


def test_the_incident_channel_says_mitigated_without_paging_and_pages_a_regression():
    said = notify.facts("outcome", PLAN, "h", {"record": {"status": "mitigated", "reason": "verified healthy; ..."}})
    assert notify.pagerduty_event("outcome", said, "key") is None  # acknowledged stays; no trigger, no resolve
    assert "mitigated" in notify.slack_message("outcome", said)["text"]
    regressed = notify.facts("stability", PLAN, "h", {"stability": {"status": "regressed", "reason": "fired again"}})
    page = notify.pagerduty_event("stability", regressed, "key")
    assert page["event_action"] == "trigger" and page["payload"]["severity"] == "critical"
    assert "regressed" in page["payload"]["summary"]
    assert "REGRESSED" in notify.slack_message("stability", regressed)["text"]
    stable = notify.facts("stability", PLAN, "h", {"stability": {"status": "resolved", "reason": "stable 15 min"}})
    assert notify.pagerduty_event("stability", stable, "key") == {"routing_key": "key", "dedup_key": "INC-1",
                                                                  "event_action": "resolve"}  # fmt: skip


def test_a_regression_is_posted_to_every_target_that_takes_the_outcome(monkeypatch):
    monkeypatch.setenv("HOOK", "http://127.0.0.1:1/hook")
    posted = []
    config = [{"kind": "slack", "name": "ops", "url_env": "HOOK", "events": ["outcome"]},
              {"kind": "slack", "name": "quiet", "url_env": "HOOK", "events": ["acknowledge"]}]  # fmt: skip
    sent = notify.send(config, "stability", PLAN, "h", {"stability": {"status": "regressed", "reason": "back"}},
                       sender=lambda url, body, timeout: posted.append(body) or (200, "ok"))  # fmt: skip
    assert [r["name"] for r in sent.records] == ["ops"] and sent.records[0]["status"] == "ok"
    assert len(posted) == 1 and b"REGRESSED" in posted[0]
