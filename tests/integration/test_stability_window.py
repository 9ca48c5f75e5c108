"""The runbooks' stability windows (issue 23 item 8; seed 000 "monitor for 15 minutes / 30 minutes / 1 hour, then
remove silences if stable", seed 003 "wait 10 minutes"), windows shortened to seconds.

1. By hand, against a real Prometheus: `remediate confirm` of a mitigated record (the incident role's own
   bookkeeping made it) asks one query per condition over the whole window; the record becomes resolved, stable,
   or regressed when the alert came back and went again inside the window; confirming twice changes nothing.
2. Through the whole stack (podman systemd host, Prometheus with the runbook's rule, Alertmanager, `remediate
   serve`): a crashed service restarted is *mitigated*, its silence expired; the receiver confirms it at the
   window's end (also after it was killed and started again past that end); a crash again inside the window is a
   regression that pages the incident channel at once and runs nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import outcome
from monitoring import Exporter, Prometheus

ROOT = Path(__file__).resolve().parents[2]
REMEDIATE = str(ROOT / ".venv" / "bin" / "remediate")
DOWN = {"alert": "StabilityDown", "expr": "stability_up == 0", "for": "0s", "labels": {"severity": "critical"}}
RULES = {"groups": [{"name": "stability", "rules": [DOWN]}]}


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    exporter = Exporter()
    work = tmp_path_factory.mktemp("stability-prometheus")
    prometheus = Prometheus(work, targets=[exporter.address], rules=RULES).start()
    try:
        exporter.set("stability_up", 1, unit="steady")
        exporter.set("stability_up", 1, unit="blip")
        prometheus.wait_for('stability_up{unit="blip"} == 1')
        time.sleep(1.1)  # a record's time is in whole seconds: its window starts after the first scrape
        yield exporter, prometheus
    finally:
        prometheus.stop()
        exporter.stop()


def remediate(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REMEDIATE, "--config", str(config), *args], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def front_config(folder: Path) -> Path:
    path = folder / "remediate.yml"
    path.write_text(yaml.safe_dump({"ansible_config": str(ROOT / "ansible.cfg"), "data_dir": str(folder / "data"),
                                    "routes": []}))  # fmt: skip
    return path


def mitigated_timeline(folder: Path, incident: str, unit: str, monitored, window: int) -> Path:
    """An operator's incident as the incident role records it (its own bookkeeping), on a service with a window."""
    exporter, prometheus = monitored
    labels = {"alertname": "StabilityDown", "unit": unit, "instance": exporter.address, "job": "fixture",
              "severity": "critical"}  # fmt: skip
    plan = {"id": incident, "service": "svc", "mitigation": "restart", "act": True, "decision": "act",
            "alert": {"name": "StabilityDown", "all_labels": labels}}  # fmt: skip
    service = {"unit": "svc.service", "stability": {"window": window},
               "verify_queries": [{"query": f'min(stability_up{{unit="{unit}"}})', "comparison": ">",
                                   "threshold": 0.5, "interval": 1}]}  # fmt: skip
    ended = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    record = outcome(plan=plan, check_mode=False, failure={}, failed_task="", mitigation_result={},
                     verify={"alert": {"held_for": 3, "attempts": 3}}, service=service, verify_alert=True,
                     diagnosed={}, evidence="", lock={}, unlock={}, silence={}, unsilence={}, silence_duration="",
                     started=ended, ended=ended, confirm={"prometheus_url": prometheus.url})  # fmt: skip
    assert record["status"] == "mitigated", record
    path = folder / incident / "timeline.jsonl"
    path.parent.mkdir(parents=True)
    lines = [{"time": ended, "incident": incident, "host": "h1", "phase": "acknowledge", "event": "incident",
              "data": plan},
             {"time": ended, "incident": incident, "host": "h1", "phase": "close", "event": "outcome",
              "data": record}]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_by_hand_the_window_is_confirmed_stable_or_regressed_with_one_query_per_condition(monitored, tmp_path):
    exporter, prometheus = monitored
    config = front_config(tmp_path)
    incidents = tmp_path / "incidents"
    steady = mitigated_timeline(incidents, "INC-STEADY", "steady", monitored, 6)
    blip = mitigated_timeline(incidents, "INC-BLIP", "blip", monitored, 6)
    early = remediate(config, "confirm", "INC-STEADY", "--timeline-dir", str(incidents))
    assert early.returncode == 3, early.stdout + early.stderr
    assert "nothing checked yet" in early.stdout
    time.sleep(1.5)
    exporter.set("stability_up", 0, unit="blip")  # the alert comes back inside the window, then goes again
    prometheus.wait_for('ALERTS{alertname="StabilityDown", unit="blip", alertstate="firing"}')
    exporter.set("stability_up", 1, unit="blip")
    prometheus.wait_for('stability_up{unit="blip"} == 1')
    done = remediate(config, "confirm", "INC-STEADY", "--timeline-dir", str(incidents), "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "h1: resolved - stable 0.1 min: ALERTS of StabilityDown" in done.stdout
    assert "held at every 1 s" in done.stdout
    said = [json.loads(line) for line in steady.read_text().splitlines()][-1]
    assert said["event"] == "stability" and said["data"]["status"] == "resolved"
    assert "resolved - verified healthy; stability window 0.1 min" in (steady.parent / "report.md").read_text()
    again = remediate(config, "confirm", "INC-STEADY", "--timeline-dir", str(incidents))
    assert again.returncode == 0 and "h1: resolved - stable 0.1 min" in again.stdout
    assert len(steady.read_text().splitlines()) == 3, "confirming twice records nothing the second time"
    regressed = remediate(config, "confirm", "INC-BLIP", "--timeline-dir", str(incidents), "--wait")
    assert regressed.returncode == 1, regressed.stdout + regressed.stderr
    assert (
        "h1: regressed - regressed within its stability window of 0.1 min: ALERTS of StabilityDown" in regressed.stdout
    )
    assert "present in the window" in regressed.stdout and "firing" in regressed.stdout
    assert 'min(stability_up{unit="blip"}) > 0.5: not held: 0 at' in regressed.stdout
    assert [json.loads(line) for line in blip.read_text().splitlines()][-1]["data"]["status"] == "regressed"
