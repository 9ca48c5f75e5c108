"""Real Prometheus and Alertmanager for tests, as plain processes on loopback.

They come from Debian's packages (scripts/setup installs them), run with
temporary config and storage on free ports, and are stopped at the end. The
Exporter is a small metrics endpoint whose values the test sets.
"""

from __future__ import annotations

import abc
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from incident_remediation.journal import TERMINAL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, method: str = "GET", payload=None, timeout: float = 5):
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        body = answer.read()
    return json.loads(body) if body else None


class Server(abc.ABC):
    """A monitoring binary run as a child process until stop()."""

    binary = ""
    name = ""
    ready_path = "/-/ready"
    stop_timeout = 10.0

    def __init__(self, workdir: Path) -> None:
        path = shutil.which(self.binary)
        if not path:
            raise RuntimeError(f"{self.binary} is not installed: run scripts/setup")
        self.path = path
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    @abc.abstractmethod
    def arguments(self) -> list[str]:
        """The command line after the binary."""

    def environment(self) -> dict | None:
        """The child's environment; None inherits this process's."""
        return None

    def start(self, timeout: float = 20) -> Server:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.path, *self.arguments()], stdout=log, stderr=subprocess.STDOUT, env=self.environment()
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}{self.ready_path}", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Prometheus(Server):
    binary = "prometheus"
    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        targets: list[str],
        rules: dict | None = None,
        alertmanager: str | None = None,
        interval: str = "1s",
        job: str = "fixture",
        labels: dict | None = None,
    ) -> None:
        super().__init__(workdir)
        config: dict = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets, "labels": labels or {}}]}],
        }
        if rules:
            (workdir / "rules.yml").write_text(yaml.safe_dump(rules))
            config["rule_files"] = [str(workdir / "rules.yml")]
        if alertmanager:
            host = urllib.parse.urlsplit(alertmanager).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))

    def arguments(self) -> list[str]:
        return [
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--rules.alert.resend-delay=5s",
            "--log.level=warn",
        ]

    def query(self, expression: str) -> list[dict]:
        answer = http_json(f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}")
        return answer["data"]["result"]

    def wait_for(self, expression: str, timeout: float = 20) -> list[dict]:
        """Poll until ``expression`` returns a series (the first scrape, an alert firing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expression)
            if result:
                return result
            time.sleep(0.2)
        raise AssertionError(f"{expression} returned nothing within {timeout} s")


class Alertmanager(Server):
    binary = "prometheus-alertmanager"
    name = "alertmanager"

    def __init__(self, workdir: Path, config: dict | None = None) -> None:
        super().__init__(workdir)
        config = config or {"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))

    def arguments(self) -> list[str]:
        return [
            f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip: one test instance, no port on the network
            "--log.level=warn",
        ]

    def silences(self) -> list[dict]:
        return http_json(f"{self.url}/api/v2/silences")


class WebhookSink:
    """Receives Alertmanager's webhook posts (the payloads the front end will get) and keeps them."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.payloads.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for_alert(self, alertname: str, status: str = "firing", timeout: float = 60) -> tuple[dict, dict]:
        """(payload, alert): the first alert of that name and status that Alertmanager posted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for payload in list(self.payloads):
                for alert in payload.get("alerts", []):
                    if alert["labels"].get("alertname") == alertname and alert["status"] == status:
                        return payload, alert
            time.sleep(0.2)
        raise AssertionError(f"Alertmanager posted no {status} {alertname} within {timeout} s")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Exporter:
    """Serves /metrics (gauges the test sets) and /health (a JSON body the test sets)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.gauges: dict[tuple[str, tuple], float] = {}
        self.health: tuple[int, dict] = (200, {"status": "ready"})
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/metrics":
                    status, body, kind = 200, exporter.render().encode(), "text/plain; version=0.0.4"
                elif self.path == "/health":
                    status, data = exporter.health
                    body, kind = json.dumps(data).encode(), "application/json"
                else:
                    status, body, kind = 404, b"not found", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.address}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, name: str, value: float, **labels: str) -> None:
        with self.lock:
            self.gauges[(name, tuple(sorted(labels.items())))] = value

    def remove(self, name: str) -> None:
        with self.lock:
            self.gauges = {key: v for key, v in self.gauges.items() if key[0] != name}

    def render(self) -> str:
        with self.lock:
            lines = []
            for (name, labels), value in sorted(self.gauges.items()):
                inner = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{name}{{{inner}}} {value}" if inner else f"{name} {value}")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Receiver(Server):
    """``remediate serve`` as a child process on a free loopback port; kill() is SIGKILL, stop() is SIGTERM."""

    binary = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "remediate")
    name = "receiver"
    ready_path = "/healthz"
    stop_timeout = 20.0  # SIGTERM waits for running jobs

    def __init__(self, workdir: Path, config: dict, token: str) -> None:
        super().__init__(workdir)
        self.token = token
        self.config = workdir / "remediate.yml"
        self.config.write_text(yaml.safe_dump({**config, "listen": f"127.0.0.1:{self.port}"}))

    def arguments(self) -> list[str]:
        return ["--config", str(self.config), "serve"]

    def environment(self) -> dict:
        return {**os.environ, "REMEDIATE_TOKEN": self.token}

    def post(self, payload, token: str | None = None, raw: bytes | None = None) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token is not False:
            headers["Authorization"] = f"Bearer {self.token if token is None else token}"
        data = raw if raw is not None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}/alerts", data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def get(self, path: str):
        request = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
            return json.loads(body) if answer.headers.get_content_type() == "application/json" else body.decode()

    def wait_job(self, job_id: str, states=TERMINAL, timeout=120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/jobs/{job_id}")
            if job["state"] in states:
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} not in {states} within {timeout} s: {job}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def in_hold(data_dir: Path, job_id: str) -> bool:
    """The job's stand-in playbook (tests/fixtures/receiver/record.yml) is in its hold: the hold's worker, which lives
    through it and prints nothing more, printed its pause, and ansible-runner wrote that to the job's stdout. Only
    counting the job's processes (ansible-playbook and a worker) can also catch the worker of the task before."""
    try:
        stdout = (data_dir / "jobs" / job_id / "artifacts" / "run" / "stdout").read_text(errors="replace")
    except OSError:  # not written yet
        return False
    return "Pausing for " in stdout


