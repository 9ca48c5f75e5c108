# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes of the modules done by an action plugin in the controller's worker (no module is sent anywhere)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    support: full
notes:
  - Runs on the controller whatever the host; no C(delegate_to) is needed.
"""
