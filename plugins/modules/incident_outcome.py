#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin plugins/action/incident_outcome.py, on the controller.
from __future__ import annotations

DOCUMENTATION = r"""
module: incident_outcome
short_description: Record an incident's outcome on a host, on the controller
version_added: 0.2.0
description:
  - Builds the outcome from what the run did - the plan, check mode, the mitigation's result, the failure
    and the task that failed, the verification, the silence and its expiry, the lease - and sets the fact
    C(incident_outcome); returns it as the timeline's outcome event (C(incident_event)). Runs inside the
    controller's worker, no module run.
  - The status is C(diagnosed) (the plan did not act), C(refused) (a safety limit stopped it), C(failed),
    C(checked) (check mode) or C(resolved). A mitigation whose outcome is C(unchanged) is said so in the reason.
  - With O(fail), a C(failed) or C(refused) incident fails the task after the outcome is recorded, so that
    a rollout counts the host.
author: incident.remediation contributors
options:
  plan:
    description: The incident's plan.
    type: dict
    required: true
  failure:
    description: What stopped resolve or verify (C(ansible_failed_result)), or empty.
    type: raw
  failed_task:
    description: The name of the task that failed.
    type: str
    default: ""
  result:
    description: The mitigation's result, C(<role>_result) ({} when it handed none back).
    type: dict
    default: {}
  verify:
    description: The verify phase's registered results, C(health), C(unit), C(queries), C(alert).
    type: dict
    default: {}
  service:
    description: The service's description (C(unit), C(health_url)).
    type: dict
    default: {}
  verify_alert:
    description: Whether the alert itself was to be verified (C(incident_verify_alert)).
    type: bool
    default: true
  host:
    description: The C(unit_evidence) read of the host.
    type: dict
    default: {}
  alert_state:
    description: The diagnose phase's read of the alert's ALERTS series.
    type: dict
    default: {}
  saved:
    description: The C(save_evidence) result of the diagnosis.
    type: dict
    default: {}
  evidence:
    description: The host's evidence folder.
    type: str
    default: ""
  ladder:
    description:
      - The rungs of the escalation ladder tried (C(_incident_ladder.climbed), from C(incident_rung)), each with
        its mitigation, outcome, message, whether it restored the service and why not. The outcome keeps them as
        C(ladder); its actions are the first rung's steps, then one step per rung after it.
    type: list
    elements: dict
    default: []
  lock:
    description: The C(unit_lock) result that took the lease.
    type: dict
    default: {}
  unlock:
    description: The C(unit_lock) result that released it.
    type: dict
    default: {}
  silence:
    description: The C(alertmanager_silence) result that created the silence.
    type: dict
    default: {}
  unsilence:
    description: The C(alertmanager_silence) result that expired it.
    type: dict
    default: {}
  silence_duration:
    description: How long the silence lasts (said when it is kept).
    type: str
    default: ""
  started:
    description: When the incident started on this host.
    type: str
    default: ""
  confirm:
    description:
      - For a service with a stability window (C(stability.window) in its description, seconds, or
        C(stability.alerts.<alertname>)), what the confirmation at the window's end needs, C(prometheus_url) and
        C(notify) (the incident_notify targets, paged on a regression). The outcome is then C(mitigated), not
        C(resolved), and carries C(stability) (docs/incident-flow.md, The stability window).
    type: dict
    default: {}
  fail:
    description: Fail the task, after recording, when the incident is C(failed) or C(refused).
    type: bool
    default: true
extends_documentation_fragment:
  - incident.remediation.controller_action
seealso:
  - module: incident.remediation.incident_phase
"""

EXAMPLES = r"""
- name: Record the outcome
  incident.remediation.incident_outcome:
    plan: "{{ incident_plan }}"
    failure: "{{ _incident_failure }}"
    result: "{{ restart_result | default({}) }}"
"""

RETURN = r"""
incident_outcome:
  description: The outcome (status, reason, mitigation, started, ended, diagnosis, actions, verification,
    evidence, lock, silence, and the rungs of the ladder tried, the last rung's result and the failure's class
    when there are). With C(incident_notify) targets, C(notifications) too, every post of the incident
    (C(kind), C(name), C(event), C(status) ok, failed or skipped, C(reason)), see docs/notifications.md.
  returned: always
  type: dict
incident_event:
  description: The timeline's outcome event.
  returned: always
  type: list
  elements: dict
"""
