"""No role reads another role's private variables (docs/mitigation-contract.md): only its ``<role>_result``.

A grep over every role's files and the playbooks: ``_<other>_...`` (computed) and ``__<other>_...`` (registered)
names of another role are its inside, which it may change at any time; the incident reads what a mitigation
did from ``<mitigation>_result`` alone, and a playbook reads no role's inside at all.

The other way in: the incident hands a rung the service's description (roles/incident/tasks/mitigations/<name>.yml),
and the rungs that judge the service's health (restart, rollback) are handed the same health, rendered here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
SUFFIXES = {".yml", ".yaml", ".j2", ".py"}


def private_names(role: str) -> re.Pattern:
    return re.compile(rf"(?<![A-Za-z0-9_])__?{role}_[A-Za-z0-9_]+")


def reads(files, owner: str | None) -> list[str]:
    """Every other role's private name in the files, as ``path:line: name``."""
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for other in ROLES:
            if other == owner:
                continue
            for match in private_names(other).finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
    return found


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def test_the_roles_are_found():
    assert {"incident", "restart", "rollback", "cache_purge", "memory_limit", "proxy_config", "config_change"} <= set(
        ROLES
    )


def test_the_pattern_tells_private_from_public():
    pattern = private_names("restart")
    assert pattern.findall("{{ _restart_needed }} {{ __restart_done.healthy }}") == [
        "_restart_needed",
        "__restart_done",
    ]
    assert not pattern.findall("{{ restart_result.outcome }} {{ restart_unit }} {{ _incident_restart_x }}")


@pytest.mark.parametrize("role", ROLES)
def test_a_role_reads_no_other_roles_private_variables(role):
    found = reads(files_of(ROOT / "roles" / role), role)
    assert not found, "read only <role>_result of another role:\n" + "\n".join(found)


def test_the_playbooks_read_no_roles_private_variables():
    found = reads(files_of(ROOT / "playbooks"), None)
    assert not found, "\n".join(found)


# The service's health as its description gives it (the incident's services.NAME), what a restart rung and a
# rollback rung are each handed as <role>_<key>.
HEALTH = ("health_url", "health_expect", "health_command", "health_command_timeout")
GENESIS = {
    "unit": "genesis-orchestration.service",
    "health_url": "http://127.0.0.1:8000/health",
    "health_expect": {},
    "health_command": ["/home/genesis/genesis-rebuild/scripts/health_check.sh"],
    "health_command_timeout": 20,
}
BY_COMMAND = {"unit": "genesis-orchestration.service", "health_command": ["/usr/local/bin/health_check.sh", "--quick"]}


def trusted(value):
    return trust_as_template(value) if isinstance(value, str) else value


def handed(mitigation: str, service: dict) -> dict:
    """The health variables roles/incident/tasks/mitigations/<mitigation>.yml gives its role for ``service``, rendered
    with the incident's own vars (roles/incident/vars/main.yml), by key (health_command for <role>_health_command)."""
    (task,) = yaml.safe_load((ROOT / "roles/incident/tasks/mitigations" / f"{mitigation}.yml").read_text())
    given = task["vars"]
    incident = yaml.safe_load((ROOT / "roles/incident/vars/main.yml").read_text()) or {}
    variables = {name: trusted(value) for name, value in {**incident, **given}.items()}
    templar = Templar(variables={**variables, "_incident_service": service})
    return {
        key: templar.template(trusted(given[f"{mitigation}_{key}"])) for key in HEALTH if f"{mitigation}_{key}" in given
    }


@pytest.mark.parametrize(
    "service", [GENESIS, BY_COMMAND, {"unit": "demo-app.service"}], ids=["both", "command", "none"]
)
def test_the_rollback_rung_is_handed_the_services_health_as_the_restart_rung_is(service):
    """Seed 003: Genesis's health is scripts/health_check.sh. A rollback judged by the unit or the URL alone keeps a
    release whose health_check.sh fails (issue 24): the rung is handed the command as the restart's is."""
    restart = handed("restart", service)
    assert sorted(restart) == sorted(HEALTH), "the restart rung takes every health key of the service"
    assert handed("rollback", service) == restart
    if "health_command" in service:
        assert restart["health_command"] == service["health_command"]
        assert restart["health_command_timeout"] == service.get("health_command_timeout", 10)
