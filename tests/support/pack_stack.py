"""A system's pack end to end (issue 24, Proof): the pack's own files on the real stack.

A podman systemd host runs the system's demo profile(s) (docs/demo-service.md, "Profiles"); Prometheus
scrapes it as the pack's job with the pack's own rules.yml; Alertmanager runs the pack's own
alertmanager.yml; `remediate serve` runs the pack's own remediate.yml, its routes and the pack's service
description (group_vars) deciding every step. Only the documented test overrides below change them, each
written once, in the function that applies it (docs/testing.md, "The system packs"):

- the host: the system's unit listens on the pack's own port (``<system>_port``), published on loopback.
- rules(): ``pack_rules.for_tests(system, FACTOR)``: every `for:` and window divided by FACTOR (30: a
  minute becomes two seconds, so that the 1-2 s a restart leaves a unit unscraped is not "down for a
  minute", and a supervisor's link, disconnected until the relay's first ping, is not disconnected for one).
- group_vars(): the pack's service description with: the service's prometheus_url and alertmanager_url
  (the test stack's), the paths where the demo profile keeps what the pack names elsewhere (PATHS), each
  verify query's hold and wait shortened and its range windows divided by FACTOR as the rules' are
  (pack_rules.shortened_expr: Oneiric's `rate(...[5m])` must forget the fault within the shortened wait;
  comparison and threshold as shipped), a stability window divided by FACTOR and at most STABILITY_MAX
  seconds (Oneiric's hour for cache corruption would be 2 minutes), and the incident's own waits shortened
  (TIMING).
- the manifest's publisher (ManifestPublisher), for a pack whose service verifies its cache manifest
  (Oneiric, runbook 4 step 4, scenario C): an Ed25519 key made for the run, the public key at a controller
  path (the service's manifest_public_key), the manifest the deploy put on the host signed with it
  (``<manifest>.sig``, base64) and its trusted copy served by a small HTTP server on loopback, where the
  controller fetches it (manifest_trusted_url).
- inventory(): the pack's group with the test host in it (hosts.yml's example hosts replaced).
- receiver_config(): the pack's remediate.yml with the test's token file, inventory, data dir and this
  checkout's ansible.cfg (the timeline callback, hence the report); the listen address is the Receiver's.
- alertmanager_config(): the pack's alertmanager.yml with the receiver's webhook URL, the test's token file
  and group_wait 1 s; group_interval, repeat_interval, grouping, inhibitions and matchers as shipped (an alert
  an inhibition held back is sent at the group's next interval: shorter, it would reach the receiver in the
  seconds between its source's end and its own).
- prometheus(): one scrape job named after the pack (the rules read ``up{job="<system>"}``), the host's
  published port labelled ``instance="<host>:<system>_port"`` as the pack's queries scope it.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pack_rules
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hosts import IMAGE, ROOT, PodmanHost, playbook
from monitoring import Alertmanager, Prometheus, Receiver, free_port, http_json
from stack import Incident, Stack

FACTOR = 30
TOKEN = "pack-e2e-token-0123456789abcdef"
PODMAN = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
# The incident's own waits (roles/incident/defaults): the alert's ALERTS absent for 3 s, asked every second, at
# most a minute; a restart's health 15 s (P1-001 step 4 says 30 s; a rung that cannot help gives up sooner).
TIMING = {"incident_verify_hold": 3, "incident_verify_wait": 60, "incident_verify_interval": 1,
          "restart_health_timeout": 15}  # fmt: skip
VERIFY = {"hold": 3, "wait": 60, "interval": 1}  # each of the service's verify_queries
STABILITY_MAX = 20  # seconds: a window / FACTOR longer than this waits this long (Genesis's 600 s is 20 s)
# Where the demo profile keeps what the pack names at its production path (the paths of a real deployment):
# services.<system>.<key>. The test host has no PyYAML: Genesis's config is validated by the service itself.
# Oneiric's cache is the demo's (sha256sum manifest), re-synced from the release by the demo's own command.
GENESIS = "/opt/genesis-orchestration"
ONEIRIC_CACHE = "/var/cache/oneiric"
ONEIRIC_DEMO = ["python3", "/opt/oneiric/current/demo_app.py", "--config", "/etc/oneiric/config.yml"]
PATHS = {
    "genesis": {
        "git_repo": f"{GENESIS}/tree",
        "config_path": "/etc/genesis-orchestration/config.yml",
        "config_backup": f"{GENESIS}/tree/config.yml",
        "health_command": [f"{GENESIS}/scripts/health_check.sh"],
        "config_validate": f"python3 -B {GENESIS}/current/demo_app.py --config %s check-config",
    },
    "oneiric": {
        "cache_dir": ONEIRIC_CACHE,
        "cache_manifest": f"{ONEIRIC_CACHE}/manifest.sha256",
        "resync_command": [*ONEIRIC_DEMO, "resync"],
    },
}


def pack(system: str) -> Path:
    return ROOT / "inventories" / system


def port(system: str) -> int:
    """Where the system listens on its host: the pack's ``<system>_port``."""
    return int(yaml.safe_load((pack(system) / "group_vars" / f"{system}.yml").read_text())[f"{system}_port"])


