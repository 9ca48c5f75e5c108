"""remediate serve and its jobs' ends, for real: a podman systemd host whose unit's restart hangs (an ExecStop that
never returns, as a wedged service does), a real receiver, ansible-runner and the containers.podman connection.

- an alert for a host the inventory does not have is refused at intake, naming the host, and runs nothing;
- a job past its route's timeout is stopped and recorded timed_out with the task that was still running, and
  the host's lock is free again: the next alert for that host runs;
- with AWX (a local HTTP server stands in for it and checks every request: no AWX runs here), a receiver
  killed while an AWX job runs follows that job to its end after its restart, and launches nothing twice.
"""

from __future__ import annotations

import json
import sqlite3
import time

import pytest
import yaml
from hosts import ROOT, PodmanHost, host_name, image_exists
from monitoring import Receiver, free_port
from pytest_httpserver import HTTPServer
from werkzeug import Response

from incident_remediation.config import Config
from incident_remediation.runner import job_processes

HOST = host_name("remediation-it-jobs")
TOKEN = "jobs-token-0123456789abcdef"
WEDGED = """[Unit]
Description=a service whose stop never returns
[Service]
ExecStart=/bin/sleep infinity
ExecStop=/bin/sleep infinity
TimeoutStopSec=infinity
"""
RESTART = [{"name": "Restart a wedged unit", "hosts": "all", "gather_facts": False, "tasks": [
    {"name": "Read the unit", "ansible.builtin.command": "systemctl is-active wedged.service", "changed_when": False},
    {"name": "Restart the unit", "ansible.builtin.systemd_service": {"name": "wedged.service", "state": "restarted"}},
]}]  # fmt: skip
PING = [{"name": "Reach the host", "hosts": "all", "gather_facts": False, "tasks": [
    {"name": "Ping", "ansible.builtin.ping": {}}]}]  # fmt: skip

needs_image = pytest.mark.skipif(not image_exists(), reason="the podman target image is built by scripts/setup")


def alert(alertname: str, fingerprint: str, host: str = HOST) -> dict:
    return {"status": "firing", "labels": {"alertname": alertname, "instance": f"{host}:8080", "severity": "critical"},
            "annotations": {}, "startsAt": "2026-12-01T09:00:00Z", "endsAt": "", "generatorURL": "",
            "fingerprint": fingerprint}  # fmt: skip


def payload(*alerts) -> dict:
    return {"version": "4", "status": "firing", "alerts": list(alerts)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("jobs")
    host = PodmanHost(HOST, free_port())
    podman = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
    (work / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {HOST: podman}}}))
    (work / "restart.yml").write_text(yaml.safe_dump(RESTART, sort_keys=False))
    (work / "ping.yml").write_text(yaml.safe_dump(PING, sort_keys=False))
    routes = [{"name": "wedged", "alertname": "WedgedDown", "playbook": str(work / "restart.yml"), "cooldown": 0,
               "timeout": 12},
              {"name": "ping", "alertname": "Ping", "playbook": str(work / "ping.yml"), "cooldown": 0}]  # fmt: skip
    config = {"inventory": str(work / "hosts.yml"), "ansible_config": str(ROOT / "ansible.cfg"),
              "data_dir": str(work / "data"), "max_jobs": 1, "routes": routes}  # fmt: skip
    receiver = Receiver(work / "receiver", config, TOKEN)
    try:
        host.start()
        host.sh(f"printf '{WEDGED}' > /etc/systemd/system/wedged.service && systemctl daemon-reload"
                " && systemctl start wedged.service")  # fmt: skip
        receiver.start()
        yield host, receiver, Config(source="test", routes=[], data_dir=work / "data")
    finally:
        receiver.stop()
        host.stop()


@needs_image
def test_an_alert_for_a_host_not_in_the_inventory_is_refused_naming_it(stack):
    _, receiver, _ = stack
    status, answer = receiver.post(payload(alert("Ping", "aa01", host="web9")))
    assert status == 202
    (verdict,) = answer["alerts"]
    assert verdict["verdict"] == "refused" and "job_id" not in verdict
    assert verdict["reason"].startswith("host 'web9' is not in the inventory "), verdict
    assert not [j for j in receiver.get("/jobs?limit=100")["jobs"] if j["target"] == "web9"]


