"""notify: the incident channel's payloads, its escaping of alert data, its bounded and recorded failures, and
its secrets kept out of every record and reason (the HTTP calls against a real local server)."""

from __future__ import annotations

import json
import socket
import time

import pytest
from ansible_collections.incident.remediation.plugins.module_utils import notify
from pytest_httpserver import HTTPServer
from werkzeug import Response

SLACK_SECRET = "T0DEADBEEF/B0CAFE/hunter2-webhook-secret"
PD_KEY = "R0UTINGKEY-0123456789abcdef"
HOSTILE = "<!channel> @here ping <http://evil.example|click> & \x1b[31mred\u202e"


def plan(**changes) -> dict:
    base = {
        "id": "INC-20261201T192000-abc123",
        "service": "demo-app",
        "mitigation": "restart",
        "ladder": [{"mitigation": "restart", "options": {}}, {"mitigation": "rollback", "options": {}}],
        "severity": "critical",
        "level": "P0",
        "act": True,
        "decision": "act: restart for DemoAppDown, severity P0 may act automatically",
        "alert": {
            "name": "DemoAppDown",
            "labels": {"alertname": "DemoAppDown", "severity": "critical", "version": "v1.4.2", "note": HOSTILE},
            "annotations": {"summary": "demo-app is down " + "x" * 1000},
            "starts_at": "2026-12-01T19:20:00Z",
        },
    }
    return {**base, **changes}


@pytest.fixture
def secrets(tmp_path, monkeypatch, httpserver: HTTPServer):
    (tmp_path / "slack-url").write_text(httpserver.url_for(f"/services/{SLACK_SECRET}") + "\n")
    monkeypatch.setenv("TEST_PD_KEY", PD_KEY)
    return tmp_path


def config(folder, server: HTTPServer, **pd) -> list[dict]:
    return [
        {"kind": "slack", "name": "inc-channel", "url_file": str(folder / "slack-url")},
        {"kind": "pagerduty", "routing_key_env": "TEST_PD_KEY", "url": server.url_for("/v2/enqueue"), **pd},
    ]


def no_secret(*values) -> None:
    text = json.dumps(values, default=str)
    for secret in (SLACK_SECRET, "hunter2", PD_KEY):
        assert secret not in text


# --- payloads ---------------------------------------------------------------------------------------------------


def test_slack_text_escapes_mentions_links_and_control_characters():
    said = notify.facts("acknowledge", plan(), "web-1")
    text = notify.slack_message("acknowledge", said)["text"]
    assert set(notify.slack_message("acknowledge", said)) == {"text"}
    assert "<!channel>" not in text and "<http" not in text and "<" not in text and ">" not in text
    assert "&lt;!channel&gt;" in text and "&lt;http://evil.example|click&gt; &amp;" in text
    assert "@here" not in text and "@\u200bhere" in text
    assert "\x1b" not in text and "\\x1b[31mred\\u202e" in text
    assert "*DemoAppDown*" in text and "deploy version: v1.4.2" in text and "web-1" in text
    assert "x" * 400 not in text and "x" * 200 in text, "each value capped"
    huge = plan(alert={**plan()["alert"], "labels": {f"l{i}": "v" * 300 for i in range(60)}})
    assert len(notify.slack_message("acknowledge", notify.facts("acknowledge", huge, "h"))["text"]) <= 3000


def test_an_incident_id_or_host_with_markup_is_escaped_too():
    said = notify.facts("outcome", plan(service="a<b>"), "@all", {"record": {"status": "resolved", "reason": "ok"}})
    text = notify.slack_message("outcome", said)["text"]
    assert "a&lt;b&gt;" in text and "@\u200ball" in text and "resolved: ok" in text