class PackHost(PodmanHost):
    """tests/support/hosts.py's host with the system's own port (not the demo's 8080) published on loopback."""

    def __init__(self, name: str, port: int, container_port: int) -> None:
        super().__init__(name, port)
        self.container_port = container_port

    def start(self, timeout: float = 30) -> PackHost:
        subprocess.run(["podman", "rm", "-f", self.name], capture_output=True, check=False)
        subprocess.run(
            ["podman", "run", "-d", "--name", self.name, "--hostname", self.name, "--systemd=always",
             "--cap-add=SYS_PTRACE", "-p", f"127.0.0.1:{self.port}:{self.container_port}", IMAGE,
             "/lib/systemd/systemd"],
            capture_output=True, check=True,
        )  # fmt: skip
        self.wait_for_systemd(timeout)
        return self


def rules(system: str) -> dict:
    """The pack's rules.yml, `for:` and windows divided by FACTOR (tests/support/pack_rules.py)."""
    return pack_rules.for_tests(system, factor=FACTOR)


def described(system: str) -> dict:
    """The pack's group_vars/<system>.yml as shipped."""
    return yaml.safe_load((pack(system) / "group_vars" / f"{system}.yml").read_text())


def window(seconds: float) -> int:
    """A stability window for the test: divided by FACTOR, at least 5 s, at most STABILITY_MAX."""
    return min(max(round(seconds / FACTOR), 5), STABILITY_MAX)


def group_vars(system: str, *, prometheus_url: str, alertmanager_url: str, **trust: str) -> dict:
    """The pack's group_vars/<system>.yml with the documented test overrides (the module's doc), nothing else.
    ``trust``: the manifest publisher's manifest_public_key and manifest_trusted_url, when the pack has them."""
    variables = described(system)
    service = variables["services"][system]
    service.update(prometheus_url=prometheus_url, alertmanager_url=alertmanager_url, **PATHS.get(system, {}), **trust)
    for query in service.get("verify_queries", []):
        query.update(VERIFY, query=pack_rules.shortened_expr(str(query["query"]), FACTOR))
    if "stability" in service:
        stability = service["stability"]
        stability["window"] = window(stability["window"])
        for alert, seconds in (stability.get("alerts") or {}).items():
            stability["alerts"][alert] = window(seconds) if seconds else 0
    variables.update(TIMING)
    return variables


