"""prometheus_query's ``queries``: a service's named diagnosis queries (seed 001 0:08, the top 5 slow and erroring
endpoints) read in one module run, each bounded, each failure recorded beside the others, never a failed task.

Against a fake Prometheus API (pytest-httpserver); the real one is in tests/integration/test_diagnosis_queries.py.
"""

from __future__ import annotations

import time

from ansible_collections.incident.remediation.plugins.modules import prometheus_query
from werkzeug import Response

TOP5 = "topk(5, sum by (endpoint) (rate(http_requests_total{code=~'5..'}[5m])))"


def vector(*series):
    """A vector answer: ``series`` are (labels, value as Prometheus writes it)."""
    result = [{"metric": labels, "value": [1700000000, value]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def args(server, queries, **extra):
    return {"url": server.url_for("/"), "queries": queries, **extra}


def test_each_query_is_read_and_named(httpserver, run_module):
    httpserver.expect_request("/api/v1/query", query_string={"query": TOP5, "timeout": "3s"}).respond_with_json(
        vector(({"endpoint": "/api/a"}, "0.5"), ({"endpoint": "/api/b"}, "0.25"))
    )
    httpserver.expect_request("/api/v1/query", query_string={"query": "vector(1)", "timeout": "3s"}).respond_with_json(
        {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "1"]}}
    )
    queries = [{"name": "top5_erroring_endpoints", "query": TOP5}, {"name": "one", "query": "vector(1)"}]
    failed, result = run_module(prometheus_query, args(httpserver, queries, timeout=3))
    assert not failed, result
    assert result["changed"] is False
    first, second = result["results"]
    assert first == {
        "name": "top5_erroring_endpoints",
        "query": TOP5,
        "series": [{"metric": {"endpoint": "/api/a"}, "value": 0.5}, {"metric": {"endpoint": "/api/b"}, "value": 0.25}],
        "series_total": 2,
        "truncated": False,
        "error": "",
        "seconds": first["seconds"],
    }
    assert second["series"] == [{"metric": {}, "value": 1.0}] and second["error"] == ""


def test_a_query_that_fails_is_recorded_and_the_others_still_run(httpserver, run_module):
    httpserver.expect_request("/api/v1/query", query_string={"query": "bad{", "timeout": "10s"}).respond_with_json(
        {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected end of input"}, status=400
    )
    httpserver.expect_request("/api/v1/query", query_string={"query": "up", "timeout": "10s"}).respond_with_json(
        vector(({"job": "demo"}, "1"))
    )
    httpserver.expect_request("/api/v1/query", query_string={"query": "broken", "timeout": "10s"}).respond_with_data(
        "overloaded", status=503
    )
    queries = [{"name": "bad", "query": "bad{"}, {"name": "up", "query": "up"}, {"name": "b", "query": "broken"}]
    failed, result = run_module(prometheus_query, args(httpserver, queries))
    assert not failed, "a diagnosis query that fails never fails the task"
    bad, up, broken = result["results"]
    assert bad["error"] == "Prometheus rejected the query: bad_data: 1:5: parse error: unexpected end of input"
    assert bad["series"] == [] and bad["series_total"] == 0
    assert up["error"] == "" and up["series"] == [{"metric": {"job": "demo"}, "value": 1.0}]
    assert broken["error"] == "Prometheus answered HTTP 503: overloaded"


def test_an_unreachable_prometheus_is_recorded_per_query(run_module):
    queries = [{"name": "a", "query": "up"}, {"name": "b", "query": "up"}]
    failed, result = run_module(prometheus_query, {"url": "http://127.0.0.1:9", "queries": queries})
    assert not failed
    assert [r["error"] for r in result["results"]] == [
        "cannot reach Prometheus at http://127.0.0.1:9: connection refused"
    ] * 2


def test_a_slow_prometheus_is_cut_at_the_timeout(httpserver, run_module):
    def slow(_request):
        time.sleep(2)
        return Response("{}", 200, content_type="application/json")

    httpserver.expect_request("/api/v1/query").respond_with_handler(slow)
    started = time.monotonic()
    failed, result = run_module(prometheus_query, args(httpserver, [{"name": "slow", "query": "up"}], timeout=0.5))
    assert not failed and time.monotonic() - started < 1.8, "bounded by the timeout, not by Prometheus"
    assert "timed out" in result["results"][0]["error"], result


def test_series_labels_and_values_are_capped(httpserver, run_module):
    many = [
        ({"endpoint": f"/api/{i}", "long": "x" * 500, **{f"l{j}": "v" for j in range(30)}}, str(i)) for i in range(25)
    ]
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(*many))
    failed, result = run_module(
        prometheus_query, args(httpserver, [{"name": "many", "query": "up"}], max_series=5, max_text=40)
    )
    assert not failed
    (many_,) = result["results"]
    assert many_["series_total"] == 25 and many_["truncated"] is True and len(many_["series"]) == 5
    first = many_["series"][0]["metric"]
    assert len(first) == prometheus_query.MAX_LABELS, "at most MAX_LABELS labels per series"
    assert all(len(k) <= 40 and len(v) <= 40 for k, v in first.items())
    assert first["endpoint"] == "/api/0" and first["long"] == "x" * 37 + "..."


