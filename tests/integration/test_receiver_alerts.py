"""The alerting rules for the automation (docs/examples/remediate-alerts.yml) on a real Prometheus scraping a
real receiver: a remediation that does not resolve pages with its host, route and outcome, one that resolves
does not, and a wrong token pages too. The rules' timing cases are promtool's (tests/unit/front/test_alert_rules.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from monitoring import Prometheus, recording_receiver

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "rules-token-0123456789abcdef"


def alert(fingerprint: str, host: str) -> dict:
    return {"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": f"{host}:8080",
            "severity": "critical"}, "startsAt": "2026-11-24T09:00:00Z", "fingerprint": fingerprint}  # fmt: skip


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    work = tmp_path_factory.mktemp("rules")
    receiver = recording_receiver(work, TOKEN, hosts=2, hold=0, vars={"outcome": "failed"})
    rules = yaml.safe_load((ROOT / "docs/examples/remediate-alerts.yml").read_text())
    prometheus = Prometheus(work / "prometheus", targets=[f"127.0.0.1:{receiver.port}"], rules=rules, job="remediate")
    prometheus.start()
    prometheus.wait_for('up{job="remediate"} == 1')
    yield receiver, prometheus
    prometheus.stop()
    receiver.stop()


def test_a_remediation_that_did_not_resolve_pages_with_its_host_route_and_outcome(watched):
    receiver, prometheus = watched
    assert not prometheus.query('ALERTS{alertname="RemediationNotResolved"}'), "nothing has failed yet"
    status, body = receiver.post({"version": "4", "alerts": [alert("f001", "web2")]})
    assert status == 202 and receiver.wait_job(body["alerts"][0]["job_id"])["state"] == "succeeded", body
    (page,) = prometheus.wait_for('ALERTS{alertname="RemediationNotResolved",alertstate="firing"}', timeout=30)
    labels = page["metric"]
    assert (labels["host"], labels["route"], labels["outcome"], labels["severity"]) == ("web2", "down", "failed",
                                                                                        "critical")  # fmt: skip
    assert not prometheus.query('ALERTS{alertname="RemediationNotResolved",host="web1"}'), "only the host that failed"


def test_a_wrong_token_pages(watched):
    receiver, prometheus = watched
    assert not prometheus.query('ALERTS{alertname="RemediateRejectingToken"}')
    assert receiver.post({"version": "4", "alerts": [alert("f002", "web1")]}, token="not-the-token-at-all")[0] == 401
    (page,) = prometheus.wait_for('ALERTS{alertname="RemediateRejectingToken",alertstate="firing"}', timeout=30)
    assert page["metric"]["reason"] == "unauthorized"
