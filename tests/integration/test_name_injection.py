"""Hostile names and paths given to the roles, on a real podman systemd host running demo-app: `..`,
absolute paths where a name belongs, newlines (a systemd drop-in is line-based), shell metacharacters.
Each is refused by the role's first check, and nothing on the host changes: a fingerprint of every file
under the places the roles write, the unit's state and main PID, and no /tmp/pwned.
"""

from __future__ import annotations

import json

import pytest
from hosts import PodmanHost, deployed_host, host_name, image_exists
from monitoring import free_port
from role_runs import REQUIRED, run_role

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(not image_exists(), reason="no target image: run scripts/build-target-image"),
]
HOST = host_name("remediation-it-names")
PWN = "touch /tmp/pwned"
WATCHED = "/etc/systemd/system /opt/demo-app /etc/demo-app /var/cache/demo-app /var/lib/incident-remediation /tmp /etc"
NEWLINE_UNIT = "demo-app.service\nExecStartPre=/bin/" + PWN
CASES = [
    ("restart", {"restart_unit": "demo-app.service\n"}),
    ("restart", {"restart_unit": "../../etc/passwd"}),
    ("restart", {"restart_unit": f"demo-app.service;{PWN}"}),
    ("restart", {"restart_unit": f"$({PWN})"}),
    ("memory_limit", {"memory_limit_unit": NEWLINE_UNIT}),
    ("memory_limit", {"memory_limit_dropin": "../../../tmp/pwned.conf"}),
    ("memory_limit", {"memory_limit_dropin": "limit.conf\n"}),
    ("memory_limit", {"memory_limit_value": "2G\nExecStartPre=/bin/" + PWN}),
    ("proxy_config", {"proxy_config_dropin": "../pwned.conf", "proxy_config_https_proxy": "http://proxy:3128"}),
    ("proxy_config", {"proxy_config_https_proxy": "http://proxy:3128\nExecStartPre=/bin/" + PWN}),
    ("proxy_config", {"proxy_config_http_proxy": f"http://proxy:3128/;{PWN}"}),
    ("proxy_config", {"proxy_config_https_proxy": "http://p:1", "proxy_config_no_proxy": ["localhost\n[Service]"]}),
    ("rollback", {"rollback_version": "../../tmp"}),
    ("rollback", {"rollback_version": "1.0.0\n"}),
    ("rollback", {"rollback_version": f"1.0.0;{PWN}"}),
    ("rollback", {"rollback_root": "/opt/demo-app/../../etc"}),
    ("rollback", {"rollback_root": "opt/demo-app"}),
    ("rollback", {"rollback_unit": "/etc/systemd/system/demo-app.service"}),
    ("cache_purge", {"cache_purge_root": "/var/cache/demo-app/../../../etc"}),
    ("cache_purge", {"cache_purge_root": "/"}),
    ("cache_purge", {"cache_purge_root": "/var/cache/demo-app/\n"}),
    ("cache_purge", {"cache_purge_manifest": "/var/cache/demo-app/../../../etc/shadow"}),
    ("config_change", {"config_change_path": "/etc/demo-app/../passwd", "config_change_set": {"log_level": "debug"}}),
    ("config_change", {"config_change_path": "/etc/demo-app/config.yml\n", "config_change_set": {"a": 1}}),
    ("config_change", {"config_change_path": f"/etc/demo-app/$({PWN})", "config_change_set": {"a": 1}}),
]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    with deployed_host(HOST, tmp_path_factory.mktemp("names"), free_port()) as deployed:
        yield deployed


def fingerprint(server: PodmanHost) -> tuple:
    files = server.sh(f"find {WATCHED} -xdev -printf '%p %s %T@ %l\\n' 2>/dev/null | sort | sha256sum", check=False)
    return files.stdout, server.unit("ActiveState", "MainPID", "NRestarts"), server.sh("ls /tmp").stdout


@pytest.mark.parametrize(("role", "hostile"), CASES, ids=[f"{r}-{json.dumps(h)[:40]}" for r, h in CASES])
def test_a_hostile_name_or_path_is_refused_and_nothing_changes(host, tmp_path, role, hostile):
    server, inventory = host
    before = fingerprint(server)
    rc, ran = run_role(tmp_path, role, {**REQUIRED[role], **hostile}, inventory=inventory, host=HOST)
    assert rc != 0, ran
    failed = [task for task in ran if task.get("failed")]
    assert failed and failed[0]["task"].split(" : ")[-1].startswith("Check"), ran
    assert "refus" in failed[0]["msg"] or "must be" in failed[0]["msg"] or "is not" in failed[0]["msg"], failed[0]
    # under the mitigation contract the role's rescue hands the refusal back and fails again with its message
    # (docs/mitigation-contract.md): no other task fails
    said = " ".join(failed[0]["msg"].split())[:40]
    assert len(failed) <= 2 and all(" ".join(task["msg"].split()).startswith(said) for task in failed[1:]), failed
    changed = [task["task"] for task in ran if task.get("changed")]
    assert changed == [], changed
    assert fingerprint(server) == before, "nothing changed on the host"
    assert server.sh("test -e /tmp/pwned", check=False).returncode != 0