def test_pagerduty_events_follow_the_incident_with_one_dedup_key():
    p = plan()
    ack = notify.pagerduty_event("acknowledge", notify.facts("acknowledge", p, "web-1"), PD_KEY)
    assert ack["event_action"] == "trigger" and ack["dedup_key"] == p["id"] and ack["routing_key"] == PD_KEY
    payload = ack["payload"]
    assert payload["severity"] == "critical" and payload["source"] == "web-1" and payload["component"] == "demo-app"
    assert payload["summary"].startswith(f"[{p['id']}] DemoAppDown") and len(payload["summary"]) <= 1024
    assert payload["custom_details"]["labels"]["version"] == "v1.4.2"
    assert payload["custom_details"]["deploy_version"] == "v1.4.2"
    assert "\x1b" not in json.dumps(payload), "control characters shown escaped, even in JSON"

    decided = notify.pagerduty_event("decision", notify.facts("decision", p, "web-1"), PD_KEY)
    assert decided == {"routing_key": PD_KEY, "dedup_key": p["id"], "event_action": "acknowledge"}
    assert notify.pagerduty_event("decision", notify.facts("decision", plan(act=False), "web-1"), PD_KEY) is None
    assert notify.pagerduty_event("rung", notify.facts("rung", p, "web-1", {"rung": {}}), PD_KEY) is None

    resolved = notify.facts("outcome", p, "web-1", {"record": {"status": "resolved", "reason": "verified"}})
    assert notify.pagerduty_event("outcome", resolved, PD_KEY) == {
        "routing_key": PD_KEY, "dedup_key": p["id"], "event_action": "resolve"}  # fmt: skip
    failed = notify.facts("outcome", p, "web-1", {"record": {"status": "refused", "reason": "budget spent"}})
    again = notify.pagerduty_event("outcome", failed, PD_KEY)
    assert again["event_action"] == "trigger" and again["dedup_key"] == p["id"]
    assert again["payload"]["severity"] == "critical" and "escalated (refused)" in again["payload"]["summary"]
    checked = notify.facts("outcome", p, "web-1", {"record": {"status": "checked", "reason": "check"}})
    assert notify.pagerduty_event("outcome", checked, PD_KEY) is None


def test_rung_and_decision_texts_say_what_happened():
    rung = {"mitigation": "restart", "outcome": "failed", "restored": False, "message": "health not ready"}
    said = notify.facts("rung", plan(), "web-1", {"index": 0, "rung": rung, "why": "trying rollback"})
    text = notify.slack_message("rung", said)["text"]
    assert "rung 1 of 2, restart (failed) did not restore the service: health not ready" in text
    assert "next: trying rollback" in text
    text = notify.slack_message("decision", notify.facts("decision", plan(), "web-1"))["text"]
    assert "decision: act: restart for DemoAppDown" in text and "mitigation ladder: restart -&gt; rollback" in text
    text = notify.slack_message("outcome", notify.facts("outcome", plan(), "web-1", {"record": {
        "status": "failed", "reason": "health never ready"}}))["text"]  # fmt: skip
    assert "escalated (failed), people are needed: health never ready" in text


def test_the_running_version_of_the_host_read_comes_first():
    assert notify.deploy_version(plan(), {"version": {"before": "abc1234"}}) == "abc1234"
    assert notify.deploy_version(plan(), {}) == "v1.4.2"
    assert notify.deploy_version(plan(alert={}), None) == ""


# --- posting ----------------------------------------------------------------------------------------------------


def test_both_kinds_post_json_and_record_ok(secrets, httpserver: HTTPServer):
    httpserver.expect_ordered_request(f"/services/{SLACK_SECRET}", method="POST").respond_with_data("ok")
    httpserver.expect_ordered_request("/v2/enqueue", method="POST").respond_with_json(
        {"status": "success", "dedup_key": "x"}, status=202)  # fmt: skip
    sent = notify.send(config(secrets, httpserver), "acknowledge", plan(), "web-1")
    assert [(r["kind"], r["name"], r["event"], r["status"]) for r in sent.records] == [
        ("slack", "inc-channel", "acknowledge", "ok"), ("pagerduty", "pagerduty-2", "acknowledge", "ok")]  # fmt: skip
    assert sent.said == "; notified acknowledge: inc-channel ok, pagerduty-2 ok"
    (slack, _), (pd, _) = httpserver.log
    assert slack.headers["Content-Type"] == "application/json" and set(slack.get_json()) == {"text"}
    assert pd.get_json()["event_action"] == "trigger" and pd.get_json()["routing_key"] == PD_KEY
    httpserver.check_assertions()
    no_secret(sent.records, sent.said)


