"""After converge and the budget side effect: healthy, budget spent, evidence on the controller."""

import json
import os
from pathlib import Path


def test_service_is_healthy_again(host):
    assert host.service("demo-app").is_running
    health = json.loads(host.check_output("curl -sS http://127.0.0.1:8080/health"))
    assert health["status"] == "ready"


def test_budget_recorded_three_restarts_on_the_host(host):
    budget = json.loads(host.file("/var/lib/incident-remediation/restart-budget/demo-app.service.json").content_string)
    assert [r["reason"] for r in budget["restarts"]] == ["INC-molecule-restart"] * 3


def test_evidence_of_the_crash_is_on_the_controller():
    folder = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "evidence" / "INC-molecule-restart"
    (host_dir,) = folder.iterdir()
    runs = sorted(host_dir.iterdir())
    assert len(runs) == 4, "one evidence folder per attempt: converge, two forced, and the refused fourth"
    first = runs[0]
    before = json.loads((first / "before.json").read_text())
    assert before["active_state"] == "failed", "the first evidence is of the crashed unit"
    assert "demo-app" in (first / "status.txt").read_text()
    assert (first / "journal.txt").read_text().strip()
    assert (first / "dmesg.txt").exists()