def test_non_finite_values_and_hostile_labels_are_kept_as_data(httpserver, run_module):
    hostile = "{{ lookup('pipe', 'id') }} <script>|x|"
    httpserver.expect_request("/api/v1/query").respond_with_json(
        vector(({"endpoint": hostile}, "NaN"), ({"endpoint": "b"}, "+Inf"))
    )
    failed, result = run_module(prometheus_query, args(httpserver, [{"name": "odd", "query": "up"}]))
    assert not failed
    assert result["results"][0]["series"] == [
        {"metric": {"endpoint": hostile}, "value": "NaN"},
        {"metric": {"endpoint": "b"}, "value": "+Inf"},
    ]


def test_a_range_result_says_to_write_the_range_inside_an_instant_query(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(
        {"status": "success", "data": {"resultType": "matrix", "result": []}}
    )
    failed, result = run_module(prometheus_query, args(httpserver, [{"name": "range", "query": "up[5m]"}]))
    assert not failed
    assert result["results"][0]["error"] == (
        "the query returned a matrix; give an instant query that returns a vector or a scalar "
        "(a range goes inside a function: rate(x[5m]), max_over_time(x[5m]))"
    )


def test_bad_input_is_refused_before_any_query(httpserver, run_module):
    cases = [
        ([{"name": "a b", "query": "up"}], "queries: name 'a b' must be letters, digits and _.- (at most 64)"),
        ([{"name": "a", "query": "up"}, {"name": "a", "query": "up"}], "queries: the name 'a' is given twice"),
        ([{"name": "a", "query": "  "}], "queries: the query of 'a' is empty"),
        ([{"name": f"q{i}", "query": "up"} for i in range(prometheus_query.MAX_QUERIES + 1)],
         f"queries: at most {prometheus_query.MAX_QUERIES} diagnosis queries, got {prometheus_query.MAX_QUERIES + 1}"),
    ]  # fmt: skip
    for queries, message in cases:
        failed, result = run_module(prometheus_query, args(httpserver, queries))
        assert failed and result["msg"] == message, result
    failed, result = run_module(prometheus_query, args(httpserver, [{"name": "a", "query": "up"}], threshold=1,
                                                       comparison=">"))  # fmt: skip
    assert failed and result["msg"] == "queries are read only: leave out comparison, threshold, absent, hold, wait, " \
        "alert_rule and match_labels"  # fmt: skip
    failed, result = run_module(prometheus_query, {"url": httpserver.url_for("/")})
    assert failed and "one of the following is required: query, queries" in result["msg"]
    assert len(httpserver.log) == 0, "nothing was asked"


def test_check_mode_reads_as_in_a_real_run(httpserver, run_module):
    httpserver.expect_request("/api/v1/query").respond_with_json(vector(({}, "3")))
    failed, result = run_module(prometheus_query, args(httpserver, [{"name": "a", "query": "up"}]), check_mode=True)
    assert not failed and result["results"][0]["series"] == [{"metric": {}, "value": 3.0}]
