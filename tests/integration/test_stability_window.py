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
import sqlite3
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import outcome
from hosts import host_name, image_exists
from monitoring import Exporter, Prometheus, free_port
from stack import running_stack

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
    assert "h1: resolved - stable 6 s: ALERTS of StabilityDown" in done.stdout
    assert "held at every 1 s" in done.stdout
    said = [json.loads(line) for line in steady.read_text().splitlines()][-1]
    assert said["event"] == "stability" and said["data"]["status"] == "resolved"
    assert "resolved - verified healthy; stability window 6 s" in (steady.parent / "report.md").read_text()
    again = remediate(config, "confirm", "INC-STEADY", "--timeline-dir", str(incidents))
    assert again.returncode == 0 and "h1: resolved - stable 6 s" in again.stdout
    assert len(steady.read_text().splitlines()) == 3, "confirming twice records nothing the second time"
    regressed = remediate(config, "confirm", "INC-BLIP", "--timeline-dir", str(incidents), "--wait")
    assert regressed.returncode == 1, regressed.stdout + regressed.stderr
    assert "h1: regressed - regressed within its stability window of 6 s: ALERTS of StabilityDown" in regressed.stdout
    assert "present in the window" in regressed.stdout and "firing" in regressed.stdout
    assert 'min(stability_up{unit="blip"}) > 0.5: not held: 0 at' in regressed.stdout
    assert [json.loads(line) for line in blip.read_text().splitlines()][-1]["data"]["status"] == "regressed"


# --- 2. the whole stack: a real incident, the receiver's schedule ---------------------------------------------------


class Channel:
    """A Slack-compatible incoming webhook on loopback: every message the incident channel posts."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        channel = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                channel.messages.append(json.loads(body)["text"])
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages if text in m]
            if found:
                return found[-1]
            time.sleep(0.2)
        raise AssertionError(f"no message with {text!r} within {timeout} s: {self.messages}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not image_exists():
        pytest.fail("the test image is missing: run scripts/build-target-image")
    work = tmp_path_factory.mktemp("stability-stack")
    channel = Channel()
    (work / "hook").write_text(channel.url)
    try:
        with running_stack(work, free_port(), name=host_name("stability-e2e")) as running:
            running.notify = [{"kind": "slack", "name": "ops", "url_file": str(work / "hook")}]
            running.channel = channel
            yield running
    finally:
        channel.stop()


def with_window(stack, seconds: int) -> None:
    """The service's stability window in its description (the inventory every job reads), and the incident channel."""
    path = stack.inventory.parent / "group_vars" / "demo_app.yml"
    described = yaml.safe_load(path.read_text())
    described["services"]["demo-app"]["stability"] = {"window": seconds}
    described["incident_notify"] = stack.notify
    path.write_text(yaml.safe_dump(described, sort_keys=False))


def confirmation(stack, incident: str) -> dict | None:
    db = sqlite3.connect(str(stack.work / "data" / "journal.sqlite"), timeout=10)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT * FROM confirmations WHERE incident_id = ?", (incident,)).fetchall()
    finally:
        db.close()
    return dict(rows[0]) if rows else None


def alerts(stack) -> list[dict]:
    """The alerts the receiver journaled, oldest first."""
    db = sqlite3.connect(str(stack.work / "data" / "journal.sqlite"), timeout=10)
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute("SELECT * FROM alerts ORDER BY id").fetchall()]
    finally:
        db.close()


def wait_confirmation(stack, incident: str, states: tuple, timeout: float = 40) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = confirmation(stack, incident)
        if row and row["state"] in states:
            return row
        time.sleep(0.3)
    raise AssertionError(f"{incident}: confirmation not {states} in {timeout} s: {confirmation(stack, incident)}\n"
                         f"{stack.receiver.log.read_text()[-3000:]}")  # fmt: skip


