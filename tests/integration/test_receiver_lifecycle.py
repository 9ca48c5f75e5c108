"""The receiver's lifecycle with real processes: a start beside an operator's live run, a SIGTERM while jobs
wait, a start after a long stop, a crash followed by the alert sent again. A real `remediate serve`, real
ansible-runner running the stand-in playbook tests/fixtures/receiver/record.yml on local hosts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from monitoring import Alertmanager, http_json, in_hold, recording_receiver

from incident_remediation.config import Config
from incident_remediation.journal import Journal
from incident_remediation.runner import job_processes

TOKEN = "lifecycle-token-0123456789abcdef"
RECORD = str(Path(__file__).resolve().parents[1] / "fixtures" / "receiver" / "record.yml")
OPERATOR = """
import asyncio, json, sys
from incident_remediation import config as config_module
from incident_remediation.cli import _journal, executor
from incident_remediation.dispatcher import Dispatcher

config = config_module.load(sys.argv[1])
dispatcher = Dispatcher(config, _journal(config), executor(config))
job = dispatcher.submit_operator(playbook=sys.argv[2], target="web1", variables=json.loads(sys.argv[3]), check=False)
print(job, flush=True)
print(asyncio.run(dispatcher.run(dispatcher.journal.job(job))), flush=True)
"""


def operator_run(config: Path, out: Path, hold: int) -> subprocess.Popen:
    """What `remediate run` does (cmd_run: submit_operator, then run), in its own process, on the stand-in
    playbook (remediate run takes only the collection's playbooks)."""
    variables = {"out_dir": str(out), "hold": hold, "incident_id": "OPS-LIFECYCLE-1", "alert": {}}
    return subprocess.Popen([sys.executable, "-c", OPERATOR, str(config), RECORD, json.dumps(variables)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def test_a_receiver_starting_beside_an_operators_live_run_leaves_it_alone(tmp_path):
    server = recording_receiver(tmp_path, TOKEN, start=False)
    data = Config(source="test", routes=[], data_dir=tmp_path / "data")
    operator = operator_run(server.config, tmp_path / "out", hold=12)
    try:
        job_id = operator.stdout.readline().strip()
        deadline = time.monotonic() + 30
        # ansible-playbook and its worker, in the 12 s hold: the hold's worker has printed its pause. Two processes
        # alone can be the worker of the task before it, which ends at once (seen on a loaded machine)
        while not (in_hold(data.data_dir, job_id) and len(job_processes(data, job_id)) >= 2):
            assert time.monotonic() < deadline, "the operator's playbook is not in its hold within 30 s"
            time.sleep(0.1)
        playbook = job_processes(data, job_id)
        assert playbook, "the operator's playbook runs"
        server.start()
        assert server.get(f"/jobs/{job_id}")["state"] == "running", "not marked interrupted"
        assert set(playbook) <= set(job_processes(data, job_id)), "its playbook was not stopped"
        assert operator.stdout.readline().strip() == "succeeded"
        assert operator.wait(timeout=30) == 0
        assert server.get(f"/jobs/{job_id}")["state"] == "succeeded"
        assert "interrupted job" not in server.log.read_text()
    finally:
        operator.kill()
        operator.wait()
        server.stop()


def alert(fingerprint: str, host: str) -> dict:
    return {"status": "firing", "labels": {"alertname": "DemoAppDown", "instance": f"{host}:8080",
                                           "severity": "critical"},
            "startsAt": "2026-11-23T19:30:00.000Z", "fingerprint": fingerprint}  # fmt: skip


def test_sigterm_starts_no_waiting_job_and_the_next_start_expires_the_ones_queued_too_long_ago(tmp_path):
    server = recording_receiver(tmp_path, TOKEN, hold=4, max_jobs=1)
    try:
        _, answer = server.post({"version": "4", "alerts": [alert("1a", "web1"), alert("2b", "web2"),
                                                            alert("3c", "web3")]})  # fmt: skip
        first, old, young = (a["job_id"] for a in answer["alerts"])
        server.wait_job(first, states=("running",), timeout=30)
        server.stop()  # SIGTERM while the two others wait for the one slot
        assert server.proc.returncode == 0
        journal = Journal(tmp_path / "data" / "journal.sqlite")
        states = [journal.job(job_id)["state"] for job_id in (first, old, young)]
        assert states == ["succeeded", "queued", "queued"], "the running job ended, none of the waiting started"
        journal.db.execute("UPDATE jobs SET created = created - 3600 WHERE id = ?", (old,))  # down for an hour
        journal.close()
        server.start()
        expired = server.wait_job(old)
        assert expired["state"] == "expired" and "older than queued_max_age (900 s)" in expired["reason"], expired
        assert server.wait_job(young)["state"] == "succeeded"
        assert sorted(r["host"] for r in records(tmp_path)) == ["web1", "web3"], "the expired job never ran"
    finally:
        server.stop()


def records(work: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((work / "out").glob("*.json"))]


def test_a_full_queue_answers_503_until_there_is_room_and_alertmanager_sends_it_again(tmp_path):
    server = recording_receiver(tmp_path, TOKEN, hold=3, max_jobs=1, start=False)
    settings = yaml.safe_load(server.config.read_text())
    server.config.write_text(yaml.safe_dump({**settings, "max_queued": 1}))
    server.start()
    manager = None
    try:
        _, running = server.post({"version": "4", "alerts": [alert("a1", "web1")]})
        server.wait_job(running["alerts"][0]["job_id"], states=("running",), timeout=30)
        status, waiting = server.post({"version": "4", "alerts": [alert("a2", "web2")]})
        assert status == 202, "one job may wait"
        status, full = server.post({"version": "4", "alerts": [alert("a3", "web3")]})
        assert status == 503 and full["error"].startswith("the queue is full: 1 jobs wait (max_queued 1)"), full
        assert 'remediate_requests_rejected_total{reason="queue_full"} 1' in server.get("/metrics")
        manager = Alertmanager(tmp_path / "am", {
            "route": {"receiver": "remediate", "group_wait": "0s", "group_interval": "1s"},
            "receivers": [{"name": "remediate", "webhook_configs": [{"url": f"{server.url}/alerts",
                "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
        }).start()  # fmt: skip
        labels = {"alertname": "DemoAppDown", "instance": "web3:8080", "severity": "critical"}
        http_json(f"{manager.url}/api/v2/alerts", "POST", [{"labels": labels}])  # refused while two jobs are ahead
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [j for j in server.get("/jobs")["jobs"] if j["target"] == "web3"]:
            time.sleep(0.5)
        (late,) = [j for j in server.get("/jobs")["jobs"] if j["target"] == "web3"]
        assert server.wait_job(late["id"])["state"] == "succeeded", "sent again by Alertmanager, and run"
        (refused,) = [line for line in server.get("/metrics").splitlines() if 'reason="queue_full"' in line]
        assert float(refused.split()[-1]) >= 2, f"Alertmanager's first sending was refused too: {refused}"
        assert server.wait_job(waiting["alerts"][0]["job_id"])["state"] == "succeeded"
    finally:
        if manager:
            manager.stop()
        server.stop()


def test_the_cooldown_follows_a_crash_mid_remediation_and_not_a_run_that_only_diagnosed(tmp_path):
    """A real receiver, a route with a 300 s cooldown. A run whose incident only diagnosed (the stand-in
    playbook records the outcome the route asks for) lets the next alert for the host act; a receiver killed
    while a run holds the host makes the alert sent after the restart wait for the cooldown."""
    server = recording_receiver(tmp_path, TOKEN, hold=0, cooldown=300, vars={"outcome": "diagnosed"})
    try:
        _, first = server.post({"version": "4", "alerts": [alert("b1", "web1")]})
        assert server.wait_job(first["alerts"][0]["job_id"])["state"] == "succeeded"
        _, second = server.post({"version": "4", "alerts": [alert("b2", "web1")]})
        assert second["alerts"][0]["verdict"] == "accepted", second
        server.wait_job(second["alerts"][0]["job_id"])
    finally:
        server.stop()
    server = recording_receiver(tmp_path / "crash", TOKEN, hold=30, cooldown=300)
    try:
        _, held = server.post({"version": "4", "alerts": [alert("c1", "web1")]})
        server.wait_job(held["alerts"][0]["job_id"], states=("running",), timeout=30)
        server.kill()
        server.start()
        assert server.get(f"/jobs/{held['alerts'][0]['job_id']}")["state"] == "interrupted"
        _, again = server.post({"version": "4", "alerts": [alert("c1", "web1")]})  # Alertmanager's re-send
        assert again["alerts"][0]["verdict"] == "cooldown", again
    finally:
        server.stop()


def test_an_alert_alertmanager_resolved_on_its_own_is_taken_again_after_the_stale_window(tmp_path):
    """Prometheus cut off from Alertmanager (or restarting) past the alert's endsAt: a real Alertmanager
    resolves the alert itself; Prometheus then sends it again, still firing, with the same startsAt."""
    server = recording_receiver(tmp_path, TOKEN, hold=0, start=False)
    settings = yaml.safe_load(server.config.read_text())
    server.config.write_text(yaml.safe_dump({**settings, "stale_window": 3}))
    server.start()
    manager = Alertmanager(tmp_path / "am", {
        "route": {"receiver": "remediate", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "remediate", "webhook_configs": [{"url": f"{server.url}/alerts",
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    }).start()  # fmt: skip
    journal = Journal(tmp_path / "data" / "journal.sqlite")

    def received(status: str, count: int) -> list[dict]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = [row for row in journal.alerts() if row["status"] == status]
            if len(rows) >= count:
                return rows
            time.sleep(0.3)
        raise AssertionError(f"Alertmanager did not send {count} {status}: {journal.alerts()}")

    def send(ends_in: float) -> None:  # what Prometheus sends: its endsAt is a few resend delays ahead
        ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ends_in))
        http_json(f"{manager.url}/api/v2/alerts", "POST", [{"labels": labels, "startsAt": starts, "endsAt": ends}])

    labels = {"alertname": "DemoAppDown", "instance": "web2:8080", "severity": "critical"}
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    try:
        send(ends_in=2)
        (first,) = received("firing", 1)
        assert server.wait_job(first["job_id"])["state"] == "succeeded"
        received("resolved", 1)  # endsAt passed without a re-send: Alertmanager resolved it
        time.sleep(4)  # Prometheus is back after the stale window
        send(ends_in=120)
        again = received("firing", 2)[0]
        assert again["verdict"] == "accepted", again
        assert server.wait_job(again["job_id"])["state"] == "succeeded", "the alert that fires again is remediated"
    finally:
        journal.close()
        manager.stop()
        server.stop()
