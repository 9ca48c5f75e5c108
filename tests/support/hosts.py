"""Podman systemd hosts running the demo service, for tests that need a real host.

The same image as the molecule scenarios (scripts/build-target-image); the service port
is published on loopback so that Prometheus on this machine can scrape it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("TARGET_IMAGE", "localhost/remediation-target:bookworm")
PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook")
# Prefixed to every test host's name (e.g. "ci2-"), so that a second checkout can run the same test files
# on this machine at the same time without its containers taking the other's names. Empty by default.
HOST_PREFIX = os.environ.get("REMEDIATION_HOST_PREFIX", "")


def host_name(name: str) -> str:
    """A test file's podman host name, with REMEDIATION_HOST_PREFIX in front."""
    return f"{HOST_PREFIX}{name}"


def image_exists() -> bool:
    return subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode == 0


def ansible_env(**extra: str) -> dict:
    return {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0", **extra}


class PodmanHost:
    """One container with systemd as PID 1; stop() removes it."""

    def __init__(self, name: str, port: int) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 30) -> PodmanHost:
        subprocess.run(["podman", "rm", "-f", self.name], capture_output=True, check=False)
        subprocess.run(
            ["podman", "run", "-d", "--name", self.name, "--hostname", self.name, "--systemd=always",
             "--cap-add=SYS_PTRACE",  # proxy_config reads /proc/<pid>/environ, as root can on a real host
             "-p", f"127.0.0.1:{self.port}:8080", IMAGE, "/lib/systemd/systemd"],
            capture_output=True, check=True,
        )  # fmt: skip
        return self.wait_for_systemd(timeout)

    def start_again(self, timeout: float = 30) -> PodmanHost:
        """Boot a stopped host again, its disk as it was (a host back after a loss)."""
        subprocess.run(["podman", "start", self.name], capture_output=True, check=True)
        return self.wait_for_systemd(timeout)

    def wait_for_systemd(self, timeout: float) -> PodmanHost:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.sh("systemctl is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return self
            time.sleep(0.25)
        raise AssertionError(f"systemd did not come up in {self.name}")

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["podman", "exec", self.name, "sh", "-c", command], capture_output=True, text=True, check=check
        )

    def unit(self, *properties: str, unit: str = "demo-app.service") -> dict:
        out = self.sh(f"systemctl show {unit} -p {','.join(properties)}").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=3) as answer:
                return json.loads(answer.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def crash(self) -> None:
        """The demo's first incident: SIGKILL, with systemd told not to restart it."""
        self.sh(
            "mkdir -p /etc/systemd/system/demo-app.service.d && "
            "printf '[Service]\\nRestart=no\\n' > /etc/systemd/system/demo-app.service.d/test-no-restart.conf && "
            "systemctl daemon-reload && systemctl kill --signal=SIGKILL demo-app.service"
        )

    def stop(self) -> None:
        subprocess.run(["podman", "rm", "-f", "-t", "0", self.name], capture_output=True, check=False)


def write_inventory(folder: Path, hosts: list[str], service: dict) -> Path:
    """An inventory of podman hosts in group demo_app, with demo-app described as in inventories/test."""
    described = yaml.safe_load((ROOT / "inventories" / "test" / "group_vars" / "demo_app.yml").read_text())
    described["services"]["demo-app"].update(service)
    (folder / "group_vars").mkdir(parents=True, exist_ok=True)
    (folder / "group_vars" / "demo_app.yml").write_text(yaml.safe_dump(described, sort_keys=False))
    podman = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
    inventory = {"all": {"children": {"demo_app": {"hosts": {name: podman for name in hosts}}}}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    return folder / "hosts.yml"


def playbook(inventory: Path, *arguments: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """ansible-playbook with this checkout's config; the output is kept for the assertion messages."""
    return subprocess.run(
        [PLAYBOOK, "-i", str(inventory), *arguments],
        env=ansible_env(**env),
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def deploy(inventory: Path, limit: str, extra: dict | None = None) -> None:
    done = playbook(inventory, str(ROOT / "tests" / "fixtures" / "demo_app" / "deploy.yml"), "--limit", limit,
                    "-e", json.dumps(extra or {}))  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@contextlib.contextmanager
def deployed_host(name: str, folder: Path, port: int) -> Iterator[tuple[PodmanHost, Path]]:
    """A podman host with demo-app deployed (its inventory in ``folder``), removed at the end."""
    server = PodmanHost(name, port)
    try:
        server.start()
        inventory = write_inventory(folder, [name], {})
        deploy(inventory, name)
        yield server, inventory
    finally:
        server.stop()