def test_events_not_taken_and_nothing_to_do_post_nothing(secrets, httpserver: HTTPServer):
    targets = [{**config(secrets, httpserver)[0], "events": ["outcome"]}, config(secrets, httpserver)[1]]
    sent = notify.send(targets, "rung", plan(), "web-1", {"rung": {}}, done=[{"event": "acknowledge"}])
    assert sent.records == [{"event": "acknowledge"}] and sent.said == "" and httpserver.log == []
    assert notify.send([], "acknowledge", plan(), "web-1").records == []


def test_a_500_is_tried_once_more_then_recorded_never_raised(secrets, httpserver: HTTPServer):
    httpserver.expect_request(f"/services/{SLACK_SECRET}").respond_with_data(
        f"internal error at /services/{SLACK_SECRET}", status=500)  # fmt: skip
    httpserver.expect_request("/v2/enqueue").respond_with_data('{"status": "invalid event"}', status=400)
    sent = notify.send(config(secrets, httpserver), "acknowledge", plan(), "web-1")
    slack, pd = sent.records
    assert slack["status"] == "failed" and slack["reason"].startswith("HTTP 500: internal error at ***")
    assert slack["reason"].endswith("(2 attempts)")
    assert pd["status"] == "failed" and pd["reason"] == 'HTTP 400: {"status": "invalid event"} (1 attempt)', pd
    assert len(httpserver.log) == 3, "a 4xx is not tried again"
    no_secret(sent.records, sent.said)


def test_a_server_that_recovers_is_recorded_ok_on_the_second_attempt(secrets, httpserver: HTTPServer):
    httpserver.expect_ordered_request(f"/services/{SLACK_SECRET}").respond_with_response(Response("busy", 503))
    httpserver.expect_ordered_request(f"/services/{SLACK_SECRET}").respond_with_data("ok")
    sent = notify.send(config(secrets, httpserver)[:1], "acknowledge", plan(), "web-1")
    assert sent.records[0]["status"] == "ok" and sent.records[0]["reason"] == "HTTP 200 on the second attempt"


def test_a_server_that_hangs_is_given_up_in_bounded_time(secrets, httpserver: HTTPServer):
    hanging = socket.create_server(("127.0.0.1", 0))  # accepts connections (backlog) and never answers
    try:
        (secrets / "slack-url").write_text(f"http://127.0.0.1:{hanging.getsockname()[1]}/services/{SLACK_SECRET}")
        started = time.monotonic()
        sent = notify.send([{**config(secrets, httpserver)[0], "timeout": 0.5}], "acknowledge", plan(), "web-1")
        elapsed = time.monotonic() - started
    finally:
        hanging.close()
    assert sent.records[0]["status"] == "failed"
    assert sent.records[0]["reason"] == "timed out after 0.5 s (2 attempts)", sent.records
    assert elapsed < 0.5 * 2 + notify.RETRY_PAUSE + 1.5, "one retry, each bounded by the timeout"
    no_secret(sent.records, sent.said)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"http://no-such-host.invalid/services/{SLACK_SECRET}", "Name or service not known"),
        (f"http://127.0.0.1:9/services/{SLACK_SECRET}", "connection refused"),
        (f"hxxp://{SLACK_SECRET}", "unknown url type: hxxp"),
    ],
)
def test_dns_refused_and_a_malformed_url_are_recorded_without_the_secret(secrets, httpserver, url, said):
    (secrets / "slack-url").write_text(url)
    sent = notify.send(config(secrets, httpserver)[:1], "outcome", plan(), "web-1", {"record": {}})
    (record,) = sent.records
    assert record["status"] == "failed"
    assert said.lower() in record["reason"].lower(), record
    no_secret(sent.records, sent.said)


def test_a_missing_secret_is_recorded_naming_where_it_was_looked_for(tmp_path, httpserver, monkeypatch):
    monkeypatch.delenv("TEST_PD_KEY", raising=False)
    (tmp_path / "empty").write_text("\n")
    targets = [
        {"kind": "slack", "url_file": str(tmp_path / "absent")},
        {"kind": "slack", "url_file": str(tmp_path / "empty")},
        {"kind": "pagerduty", "routing_key_env": "TEST_PD_KEY", "url": httpserver.url_for("/v2/enqueue")},
        {"kind": "pagerduty"},
    ]
    reasons = [r["reason"] for r in notify.send(targets, "acknowledge", plan(), "web-1").records]
    assert reasons == [
        f"url_file {tmp_path / 'absent'} cannot be read (FileNotFoundError)",
        f"url_file {tmp_path / 'empty'} is empty",
        "routing_key_env TEST_PD_KEY is not set on the controller",
        "no routing_key_file or routing_key_env",
    ]
    assert httpserver.log == []


