"""The service's secrets never reach the records of a job: rollback, config_change, cache_purge and memory_limit
through `remediate run` on a real podman systemd host (journal, ansible-runner, the incident role, the timeline
callback, the report).

The unit's environment holds secrets (a database password, a URL with a user and password, in a drop-in) and
so does its config file (a comment naming a password: the demo service accepts no unknown key, and a slurp
carries the file whole, comments included). Each mitigation acts on the host (a config key set, a corrupted
artifact purged, a MemoryMax written, a forced rollback) and succeeds; no secret is in any file the job wrote
(runner artifacts and job events, timeline, evidence, report, journal) or in what remediate printed, literally
or base64-encoded. Before: `systemd_service` results carried the unit's whole `Environment=`, and
config_change's slurp the whole config file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from hosts import deploy, deployed_host, host_name, image_exists
from monitoring import free_port
from secret_leaks import leaks

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
ROOT = Path(__file__).resolve().parents[2]
REMEDIATE = str(ROOT / ".venv" / "bin" / "remediate")
HOST = host_name("remediation-it-secrets")
DROPINS = "/etc/systemd/system/demo-app.service.d"
ENVIRONMENT_SECRETS = ["s3cr3t-db-4c1d", "reporter-8e2b", "s3cr3t-url-8e2b"]
CONFIG_SECRET = "s3cr3t-cfg-63a9"
# What each mitigation is asked (in the order they run: config_change reads the config while it has the secret)
MITIGATIONS = {
    "config_change": ['{"set": {"log_level": "debug"}}'],
    "cache_purge": [],
    "memory_limit": [],
    "rollback": ["force=true"],
}
# What each finds on the host first, so that every path that acts runs: a corrupted artifact to purge (then a
# restart), and the config's secret again before the rollback replaces the config (config_change rewrote it).
BEFORE = {
    "cache_purge": "printf 'tampered\\n' > /var/cache/demo-app/artifact-02.bin",
    "rollback": f"printf '# the reports database password: {CONFIG_SECRET}\\n' >> /etc/demo-app/config.yml",
}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    folder = tmp_path_factory.mktemp("role-secrets")
    with deployed_host(HOST, folder / "inventory", free_port()) as (server, inventory):
        deploy(inventory, HOST, {"demo_app_releases": [{"version": "1.0.0"}, {"version": "2.0.0"}]})
        user, password = ENVIRONMENT_SECRETS[1:]
        dropin = (f'[Service]\\nEnvironment="DB_PASSWORD={ENVIRONMENT_SECRETS[0]}" '
                  f'"REPORTS_URL=https://{user}:{password}@reports.internal.test/"\\n')  # fmt: skip
        server.sh(f"mkdir -p {DROPINS} && printf '{dropin}' > {DROPINS}/40-secrets.conf && "
                  f"printf '# the reports database password: {CONFIG_SECRET}\\n' >> /etc/demo-app/config.yml && "
                  "systemctl daemon-reload && systemctl restart demo-app.service")  # fmt: skip
        yield server, inventory


def remediate(settings: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REMEDIATE, "--config", str(settings), *args], capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip


@pytest.mark.parametrize("mitigation", list(MITIGATIONS))
def test_a_mitigation_records_none_of_the_services_secrets(host, tmp_path, mitigation):
    server, inventory = host
    settings = tmp_path / "remediate.yml"
    settings.write_text(yaml.safe_dump({"inventory": str(inventory), "ansible_config": str(ROOT / "ansible.cfg"),
                                        "data_dir": str(tmp_path / "data"), "routes": []}))  # fmt: skip
    if mitigation in BEFORE:
        server.sh(BEFORE[mitigation])
    extra = [arg for value in MITIGATIONS[mitigation] for arg in ("-e", value)]
    done = remediate(settings, "run", mitigation, "--limit", HOST, "--service", "demo-app", *extra,
                     "--incident-id", f"OPS-SECRETS-{mitigation}")  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    (job,) = json.loads(remediate(settings, "jobs", "--json").stdout)
    report = remediate(settings, "report", job["id"])
    assert report.returncode == 0, report.stderr
    output = done.stdout + done.stderr + json.dumps(job) + report.stdout + report.stderr
    found = leaks(tmp_path / "data", output, [*ENVIRONMENT_SECRETS, CONFIG_SECRET])
    assert found == [], "\n".join(found)
    environment = server.sh("systemctl show -p Environment --value demo-app.service").stdout
    assert ENVIRONMENT_SECRETS[0] in environment, "the service still has its own environment"
    if mitigation == "cache_purge":
        purged = server.sh("grep -c tampered /var/cache/demo-app/artifact-02.bin", check=False).stdout.strip()
        assert purged == "0", "the corrupted artifact was purged and re-synced"
