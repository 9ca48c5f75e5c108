"""Run the demo service as a real process on loopback, from a release built by make_release.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "demo_app"
sys.path.insert(0, str(FIXTURE))
sys.path.insert(0, str(FIXTURE / "app"))

import make_release  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def to_yaml(data: dict, indent: int = 0) -> str:
    """Block YAML as an operator would write it (the tests also feed PyYAML's output)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(" " * indent + f"{key}:")
            lines.append(to_yaml(value, indent + 2).rstrip("\n"))
        else:
            lines.append(" " * indent + f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def parse_metrics(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` from the Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


class DemoApp:
    """One release of the demo service on disk, started and stopped by the test."""

    def __init__(
        self, tmp: Path, version: str = "1.0.0", faults: dict | None = None, config: dict | None = None
    ) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True)
        self.release = Path(make_release.build(str(tmp / "releases"), version, faults or {}, artifacts=4))
        self.cache = tmp / "cache"
        self.cache.mkdir()
        (self.cache / "manifest.sha256").write_bytes((self.release / "manifest.sha256").read_bytes())
        self.port = free_port()
        self.config_path = tmp / "config.yml"
        self.proc: subprocess.Popen | None = None
        self.write_config(config or {})  # config: e.g. the profile a release built with its faults needs
        assert self.command("resync").returncode == 0

    def write_config(self, overrides: dict) -> None:
        config = {
            "address": "127.0.0.1",
            "port": self.port,
            "startup_seconds": 0,
            "cache_dir": str(self.cache),
        }
        config.update(overrides)
        self.config_path.write_text(to_yaml(config))

    def command(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(self.release / "demo_app.py"), "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            check=False,
        )

    def start(self, env: dict | None = None, wait: bool = True) -> DemoApp:
        base = {k: v for k, v in os.environ.items() if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY")}
        self.proc = subprocess.Popen(
            [sys.executable, str(self.release / "demo_app.py"), "--config", str(self.config_path)],
            env={**base, **(env or {})},
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"demo-app exited {self.proc.returncode}: {self.proc.stderr.read()}"
                try:
                    self.get("/health")
                    return self
                except OSError:
                    time.sleep(0.05)
            raise AssertionError("demo-app did not listen within 10 s")
        return self

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else 0

    def request(self, path: str, body: dict | list | None = None, method: str | None = None) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        method = method or ("POST" if data else "GET")
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def put(self, path: str, body) -> tuple[int, str]:
        return self.request(path, body, method="PUT")

    def get(self, path: str) -> tuple[int, dict | str]:
        status, text = self.request(path)
        return status, (text if path == "/metrics" else json.loads(text))

    def metrics(self) -> dict[str, float]:
        return parse_metrics(self.get("/metrics")[1])


@pytest.fixture
def demo(tmp_path):
    apps: list[DemoApp] = []

    def make(**kwargs) -> DemoApp:
        app = DemoApp(tmp_path / f"app{len(apps)}", **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.stop()
