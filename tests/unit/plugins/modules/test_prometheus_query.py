"""prometheus_query's error paths and evaluation rules, against a fake Prometheus API (pytest-httpserver).

The real Prometheus is in tests/integration/test_prometheus_query.py.
"""

from __future__ import annotations

import pytest
from ansible_collections.incident.remediation.plugins.modules import prometheus_query


def vector(*values, labels=None):
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": (labels or [{}] * len(values))[i], "value": [1700000000, str(v)]}
                for i, v in enumerate(values)
            ],
        },
    }


def args(server, **extra):
    return {"url": server.url_for("/"), "query": "up", **extra}


def test_threshold_met(httpserver, run_module):
    httpserver.expect_request("/api/v1/query", query_string={"query": "up"}).respond_with_json(vector(1))
    failed, result = run_module(prometheus_query, args(httpserver, comparison="==", threshold=1))
    assert not failed
    assert (result["satisfied"], result["value"], result["attempts"]) == (True, 1.0, 1)
    assert result["series"] == [{"metric": {}, "value": 1.0}]


def test_threshold_not_met_says_condition_and_last_value(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(0.95, labels=[{"instance": "web1"}]))
    failed, result = run_module(prometheus_query, args(httpserver, comparison=">", threshold=0.99))
    assert failed
    assert result["satisfied"] is False and result["value"] == 0.95
    assert "condition not met: up > 0.99" in result["msg"]
    assert "last seen: value 0.95 of {'instance': 'web1'}" in result["msg"]
    assert result["inconclusive"] is False, "Prometheus answered: the condition was seen unmet"


def test_bad_query_relays_prometheus_error(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(
        {"status": "error", "errorType": "bad_data", "error": '1:4: parse error: unexpected "}"'}, status=400
    )
    failed, result = run_module(prometheus_query, args(httpserver, comparison=">", threshold=0, wait=10))
    assert failed
    assert result["msg"] == 'Prometheus rejected the query: bad_data: 1:4: parse error: unexpected "}"'
    assert len(httpserver.log) == 1, "a rejected query is not retried"


def test_server_error_is_a_failure_not_a_pass(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_data("overloaded", status=503)
    failed, result = run_module(prometheus_query, args(httpserver, comparison="<", threshold=1))
    assert failed and "Prometheus answered HTTP 503: overloaded" in result["msg"]
    assert result["inconclusive"] is True, "nothing was seen of the condition: the escalation ladder must not climb"


def test_invalid_json_is_a_failure(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_data("not json", status=200)
    failed, result = run_module(prometheus_query, args(httpserver, comparison="<", threshold=1))
    assert failed and "answer is not JSON" in result["msg"]
    assert result["inconclusive"] is True


def test_unreachable_prometheus_fails_even_without_threshold(run_module):
    failed, result = run_module(prometheus_query, {"url": "http://127.0.0.1:9", "query": "up"})
    assert failed and "cannot reach Prometheus at http://127.0.0.1:9: connection refused" in result["msg"]


@pytest.mark.parametrize(
    ("empty", "failed", "message"),
    [
        ("unsatisfied", True, "the query returned no series"),
        ("fail", True, "the query returned no series (empty=fail)"),
        ("satisfied", False, None),
        ("zero", False, None),
    ],
)
def test_empty_result_policies(httpserver, run_module, empty, failed, message):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector())
    outcome, result = run_module(prometheus_query, args(httpserver, comparison="==", threshold=0, empty=empty))
    assert outcome is failed
    if message:
        assert message in result["msg"]
    if empty == "zero":
        assert result["value"] == 0.0


@pytest.mark.parametrize(("mode", "satisfied", "value"), [("all", False, 0.5), ("any", True, 2.0)])
def test_several_series(httpserver, run_module, mode, satisfied, value):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(0.5, 2, 3))
    failed, result = run_module(prometheus_query, args(httpserver, comparison=">", threshold=1, series=mode))
    assert result["satisfied"] is satisfied and failed is not satisfied
    assert result["value"] == value
    assert len(result["series"]) == 3


def test_nan_never_satisfies(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector("NaN"))
    failed, _ = run_module(prometheus_query, args(httpserver, comparison="!=", threshold=0))
    assert failed


def test_scalar_and_matrix_results(httpserver, run_module):
    httpserver.expect_request("/api/v1/query", query_string={"query": "scalar(up)"}).respond_with_json(
        {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "4"]}}
    )
    httpserver.expect_request("/api/v1/query", query_string={"query": "up[5m]"}).respond_with_json(
        {"status": "success", "data": {"resultType": "matrix", "result": []}}
    )
    base = {"url": httpserver.url_for("/"), "comparison": ">=", "threshold": 4}
    assert run_module(prometheus_query, {**base, "query": "scalar(up)"})[1]["value"] == 4.0
    failed, result = run_module(prometheus_query, {**base, "query": "up[5m]"})
    assert failed and "returned a matrix" in result["msg"]


