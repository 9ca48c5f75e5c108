# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes of the modules that only read: they run the same way in check mode and change nothing."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same way in check mode.
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: full
"""
