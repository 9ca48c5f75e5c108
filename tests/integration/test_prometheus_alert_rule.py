"""prometheus_query's alert_rule against a real Prometheus with rules: the absence of an alert's ALERTS series
proves its end only when Prometheus evaluates a rule of that name (issue 22 item 3). An alert name no rule has
(forged, or sent by another source) used to pass the verify vacuously: no ALERTS series is ever there."""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.modules import prometheus_query
from monitoring import Prometheus, free_port

RULES = {
    "groups": [
        {
            "name": "it-rules",
            "rules": [
                {"alert": "ItQuiet", "expr": "vector(1) == 0", "labels": {"severity": "page"}},
                {"alert": "ItTemplated", "expr": "vector(1) == 0", "labels": {"team": "{{ $labels.job }}"}},
            ],
        }
    ]
}


@pytest.fixture(scope="module")
def ruled(exporter, tmp_path_factory):
    server = Prometheus(tmp_path_factory.mktemp("ruled"), targets=[exporter.address], rules=RULES).start()
    try:
        server.wait_for('up{job="fixture"} == 1')
        yield server
    finally:
        server.stop()


def absent_args(server, labels, **extra):
    return {"url": server.url, "query": "ALERTS", "match_labels": labels, "alert_rule": labels["alertname"],
            "absent": True, "hold": 1, "wait": 5, "interval": 0.5, **extra}  # fmt: skip


def test_an_alert_prometheus_evaluates_and_that_is_over_is_proved_over(ruled, run_module):
    failed, result = run_module(prometheus_query, absent_args(ruled, {"alertname": "ItQuiet", "severity": "page"}))
    assert not failed, result.get("msg")
    assert result["satisfied"] and result["rules"] == [
        {"group": "it-rules", "file": str(ruled.workdir / "rules.yml"), "query": "vector(1) == 0"}
    ]


def test_an_alert_name_no_rule_has_fails_at_once_instead_of_passing_vacuously(ruled, run_module):
    labels = {"alertname": "ItForged", "instance": "web1:8080"}
    failed, result = run_module(prometheus_query, {**absent_args(ruled, labels), "alert_rule": ""})
    assert not failed and result["satisfied"]  # without the rule lookup: "proved over", though nothing fired
    failed, result = run_module(prometheus_query, absent_args(ruled, labels))
    assert failed and result["satisfied"] is False
    assert "Prometheus does not evaluate alert 'ItForged' (it has no alerting rule of that name)" in result["msg"]
    assert "its absence proves nothing" in result["msg"]


def test_a_rule_whose_labels_disagree_with_the_alert_is_not_its_rule(ruled, run_module):
    failed, result = run_module(prometheus_query, absent_args(ruled, {"alertname": "ItQuiet", "severity": "info"}))
    assert failed and "its 1 rule(s) of that name have labels that disagree" in result["msg"]
    failed, result = run_module(prometheus_query, absent_args(ruled, {"alertname": "ItTemplated", "team": "x"}))
    assert not failed, result.get("msg")  # a templated label is only known once the rule fires


def test_a_prometheus_that_cannot_be_read_is_waited_for_then_named(run_module):
    url = f"http://127.0.0.1:{free_port()}"
    failed, result = run_module(prometheus_query, {"url": url, "query": "ALERTS", "alert_rule": "ItQuiet",
                                                   "match_labels": {"alertname": "ItQuiet"}, "absent": True,
                                                   "wait": 1, "interval": 0.5})  # fmt: skip
    assert failed and f"cannot reach Prometheus at {url}" in result["msg"] and result["rules"] == []