def wait_event(incident, kind: str, timeout: float = 10) -> list[dict]:
    """The incident's timeline once its last event is ``kind`` (the journal's end is written first, then the
    incident channel is told, then the timeline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = incident.events()
        if events[-1]["event"] == kind:
            return events
        time.sleep(0.2)
    raise AssertionError(f"no {kind} event at the end of the timeline: {[e['event'] for e in events]}")


def test_a_mitigated_incident_is_confirmed_by_the_receiver_at_its_windows_end_also_after_a_restart(stack):
    with_window(stack, 10)
    stack.since = {j["id"] for j in stack.jobs()}
    stack.host.crash()
    incident = stack.run_incident("DemoAppDown", timeout=120)
    assert incident.job["state"] == "succeeded", incident.log()
    record = incident.outcome()
    assert record["status"] == "mitigated", record
    assert "stability window 10 s: confirmation due at" in record["reason"]
    assert incident.silence_state_now() == ["expired"], "no silence over the window: a regression must page"
    stack.channel.wait_for("mitigated, watched over its stability window")
    scheduled = wait_confirmation(stack, incident.job["incident_id"], ("scheduled",), timeout=5)
    assert scheduled["job_id"] == incident.job["id"] and scheduled["fingerprint"]
    stack.receiver.kill()  # down over the window's end: the next start confirms it
    time.sleep(max(scheduled["due"] + 6 - time.time(), 0))
    assert confirmation(stack, incident.job["incident_id"])["state"] == "scheduled"
    stack.receiver.start()
    done = wait_confirmation(stack, incident.job["incident_id"], ("resolved", "regressed"), timeout=20)
    assert done["state"] == "resolved", done
    assert done["reason"].startswith("stable 10 s: ALERTS of DemoAppDown"), done["reason"]
    assert "resolved: stable 10 s" in stack.channel.wait_for("stable 10 s")
    events = wait_event(incident, "stability")
    assert events[-1]["data"]["status"] == "resolved"
    assert events[-1]["data"]["notifications"][0]["status"] == "ok"
    again = remediate(stack.receiver.config, "confirm", incident.job["incident_id"])
    assert again.returncode == 0 and "resolved - stable 10 s" in again.stdout, again.stdout + again.stderr
    assert len(incident.events()) == len(events), "confirmed once, whoever asks again"


def test_the_alert_again_inside_the_window_is_a_regression_that_pages_at_once_and_runs_nothing(stack):
    with_window(stack, 60)
    stack.since = {j["id"] for j in stack.jobs()}
    stack.host.crash()
    incident = stack.run_incident("DemoAppDown", timeout=120)
    assert incident.outcome()["status"] == "mitigated", incident.log()
    wait_confirmation(stack, incident.job["incident_id"], ("scheduled",), timeout=5)
    jobs, seen = {j["id"] for j in stack.jobs()}, max(a["id"] for a in alerts(stack))
    stack.host.crash()  # the restart did not hold: the alert fires again, a new episode of the same fingerprint
    try:
        page = stack.channel.wait_for("REGRESSED", timeout=40)
    except AssertionError as exc:
        seen = [(a["status"], a["verdict"], a["reason"]) for a in alerts(stack)][-4:]
        raise AssertionError(f"{exc}\nalerts: {seen}\n{stack.receiver.log.read_text()[-2000:]}") from None
    assert "REGRESSED within its stability window, people are needed now" in page
    # seen by the receiver's watch (its ALERTS series back) or its firing received, whichever came first
    assert "ALERTS of DemoAppDown" in page or "DemoAppDown fired again" in page, page
    row = confirmation(stack, incident.job["incident_id"])
    assert row["state"] == "regressed", row
    assert row["finished"] < row["due"] - 20, "paged at once, long before the window's end"
    assert "paged, nothing runs again" in row["reason"]
    events = wait_event(incident, "stability")
    assert events[-1]["data"]["status"] == "regressed"
    assert not stack.alertmanager.silences() or all(
        s["status"]["state"] == "expired" for s in stack.alertmanager.silences()
    ), "no silence covers the regression"
    time.sleep(3)
    assert {j["id"] for j in stack.jobs()} == jobs, "a regression escalates to people: the ladder does not run again"
    firing = [a["verdict"] for a in alerts(stack) if a["id"] > seen and a["status"] == "firing"]
    assert set(firing) <= {"regressed"}, firing  # if Alertmanager sent the new firing: nothing runs
    assert len([m for m in stack.channel.messages if "REGRESSED" in m]) == 1, "paged once"
