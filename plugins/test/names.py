# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja tests the roles check their names and paths with, before any task changes anything:
unit_name, release_name and safe_path (documented in unit_name.yml, release_name.yml, safe_path.yml)."""

from __future__ import annotations

from ansible_collections.incident.remediation.plugins.module_utils.names import (
    is_release_name,
    is_safe_path,
    is_unit_name,
)


class TestModule:
    def tests(self) -> dict:
        return {"unit_name": is_unit_name, "release_name": is_release_name, "safe_path": is_safe_path}
