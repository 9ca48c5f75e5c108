"""The end-to-end stack: a podman systemd host running demo-app, Prometheus scraping it with the
runbooks' alerting rules (durations shortened for tests), Alertmanager posting to `remediate serve`
with its bearer token, and the receiver running remediate.yml through ansible-runner.

Each Scenario drives one incident from the fault to the resolved alert and records what it saw.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hosts import ROOT, PodmanHost, deploy, host_name, write_inventory
from monitoring import Alertmanager, Prometheus, Receiver, http_json

HOST = host_name("remediation-e2e")  # a test file that runs its own stack beside this one names another
TOKEN = "e2e-token-0123456789abcdef"
JOB = 'job="demo-app"'
# The runbooks' alerts (seed 000 runbooks 1-5, seed 003 HighErrorRate), `for:` shortened.
RULES = {
    "groups": [{
        "name": "demo-app",
        "rules": [
            {"alert": "DemoAppDown", "expr": f"up{{{JOB}}} == 0", "for": "4s"},
            {"alert": "DemoAppDigestVerificationFailed",
             "expr": f'demo_app_cache_artifacts{{{JOB},state="corrupted"}} > 0', "for": "1s"},
            {"alert": "DemoAppRemoteSyncProxyMissing", "expr": f"demo_app_upstream_reachable{{{JOB}}} == 0",
             "for": "1s"},
            {"alert": "DemoAppActiveInstancesExtremelyHigh", "expr": f"demo_app_active_instances{{{JOB}}} > 4",
             "for": "1s"},
            {"alert": "DemoAppHighErrorRate",
             "expr": f'sum by (instance) (rate(demo_app_requests_total{{{JOB},outcome="error"}}[10s]))'
                     f" / sum by (instance) (rate(demo_app_requests_total{{{JOB}}}[10s])) > 0.01",
             "for": "2s"},
        ],
    }]
}  # fmt: skip
for _rule in RULES["groups"][0]["rules"]:
    _rule["labels"] = {"severity": "critical", "service": "demo-app"}
    _rule["annotations"] = {"summary": "{{ $labels.instance }}: " + _rule["alert"]}
ALERTS = {
    "DemoAppDown": {"mitigation": "restart", "options": {"escalate": True}},
    "DemoAppDigestVerificationFailed": "cache_purge",
    "DemoAppRemoteSyncProxyMissing": "proxy_config",
    "DemoAppActiveInstancesExtremelyHigh": "memory_limit",
    "DemoAppHighErrorRate": {"mitigation": "config_change", "options": {"set": {"providers.flaky.active": False}}},
}


class Traffic:
    """Work requests to the service (about 20/s) so that its error rate means something."""

    def __init__(self, url: str) -> None:
        self.url, self.stopping = url, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            with contextlib.suppress(OSError):  # URLError is an OSError: a restarting service
                urllib.request.urlopen(self.url, timeout=1).read()

    def start(self) -> Traffic:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


@dataclass
class Stack:
    work: Path
    host: PodmanHost
    prometheus: Prometheus
    alertmanager: Alertmanager
    receiver: Receiver
    inventory: Path
    silences_seen: dict = field(default_factory=dict)
    since: set = field(default_factory=set)  # the jobs before this scenario
    taken: set = field(default_factory=set)  # the jobs run_incident already returned

    def deploy(self, **variables) -> None:
        """Once every alert is quiet, back to a clean host (no drop-ins, budgets or quarantine left by an
        earlier scenario), then deploy: the scenario's jobs are those created from here on."""
        try:
            self.wait_quiet(timeout=45)
        except AssertionError:  # an earlier scenario failed and left the service broken: a clean deploy first
            self.reset_host()
            clean = {"demo_app_releases": [{"version": "1.0.0"}], "demo_app_current": "1.0.0"}
            deploy(self.inventory, self.host.name, clean)
            self.wait_quiet()
        self.since = {j["id"] for j in self.jobs()}
        self.reset_host()
        deploy(self.inventory, self.host.name, variables)

    def reset_host(self) -> None:
        """No drop-ins, budgets or quarantine left by an earlier scenario; a crash loop's failed state cleared."""
        self.host.sh(
            "rm -rf /etc/systemd/system/demo-app.service.d /var/lib/incident-remediation"
            " && systemctl daemon-reload && systemctl reset-failed demo-app.service || true"
        )

    def firing(self) -> list[str]:
        return sorted(a["labels"]["alertname"] for a in http_json(f"{self.alertmanager.url}/api/v2/alerts?active=true")
                      if a["status"]["state"] == "active")  # fmt: skip

    def wait_quiet(self, timeout: float = 90) -> None:
        """Until no alert is pending or firing and no job is queued or running: each scenario starts from silence."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [j for j in self.jobs() if j["state"] in ("queued", "running")]
            if not self.prometheus.query("ALERTS") and not self.firing() and not busy:
                return
            time.sleep(0.5)
        raise AssertionError(f"alerts still firing: {self.prometheus.query('ALERTS')} / {self.firing()}")

    def jobs(self) -> list[dict]:
        return self.receiver.get("/jobs?limit=1000")["jobs"]

    def watch_silences(self, stop: threading.Event) -> None:
        """Every silence seen while a job runs, by id: (comment, states seen)."""
        while not stop.wait(0.2):
            try:
                for silence in self.alertmanager.silences():
                    seen = self.silences_seen.setdefault(silence["id"], (silence["comment"], set()))
                    seen[1].add(silence["status"]["state"])
            except OSError:
                pass

    def run_incident(self, alertname: str, timeout: float = 240) -> Incident:
        """Wait for the scenario's next job to finish (none left queued or running), watching silences."""
        stop = threading.Event()
        watcher = threading.Thread(target=self.watch_silences, args=(stop,), daemon=True)
        watcher.start()
        started = time.monotonic()
        try:
            deadline = started + timeout
            job = None
            while time.monotonic() < deadline:
                jobs = self.jobs()
                new = sorted((j for j in jobs if j["id"] not in self.since | self.taken), key=lambda j: j["id"])
                if new and all(j["state"] not in ("queued", "running") for j in jobs):
                    job = new[0]
                    self.taken.add(job["id"])
                    break
                time.sleep(0.5)
            if job is None:
                raise AssertionError(f"{alertname}: no finished job within {timeout} s; firing: {self.firing()}, "
                                     f"jobs: {self.jobs()[:3]}\n{self.receiver.log.read_text()[-3000:]}")  # fmt: skip
        finally:
            stop.set()
            watcher.join()
        return Incident(self, alertname, job, set(self.since), time.monotonic() - started)