def recording_receiver(
    work: Path, token: str, *, hosts: int = 3, max_jobs: int = 2, start: bool = True, data: Path | None = None, **route
) -> Receiver:
    """``remediate serve`` routing ``alertname`` (default DemoAppDown, severity critical) to the stand-in
    playbook tests/fixtures/receiver/record.yml on ``hosts`` local hosts web1..N; it records each run in
    ``work/out``. ``hold`` (seconds a run holds its host) and any other keyword go to the route; ``vars`` are
    added to the playbook's out_dir and hold. With ``start=False`` its port is chosen but nothing listens
    there until ``start()``. ``data`` is its data_dir (journal, jobs), default ``work/data``."""
    root = Path(__file__).resolve().parents[2]
    (work / "out").mkdir(parents=True, exist_ok=True)
    local = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    (work / "hosts").write_text("".join(f"web{i} {local}\n" for i in range(1, hosts + 1)))
    variables = {"out_dir": str(work / "out"), "hold": route.pop("hold", 1), **route.pop("vars", {})}
    route = {"name": "down", "alertname": "DemoAppDown", "playbook": str(root / "tests/fixtures/receiver/record.yml"),
             "mitigation": "restart", "severities": ["critical"], "vars": variables, "cooldown": 0,
             "concurrency": hosts, **route}  # fmt: skip
    config = {"inventory": str(work / "hosts"), "ansible_config": str(root / "ansible.cfg"),
              "data_dir": str(data or work / "data"), "max_jobs": max_jobs, "max_body_bytes": 65536,
              "routes": [route]}  # fmt: skip
    server = Receiver(work, config, token)
    return server.start() if start else server
