"""The protect_data playbook (incident.remediation.protect_data) through the incident phases on a real systemd host.

Seed 001 4.4: the service is stopped, its data snapshotted with the service's own snapshot command (the test
inventory's: a tar of the demo's cache, which stands for its data), a SEV-1 raised: the incident ends failed, its
failure class protected (the contract's outcome, not the message's words), nothing restored or restarted. The same
incident again finds the unit quarantined and only diagnoses. One podman host, remediation-it-protect.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hosts import deployed_host, host_name, image_exists, playbook
from monitoring import free_port

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-protect")
INCIDENT = "OPS-PROTECT-1"
SNAPSHOT = f"/var/backups/demo-app-{INCIDENT}.tar"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("protect")
    with deployed_host(HOST, work / "deploy", free_port()) as (server, inventory):
        yield server, inventory, work


def protect(host, name: str) -> tuple[int, dict]:
    """ansible-playbook incident.remediation.protect_data -e service=demo-app, as an operator runs it."""
    _, inventory, work = host
    incidents = work / name
    variables = {"incident_id": INCIDENT, "incident_evidence_dir": str(incidents), "reason": "sqlite corruption"}
    done = playbook(inventory, "incident.remediation.protect_data", "--limit", HOST, "-e", "service=demo-app",
                    "-e", json.dumps(variables), INCIDENT_TIMELINE_DIR=str(incidents))  # fmt: skip
    path = Path(incidents) / INCIDENT / "timeline.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    outcome = next((e["data"] for e in events if e["event"] == "outcome"), None)
    assert outcome, done.stdout[-4000:] + done.stderr[-2000:]
    return done.returncode, outcome


def test_the_incident_stops_snapshots_and_raises_a_sev1_then_only_diagnoses_the_quarantined_unit(host):
    server = host[0]
    assert server.unit("ActiveState")["ActiveState"] == "active"
    rc, outcome = protect(host, "first")
    assert rc != 0, "a SEV-1 fails the host, so that a rollout counts it"
    assert outcome["status"] == "failed" and outcome["failure"] == "protected", outcome
    assert outcome["reason"].startswith("SEV-1: data-layer incident (sqlite corruption) on "), outcome["reason"]
    assert f"snapshot taken by tar into {SNAPSHOT}" in outcome["reason"], outcome["reason"]
    assert outcome["result"]["details"]["severity"] == "SEV-1" and outcome["result"]["outcome"] == "protected"
    assert [rung["mitigation"] for rung in outcome["ladder"]] == ["protect_data"]
    assert server.unit("ActiveState")["ActiveState"] == "inactive", "stopped, and not started again"
    listed = server.sh(f"tar --list --file {SNAPSHOT}").stdout.split()
    assert "./manifest.sha256" in listed, listed
    assert json.loads(server.sh("cat /var/lib/incident-remediation/quarantine/demo-app.service.json").stdout)[
        "incident"] == INCIDENT  # fmt: skip

    _, again = protect(host, "again")
    assert again["status"] == "diagnosed" and "is quarantined since" in again["reason"], again
    assert server.unit("ActiveState")["ActiveState"] == "inactive", "the quarantined unit is left as it is"
    assert server.sh("ls /var/backups").stdout.split().count(f"demo-app-{INCIDENT}.tar") == 1
