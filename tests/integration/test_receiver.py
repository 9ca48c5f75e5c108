"""remediate serve for real: a real HTTP client and a real Alertmanager post to it, real ansible-runner runs
a real playbook (tests/fixtures/receiver/record.yml) on local hosts, the journal is a real SQLite file."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from monitoring import Alertmanager, Receiver, http_json, in_hold, recording_receiver

from incident_remediation.config import Config
from incident_remediation.journal import Journal
from incident_remediation.runner import job_processes

TOKEN = "test-token-0123456789abcdef"
INJECTION = "{{ lookup('pipe', 'touch MARKER') }}"


def alert(fingerprint: str, host: str = "web1", status: str = "firing", starts: str = "2026-11-23T19:30:00.000Z",
          **labels) -> dict:  # fmt: skip
    return {"status": status, "labels": {"alertname": "DemoAppDown", "instance": f"{host}:8080",
                                         "severity": "critical", **labels},
            "annotations": {"summary": "down"}, "startsAt": starts, "endsAt": "",
            "generatorURL": "http://prometheus/graph?g0.expr=up+%3D%3D+0", "fingerprint": fingerprint}  # fmt: skip


def payload(*alerts) -> dict:
    return {"version": "4", "status": "firing", "receiver": "remediate", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "groupKey": "{}", "alerts": list(alerts)}  # fmt: skip


def start_receiver(work: Path, hold: int = 1) -> Receiver:
    return recording_receiver(work, TOKEN, hold=hold, labels=["instance", "severity", "note"], concurrency=2)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    server = start_receiver(tmp_path_factory.mktemp("receiver"))
    yield server
    server.stop()


def records(server: Receiver) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((server.workdir / "out").glob("*.json"))]


def test_an_alertmanager_alert_runs_the_routed_playbook_with_its_variables_as_data(receiver, tmp_path):
    marker = tmp_path / "injected"
    manager = Alertmanager(tmp_path / "am", {
        "route": {"receiver": "remediate", "group_wait": "0s", "group_interval": "1s"},
        "receivers": [{"name": "remediate", "webhook_configs": [{
            "url": f"{receiver.url}/alerts", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    }).start()  # fmt: skip
    try:
        labels = {"alertname": "DemoAppDown", "instance": "web2:8080", "severity": "critical",
                  "note": INJECTION.replace("MARKER", str(marker)), "secret": "not-for-playbooks"}  # fmt: skip
        sent = {
            "labels": labels,
            "annotations": {"summary": "down"},
            "generatorURL": "http://prometheus/graph?g0.expr=up",
        }
        http_json(f"{manager.url}/api/v2/alerts", "POST", [sent])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not receiver.get("/jobs?limit=100")["jobs"]:
            time.sleep(0.2)
        (job,) = [j for j in receiver.get("/jobs?limit=100")["jobs"] if j["target"] == "web2"]
        done = receiver.wait_job(job["id"])
    finally:
        manager.stop()
    assert done["state"] == "succeeded", done
    (record,) = [r for r in records(receiver) if r["host"] == "web2"]
    assert record["alert"]["labels"] == {k: v for k, v in labels.items() if k != "secret"}, "only the route's labels"
    assert record["alert"]["labels"]["note"] == INJECTION.replace("MARKER", str(marker)), "arrived literally"
    assert not marker.exists(), "and was never evaluated"
    assert record["mitigation"] == "restart" and record["incident_id"] == done["incident_id"]
    assert record["alert"]["fingerprint"] and record["alert"]["generatorURL"].startswith("http")


def test_an_alert_sent_while_the_receiver_was_down_arrives_when_it_is_back(tmp_path):
    # Alertmanager logs a notification only once it is delivered, so a failed one is sent again at the next
    # group_interval: nothing is lost while the receiver restarts, and the receiver need not ask for it
    server = recording_receiver(tmp_path / "late", TOKEN, hold=0, start=False)
    manager = Alertmanager(tmp_path / "am", {
        "route": {"receiver": "remediate", "group_wait": "0s", "group_interval": "2s", "repeat_interval": "1h"},
        "receivers": [{"name": "remediate", "webhook_configs": [{"url": f"{server.url}/alerts",
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    }).start()  # fmt: skip
    try:
        labels = {"alertname": "DemoAppDown", "instance": "web1:8080", "severity": "critical"}
        http_json(f"{manager.url}/api/v2/alerts", "POST", [{"labels": labels}])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not failed(manager):
            time.sleep(0.5)
        assert failed(manager), "Alertmanager tried while it was down"
        server.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not server.get("/jobs?limit=10")["jobs"]:
            time.sleep(0.5)
        (job,) = server.get("/jobs?limit=10")["jobs"]
        assert server.wait_job(job["id"])["state"] == "succeeded" and job["target"] == "web1"
    finally:
        manager.stop()
        server.stop()


def failed(manager: Alertmanager) -> str:
    """Alertmanager's failed webhook notifications, as its metrics lines (empty before the first)."""
    with urllib.request.urlopen(f"{manager.url}/metrics", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    return "\n".join(line for line in lines if line.startswith("alertmanager_notifications_failed_total")
                     and 'integration="webhook"' in line and not line.endswith(" 0"))  # fmt: skip


def test_the_same_fingerprint_runs_once(receiver):
    status, first = receiver.post(payload(alert("d1", "web1")))
    _, again = receiver.post(payload(alert("d1", "web1"), alert("d1", "web1")))
    assert status == 202 and first["alerts"][0]["verdict"] == "accepted"
    assert [a["verdict"] for a in again["alerts"]] == ["deduped", "deduped"]
    assert {a["job_id"] for a in again["alerts"]} == {first["alerts"][0]["job_id"]}
    receiver.wait_job(first["alerts"][0]["job_id"])


def test_a_resolved_alert_cancels_its_job_before_it_starts(receiver):
    _, busy = receiver.post(payload(alert("ab01", "web3")))
    _, waiting = receiver.post(payload(alert("ab02", "web3")))  # queued behind web3's lock
    status, resolved = receiver.post(payload(alert("ab02", "web3", status="resolved")))
    assert status == 202 and resolved["alerts"][0]["verdict"] == "cancelled"
    assert receiver.wait_job(waiting["alerts"][0]["job_id"])["state"] == "cancelled"
    assert receiver.wait_job(busy["alerts"][0]["job_id"])["state"] == "succeeded"
    assert not [r for r in records(receiver) if r["incident_id"].endswith("-ab02")], "the cancelled job never ran"


def test_late_alerts_of_an_episode_that_is_over_start_nothing(receiver):
    """Two Alertmanager replicas, one lagging: its resolved of the first episode comes after the second
    began, and its firing of the second after that one resolved."""
    first, second = "2026-11-23T19:30:00.000Z", "2026-11-23T19:50:00.000Z"
    _, busy = receiver.post(payload(alert("ef01", "web3")))
    _, queued = receiver.post(payload(alert("ef02", "web3", starts=second)))  # behind web3's lock
    status, late = receiver.post(payload(alert("ef02", "web3", "resolved", starts=first)))
    assert status == 202 and late["alerts"][0]["verdict"] == "stale", late
    job = receiver.wait_job(queued["alerts"][0]["job_id"])
    assert job["state"] == "succeeded", "the stale resolved did not cancel the newer episode's job"
    receiver.wait_job(busy["alerts"][0]["job_id"])
    receiver.post(payload(alert("ef02", "web3", "resolved", starts=second)))
    status, again = receiver.post(payload(alert("ef02", "web3", starts=second)))
    assert status == 202 and again["alerts"][0]["verdict"] == "stale" and "resolved" in again["alerts"][0]["reason"]
    assert len([r for r in records(receiver) if r["incident_id"].endswith("-ef02")]) == 1, "ran once"


def test_a_newer_episode_deduped_into_a_queued_job_survives_the_late_resolved_of_the_older(receiver):
    """The up-to-date replica's firing of the second episode dedupes into the first one's queued job; the
    lagging replica's resolved of the first comes after: the job is the second episode's and runs."""
    first, second = "2026-11-23T19:30:00.000Z", "2026-11-23T19:50:00.000Z"
    _, busy = receiver.post(payload(alert("ef11", "web3")))
    _, queued = receiver.post(payload(alert("ef12", "web3", starts=first)))  # behind web3's lock
    _, newer = receiver.post(payload(alert("ef12", "web3", starts=second)))
    assert newer["alerts"][0]["verdict"] == "deduped", newer
    status, late = receiver.post(payload(alert("ef12", "web3", "resolved", starts=first)))
    assert status == 202 and late["alerts"][0]["verdict"] == "stale", late
    assert receiver.wait_job(queued["alerts"][0]["job_id"])["state"] == "succeeded", "episode two's job ran"
    receiver.wait_job(busy["alerts"][0]["job_id"])


def test_one_host_is_remediated_by_one_job_at_a_time_under_concurrent_posts(receiver):
    answers = []

    def post(i):
        answers.append(receiver.post(payload(alert(f"c{i}", "web1"))))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [202] * 4
    jobs = [receiver.wait_job(body["alerts"][0]["job_id"]) for _, body in answers]
    assert {job["state"] for job in jobs} == {"succeeded"}
    runs = sorted(
        (r["started"], r["ended"]) for r in records(receiver) if r["incident_id"][-2:] in ("c0", "c1", "c2", "c3")
    )
    assert len(runs) == 4 and all(runs[i][1] <= runs[i + 1][0] for i in range(3)), f"overlapping runs: {runs}"


@pytest.mark.parametrize(
    ("token", "raw", "status", "error"),
    [
        (False, None, 401, "a valid bearer token is required"),
        ("wrong-token-0123456789abcdef", None, 401, "a valid bearer token is required"),
        (None, b"{not json", 400, "the body is not JSON"),
        (None, json.dumps({"version": "4", "alerts": [{"status": "firing"}]}).encode(), 422, "alerts[0].labels"),
        (None, b'{"version": "4", "alerts": []}', 422, "alerts must be a non-empty list"),
        (None, b'{"version": "4", "pad": "' + b"x" * 70000 + b'"}', 413, "larger than 65536 bytes"),
    ],
)
def test_refused_requests_run_nothing_and_lose_nothing(receiver, token, raw, status, error):
    before = len(receiver.get("/jobs?limit=1000")["jobs"])
    code, body = receiver.post(payload(alert("e1")), token=token, raw=raw)
    assert code == status and error in body["error"]
    assert len(receiver.get("/jobs?limit=1000")["jobs"]) == before


def test_metrics_and_health_answer_without_token(receiver):
    metrics = receiver.get("/metrics")
    assert 'remediate_alerts_total{verdict="accepted"}' in metrics
    assert 'remediate_requests_rejected_total{reason="unauthorized"}' in metrics
    assert "remediate_job_duration_seconds_count" in metrics
    assert http_json(f"{receiver.url}/healthz")["status"] == "ok"


def test_a_receiver_killed_during_a_job_reports_it_interrupted_after_restart(tmp_path):
    server = start_receiver(tmp_path / "killed", hold=30)
    try:
        _, accepted = server.post(payload(alert("cd01", "web1"), alert("cd02", "web2")))
        ids = [a["job_id"] for a in accepted["alerts"]]
        data = Config(source="test", routes=[], data_dir=server.workdir / "data")
        for job_id in ids:
            server.wait_job(job_id, states=("running",), timeout=30)
        deadline = time.monotonic() + 30
        while not all(in_hold(data.data_dir, job_id) and len(job_processes(data, job_id)) > 1 for job_id in ids):
            assert time.monotonic() < deadline, "the jobs' playbooks are not in their hold within 30 s"
            time.sleep(0.1)  # ansible-playbook and its worker: in the silent 30 s hold (output would end them)
        time.sleep(1)
        server.kill()
        journal = Journal(server.workdir / "data" / "journal.sqlite")
        assert {a["fingerprint"] for a in journal.alerts()} == {"cd01", "cd02"}, "every accepted alert was committed"
        journal.close()
        time.sleep(1)
        assert all(job_processes(data, job_id) for job_id in ids), "the playbooks outlive a SIGKILLed receiver"
        server.start()
        jobs = [server.get(f"/jobs/{job_id}") for job_id in ids]
        assert [j["state"] for j in jobs] == ["interrupted", "interrupted"]
        assert "stopped while the job ran" in jobs[0]["reason"]
        assert "its playbook was still running" in jobs[0]["reason"] and "check web" in jobs[0]["reason"], jobs[0]
        assert not any(job_processes(data, job_id) for job_id in ids), "stopped before the receiver answers again"
        assert "interrupted job" in server.log.read_text()
    finally:
        server.stop()