@needs_image
def test_a_hung_restart_times_out_says_what_was_running_and_frees_the_host(stack):
    host, receiver, data = stack
    started = time.monotonic()
    _, answer = receiver.post(payload(alert("WedgedDown", "bb01")))
    job_id = answer["alerts"][0]["job_id"]
    receiver.wait_job(job_id, states=("running",), timeout=30)
    _, waiting = receiver.post(payload(alert("Ping", "bb02")))  # the same host: it waits for the lock
    job = receiver.wait_job(job_id, timeout=60)  # the old code: still running after the 60 s
    assert job["state"] == "timed_out", job
    assert time.monotonic() - started < 45
    assert job["reason"].startswith("did not finish within 12 s (the timeout of route wedged): still running: task "
                                    f"'Restart the unit' on {HOST}"), job["reason"]  # fmt: skip
    assert job["reason"].endswith(f"the remediation may be partly done, check {HOST}"), job["reason"]
    assert not job_processes(data, job_id), "nothing of its playbook is left on the controller"
    assert receiver.wait_job(waiting["alerts"][0]["job_id"], timeout=60)["state"] == "succeeded", "the host is free"
    assert 'remediate_jobs{state="timed_out"} 1' in receiver.get("/metrics")
    assert "deactivating" in host.sh("systemctl show -p ActiveState wedged.service").stdout, "it was hung for real"


def test_a_receiver_killed_under_an_awx_job_follows_it_after_its_restart_and_launches_once(tmp_path):
    awx, launches, status = HTTPServer(threaded=True), [], {"now": "running"}
    awx.start()

    def launch(request):
        assert request.headers["Authorization"] == "Bearer awx-oauth2-token"
        launches.append(request.get_json())
        return Response(json.dumps({"job": 7, "ignored_fields": {}}), status=201, content_type="application/json")

    awx.expect_request("/api/v2/job_templates/42/launch/", method="POST").respond_with_handler(launch)
    awx.expect_request("/api/v2/jobs/7/", method="GET").respond_with_handler(
        lambda _r: Response(json.dumps({"id": 7, "status": status["now"]}), content_type="application/json")
    )
    (tmp_path / "awx-token").write_text("awx-oauth2-token\n")
    (tmp_path / "hosts").write_text("web1 ansible_connection=local\n")
    route = {"name": "down", "alertname": "DemoAppDown", "playbook": "incident.remediation.remediate", "cooldown": 0}
    config = {"inventory": str(tmp_path / "hosts"), "data_dir": str(tmp_path / "data"), "routes": [route],
              "awx": {"url": awx.url_for("/"), "token_file": str(tmp_path / "awx-token"), "poll_seconds": 0.2,
                      "job_templates": {"incident.remediation.remediate": 42}}}  # fmt: skip
    receiver = Receiver(tmp_path / "receiver", config, TOKEN)
    try:
        receiver.start()
        _, answer = receiver.post(payload(alert("DemoAppDown", "cc01", host="web1")))
        job_id = answer["alerts"][0]["job_id"]
        deadline = time.monotonic() + 30
        while awx_job(tmp_path, job_id) != 7 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert awx_job(tmp_path, job_id) == 7, "journaled while AWX runs it"
        receiver.kill()
        receiver.start()
        assert receiver.get(f"/jobs/{job_id}")["state"] == "running", "followed, not interrupted"
        _, again = receiver.post(payload(alert("DemoAppDown", "cc01", host="web1")))  # Alertmanager re-sends
        assert (again["alerts"][0]["verdict"], again["alerts"][0].get("job_id")) == ("deduped", job_id)
        status["now"] = "successful"
        assert receiver.wait_job(job_id, timeout=30)["state"] == "succeeded"
        assert [body["extra_vars"]["remediate_job_id"] for body in launches] == [job_id], "launched once"
        assert "following AWX job 7, started before the receiver restarted" in receiver.log.read_text()
        awx.check_assertions()  # no request it did not expect
    finally:
        receiver.stop()
        awx.clear()
        if awx.is_running():
            awx.stop()


def awx_job(work, job_id: str):
    """The AWX job id the journal holds for ``job_id`` (read as an operator would, with sqlite3)."""
    with sqlite3.connect(work / "data" / "journal.sqlite", timeout=10) as db:
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        names = [column[0] for column in db.execute("SELECT * FROM jobs LIMIT 0").description]
    return dict(zip(names, row, strict=True)).get("awx_job") if row else None