def test_bearer_token_is_sent_and_not_returned(httpserver, run_module):
    httpserver.expect_request("/api/v1/query", headers={"Authorization": "Bearer s3cret"}).respond_with_json(vector(1))
    failed, result = run_module(prometheus_query, args(httpserver, bearer_token="s3cret"))
    assert not failed
    assert "s3cret" not in str(result)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"threshold": 1}, "parameters are required together: comparison, threshold"),
        ({"hold": 5}, "hold and wait need a condition"),
        ({"comparison": "=>", "threshold": 1}, "value of comparison must be one of"),
        ({"comparison": ">", "threshold": 1, "interval": -1}, "interval must be >= 0"),
    ],
)
def test_argument_errors(run_module, extra, message):
    failed, result = run_module(prometheus_query, {"url": "http://127.0.0.1:9", "query": "up", **extra})
    assert failed and message in result["msg"]


def test_check_mode_queries_as_usual(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(1))
    failed, result = run_module(prometheus_query, args(httpserver, comparison=">", threshold=0), check_mode=True)
    assert not failed and result["satisfied"]


FIRING = [{"instance": "web1:8080", "job": "demo"}, {"instance": "web2:8080", "job": "demo"}]
ALERT = {"alertname": "ServiceDown", "instance": "web2:8080", "job": "demo", "severity": "critical"}


def test_match_labels_scopes_a_fleet_expression_to_one_alert(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(0, 1, labels=FIRING))
    failed, result = run_module(
        prometheus_query, args(httpserver, comparison="==", threshold=1, match_labels={"instance": "web2:8080"})
    )
    assert not failed
    assert result["series"] == [{"metric": FIRING[1], "value": 1.0}]


def test_absent_fails_while_the_alerts_own_series_is_returned(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(0, 0, labels=FIRING))
    failed, result = run_module(prometheus_query, args(httpserver, absent=True, match_labels=ALERT))
    assert failed and result["satisfied"] is False
    assert "condition not met: no series from up matching" in result["msg"]
    assert "1 series still returned: {'instance': 'web2:8080', 'job': 'demo'}" in result["msg"]


def test_absent_is_met_when_only_other_instances_fire(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(0, labels=FIRING[:1]))
    failed, result = run_module(prometheus_query, args(httpserver, absent=True, match_labels=ALERT))
    assert not failed and result["satisfied"] is True and result["series"] == []


def test_absent_excludes_a_threshold(httpserver, run_module):
    failed, result = run_module(prometheus_query, args(httpserver, absent=True, comparison="<", threshold=1))
    assert failed and result["msg"].startswith("absent=true is a condition of its own")
    assert httpserver.log == []


def test_an_absence_not_met_is_not_inconclusive(httpserver, run_module):
    """The alert's ALERTS series still there is a condition seen unmet: Prometheus answered."""
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(1, labels=[{"alertname": "Down"}]))
    failed, result = run_module(prometheus_query, args(httpserver, query="ALERTS", absent=True))
    assert failed and "1 series still returned" in result["msg"]
    assert result["inconclusive"] is False