def test_a_configuration_that_cannot_be_used_is_said_once_and_posts_nothing(httpserver):
    given = [
        {"kind": "slack", "url": "https://hooks.example/services/SECRETPART"},
        {"kind": "teams"},
        {"kind": "slack", "url_env": "NOT A NAME"},
        {"kind": "slack", "url_env": "X", "events": ["resolve"]},
        "slack",
    ]
    sent = notify.send(given, "acknowledge", plan(), "web-1")
    assert [r["reason"] for r in sent.records] == [
        "slack-1: a webhook URL is a secret: give it as url_file or url_env, never url",
        "incident_notify[1]: kind must be one of slack, pagerduty",
        "slack-3: url_env must be an environment variable's name",
        "slack-4: events must be a list of acknowledge, decision, rung, outcome",
        "incident_notify[4] is not a mapping",
    ]
    assert "SECRETPART" not in json.dumps(sent.records)
    assert notify.send(given, "outcome", plan(), "web-1").records == [], "said at acknowledge only"


def test_check_mode_posts_nothing(secrets, httpserver):
    sent = notify.send(config(secrets, httpserver), "acknowledge", plan(), "web-1", check_mode=True)
    assert {r["status"] for r in sent.records} == {"skipped"} and httpserver.log == []


def test_a_defect_while_posting_is_recorded_by_its_type_only(secrets, httpserver):
    def broken(url, body, timeout):
        raise RuntimeError(f"cannot post {body!r} to {url}")

    sent = notify.send(config(secrets, httpserver), "acknowledge", plan(), "web-1", sender=broken)
    assert [r["reason"] for r in sent.records] == ["not posted: RuntimeError"] * 2
    no_secret(sent.records, sent.said)
    assert notify.send(config(secrets, httpserver), "acknowledge", "not a plan", None).records  # never raises


def test_from_task_starts_anew_at_acknowledge_and_keeps_the_posts_after(secrets, httpserver):
    httpserver.expect_request(f"/services/{SLACK_SECRET}").respond_with_data("ok")
    task_vars = {"incident_notify": config(secrets, httpserver)[:1], "inventory_hostname": "web-1",
                 "_incident_notifications": [{"event": "outcome", "status": "ok"}]}  # fmt: skip
    sent = notify.from_task(task_vars, lambda value: value, "acknowledge", plan())
    assert [(r["event"], r["status"]) for r in sent.records] == [("acknowledge", "ok")], "an earlier incident's fact"
    task_vars["_incident_notifications"] = sent.records
    sent = notify.from_task(task_vars, lambda value: value, "decision", plan(), {"host": {}})
    assert [(r["event"], r["status"]) for r in sent.records] == [("acknowledge", "ok"), ("decision", "ok")]
    assert "web-1" in httpserver.log[0][0].get_json()["text"]


def test_from_task_with_a_configuration_that_cannot_be_templated_records_it():
    def undefined(value):
        raise ValueError(f"'slack_url' is undefined in {value!r}")

    done = [{"event": "acknowledge", "status": "ok"}]
    sent = notify.from_task({"incident_notify": "{{ slack_url }}", "_incident_notifications": done}, undefined,
                            "outcome", plan(), {"record": {}})  # fmt: skip
    assert sent.records == [*done, {"kind": "", "name": "", "event": "outcome", "status": "failed",
                                    "reason": "incident_notify cannot be templated (ValueError)"}]  # fmt: skip


@pytest.mark.parametrize(("given", "used"), [(2, 2.0), ("2.5", 2.5), (3600, 30.0), (0, 0.1), ("soon", 5.0),
                                             (float("nan"), 5.0), (None, 5.0)])  # fmt: skip
def test_the_timeout_is_bounded(given, used):
    assert notify.Target("slack", "s", ("outcome",), {"timeout": given}).timeout == used
