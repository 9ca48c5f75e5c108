"""A service's diagnosis queries (seed 001 0:08: the top 5 slow and erroring endpoints) after prometheus_query read
them: kept in the diagnose phase's evidence, in the outcome's diagnosis, posted with the decision to the incident
channel (capped, escaped as alert text is) and shown in the report, a small table per query; the report also lists
the notifications sent. The labels and values are data: hostile ones are tested in test_incident_report_injection.py
and tests/integration/test_diagnosis_queries.py (a real Prometheus, a real incident)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.incident.remediation.plugins.module_utils import notify
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import (
    diagnosis,
    diagnosis_queries,
)
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_report import render

TOP5 = "topk(5, sum by (endpoint) (rate(http_requests_total{code=~'5..'}[5m])))"
SERVICE = {"unit": "demo-app.service", "diagnosis_queries": [{"name": "top5_erroring_endpoints", "query": TOP5},
                                                              {"name": "broken", "query": "bad{"}]}  # fmt: skip
ANSWER = {
    "changed": False,
    "msg": "2 diagnosis queries read, 1 without an answer",
    "results": [
        {"name": "top5_erroring_endpoints", "query": TOP5, "error": "", "series_total": 7, "truncated": True,
         "series": [{"metric": {"endpoint": "/v1/responses"}, "value": 4.5},
                    {"metric": {"endpoint": "/api/health"}, "value": "NaN"}], "seconds": 0.01},
        {"name": "broken", "query": "bad{", "error": "Prometheus rejected the query: bad_data: parse error",
         "series_total": 0, "truncated": False, "series": [], "seconds": 0.01},
    ],
}  # fmt: skip
PLAN = {"id": "INC-1", "service": "demo-app", "mitigation": "restart", "act": True, "decision": "act: restart",
        "ladder": [{"mitigation": "restart"}], "level": "P0", "severity": "critical",
        "alert": {"name": "DemoAppDown", "labels": {"alertname": "DemoAppDown"}}}  # fmt: skip


def test_the_answers_are_kept_query_by_query():
    kept = diagnosis_queries(SERVICE, ANSWER)
    assert [q["name"] for q in kept] == ["top5_erroring_endpoints", "broken"]
    assert kept[0] == {"name": "top5_erroring_endpoints", "query": TOP5, "error": "", "series_total": 7,
                       "truncated": True, "series": ANSWER["results"][0]["series"]}  # fmt: skip
    assert kept[1]["error"] == "Prometheus rejected the query: bad_data: parse error"


def test_queries_that_did_not_run_say_why():
    assert diagnosis_queries({"unit": "u"}, {}) == [], "a service without diagnosis queries has none"
    skipped = diagnosis_queries(SERVICE, {"skipped": True, "skip_reason": "Conditional result was False"})
    assert [q["error"] for q in skipped] == ["not run: no Prometheus URL is known (services.<service>.prometheus_url "
                                             "or incident_prometheus_url)"] * 2  # fmt: skip
    refused = diagnosis_queries(SERVICE, {"failed": True, "msg": "queries: the name 'a' is given twice"})
    assert [q["error"] for q in refused] == ["not run: queries: the name 'a' is given twice"] * 2
    assert [q["query"] for q in refused] == [TOP5, "bad{"]


def test_the_outcome_diagnosis_carries_them():
    saved = {"dir": "/e/diagnose", "diagnosis_queries": diagnosis_queries(SERVICE, ANSWER)}
    said = diagnosis({}, {}, saved, "/e")
    assert said["queries"] == saved["diagnosis_queries"] and said["evidence"] == "/e/diagnose"
    assert "queries" not in diagnosis({}, {}, {"dir": "/e/diagnose"}, "/e"), "none configured: no key"


def test_the_decision_posts_a_short_summary_escaped_and_capped():
    hostile = [{"name": "top5", "query": "q", "error": "", "series_total": 40, "truncated": True,
                "series": [{"metric": {"endpoint": f"<!channel> @here /e{i}", "code": "500"}, "value": i}
                           for i in range(10)]}]  # fmt: skip
    said = notify.facts(
        "decision", PLAN, "web-1", {"host": {}, "queries": hostile + diagnosis_queries(SERVICE, ANSWER)}
    )
    text = notify.slack_message("decision", said)["text"]
    assert "decision: act: restart" in text
    assert "diagnosis top5: code=500, endpoint=&lt;!channel&gt; @\u200bhere /e0 = 0; " in text
    assert text.count("/e") == notify.DIAGNOSIS_SERIES, "at most DIAGNOSIS_SERIES series per query"
    assert "(40 series, 5 shown)" in text
    assert "diagnosis top5_erroring_endpoints: endpoint=/v1/responses = 4.5; endpoint=/api/health = NaN " \
           "(7 series, 2 shown)" in text  # fmt: skip
    assert "diagnosis broken: no answer: Prometheus rejected the query: bad_data: parse error" in text
    assert "<!" not in text and "@here" not in text
    many = [{**hostile[0], "name": f"q{i}"} for i in range(12)]
    text = notify.slack_message("decision", notify.facts("decision", PLAN, "web-1", {"queries": many}))["text"]
    assert (
        text.count("\ndiagnosis q") == notify.DIAGNOSIS_QUERIES and "(7 more diagnosis queries in the evidence)" in text
    )
    assert len(text) <= notify.TEXT_LIMIT
    plain = notify.slack_message("decision", notify.facts("decision", PLAN, "web-1", {"host": {}}))["text"]
    assert "diagnosis" not in plain, "no queries, no line"


def events(queries, notifications) -> list[dict]:
    outcome = {"status": "resolved", "reason": "verified healthy", "mitigation": "restart", "ended": "2026-12-01T10:01",
               "diagnosis": {"queries": queries}, "notifications": notifications}  # fmt: skip
    return [
        {"event": "incident", "time": "2026-12-01T10:00:00Z", "host": "web-1", "data": PLAN},
        {"event": "outcome", "time": "2026-12-01T10:01:00Z", "host": "web-1", "phase": "close", "data": outcome},
    ]


def test_the_report_shows_a_table_per_query_and_the_notifications():
    sent = [{"kind": "slack", "name": "inc-channel", "event": "acknowledge", "status": "ok", "reason": "HTTP 200"},
            {"kind": "pagerduty", "name": "pd", "event": "acknowledge", "status": "failed",
             "reason": "timed out after 5 s (2 attempts)"}]  # fmt: skip
    report = render(events(diagnosis_queries(SERVICE, ANSWER), sent))
    lines = report.splitlines()
    start = lines.index("### Diagnosis queries on web-1")
    assert lines.index("## Root Cause") < start < lines.index("## Actions Taken"), "the evidence to start from"
    block = lines[start : lines.index("## Actions Taken")]
    assert "**top5_erroring_endpoints**: `" + TOP5 + "` (7 series, the first 2 shown)" in block
    # a number at the start of a cell is escaped as a list item would be (4\\.5): the page shows 4.5
    assert block[block.index("| endpoint | value |") + 1:][:3] == ["|---|---|", "| /v1/responses | 4\\.5 |",
                                                                  "| /api/health | NaN |"]  # fmt: skip
    assert "**broken**: `bad{` - no answer: Prometheus rejected the query: bad_data: parse error" in block
    assert "- Notified inc-channel (slack) at acknowledge: ok" in lines
    assert "- Notified pd (pagerduty) at acknowledge: failed, timed out after 5 s (2 attempts)" in lines
    plain = render(events([], []))
    assert "Diagnosis queries" not in plain and "Notified" not in plain


@pytest.fixture(autouse=True)
def _no_timeline(monkeypatch, tmp_path):
    monkeypatch.setenv("ANSIBLE_CALLBACKS_ENABLED", "ansible.builtin.junit")
    monkeypatch.setenv("JUNIT_OUTPUT_DIR", str(tmp_path / "junit"))


def test_the_diagnose_phase_keeps_them_in_the_evidence_and_hands_them_to_the_outcome(ansible_task, tmp_path):
    read = {"quarantine": None, "unit": {"ActiveState": "failed"}, "health": {}, "logs": {}, "errors": []}
    _, diagnosed = ansible_task([
        {"incident.remediation.incident_phase": {"phase": "acknowledge", "plan": PLAN,
                                                 "services": {"demo-app": SERVICE},
                                                 "evidence_dir": str(tmp_path / "ev")}, "register": "a"},
        {"incident.remediation.incident_phase": {"phase": "diagnose", "host": read, "diagnosis_queries": ANSWER},
         "register": "d"},
    ])  # fmt: skip
    assert not diagnosed.get("failed"), diagnosed
    kept = diagnosis_queries(SERVICE, ANSWER)
    summary = json.loads((Path(diagnosed["saved"]["dir"]) / "diagnosis.json").read_text())
    assert summary["diagnosis_queries"] == kept
    assert diagnosed["saved"]["diagnosis_queries"] == kept, "close.yml hands saved to incident_outcome"
