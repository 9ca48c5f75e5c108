"""Role variables of the wrong type or range fail at argument validation, before any task runs.

Each role is included on localhost with one bad variable beside its required ones; the play fails on
"Validating arguments against arg spec" and no task of the role runs (so nothing can change).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

REQUIRED = {
    "restart": {"restart_unit": "demo-app.service"},
    "rollback": {"rollback_root": "/opt/demo-app", "rollback_unit": "demo-app.service"},
    "cache_purge": {"cache_purge_unit": "demo-app.service", "cache_purge_root": "/var/cache/demo-app",
                    "cache_purge_manifest": "/var/cache/demo-app/manifest.sha256"},
    "memory_limit": {"memory_limit_unit": "demo-app.service"},
    "proxy_config": {"proxy_config_unit": "demo-app.service"},
    "config_change": {"config_change_unit": "demo-app.service", "config_change_path": "/etc/demo-app/config.yml"},
    "incident": {},
}  # fmt: skip
BAD = [
    ("restart", {"restart_budget_max": "three"}, "restart_budget_max"),
    ("restart", {"restart_health_expect": ["status", "ready"]}, "restart_health_expect"),
    ("restart", {"restart_force": "perhaps"}, "restart_force"),
    ("rollback", {"rollback_health_timeout": "soon"}, "rollback_health_timeout"),
    ("cache_purge", {"cache_purge_tamper_threshold": [1]}, "cache_purge_tamper_threshold"),
    ("cache_purge", {"cache_purge_allow_tampered": "after lunch"}, "cache_purge_allow_tampered"),
    ("memory_limit", {"memory_limit_instances": "many"}, "memory_limit_instances"),
    ("proxy_config", {"proxy_config_state": "maybe"}, "proxy_config_state"),
    ("config_change", {"config_change_set": "not a mapping"}, "config_change_set"),
    ("config_change", {"config_change_apply": "reboot"}, "config_change_apply"),
    ("incident", {"incident_verify_hold": "long"}, "incident_verify_hold"),
    ("incident", {"incident_act_on": "P0"}, None),  # a string becomes a one-item list: allowed, not a crash
    ("incident", {"incident_silence_on_failure": "forget"}, "incident_silence_on_failure"),
]


def run_role(tmp_path: Path, role: str, variables: dict) -> tuple[int, list[dict]]:
    """The role on localhost by ansible-playbook; (rc, [{task, failed, msg}] of every task that ran)."""
    play = [{"name": "bad input", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "roles": [{"role": f"incident.remediation.{role}", "vars": variables}]}]  # fmt: skip
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable}  # fmt: skip
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,",
                           str(tmp_path / "play.yml")], env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    ran = [{"task": t["task"]["name"], **t["hosts"]["localhost"]} for t in tasks if "localhost" in t["hosts"]]
    return done.returncode, ran


@pytest.mark.parametrize(("role", "bad", "named"), BAD, ids=[f"{r}-{next(iter(b))}" for r, b, _ in BAD])
def test_a_wrong_variable_fails_validation_before_any_task(tmp_path, role, bad, named):
    rc, ran = run_role(tmp_path, role, {**REQUIRED[role], **bad})
    if named is None:
        assert not ran or "argument" not in str(ran[0].get("msg", "")).lower(), ran[0]
        return
    assert rc != 0
    (only,) = ran  # the validation, and no task after it
    assert "Validating arguments against arg spec" in only["task"] and only.get("failed"), only
    assert named in only["msg"], only["msg"]
