# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes of the modules done by an action plugin in the controller's worker (no module is sent anywhere)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and report what it would change, without changing anything.
    support: full
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
  action:
    description: Done by an action plugin in the controller's worker; no module is sent to the host.
    support: full
notes:
  - Runs on the controller whatever the host; no C(delegate_to) is needed.
"""
