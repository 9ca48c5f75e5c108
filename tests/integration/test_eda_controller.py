"""The controller rulebook (extensions/eda/rulebooks/remediate_controller.yml) with the real ansible-rulebook 1.3.2
and our event source, against a local HTTP server standing in for an automation controller.

Real: ansible-rulebook, its run_job_template action and controller client (fed --controller-url and
EDA_CONTROLLER_TOKEN, its documented options), the source, the throttle, and the job's playbook:
remediate.yml run with exactly the variables and limit of the launch, written as plain JSON extra vars
(the worst case, a controller with ALLOW_JINJA_IN_EXTRA_VARS=always). The stand-in answers AWX's API
calls ansible-rulebook makes (config, the template by name and organization, launch, job status), checks
each request (method, path, parameters, the bearer token) and refuses any other.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from monitoring import free_port

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = shutil.which("ansible-rulebook", path=str(ROOT / ".venv" / "bin"))
JAVA = shutil.which("java")
SOURCE_TOKEN = "eda-token-0123456789abcdef"
CONTROLLER_TOKEN = "controller-token-0123456789"
TEMPLATE = "incident.remediation.remediate"
LAUNCH = "/api/v2/job_templates/7/launch/"

pytestmark = pytest.mark.skipif(not (RULEBOOK and JAVA), reason="ansible-rulebook and Java 17: run scripts/setup")


class Controller:
    """AWX's API as ansible-rulebook's run_job_template uses it; a launch runs remediate.yml on this machine."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.launches: list[dict] = []
        self.refused: list[str] = []
        self.jobs: dict[int, dict] = {}
        self.lock = threading.Lock()
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                controller.handle(self, "GET")

            def do_POST(self) -> None:
                controller.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def refuse(self, request, why: str) -> None:
        self.refused.append(f"{request.command} {request.path}: {why}")
        request.answer(400, {"detail": why})

    def handle(self, request, method: str) -> None:
        if request.headers.get("Authorization") != f"Bearer {CONTROLLER_TOKEN}":
            return self.refuse(request, "no or wrong bearer token")
        url = urllib.parse.urlsplit(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if (method, url.path, query) == ("GET", "/api/v2/config/", {}):
            return request.answer(200, {"version": "4.6.0"})
        if method == "GET" and url.path == "/api/v2/unified_job_templates/" and query.get("name") == TEMPLATE:
            return request.answer(200, {"count": 1, "next": None, "results": [{
                "id": 7, "type": "job_template", "name": TEMPLATE, "related": {"launch": LAUNCH},
                "summary_fields": {"organization": {"name": "Default"}}, "ask_limit_on_launch": True,
                "ask_labels_on_launch": False, "ask_inventory_on_launch": False,
                "ask_variables_on_launch": True}]})  # fmt: skip
        if method == "POST" and url.path == LAUNCH and not query:
            length = int(request.headers.get("Content-Length", 0))
            body = json.loads(request.rfile.read(length))
            if set(body) != {"extra_vars", "limit"}:
                return self.refuse(request, f"a launch of extra_vars and limit, got {sorted(body)}")
            with self.lock:
                self.launches.append(body)
                job = 40 + len(self.launches)
                self.jobs[job] = {"id": job, "status": "running", "created": "2026-12-01T00:00:00Z", "artifacts": {}}
            threading.Thread(target=self.run_job, args=(job, body), daemon=True).start()
            return request.answer(201, {"id": job, "job": job, "url": f"/api/v2/jobs/{job}/"})
        if method == "GET" and url.path == "/api/v2/jobs/" and set(query) == {"id__in", "page_size"}:
            with self.lock:
                found = [dict(self.jobs[int(i)]) for i in query["id__in"].split(",") if int(i) in self.jobs]
            return request.answer(200, {"count": len(found), "next": None, "results": found})
        return self.refuse(request, "not a call run_job_template makes")

    def run_job(self, job: int, launch: dict) -> None:
        """What the controller's job does: remediate.yml with the launch's variables (plain JSON) and limit."""
        extravars = self.work / f"job-{job}.json"
        extravars.write_text(json.dumps(launch["extra_vars"]))
        env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
               "INCIDENT_TIMELINE_DIR": str(self.work / "incidents")}  # fmt: skip
        done = subprocess.run(
            [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(self.work / "inventory.yml"), "--limit",
             launch["limit"], "-e", f"@{extravars}", "incident.remediation.remediate"],
            capture_output=True, text=True, env=env, timeout=300, check=False,
        )  # fmt: skip
        (self.work / f"job-{job}.log").write_text(done.stdout + done.stderr)
        with self.lock:
            self.jobs[job]["status"] = "successful" if done.returncode == 0 else "failed"

    def stop(self) -> None:
        self.server.shutdown()


