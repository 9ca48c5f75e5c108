"""Template injection in every place alert data reaches Ansible: labels, annotations, the generator URL
(whose expression the playbook sends to Prometheus), the fingerprint and start time (the incident id).

remediate.yml runs on localhost with a real Prometheus; no severity may act, so the alert is decided,
diagnosed (its expression queried, its evidence saved), recorded and closed. Every field carries a
lookup that would create a marker file if Jinja evaluated it: no marker, and the texts arrive literally.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml
from hosts import playbook

from incident_remediation.extravars import write_unsafe


def injection(marker: Path, where: str) -> str:
    return "{{ lookup('pipe', 'touch " + str(marker) + "-" + where + "') }}"


@pytest.fixture
def inventory(tmp_path, prometheus):
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    services = {"demo-app": {"unit": "demo-app.service", "prometheus_url": prometheus.url,
                             "alerts": {"DemoAppDown": "restart"}}}  # fmt: skip
    described = {"all": {"hosts": {"web1": local}, "vars": {"services": services, "incident_act_on": []}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(described))
    return tmp_path / "inventory.yml"


def test_alert_fields_are_never_evaluated(tmp_path, inventory):
    marker = tmp_path / "evaluated"
    expression = 'up{job="' + injection(marker, "expr") + '"} == 0'
    alert = {
        "status": "firing",
        "labels": {"alertname": "DemoAppDown", "instance": "web1:8080", "severity": "critical",
                   "service": "demo-app", "note": injection(marker, "label")},
        "annotations": {"summary": injection(marker, "annotation"), "runbook": "{% raw %}{{ x }}{% endraw %}"},
        "startsAt": "2026-11-23T22:00:00Z",
        "generatorURL": "http://prometheus/graph?" + urllib.parse.urlencode({"g0.expr": expression}),
        "fingerprint": "0123456789abcdef",
    }  # fmt: skip
    extravars = write_unsafe(tmp_path / "alert.json", {"alert": alert})
    incidents = tmp_path / "incidents"
    done = playbook(inventory, "incident.remediation.remediate", "--limit", "web1", "-e", f"@{extravars}",
                    "-e", json.dumps({"incident_evidence_dir": str(incidents)}),
                    INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    assert not list(tmp_path.glob("evaluated*")), "a template in the alert was evaluated"
    (folder,) = [p for p in incidents.iterdir() if p.is_dir()]
    diagnosis = json.loads((folder / "web1" / "diagnose" / "diagnosis.json").read_text())
    assert diagnosis["alert"]["labels"]["note"] == injection(marker, "label")
    assert diagnosis["alert"]["annotations"]["summary"] == injection(marker, "annotation")
    assert diagnosis["alert"]["annotations"]["runbook"] == "{% raw %}{{ x }}{% endraw %}"
    assert diagnosis["alert"]["expression"] == expression, "the expression kept as written (evidence only)"
    # a label value may hold any text: Prometheus' ALERTS, matched on the labels as data, has no such alert
    assert diagnosis["alert_series"] == [] and diagnosis["alert_query_error"] == "the query returned no series"
    outcome = next(json.loads(line)["data"] for line in (folder / "timeline.jsonl").read_text().splitlines()
                   if json.loads(line)["event"] == "outcome")  # fmt: skip
    assert outcome["status"] == "diagnosed"
