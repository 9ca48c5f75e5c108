# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: incident_id
short_description: The id of an incident run, one format for alerts and operators
version_added: 0.2.0
description:
  - O(given) when it is set (letters, digits, C(._:-), at most 128 characters).
  - Else, for an alert with a fingerprint, C(INC-<start, UTC, compact>-<fingerprint>), the same for every run
    about that alert's episode (the C(remediate) receiver derives the same id before the playbook runs).
  - Else a new operator id, C(OPS-<now, UTC, compact>-<4 hex>). Compute it once per run (C(run_once)) so that
    every host and batch of the run shares it, as C(playbooks/remediate.yml) does.
author: incident.remediation contributors
positional: _input
options:
  _input:
    description: One alert as Alertmanager's webhook sends it, or an empty dict for an operator run.
    type: dict
    required: true
  given:
    description: An id chosen by the caller (C(-e incident_id=...)); empty to derive one.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Give the run its incident id
  ansible.builtin.set_fact:
    run_incident_id: "{{ alert | default({}) | incident.remediation.incident_id(given=incident_id | default('')) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The incident id.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.incident.remediation.plugins.module_utils import incident_id as ids


def incident_id(alert, given=""):
    try:
        return ids.incident_id(alert if isinstance(alert, dict) else {}, str(given or ""))
    except ValueError as exc:
        raise AnsibleFilterError(f"incident_id: {exc}") from None


class FilterModule:
    def filters(self):
        return {"incident_id": incident_id}
