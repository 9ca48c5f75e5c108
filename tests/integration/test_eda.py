"""The EDA rulebook and event source with ansible-rulebook 1.3.2 (Java 17) and a real Alertmanager posting to it.

The rulebook runs incident.remediation.remediate on a local host; the inventory lets no severity act
(incident_act_on: []), so the playbook diagnoses and changes nothing: what is proven here is the path
alert -> source -> rule -> playbook, the token, the throttle per fingerprint and the alert as data.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from monitoring import Alertmanager, free_port, http_json

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "eda-token-0123456789abcdef"
RULEBOOK = shutil.which("ansible-rulebook", path=str(ROOT / ".venv" / "bin"))
JAVA = shutil.which("java")

pytestmark = pytest.mark.skipif(not (RULEBOOK and JAVA), reason="ansible-rulebook and Java 17: run scripts/setup")


def post(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, dict]:
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def start_rulebook(work: Path, rulebook: Path, variables: dict | None = None) -> dict:
    """ansible-rulebook running ``rulebook`` with our event source on a free port, the inventory web1 (local),
    incident_act_on: [] (diagnose only); ``variables`` join the rulebook's --vars."""
    port = free_port()
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    services = {"demo-app": {"unit": "demo-app.service", "alerts": {"DemoAppDown": "restart"}}}
    inventory = {"all": {"hosts": {"web1": local}, "vars": {
        "incident_act_on": [], "incident_evidence_dir": str(work / "incidents"), "services": services}}}  # fmt: skip
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (work / "vars.yml").write_text(yaml.safe_dump({"eda_port": port, "eda_token_env": "EDA_TEST_TOKEN",
                                                   **(variables or {})}))  # fmt: skip
    env = {**os.environ, "EDA_TEST_TOKEN": TOKEN, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "INCIDENT_TIMELINE_DIR": str(work / "incidents"),
           "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}  # fmt: skip
    log = open(work / "rulebook.log", "w")  # noqa: SIM115 (open for the life of the process)
    proc = subprocess.Popen(
        [RULEBOOK, "--rulebook", str(rulebook), "-i", str(work / "inventory.yml"),
         "-S", str(ROOT / "extensions/eda/plugins/event_source"), "--vars", str(work / "vars.yml"), "-v"],
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
    return {"work": work, "url": f"http://127.0.0.1:{port}/alerts", "proc": proc, "log": log}


def stop_rulebook(running: dict) -> None:
    running["proc"].terminate()
    try:
        running["proc"].wait(timeout=20)
    except subprocess.TimeoutExpired:
        running["proc"].kill()
    running["log"].close()


@pytest.fixture(scope="module")
def rulebook(tmp_path_factory):
    work = tmp_path_factory.mktemp("eda")
    running = start_rulebook(work, ROOT / "extensions/eda/rulebooks/remediate.yml",
                             {"eda_spool_dir": str(work / "spool")})  # fmt: skip
    yield running
    stop_rulebook(running)


def outcomes(work: Path, timeout: float, count: int) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [json.loads(line) for path in (work / "incidents").glob("*/timeline.jsonl")
                 for line in path.read_text().splitlines() if '"event": "outcome"' in line]  # fmt: skip
        if len(found) >= count:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{len(found)} outcomes, not {count}: " + (work / "rulebook.log").read_text()[-3000:])


def test_an_alertmanager_alert_runs_remediate_once_per_fingerprint_with_the_alert_as_data(rulebook, tmp_path):
    marker = tmp_path / "injected"
    manager = Alertmanager(tmp_path / "am", {
        "route": {"receiver": "eda", "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "eda", "webhook_configs": [{
            "url": rulebook["url"], "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    }).start()  # fmt: skip
    try:
        labels = {"alertname": "DemoAppDown", "instance": "web1:8080", "severity": "critical",
                  "note": f"{{{{ lookup('pipe', 'touch {marker}') }}}}"}  # fmt: skip
        http_json(f"{manager.url}/api/v2/alerts", "POST", [{"labels": labels}])
        (outcome,) = outcomes(rulebook["work"], 90, 1)
        assert outcome["host"] == "web1" and outcome["data"]["status"] == "diagnosed"
        # the same alert again, straight to the source: throttled by fingerprint, no second run
        payload = {"version": "4", "alerts": http_json(f"{manager.url}/api/v2/alerts")}
        for alert in payload["alerts"]:
            alert["status"] = "firing"
        status, answer = post(rulebook["url"], json.dumps(payload).encode())
        assert (status, answer) == (202, {"events": 1})
        time.sleep(8)
        assert len(outcomes(rulebook["work"], 1, 1)) == 1, "throttled: once per fingerprint"
    finally:
        manager.stop()
    (timeline,) = (rulebook["work"] / "incidents").glob("*/timeline.jsonl")
    plan = next(json.loads(line)["data"] for line in timeline.read_text().splitlines() if '"event": "incident"' in line)
    assert plan["alert"]["labels"]["note"] == labels["note"], "the label arrived literally"
    assert not marker.exists(), "and was never evaluated"


DUMP = [
    {"name": "Write what the rulebook passed, as any task reading ansible_eda would", "hosts": "all",
     "gather_facts": False, "tasks": [{"name": "Write ansible_eda (every string in it rendered)",
                                       "ansible.builtin.copy": {"dest": "{{ out }}", "mode": "0600",
                                                                "content": "{{ ansible_eda | to_nice_json }}"}}]},
    {"name": "Then the remediation, as the shipped rulebook runs it",
     "ansible.builtin.import_playbook": "incident.remediation.remediate"},
]  # fmt: skip


def test_the_event_carries_no_label_so_a_playbook_reading_ansible_eda_evaluates_nothing(tmp_path):
    """ansible-rulebook gives every playbook ansible_eda.event in plain YAML extra vars, where each string is a
    template again once a task reads it. The shipped rulebook (source, condition, throttle), its playbook
    replaced by one that renders all of ansible_eda and then runs remediate.yml: the event holds only status,
    fingerprint, target and alert_file, nothing the sender wrote is evaluated, and the alert arrives whole."""
    markers = [tmp_path / f"injected-{where}" for where in ("label", "annotation", "receiver", "group")]
    shipped = yaml.safe_load((ROOT / "extensions/eda/rulebooks/remediate.yml").read_text())
    action = shipped[0]["rules"][0]["action"]["run_playbook"]
    action["name"] = str(tmp_path / "dump.yml")
    action["extra_vars"]["out"] = str(tmp_path / "ansible_eda.json")
    (tmp_path / "rulebook.yml").write_text(yaml.safe_dump(shipped))
    (tmp_path / "dump.yml").write_text(yaml.safe_dump(DUMP))
    (tmp_path / "eda").mkdir()
    running = start_rulebook(tmp_path / "eda", tmp_path / "rulebook.yml", {"eda_spool_dir": str(tmp_path / "spool")})

    def lookup(marker: Path) -> str:
        return f"{{{{ lookup('pipe', 'touch {marker}') }}}}"

    labels = {"alertname": "DemoAppDown", "instance": "web1:8080", "severity": "critical", "note": lookup(markers[0])}
    alert = {"status": "firing", "labels": labels, "annotations": {"summary": lookup(markers[1])},
             "startsAt": "2026-12-01T09:00:00Z", "fingerprint": "e0a1"}  # fmt: skip
    body = {"version": "4", "receiver": lookup(markers[2]), "groupKey": f'{{}}:{{note="{lookup(markers[3])}"}}',
            "alerts": [alert]}  # fmt: skip
    try:
        assert post(running["url"], json.dumps(body).encode()) == (202, {"events": 1})
        (outcome,) = outcomes(running["work"], 90, 1)
    finally:
        stop_rulebook(running)
    assert outcome["host"] == "web1" and outcome["data"]["status"] == "diagnosed"
    text = (tmp_path / "ansible_eda.json").read_text()
    event = json.loads(text)["event"]
    assert set(event) - {"meta"} == {"status", "fingerprint", "target", "alert_file"}, event
    assert (event["status"], event["fingerprint"], event["target"]) == ("firing", "e0a1", "web1")
    assert set(event.get("meta", {})) <= {"source", "received_at", "uuid", "rule_engine"}, "the rulebook's meta only"
    assert "lookup" not in text and "touch" not in text and "DemoAppDown" not in text, "no raw alert text"
    assert [m for m in markers if m.exists()] == [], "nothing the sender wrote was evaluated"
    (timeline,) = (running["work"] / "incidents").glob("*/timeline.jsonl")
    plan = next(json.loads(line)["data"] for line in timeline.read_text().splitlines() if '"event": "incident"' in line)
    assert plan["alert"]["labels"]["note"] == labels["note"], "the alert reached remediate.yml whole, literally"


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [(None, b'{"version": "4", "alerts": []}', 401), ("wrong-token-0123456789", b"{}", 401),
     (TOKEN, b"{not json", 400), (TOKEN, b'{"version": "4", "alerts": [{"status": "firing"}]}', 422),
     (TOKEN, b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400)],  # 600 KB of nested objects: not a 500
)  # fmt: skip
def test_the_source_refuses_without_token_and_malformed_payloads(rulebook, token, body, status):
    assert post(rulebook["url"], body, token=token)[0] == status
    assert rulebook["proc"].poll() is None, "and keeps running"
