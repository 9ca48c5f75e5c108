"""remediate serve and its jobs' ends, for real: a podman systemd host whose unit's restart hangs (an ExecStop that
never returns, as a wedged service does), a real receiver, ansible-runner and the containers.podman connection.

- an alert for a host the inventory does not have is refused at intake, naming the host, and runs nothing;
- a job past its route's timeout is stopped and recorded timed_out with the task that was still running, and
  the host's lock is free again: the next alert for that host runs.
"""

from __future__ import annotations

import time

import pytest
import yaml
from hosts import ROOT, PodmanHost, image_exists
from monitoring import Receiver, free_port

from incident_remediation.config import Config
from incident_remediation.runner import job_processes

HOST = "remediation-it-jobs"
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

pytestmark = pytest.mark.skipif(not image_exists(), reason="the podman target image is built by scripts/setup")


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


def test_an_alert_for_a_host_not_in_the_inventory_is_refused_naming_it(stack):
    _, receiver, _ = stack
    status, answer = receiver.post(payload(alert("Ping", "aa01", host="web9")))
    assert status == 202
    (verdict,) = answer["alerts"]
    assert verdict["verdict"] == "refused" and "job_id" not in verdict
    assert verdict["reason"].startswith("host 'web9' is not in the inventory "), verdict
    assert not [j for j in receiver.get("/jobs?limit=100")["jobs"] if j["target"] == "web9"]


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
