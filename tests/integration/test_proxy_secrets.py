"""Proxy credentials never reach the records of a job: `remediate run proxy_config` on a real podman
systemd host, through the journal, ansible-runner, the incident role, the timeline callback and the report.

The service's own environment holds secrets (a token, a database password) and another drop-in sets
HTTPS_PROXY with a user and password. Whatever the job does (verify fails, a URL with a password is
refused, or it succeeds with a token in our own proxy URL), neither the service's secrets nor the other
proxy's credentials are in any file the job wrote (runner artifacts and job events, timeline, report,
journal) or in what remediate printed, literally or base64-encoded (as a slurp would carry them); the
operator's own token is only where the operator's input is kept (the job's extra variables).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from hosts import deployed_host, host_name, image_exists
from monitoring import free_port
from secret_leaks import leaks

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
ROOT = Path(__file__).resolve().parents[2]
REMEDIATE = str(ROOT / ".venv" / "bin" / "remediate")
HOST = host_name("remediation-it-proxy-secrets")
DROPINS = "/etc/systemd/system/demo-app.service.d"
SERVICE_SECRETS = ["svc-api-token-7f3a", "db-password-91c2"]
CORP = "http://corp-admin:corp-hunter2@corp.proxy.test:3128"
OURS = "http://ops-token-5d1e@proxy.internal.test:3128"
# Where the operator's own input is kept, as given: the job's extra variables and the journal's row.
JOURNAL_AND_INPUT = ("extravars", ".sqlite", ".sqlite-wal", ".sqlite-shm")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proxy-secrets")
    with deployed_host(HOST, folder / "inventory", free_port()) as (server, inventory):
        secrets = (f'[Service]\\nEnvironment="API_TOKEN={SERVICE_SECRETS[0]}" '
                   f'"DATABASE_URL=postgres://app:{SERVICE_SECRETS[1]}@db.internal.test/app"\\n')  # fmt: skip
        server.sh(f"mkdir -p {DROPINS} && printf '{secrets}' > {DROPINS}/40-secrets.conf && systemctl daemon-reload && "
                  "systemctl restart demo-app.service")  # fmt: skip
        yield server, inventory


def config(tmp_path: Path, inventory: Path) -> Path:
    path = tmp_path / "remediate.yml"
    path.write_text(yaml.safe_dump({"inventory": str(inventory), "ansible_config": str(ROOT / "ansible.cfg"),
                                    "data_dir": str(tmp_path / "data"), "routes": []}))  # fmt: skip
    return path


def remediate(settings: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REMEDIATE, "--config", str(settings), *args], capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip


def job(settings: Path) -> dict:
    """The job as `remediate jobs --json` shows it, without its variables (the operator's input as given)."""
    (shown,) = json.loads(remediate(settings, "jobs", "--json").stdout)
    shown.pop("variables", None)
    return shown


def test_a_verification_that_fails_on_another_proxy_names_it_redacted(host, tmp_path):
    server, inventory = host
    server.sh(f"printf '[Service]\\nEnvironment=\"HTTPS_PROXY={CORP}\"\\n' > {DROPINS}/60-corp.conf && "
              "systemctl daemon-reload && systemctl restart demo-app.service")  # fmt: skip
    try:
        settings = config(tmp_path, inventory)
        done = remediate(settings, "run", "proxy_config", "--limit", HOST, "--service", "demo-app",
                         "-e", f"https_proxy={OURS}", "--incident-id", "OPS-PROXY-1")  # fmt: skip
    finally:
        server.sh(f"rm -f {DROPINS}/60-corp.conf && systemctl daemon-reload")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    shown = job(settings)
    assert shown["state"] == "failed"
    assert "HTTPS_PROXY is http://***@corp.proxy.test:3128, not the value asked for" in shown["reason"], shown
    output = done.stdout + done.stderr + json.dumps(shown)
    assert leaks(tmp_path / "data", output, ["corp-hunter2", "corp-admin", *SERVICE_SECRETS]) == []
    assert leaks(tmp_path / "data", output, ["ops-token-5d1e"], skip=JOURNAL_AND_INPUT) == []
    report = remediate(settings, "report", shown["id"]).stdout
    assert "http://\\*\\*\\*@corp.proxy.test:3128" in report


def test_a_url_with_a_password_is_refused_without_showing_it(host, tmp_path):
    server, inventory = host
    before = server.unit("MainPID")
    settings = config(tmp_path, inventory)
    done = remediate(settings, "run", "proxy_config", "--limit", HOST, "--service", "demo-app",
                     "-e", "https_proxy=http://ops:ops-pass-77b0@proxy.internal.test:3128")  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    shown = job(settings)
    assert "refusing the proxy settings, nothing changed" in shown["reason"], shown
    assert "http://***@proxy.internal.test:3128" in shown["reason"], shown
    output = done.stdout + done.stderr + json.dumps(shown)
    assert leaks(tmp_path / "data", output, ["ops-pass-77b0", *SERVICE_SECRETS], skip=JOURNAL_AND_INPUT) == []
    assert server.unit("MainPID") == before, "nothing changed"


def test_a_proxy_set_with_a_token_is_verified_and_recorded_without_it(host, tmp_path):
    server, inventory = host
    settings = config(tmp_path, inventory)
    done = remediate(settings, "run", "proxy_config", "--limit", HOST, "--service", "demo-app",
                     "-e", f"https_proxy={OURS}", "-e", f"http_proxy={OURS}")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    environ = server.sh("tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value demo-app.service)/environ").stdout
    assert f"HTTPS_PROXY={OURS}" in environ.splitlines(), "the running process has it"
    output = done.stdout + done.stderr + json.dumps(job(settings))
    assert leaks(tmp_path / "data", output, ["ops-token-5d1e", *SERVICE_SECRETS], skip=JOURNAL_AND_INPUT) == []
