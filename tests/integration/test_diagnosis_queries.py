"""A service's own diagnosis queries (seed 001 0:08: "capture ... the top 5 slow / erroring endpoints. Post to the
channel") on a real incident: remediate.yml fixes a crashed demo-app on a real systemd host while the diagnose
phase asks a real Prometheus (on loopback, scraping endpoints whose labels are hostile) the service's queries, in
one task. Their answers are in diagnosis.json, the outcome record, the report (a table per query, inert) and the
decision's post to a Slack-compatible webhook (a local server); a query Prometheus rejects is recorded and the fix
happens all the same. The label values arrive as the text they were: never templated, never markup.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import threading
from pathlib import Path

import pytest
import yaml
from ansible_collections.incident.remediation.plugins.modules import prometheus_query
from hosts import deployed_host, host_name, image_exists, playbook, write_inventory
from monitoring import Prometheus, free_port
from pytest_httpserver import HTTPServer
from report_page import Page, to_html
from werkzeug import Request, Response

from incident_remediation.extravars import write_unsafe

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-diagq")
SLACK_PATH = "/services/T0DIAG/B0DIAG/diagnosis-hook"
TEMPLATE = "{{ lookup('pipe', 'id') }}"
# label values as an application could expose them (Prometheus' text format allows all but " \ and a line break)
ENDPOINTS = {
    "/v1/responses": (2.5, 4.0),
    TEMPLATE: (1.75, 3.0),
    "<!channel> @here <http://evil.example|fix>": (1.5, 2.0),
    "| forged | row |": (1.25, 1.0),
    "<script>alert(1)</script> [x](https://evil.example)": (1.0, 0.5),
    "/api/health": (0.01, 0.0),
    "/api/ping": (0.005, 0.0),
}
QUERIES = [
    {"name": "top5_slowest_endpoints", "query": "sort_desc(topk(5, max by (endpoint) (it_diag_p95_seconds)))"},
    {
        "name": "top5_erroring_endpoints",
        "query": "sort_desc(topk(5, sum by (endpoint) (it_diag_errors_per_second) > 0))",
    },
    {"name": "broken", "query": "sum(rate(it_diag_p95_seconds[5m]"},
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, prometheus, exporter):
    work = tmp_path_factory.mktemp("diagnosis-queries")
    posts: list[dict] = []
    lock = threading.Lock()

    def slack(request: Request) -> Response:
        with lock:
            posts.append(json.loads(request.get_data()))
        return Response("ok", 200)

    channel = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
    channel.expect_request(SLACK_PATH).respond_with_handler(slack)
    channel.start()
    (work / "slack-url").write_text(f"http://127.0.0.1:{channel.port}{SLACK_PATH}\n")
    for endpoint, (seconds, errors) in ENDPOINTS.items():
        exporter.set("it_diag_p95_seconds", seconds, endpoint=endpoint)
        exporter.set("it_diag_errors_per_second", errors, endpoint=endpoint)
    prometheus.wait_for("count(it_diag_p95_seconds) == 7 and count(it_diag_errors_per_second) == 7")
    try:
        with deployed_host(HOST, work / "inventory", free_port()) as (host, _):
            service = {"alerts": {"DemoAppDown": "restart"}, "prometheus_url": prometheus.url,
                       "diagnosis_queries": QUERIES}  # fmt: skip
            inventory = write_inventory(work / "inventory", [HOST], service)
            yield {"work": work, "host": host, "inventory": inventory, "posts": posts}
    finally:
        channel.clear()
        channel.stop()
        exporter.remove("it_diag_p95_seconds")
        exporter.remove("it_diag_errors_per_second")


def test_the_diagnosis_queries_are_in_the_evidence_the_record_the_report_and_the_channel(stack):
    stack["host"].crash()
    incidents = stack["work"] / "incidents"
    alert = {"status": "firing", "labels": {"alertname": "DemoAppDown", "severity": "critical",
                                            "instance": f"{HOST}:8080"},
             "annotations": {"summary": "demo-app is down"}, "startsAt": "2026-12-01T23:00:00Z",
             "fingerprint": hashlib.sha256(b"diagnosis").hexdigest()[:16], "generatorURL": ""}  # fmt: skip
    alert_file = write_unsafe(stack["work"] / "alert.json", {"alert": alert})
    variables = {
        "incident_evidence_dir": str(incidents),
        "incident_verify_alert": False,  # this Prometheus evaluates no rules: the fix is proved by health
        "incident_diagnosis_max_series": 3,
        "incident_notify": [{"kind": "slack", "name": "inc-channel", "url_file": str(stack["work"] / "slack-url"),
                             "events": ["decision"]}],
    }  # fmt: skip
    done = playbook(stack["inventory"], "incident.remediation.remediate", "--limit", HOST, "-e", f"@{alert_file}",
                    "-e", json.dumps(variables), INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:]
    (folder,) = [p for p in incidents.iterdir() if (p / "timeline.jsonl").exists()]
    events = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    outcome = next(e["data"] for e in events if e["event"] == "outcome")
    assert outcome["status"] == "resolved" and stack["host"].health()["status"] == "ready", "the fix happened"
    ran = [e for e in events if e["event"] == "task" and e["task"].endswith("as the runbook asks)")]
    assert [e["status"] for e in ran] == ["ok"], "one task for all the queries"

    # the evidence: every query, the series capped at 3 of 5, the labels as Prometheus gave them
    kept = json.loads((folder / HOST / "diagnose" / "diagnosis.json").read_text())["diagnosis_queries"]
    slowest, erroring, broken = kept
    assert [s["metric"]["endpoint"] for s in slowest["series"]] == list(ENDPOINTS)[:3]
    assert [s["value"] for s in slowest["series"]] == [2.5, 1.75, 1.5]
    assert (slowest["series_total"], slowest["truncated"], slowest["error"]) == (5, True, "")
    assert erroring["series_total"] == 5 and erroring["series"][0]["value"] == 4.0
    assert broken["series"] == [] and broken["error"].startswith("Prometheus rejected the query: bad_data: ")
    assert outcome["diagnosis"]["queries"] == kept, "the record keeps what the evidence has"

    # the report: a table per query, every value inert text
    report = (folder / "report.md").read_text()
    lines = report.splitlines()
    start = lines.index(f"### Diagnosis queries on {HOST}")
    assert f"**top5_slowest_endpoints**: `{QUERIES[0]['query']}` (5 series, the first 3 shown)" in lines[start:]
    table = lines[lines.index("| endpoint | value |", start) :][:5]
    assert table[2:] == ["| /v1/responses | 2\\.5 |", "| {{ lookup('pipe', 'id') }} | 1\\.75 |",
                         "| \\<!channel> @here \\<http://evil.example\\|fix> | 1\\.5 |"], table  # fmt: skip
    assert any(line.startswith("**broken**: `sum(rate(it_diag_p95_seconds[5m]` - no answer: Prometheus rejected")
               for line in lines)  # fmt: skip
    assert "- Notified inc-channel (slack) at decision: ok" in lines, "the report lists the notifications sent"
    page = Page(to_html(report))
    assert not [tag for tag in page.tags if tag.split()[0] in ("script", "a", "img")]
    text = "".join(page.text)
    assert TEMPLATE in text and "<!channel> @here <http://evil.example|fix>" in text

    # the channel: the decision carries the top endpoints, escaped as alert text is
    (decision,) = stack["posts"]
    said = decision["text"]
    assert "decision: act: restart for DemoAppDown" in said
    assert (
        "diagnosis top5_slowest_endpoints: endpoint=/v1/responses = 2.5; "
        f"endpoint={TEMPLATE} = 1.75; endpoint=&lt;!channel&gt; @\u200bhere &lt;http://evil.example|fix&gt; = 1.5 "
        "(5 series, 3 shown)"
    ) in said
    assert "diagnosis broken: no answer: Prometheus rejected the query: bad_data: " in said
    assert "<!" not in said and "@here" not in said and "<http" not in said

    # never templated anywhere it went
    for written in (folder / "timeline.jsonl", folder / "report.md", folder / HOST / "diagnose" / "diagnosis.json"):
        assert "uid=" not in written.read_text(), written
    assert "uid=" not in done.stdout


def test_the_example_inventorys_queries_answer_over_the_omniroute_metrics(tmp_path, run_module):
    """inventories/example's diagnosis_queries (seed 001's top 5 slowest and erroring endpoints) against the demo
    service's omniroute profile (OmniRoute's metric names), half its requests failing: both answer its route."""
    example = Path(__file__).resolve().parents[2] / "inventories" / "example" / "group_vars" / "demo_app.yml"
    queries = yaml.safe_load(example.read_text())["services"]["demo-app"]["diagnosis_queries"]
    spec = importlib.util.spec_from_file_location(
        "demo_app_runner", example.parents[3] / "tests/unit/demo_app/conftest.py"
    )
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    app = runner.DemoApp(
        tmp_path / "omniroute",
        config={"profile": "omniroute", "tick_seconds": 0.1, "traffic_per_second": 50.0, "faults": {"error_rate": 0.5}},
    )
    app.start()
    prometheus = None
    try:
        prometheus = Prometheus(tmp_path / "prometheus", targets=[f"127.0.0.1:{app.port}"], job="omniroute").start()
        prometheus.wait_for("count_over_time(omniroute_http_requests_total{code='500'}[1m]) >= 3")
        failed, result = run_module(prometheus_query, {"url": prometheus.url, "queries": queries})
    finally:
        if prometheus:
            prometheus.stop()
        app.stop()
    assert not failed, result
    slowest, erroring = result["results"]
    assert [q["name"] for q in result["results"]] == ["top5_slowest_endpoints", "top5_erroring_endpoints"]
    assert slowest["error"] == "" and [s["metric"] for s in slowest["series"]] == [{"route": "/v1/responses"}]
    assert isinstance(slowest["series"][0]["value"], float) and math.isfinite(slowest["series"][0]["value"])
    assert erroring["error"] == "" and [s["metric"] for s in erroring["series"]] == [{"route": "/v1/responses"}]
    assert erroring["series"][0]["value"] > 0, "the 5xx rate of the route that fails"
