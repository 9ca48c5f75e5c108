"""No role reads another role's private variables (docs/mitigation-contract.md): only its ``<role>_result``.

A grep over every role's files and the playbooks: ``_<other>_...`` (computed) and ``__<other>_...`` (registered)
names of another role are its inside, which it may change at any time; the incident reads what a mitigation
did from ``<mitigation>_result`` alone, and a playbook reads no role's inside at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
