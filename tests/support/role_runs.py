"""One role of the collection run by ansible-playbook with chosen variables, and what each task did.

Used by the bad-input tests: wrong types (tests/integration/test_role_arguments.py, on localhost, where
validation stops the play before any task) and hostile names and paths (test_name_injection.py, on a
podman host, where the preflight checks must refuse before any change).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# The variables each role requires, valid, for the demo service; a test changes one of them.
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


def run_role(tmp_path: Path, role: str, variables: dict, inventory: Path | None = None,
             host: str = "localhost") -> tuple[int, list[dict]]:  # fmt: skip
    """The role on `host` (default this machine, local connection); (rc, [{task, failed, msg}] of the tasks run)."""
    play = {"name": "bad input", "hosts": host, "gather_facts": False,
            "roles": [{"role": f"incident.remediation.{role}", "vars": variables}]}  # fmt: skip
    if inventory is None:
        play["connection"] = "local"
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_PYTHON_INTERPRETER": sys.executable if inventory is None else "/usr/bin/python3"}  # fmt: skip
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory or "localhost,"),
                           str(tmp_path / "play.yml")], env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    tasks = json.loads(done.stdout)["plays"][0]["tasks"]
    ran = [{"task": t["task"]["name"], **t["hosts"][host]} for t in tasks if host in t["hosts"]]
    return done.returncode, ran
