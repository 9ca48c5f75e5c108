#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/incident_rung.py, on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
module: incident_rung
short_description: Enter a rung of an incident's escalation ladder, or record it and decide the next, on the controller
version_added: 0.2.0
description:
  - The incident role's escalation ladder (the plan's C(ladder), docs/mitigation-contract.md) tries one mitigation
    per rung, each verified; the next only when the one before did not restore the service, never past a security
    stop or a refused escalation. Runs inside the controller's worker, no module run; reads the facts
    C(incident_plan) and C(_incident_ladder).
  - C(enter) with O(escalation) (the C(restart_budget) result that took the window's one escalation, for a rung
    after the first) fails, refused (C(incident_refused), C(escalation_refused)), when the escalation is spent.
  - C(record) with O(result) (the rung's C(<role>_result)) and O(failure) (what stopped its mitigation or its
    verify, empty when it restored the service) sets C(_incident_ladder) (C(next), C(why), C(climbed), one
    record per rung) and C(_incident_result). After the last rung tried it also sets C(_incident_failure) and
    C(_incident_failed_task), which close reads.
author: incident.remediation contributors
options:
  step:
    description: Enter the rung, or record what it did.
    type: str
    required: true
    choices: [enter, record]
  index:
    description: The rung, from 0 (the plan's first mitigation).
    type: int
    required: true
  escalation:
    description: The C(restart_budget) result (C(escalation=true)) taken before a rung after the first.
    type: dict
    default: {}
  result:
    description: The rung's mitigation result, C(<role>_result) ({} when it handed none back).
    type: dict
    default: {}
  failure:
    description: What stopped the rung (C(ansible_failed_result)), or empty when it restored the service.
    type: raw
  failed_task:
    description: The name of the task that failed.
    type: str
    default: ""
extends_documentation_fragment:
  - incident.remediation.controller_action
seealso:
  - module: incident.remediation.incident_phase
  - module: incident.remediation.incident_outcome
"""

EXAMPLES = r"""
- name: Record the rung
  incident.remediation.incident_rung:
    step: record
    index: "{{ _incident_rung_index }}"
    result: "{{ lookup('ansible.builtin.vars', _incident_rung.mitigation ~ '_result', default={}) }}"
    failure: "{{ ansible_failed_result | default({}) }}"
"""

RETURN = r"""
ansible_facts:
  description: C(_incident_ladder) and C(_incident_result) after C(record); with the last rung's failure,
    C(_incident_failure) and C(_incident_failed_task).
  returned: after record
  type: dict
"""
