#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/incident_phase.py, on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
module: incident_phase
short_description: Enter one of an incident's phases, with its bookkeeping, on the controller
version_added: 0.2.0
description:
  - Sets the fact C(incident_phase) and returns the phase change as an explicit event (C(incident_event)),
    which the C(incident_timeline) callback records. Runs inside the controller's worker, no module run.
  - C(acknowledge) declares the incident (O(plan), from the C(incident_plan) filter) and sets the service's
    context (C(_incident_service), C(_incident_evidence), the Prometheus and Alertmanager URLs, the silence's
    comment, the start time), the escalation ladder's start (C(_incident_ladder), the first rung next) and where
    the running version is read (C(_incident_version), unit_evidence's
    O(incident.remediation.unit_evidence#module:version) from the service's C(version_source); a source the
    service cannot be read by fails the phase).
  - C(diagnose) with O(host) (the C(unit_evidence) read) turns a plan that acts into a diagnosis only when
    the unit is quarantined or the host could not be read (fails closed), and says so in the plan's decision.
    It keeps the evidence on the controller, C(logs.txt) and C(diagnosis.json) under
    C(<_incident_evidence>/diagnose) (the read, and O(alert_state)), without failing when it cannot (RV(saved)).
  - C(resolve) with O(lease) (the lease acknowledge's C(unit_evidence) read took) fails when the lease was not
    taken, with the lease's own message. It is refused, naming the holder, when another mitigation held it past the
    wait (C(waited_for)); failed when the lease file cannot be used. It enters no phase then.
  - C(verify) with O(result) (the mitigation's C(<role>_result)) sets C(_incident_check_health),
    C(_incident_check_queries) and C(_incident_check_unit), what the mitigation did not prove itself.
  - C(close) with O(failure) and O(result) sets C(_incident_status) (diagnosed, refused, failed, checked,
    resolved) and C(_incident_expire_silence); the class of a failure comes from data (the result's outcome,
    the incident's own refusals), never from its message.
author: incident.remediation contributors
options:
  phase:
    description: The phase entered.
    type: str
    required: true
    choices: [acknowledge, diagnose, resolve, verify, close]
  plan:
    description: The incident's plan (C(acknowledge)); other phases use the fact C(incident_plan).
    type: dict
  services:
    description: The services' descriptions (C(acknowledge)); the plan's service is used.
    type: dict
    default: {}
  prometheus_url:
    description: Prometheus' URL, else the service's C(prometheus_url).
    type: str
    default: ""
  alertmanager_url:
    description: Alertmanager's URL, else the service's C(alertmanager_url).
    type: str
    default: ""
  evidence_dir:
    description: Where incidents keep their evidence (C(<dir>/<id>/<host>)).
    type: str
    default: ""
  host:
    description: The C(unit_evidence) read of the host (C(diagnose)).
    type: dict
  quarantine_dir:
    description: Where quarantine files are, named in the decision.
    type: str
    default: ""
  alert_state:
    description: The alert's C(ALERTS) series as C(prometheus_query) read them (C(diagnose)), kept in the evidence.
    type: dict
    default: {}
  journal_lines:
    description: Journal lines the read kept, named in the evidence (C(diagnose)).
    type: int
    default: 0
  dmesg_lines:
    description: Kernel log lines the read kept, named in the evidence (C(diagnose)).
    type: int
    default: 0
  lease:
    description:
      - The unit's lease as acknowledge's C(unit_evidence) read took it
        (its RV(incident.remediation.unit_evidence#module:lease)), for C(resolve).
    type: dict
  result:
    description: The mitigation's result, C(<role>_result) (C(verify), C(close)).
    type: dict
  failure:
    description: What stopped resolve or verify (C(ansible_failed_result)), or empty.
    type: raw
  silence_on_failure:
    description: Expire the silence on any failure (C(expire)), or keep it until it ends (C(keep)).
    type: str
    default: keep
    choices: [keep, expire]
extends_documentation_fragment:
  - incident.remediation.controller_action
seealso:
  - module: incident.remediation.incident_outcome
"""

EXAMPLES = r"""
- name: Acknowledge - the plan, the service's context
  incident.remediation.incident_phase:
    phase: acknowledge
    plan: "{{ incident_alert | incident.remediation.incident_plan(services=incident_services) }}"
    services: "{{ incident_services }}"

- name: Enter the verify phase, after the mitigation
  incident.remediation.incident_phase:
    phase: verify
    result: "{{ restart_result }}"
"""

RETURN = r"""
incident_event:
  description: The timeline's events of this step, in order (C(phase), C(incident) with the plan as data).
  returned: when a phase is entered
  type: list
  elements: dict
  sample: [{event: phase, phase: acknowledge}, {event: incident, data: {id: INC-1}}]
saved:
  description:
    - What keeping the diagnose phase's evidence did (C(dir), C(files); C(msg) when nothing was written, and why,
      for example a full disk or check mode). It never fails the task.
  returned: with O(phase=diagnose)
  type: dict
acquired:
  description: False when the resolve phase is refused for the unit's lease (C(resolve) with O(lease)).
  returned: on that refusal
  type: bool
waited_for:
  description: The other owner's lease the resolve phase was refused for, else null.
  returned: on that refusal
  type: dict
"""