def inventory(system: str, folder: Path, host: str, **service: str) -> Path:
    """The pack's group with the test host only, and its group_vars with the overrides: the receiver's inventory."""
    (folder / "group_vars").mkdir(parents=True, exist_ok=True)
    (folder / "group_vars" / f"{system}.yml").write_text(yaml.safe_dump(group_vars(system, **service), sort_keys=False))
    hosts = {"all": {"children": {system: {"hosts": {host: dict(PODMAN)}}}}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return folder / "hosts.yml"


def receiver_config(system: str, inventory_path: Path, work: Path, token_file: Path) -> dict:
    """The pack's remediate.yml, its routes as shipped; the test's token file, inventory, data dir, ansible.cfg."""
    config = yaml.safe_load((pack(system) / "remediate.yml").read_text())
    config.pop("listen", None)  # the Receiver's free port
    config.update(token_file=str(token_file), inventory=str(inventory_path), data_dir=str(work / "data"),
                  ansible_config=str(ROOT / "ansible.cfg"))  # fmt: skip
    return config


def alertmanager_config(system: str, receiver_url: str, token_file: Path) -> dict:
    """The pack's alertmanager.yml: the webhook to the test receiver with the test's token file, group_wait 1 s;
    routes, grouping, group_interval, repeat_interval, receivers and inhibitions as shipped."""
    config = yaml.safe_load((pack(system) / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{receiver_url}/alerts"
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    for route in [config["route"], *config["route"].get("routes", [])]:
        if "group_wait" in route:
            route["group_wait"] = "1s"
    return config


def prometheus(system: str, work: Path, host: PackHost, alertmanager_url: str) -> Prometheus:
    """A Prometheus scraping the host's published port as job ``system``, with the pack's rules (shortened)."""
    return Prometheus(work, targets=[f"127.0.0.1:{host.port}"], rules=rules(system), alertmanager=alertmanager_url,
                      job=system, labels={"instance": f"{host.name}:{host.container_port}"})  # fmt: skip


def deploy_units(host: PodmanHost, folder: Path, units: dict[str, dict]) -> None:
    """The demo profiles ``units`` (inventory name: deploy.yml host vars) on the one host, in one deploy run."""
    host.sh("id demo-app >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin demo-app")
    folder.mkdir(parents=True, exist_ok=True)
    hosts = {name: {**PODMAN, "ansible_host": host.name, **variables} for name, variables in units.items()}
    (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False))
    done = playbook(folder / "hosts.yml", str(ROOT / "tests" / "fixtures" / "demo_app" / "deploy.yml"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


class ManifestPublisher:
    """The publisher of a pack's cache manifest, for a service that verifies it (Oneiric's manifest_public_key
    and manifest_trusted_url): an Ed25519 key made for the run, its public key (PEM) in ``folder`` on the
    controller, and a loopback HTTP server for the trusted copy at ``/<system>/<manifest's name>``. publish()
    signs the manifest on the host as a publisher does and serves its bytes; ``fetched`` counts the copies
    the controller fetched."""

    def __init__(self, folder: Path, system: str, manifest: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.key = Ed25519PrivateKey.generate()
        self.public_key = folder / "manifest.pub"
        self.public_key.write_bytes(self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
        self.manifest, self.path, self.copy, self.fetched = manifest, f"/{system}/{manifest.rsplit('/', 1)[-1]}", b"", 0
        publisher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path == publisher.path and publisher.copy
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                if found:
                    publisher.fetched += 1
                    self.wfile.write(publisher.copy)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}{self.path}"

    @property
    def service(self) -> dict:
        """The service description's keys it answers for."""
        return {"manifest_public_key": str(self.public_key), "manifest_trusted_url": self.url}

    def publish(self, host: PodmanHost) -> None:
        """The manifest on ``host`` signed (``<manifest>.sig``, base64) and its bytes served as the trusted copy."""
        self.copy = subprocess.run(["podman", "exec", host.name, "cat", self.manifest], capture_output=True,
                                   check=True).stdout  # fmt: skip
        signature = base64.b64encode(self.key.sign(self.copy)).decode()
        host.sh(f"printf '%s\\n' '{signature}' > {self.manifest}.sig")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PackStack(Stack):
    """tests/support/stack.py's Stack for a pack: one deploy at the start; each scenario begins from quiet."""

    system: str = ""
    publisher: ManifestPublisher | None = None

    def begin(self) -> None:
        """Once no alert is pending or firing and no job runs: the scenario's jobs are those created from here."""
        self.wait_quiet(timeout=90)
        self.since = {j["id"] for j in self.jobs()}

    def active(self, alertname: str) -> list[dict]:
        """Alertmanager's active alerts of that name (silencedBy, inhibitedBy in their status)."""
        return [a for a in http_json(f"{self.alertmanager.url}/api/v2/alerts?active=true&silenced=true&inhibited=true")
                if a["labels"]["alertname"] == alertname]  # fmt: skip

    def wait_firing(self, alertname: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            firing = [a for a in self.active(alertname) if a["status"]["state"] == "active"]
            if firing:
                return firing[0]
            time.sleep(0.3)
        raise AssertionError(f"{alertname} did not fire within {timeout} s: {self.prometheus.query('ALERTS')}")

    def faults(self, port: int, **faults) -> None:
        """The profile's run-time faults (POST /control/faults), inside the host."""
        self.host.sh(f"curl -sf -m 5 -X POST -d '{json.dumps(faults)}' http://127.0.0.1:{port}/control/faults")

    def health(self, port: int) -> dict:
        """The profile's /health answer, inside the host ({} when it does not answer JSON)."""
        said = self.host.sh(f"curl -s -m 3 http://127.0.0.1:{port}/health", check=False).stdout
        return json.loads(said) if said.startswith("{") else {}


@contextlib.contextmanager
def running_pack(system: str, work: Path, name: str, units: dict[str, dict]) -> Iterator[PackStack]:
    """The host ``name`` with ``units`` deployed, Alertmanager, Prometheus and the receiver, each from the pack's
    own file with the overrides above; started in dependency order and always torn down. A pack whose service
    verifies its cache manifest gets its publisher (ManifestPublisher): the deployed manifest signed and served."""
    host = PackHost(name, free_port(), port(system))
    service = {**described(system)["services"][system], **PATHS.get(system, {})}
    publisher = None
    if "manifest_public_key" in service or "manifest_trusted_url" in service:
        publisher = ManifestPublisher(work / "publisher", system, service["cache_manifest"])
    token_file = work / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    receiver_dir = work / "receiver"
    receiver_dir.mkdir(parents=True, exist_ok=True)
    started: list = [publisher] if publisher else []
    try:
        host.start()
        started.append(host)
        # the receiver's config needs the inventory, which needs Prometheus' and Alertmanager's URLs: ports first
        receiver = Receiver(receiver_dir, {}, TOKEN)
        alertmanager = Alertmanager(work / "alertmanager", alertmanager_config(system, receiver.url, token_file))
        monitor = prometheus(system, work / "prometheus", host, alertmanager.url)
        hosts = inventory(system, work / "inventory", name, prometheus_url=monitor.url,
                          alertmanager_url=alertmanager.url, **(publisher.service if publisher else {}))  # fmt: skip
        config = {**receiver_config(system, hosts, work, token_file), "listen": f"127.0.0.1:{receiver.port}"}
        receiver.config.write_text(yaml.safe_dump(config, sort_keys=False))
        alertmanager.start()
        started.append(alertmanager)
        deploy_units(host, work / "deploy", units)
        if publisher:
            publisher.publish(host)
        # Prometheus only now: a host still being deployed would fire the pack's down alert before the tests
        for part in (monitor, receiver):
            part.start()
            started.append(part)
        monitor.wait_for(f'up{{job="{system}",instance="{name}:{host.container_port}"}} == 1', timeout=30)
        stack = PackStack(work, host, monitor, alertmanager, receiver, hosts)
        stack.system, stack.publisher = system, publisher
        yield stack
    finally:
        for part in reversed(started):
            part.stop()


def remediated(incident: Incident, ladder: list[tuple[str, bool]]) -> dict:
    """The promise of a scenario the pack fixes: one job, the runbook's rungs as ``ladder`` says them
    ((mitigation, restored), in order) in the record, the silence active while it ran and expired after, the
    alert resolved, the five phases and the report. A service with a stability window is
    mitigated, then confirmed resolved by the receiver at the window's end. Returns the outcome."""
    stack, job = incident.stack, incident.job
    assert job["state"] == "succeeded", f"{job}\n{incident.log()}"
    outcome = incident.outcome()
    assert outcome["status"] in ("resolved", "mitigated"), outcome
    assert [(r["mitigation"], r["restored"]) for r in outcome.get("ladder", [])] == ladder, outcome
    assert any("active" in states for _, states in incident.silences()), "the silence was active while the job ran"
    incident.wait_resolved()
    assert incident.silence_state_now() == ["expired"], "the silence is gone"
    assert len(incident.jobs()) == 1, f"exactly one job: {incident.jobs()}"
    phases = [e["phase"] for e in incident.events() if e["event"] == "phase"]
    assert phases == ["acknowledge", "diagnose", "resolve", "verify", "close"], phases  # rungs: one resolve
    if outcome["status"] == "mitigated":
        assert confirmed(incident)["state"] == "resolved"
    report = stack.receiver.get(f"/jobs/{job['id']}/report")
    assert "## Timeline" in report and "1 of 1 host(s) resolved" in report, report[:2000]
    return outcome


def confirmed(incident: Incident, timeout: float = 90) -> dict:
    """The receiver's confirmation of a mitigated incident once it ran (journal table confirmations) and its
    timeline says so."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        db = sqlite3.connect(str(incident.stack.work / "data" / "journal.sqlite"), timeout=10)
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT * FROM confirmations WHERE incident_id = ?",
                              (incident.job["incident_id"],)).fetchall()  # fmt: skip
        finally:
            db.close()
        row = dict(rows[0]) if rows else None
        # the journal's end is written first, then the timeline: the report reads the timeline
        if row and row["state"] in ("resolved", "regressed") and incident.events()[-1]["event"] == "stability":
            return row
        time.sleep(0.5)
    raise AssertionError(
        f"no confirmation within {timeout} s: {row}\n{incident.stack.receiver.log.read_text()[-3000:]}"
    )


def left_to_people(incident: Incident, reason: str = "") -> dict:
    """The promise of a case the runbook leaves to people: one job, diagnosed only (the journal and the pack's
    diagnosis queries kept), no silence (the alert keeps paging people), no mitigation. Returns the diagnosis
    (diagnosis.json); the test checks the host is as it was. ``reason``: the plan's, when it is not that no
    mitigation is mapped to the alert (a receiver route asking diagnose_only: "diagnose only, as asked")."""
    job, name = incident.job, incident.alertname
    assert job["state"] == "succeeded", f"{job}\n{incident.log()}"
    outcome = incident.outcome()
    assert outcome["status"] == "diagnosed", outcome
    unmapped = f"diagnose only: no mitigation is mapped to alert {name}; an operator decides"
    assert outcome["reason"] == (reason or unmapped), outcome["reason"]
    assert "ladder" not in outcome and not outcome["actions"], outcome
    assert outcome["silence"]["state"] == "none (diagnosis only: the alert keeps paging)", outcome["silence"]
    assert not incident.silences(), "nothing silenced: people are paged"
    assert len(incident.jobs()) == 1, f"exactly one job: {incident.jobs()}"
    phases = [e["phase"] for e in incident.events() if e["event"] == "phase"]
    assert "resolve" not in phases and phases[:2] == ["acknowledge", "diagnose"], phases
    evidence = incident.folder / incident.stack.host.name / "diagnose"
    assert (evidence / "logs.txt").is_file(), "the journal is kept"
    report = incident.stack.receiver.get(f"/jobs/{job['id']}/report")
    assert "## Timeline" in report and "0 of 1 host(s) resolved" in report, report[:2000]
    return json.loads((evidence / "diagnosis.json").read_text())


def answer(diagnosis: dict, name: str) -> list[float]:
    """The values one of the pack's diagnosis queries answered."""
    (query,) = [q for q in diagnosis["diagnosis_queries"] if q["name"] == name]
    assert not query["error"], query
    values = [series["value"] for series in query["series"]]
    return [float(value[1] if isinstance(value, list) else value) for value in values]


def unit_state(host: PodmanHost, unit: str) -> dict:
    """What says whether a unit was touched: its process, its restarts, its state."""
    return host.unit("MainPID", "NRestarts", "ActiveState", "ActiveEnterTimestamp", unit=unit)
