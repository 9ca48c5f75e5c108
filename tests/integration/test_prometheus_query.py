"""prometheus_query against a real Prometheus scraping values the test sets.

Values reach Prometheus with the next scrape (every second), so each test
gives the condition a few seconds to start holding (``wait``).
"""

from __future__ import annotations

import threading
import time

import pytest
from ansible_collections.incident.remediation.plugins.modules import prometheus_query
from monitoring import free_port


def query_args(prometheus, query, **extra):
    return {"url": prometheus.url, "query": query, "interval": 0.5, **extra}


def test_threshold_met(prometheus, exporter, run_module):
    exporter.set("it_met", 1)
    failed, result = run_module(
        prometheus_query, query_args(prometheus, "it_met", comparison="==", threshold=1, wait=10)
    )
    assert not failed, result["msg"] if failed else ""
    assert result["satisfied"] and result["value"] == 1.0
    assert result["series"][0]["metric"]["__name__"] == "it_met"


def test_threshold_not_met(prometheus, exporter, run_module):
    exporter.set("it_rate", 0.5)
    prometheus.wait_for("it_rate")
    failed, result = run_module(prometheus_query, query_args(prometheus, "it_rate", comparison=">", threshold=0.99))
    assert failed
    assert "condition not met: it_rate > 0.99" in result["msg"] and "value 0.5" in result["msg"]


def test_met_only_after_a_while(prometheus, exporter, run_module):
    exporter.set("it_recovering", 0)
    prometheus.wait_for("it_recovering")
    timer = threading.Timer(2.5, exporter.set, args=("it_recovering", 1))
    timer.start()
    try:
        failed, result = run_module(
            prometheus_query, query_args(prometheus, "it_recovering", comparison=">=", threshold=1, wait=20)
        )
    finally:
        timer.cancel()
    assert not failed
    assert result["attempts"] > 1 and result["elapsed"] >= 2


def test_hold_is_kept(prometheus, exporter, run_module):
    exporter.set("it_stable", 1)
    prometheus.wait_for("it_stable")
    failed, result = run_module(
        prometheus_query, query_args(prometheus, "it_stable", comparison="==", threshold=1, hold=3, wait=5)
    )
    assert not failed
    assert result["held_for"] >= 3


def test_flapping_resets_the_hold(prometheus, exporter, run_module):
    exporter.set("it_flapping", 1)
    prometheus.wait_for("it_flapping")
    stop = threading.Event()

    def flap():
        value = 1
        while not stop.wait(1.5):
            value = 1 - value
            exporter.set("it_flapping", value)

    flapper = threading.Thread(target=flap, daemon=True)
    flapper.start()
    try:
        started = time.monotonic()
        failed, result = run_module(
            prometheus_query,
            query_args(prometheus, "it_flapping", comparison="==", threshold=1, hold=6, wait=4),
        )
    finally:
        stop.set()
        flapper.join()
    assert failed
    assert "longest hold" in result["msg"]
    assert result["satisfied"] is False and result["held_for"] < 6
    assert time.monotonic() - started < 20, "bounded by wait + hold"


@pytest.mark.parametrize(("empty", "fails"), [("unsatisfied", True), ("satisfied", False), ("fail", True)])
def test_empty_result(prometheus, run_module, empty, fails):
    failed, result = run_module(
        prometheus_query,
        query_args(prometheus, 'it_never_exported{job="fixture"}', comparison="==", threshold=0, empty=empty),
    )
    assert failed is fails
    if fails:
        assert "the query returned no series" in result["msg"]


def test_several_series_all_and_any(prometheus, exporter, run_module):
    exporter.set("it_success_rate", 0.5, instance="web1")
    exporter.set("it_success_rate", 0.999, instance="web2")
    prometheus.wait_for("count(it_success_rate) == 2")
    base = query_args(prometheus, "it_success_rate", comparison=">", threshold=0.99)
    failed, result = run_module(prometheus_query, base)
    assert failed and result["value"] == 0.5 and len(result["series"]) == 2
    failed, result = run_module(prometheus_query, {**base, "series": "any"})
    assert not failed and result["value"] == 0.999


def test_bad_promql_relays_prometheus_error(prometheus, run_module):
    failed, result = run_module(prometheus_query, query_args(prometheus, "sum(rate(x[5m]", comparison=">", threshold=0))
    assert failed
    assert result["msg"].startswith("Prometheus rejected the query: bad_data:")
    assert "parse error" in result["msg"]


def test_prometheus_down_is_a_clear_failure(run_module):
    url = f"http://127.0.0.1:{free_port()}"
    failed, result = run_module(prometheus_query, {"url": url, "query": "up", "comparison": ">", "threshold": 0,
                                                   "wait": 1, "interval": 0.5})  # fmt: skip
    assert failed
    assert f"cannot reach Prometheus at {url}: connection refused" in result["msg"]
    assert result["satisfied"] is False


def test_through_ansible_playbook_with_check_mode(prometheus, exporter, ansible_task):
    exporter.set("it_playbook", 0.997)
    prometheus.wait_for("it_playbook")
    task = {
        "name": "Verify success rate above 0.99 for 2 s",
        "incident.remediation.prometheus_query": {
            "url": prometheus.url,
            "query": "it_playbook",
            "comparison": ">",
            "threshold": 0.99,
            "hold": 2,
            "interval": 0.5,
        },
    }
    for check in (False, True):
        (result,) = ansible_task([task], check=check)
        assert not result.get("failed"), result
        assert result["satisfied"] is True and result["value"] == 0.997 and result["changed"] is False
        assert result["held_for"] >= 2
    (result,) = ansible_task([{**task, "incident.remediation.prometheus_query": {"url": prometheus.url}}])
    assert result["failed"] and "one of the following is required: query, queries" in result["msg"], result