def post(url: str, body: dict) -> tuple[int, dict]:
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {SOURCE_TOKEN}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read())


@pytest.fixture
def running(tmp_path):
    work = tmp_path
    controller = Controller(work)
    port = free_port()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    services = {"demo-app": {"unit": "demo-app.service", "alerts": {"DemoAppDown": "restart"}}}
    inventory = {"all": {"hosts": {"web1": local}, "vars": {
        "incident_act_on": [], "incident_evidence_dir": str(work / "incidents"), "services": services}}}  # fmt: skip
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (work / "vars.yml").write_text(yaml.safe_dump({"eda_port": port, "eda_token_env": "EDA_TEST_TOKEN",
                                                   "eda_spool_dir": str(work / "spool")}))  # fmt: skip
    env = {**os.environ, "EDA_TEST_TOKEN": SOURCE_TOKEN, "EDA_CONTROLLER_TOKEN": CONTROLLER_TOKEN,
           "EDA_JOB_TEMPLATE_REFRESH_DELAY": "1", "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}  # fmt: skip
    log = open(work / "rulebook.log", "w")  # noqa: SIM115 (open for the life of the process)
    proc = subprocess.Popen(
        [RULEBOOK, "--rulebook", str(ROOT / "extensions/eda/rulebooks/remediate_controller.yml"),
         "-i", str(work / "inventory.yml"), "-S", str(ROOT / "extensions/eda/plugins/event_source"),
         "--vars", str(work / "vars.yml"), "--controller-url", controller.url, "-v"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (work / "rulebook.log").read_text()[-3000:]
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.3)
    else:
        raise AssertionError("the event source did not listen within 60 s: " + (work / "rulebook.log").read_text())
    yield {"work": work, "url": f"http://127.0.0.1:{port}/alerts", "controller": controller}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    controller.stop()


def wait_for(predicate, timeout: float, what: str, work: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s: " + (work / "rulebook.log").read_text()[-3000:])


def test_a_firing_alert_launches_the_job_template_once_per_fingerprint_with_the_alert_as_data(running, tmp_path):
    work, controller = running["work"], running["controller"]
    marker = tmp_path / "injected"
    lookup = f"{{{{ lookup('pipe', 'touch {marker}') }}}}"
    labels = {"alertname": "DemoAppDown", "instance": "web1:8080", "severity": "critical", "note": lookup}
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": lookup},
             "startsAt": "2026-12-01T09:00:00Z", "fingerprint": "c0ffee"}  # fmt: skip
    body = {"version": "4", "receiver": lookup, "groupKey": f'{{}}:{{note="{lookup}"}}', "alerts": [alert]}
    assert post(running["url"], body) == (202, {"events": 1})
    (launch,) = wait_for(lambda: list(controller.launches), 60, "a launch", work)
    assert launch["limit"] == "web1", "the job runs on the host the alert names, not the rulebook's hosts"
    extra = launch["extra_vars"]
    assert set(extra) == {"alert_file", "target", "ansible_eda"} and extra["target"] == "web1"
    assert Path(extra["alert_file"]).parent == work / "spool"
    event = extra["ansible_eda"]["event"]
    assert set(event) - {"meta"} == {"status", "fingerprint", "target", "alert_file"}, event
    assert (event["status"], event["fingerprint"], event["target"]) == ("firing", "c0ffee", "web1")
    sent = json.dumps(launch)
    assert "lookup" not in sent and "DemoAppDown" not in sent, "nothing the sender wrote is in the launch"
    # the job ran remediate.yml with these variables (plain JSON): diagnosed, the alert arrived literally
    timeline = wait_for(lambda: list((work / "incidents").glob("*/timeline.jsonl")), 120, "the job's timeline", work)
    job_log = work / "job-41.log"
    wait_for(lambda: controller.jobs[41]["status"] != "running", 120, "the job's end", work)
    assert controller.jobs[41]["status"] == "successful", job_log.read_text()[-3000:]
    events = [json.loads(line) for line in timeline[0].read_text().splitlines()]
    plan = next(e["data"] for e in events if e["event"] == "incident")
    outcome = next(e for e in events if e["event"] == "outcome")
    assert outcome["host"] == "web1" and outcome["data"]["status"] == "diagnosed"
    assert plan["alert"]["labels"]["note"] == lookup, "the label reached the job literally"
    assert not marker.exists(), "and nothing the sender wrote was evaluated"
    # the same alert again: throttled by fingerprint, no second launch; a resolved one launches nothing
    assert post(running["url"], body) == (202, {"events": 1})
    assert post(running["url"], {**body, "alerts": [{**alert, "status": "resolved"}]}) == (202, {"events": 1})
    time.sleep(6)
    assert len(controller.launches) == 1, "once per fingerprint within the throttle"
    assert controller.refused == [], controller.refused
