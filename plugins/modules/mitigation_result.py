#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/mitigation_result.py, on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
module: mitigation_result
short_description: Hand back a mitigation role's one result to the incident (the mitigation contract)
version_added: 0.2.0
description:
  - Every mitigation role ends with this task. It checks the result against the contract of
    C(docs/mitigation-contract.md) and sets the fact C(<mitigation>_result), which is all the incident role
    reads of a mitigation.
  - With O(stop=true) (a refusal or a security stop the role decides itself) the task fails with O(message)
    and carries the result in its own result as C(mitigation_result); the role's C(rescue) passes
    C(ansible_failed_result) as O(failure), which hands that result back unchanged. Any other failure given as
    O(failure) becomes the outcome C(failed) (or O(outcome)) with the failed task's message.
  - Runs in the controller's worker. No module is sent to the host, and nothing is changed anywhere.
author: incident.remediation contributors
options:
  mitigation:
    description: The mitigation (role) name, one of the collection's mitigations.
    type: str
    required: true
  outcome:
    description:
      - C(fixed) the role changed the host and proved the change; C(unchanged) nothing needed doing and nothing
        was done; C(refused) a safety limit stopped it before it acted; C(failed) the service is not proved
        well; C(security) the service was stopped on suspected tampering; C(protected) the service was stopped
        on purpose to keep its data as it is (a snapshot taken, nothing restored), a SEV-1 for people.
      - Required unless O(failure) is given.
    type: str
    choices: [fixed, unchanged, refused, failed, security, protected]
  message:
    description: One line saying what happened, for the timeline, the report and the operator.
    type: str
    default: ""
  changed:
    description: Whether the host was changed (default true for C(fixed), false otherwise).
    type: bool
  verified:
    description:
      - What the role proved itself, each C(check) (what was checked), C(kind) (C(health), C(unit), C(queries),
        C(alert), C(other)) and C(result). The incident does not prove a kind again.
    type: list
    elements: dict
    default: []
  steps:
    description: The steps the role took, each C(step) and C(outcome), optionally C(seconds), C(changed), C(detail).
    type: list
    elements: dict
    default: []
  evidence:
    description: Paths of the evidence the role kept.
    type: list
    elements: str
    default: []
  details:
    description: Anything else the report should show (for example the release rolled back from and to).
    type: dict
    default: {}
  stop:
    description: Fail the task with this result (O(outcome) must be C(refused), C(failed), C(security) or C(protected)).
    type: bool
    default: false
  failure:
    description: In a C(rescue), C(ansible_failed_result).
    type: dict
  failed_task:
    description: In a C(rescue), C(ansible_failed_task.name), named in the message of an unplanned failure.
    type: str
    default: ""
extends_documentation_fragment:
  - incident.remediation.controller_action
notes:
  - In check mode the result says C(check_mode=true); nothing is ever changed.
seealso:
  - module: incident.remediation.save_evidence
"""

EXAMPLES = r"""
- name: Hand back a run that had nothing to do
  incident.remediation.mitigation_result:
    mitigation: memory_limit
    outcome: unchanged
    message: MemoryMax is already 12G, as the formula asks
    verified:
      - {check: MemoryMax, kind: unit, result: 12884901888}

- name: Refuse, the budget being spent (the rescue below hands the result back)
  incident.remediation.mitigation_result:
    mitigation: restart
    outcome: refused
    message: "refused: 3 restarts in the last 900 s"
    stop: true

# in the role's rescue:
- name: Hand back why the mitigation did not work
  incident.remediation.mitigation_result:
    mitigation: restart
    failure: "{{ ansible_failed_result }}"
    failed_task: "{{ ansible_failed_task.name }}"
"""

RETURN = r"""
mitigation_result:
  description: The result, also set as the fact C(<mitigation>_result).
  returned: always, unless the arguments are wrong
  type: dict
  contains:
    mitigation:
      description: The mitigation.
      type: str
    outcome:
      description: One of C(fixed), C(unchanged), C(refused), C(failed), C(security), C(protected).
      type: str
    changed:
      description: Whether the host was changed.
      type: bool
    message:
      description: One line.
      type: str
    verified:
      description: What the role proved (C(check), C(kind), C(result)).
      type: list
      elements: dict
    steps:
      description: The steps with their outcomes and times.
      type: list
      elements: dict
    evidence:
      description: Evidence paths.
      type: list
      elements: str
    details:
      description: Anything else for the report.
      type: dict
    check_mode:
      description: Whether the run was in check mode.
      type: bool
"""