@dataclass
class Incident:
    stack: Stack
    alertname: str
    job: dict
    before: set
    seconds: float

    def jobs(self) -> list[dict]:
        """The jobs created since the scenario's deploy."""
        return [j for j in self.stack.jobs() if j["id"] not in self.before]

    @property
    def folder(self) -> Path:
        return self.stack.work / "data" / "jobs" / self.job["id"] / "incidents" / self.job["incident_id"]

    def events(self) -> list[dict]:
        return [json.loads(line) for line in (self.folder / "timeline.jsonl").read_text().splitlines()]

    def outcome(self) -> dict:
        return next(e["data"] for e in self.events() if e["event"] == "outcome")

    def silences(self) -> list[tuple[str, set]]:
        return [seen for seen in self.stack.silences_seen.values() if self.job["incident_id"] in seen[0]]

    def silence_state_now(self) -> list[str]:
        return [s["status"]["state"] for s in self.stack.alertmanager.silences()
                if self.job["incident_id"] in s["comment"]]  # fmt: skip

    def log(self) -> str:
        stdout = self.stack.work / "data" / "jobs" / self.job["id"] / "artifacts"
        return "\n".join(p.read_text()[-6000:] for p in stdout.glob("*/stdout"))

    def wait_resolved(self, timeout: float = 90) -> None:
        """The alert is no longer firing in Alertmanager (it got the resolution from Prometheus)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alertname not in self.stack.firing():
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.alertname} still firing after {timeout} s")


@contextlib.contextmanager
def running_stack(work: Path, port: int, route_vars: dict | None = None, name: str = HOST):
    """Host (podman container ``name``), Alertmanager, Prometheus and the receiver, started in dependency order
    and always torn down. Two stacks can run at once (pytest-xdist) when their host names differ."""
    host = PodmanHost(name, port)
    inventory = work / "inventory" / "hosts.yml"
    route = {"name": "demo-app", "alertname": "*", "playbook": "incident.remediation.remediate",
             "labels": ["instance", "severity", "service", "job"], "cooldown": 0, "concurrency": 1,
             "vars": {"incident_verify_hold": 3, "incident_verify_wait": 90, "incident_verify_interval": 1,
                      "incident_silence_duration": "15m", **(route_vars or {})}}  # fmt: skip
    config = {"inventory": str(inventory), "ansible_config": str(ROOT / "ansible.cfg"), "data_dir": str(work / "data"),
              "max_jobs": 2, "routes": [route]}  # fmt: skip
    receiver = Receiver(work / "receiver", config, TOKEN)
    alertmanager = Alertmanager(work / "alertmanager", {
        "route": {"receiver": "remediate", "group_by": ["alertname", "instance"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "remediate", "webhook_configs": [{
            "url": f"{receiver.url}/alerts", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}}}]}],
    })  # fmt: skip
    prometheus = Prometheus(work / "prometheus", targets=[f"127.0.0.1:{port}"], rules=RULES,
                            alertmanager=alertmanager.url, job="demo-app",
                            labels={"instance": f"{name}:8080"})  # fmt: skip
    traffic = Traffic(f"{host.url}/")
    started: list = []
    try:
        for part in (host, alertmanager):
            part.start()
            started.append(part)
        write_inventory(inventory.parent, [name], {"prometheus_url": prometheus.url,
                                                   "alertmanager_url": alertmanager.url, "alerts": ALERTS,
                                                   "http_proxy": "http://proxy.invalid:3128",
                                                   "https_proxy": "http://proxy.invalid:3128"})  # fmt: skip
        deploy(inventory, name)
        # Prometheus only now: scraping a host still being deployed would fire DemoAppDown before the tests
        for part in (prometheus, receiver):
            part.start()
            started.append(part)
        started.append(traffic.start())
        prometheus.wait_for(f'up{{instance="{name}:8080"}} == 1', timeout=30)
        yield Stack(work, host, prometheus, alertmanager, receiver, inventory)
    finally:
        for part in reversed(started):
            part.stop()
