"""Markdown and HTML in an alert, or in the labels Prometheus answers the service's diagnosis queries with, do not
reach the post-incident report as markup, through the real path:
Alertmanager's webhook to ``remediate serve``, ansible-runner, incident.remediation.remediate (diagnosis
only, a real Prometheus), the timeline callback, report.md, and the receiver's GET /jobs/ID/report.

The report of a hostile alert with hostile endpoint labels, rendered to HTML as a forge would (CommonMark, GFM
tables, raw HTML allowed), has exactly the elements of the report of the same alert with plain values.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from monitoring import recording_receiver
from report_page import Page, to_html

TOKEN = "report-injection-token-0123456789"
HOSTILE = {
    "alertname": "DemoAppDown",
    "instance": "web1:8080",
    "severity": "critical",
    "service": "demo-app",
}
# endpoint labels as the scraped application could write them (Prometheus' text format: anything but " \ and a break)
PLAIN_ENDPOINTS = ["/api/a", "/api/b", "/api/c"]
HOSTILE_ENDPOINTS = [
    "<script>alert(1)</script>",
    "| forged | row |",
    "[x](https://evil.example/p) ![i](https://e/i.png)",
]
DIAGNOSIS = [{"name": "top_endpoints", "query": "sort_desc(topk(3, max by (endpoint) (it_report_endpoint_seconds)))"}]
HOSTILE_ANNOTATIONS = {
    "summary": "down\n## Root Cause\nThe [intern](https://evil.example/phish) did it <script>alert(1)</script>",
    "description": "| forged | row |\n|---|---|\n| x | y |",
}


@pytest.fixture(scope="module")
def receiver(tmp_path_factory, prometheus):
    services = {"demo-app": {"unit": "demo-app.service", "prometheus_url": prometheus.url,
                             "alerts": {"DemoAppDown": "restart"}, "diagnosis_queries": DIAGNOSIS}}  # fmt: skip
    server = recording_receiver(
        tmp_path_factory.mktemp("report-injection"), TOKEN, hosts=1, playbook="incident.remediation.remediate",
        labels=["instance", "severity", "service"], vars={"services": services, "incident_act_on": []},
    )  # fmt: skip
    yield server
    server.stop()


def alert(fingerprint: str, labels: dict, annotations: dict) -> dict:
    return {"status": "firing", "labels": labels, "annotations": annotations, "startsAt": "2026-11-23T22:00:00Z",
            "generatorURL": "http://prometheus/graph?g0.expr=up%20%3D%3D%200", "fingerprint": fingerprint}  # fmt: skip


def report_of(server, sent: dict) -> tuple[str, str]:
    """(GET /jobs/ID/report, report.md) of the job the alert started, once it ended."""
    payload = {"version": "4", "status": "firing", "receiver": "remediate", "groupLabels": {}, "commonLabels": {},
               "commonAnnotations": {}, "externalURL": "http://am", "groupKey": "{}", "alerts": [sent]}  # fmt: skip
    status, answer = server.post(payload)
    assert status == 202, answer
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs = [j for j in server.get("/jobs?limit=100")["jobs"] if j["incident_id"].endswith(sent["fingerprint"])]
        if jobs:
            break
        time.sleep(0.2)
    (job,) = jobs
    done = server.wait_job(job["id"], timeout=180)
    assert done["state"] == "succeeded", done
    (path,) = Path(server.workdir, "data", "jobs", job["id"], "incidents").glob("*/report.md")
    return server.get(f"/jobs/{job['id']}/report"), path.read_text()


def endpoints(prometheus, exporter, names: list[str]) -> None:
    """The series the diagnosis query answers with: these endpoints only, once Prometheus has scraped them."""
    exporter.remove("it_report_endpoint_seconds")
    for number, name in enumerate(names):
        exporter.set("it_report_endpoint_seconds", 3 - number, endpoint=name)
    deadline = time.monotonic() + 20
    while {s["metric"]["endpoint"] for s in prometheus.query("it_report_endpoint_seconds")} != set(names):
        assert time.monotonic() < deadline, f"Prometheus did not scrape {names} within 20 s"
        time.sleep(0.2)


def test_a_hostile_alert_leaves_the_reports_structure_as_a_plain_one(receiver, prometheus, exporter):
    endpoints(prometheus, exporter, PLAIN_ENDPOINTS)
    plain, _ = report_of(receiver, alert("00000000000000aa", HOSTILE, {"summary": "down", "description": "d"}))
    endpoints(prometheus, exporter, HOSTILE_ENDPOINTS)
    served, written = report_of(receiver, alert("00000000000000bb", HOSTILE, HOSTILE_ANNOTATIONS))
    exporter.remove("it_report_endpoint_seconds")
    assert served == written, "the receiver serves the report the callback wrote"
    page = Page(to_html(served))
    assert not [tag for tag in page.tags if tag.split()[0] in ("script", "a", "img")]
    assert page.tags == Page(to_html(plain)).tags, "the alert added an element to the page"
    sections = [line for line in served.splitlines() if line.startswith("## ")]
    assert sections == [line for line in plain.splitlines() if line.startswith("## ")]
    shown = " ".join(HOSTILE_ANNOTATIONS["summary"].split())
    assert shown in "".join(page.text), "the summary is on the page as the text it was, on one line"
    assert "### Diagnosis queries on web1" in served and "| /api/a | 3 |" in plain, "the query's table, in both"
    assert all(name in page.text for name in HOSTILE_ENDPOINTS), "each label a cell's text, as it was"
