#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: restart_budget
short_description: Spend or check a restart budget kept durably on the host
version_added: 0.1.0
description:
  - Allows at most O(max_restarts) restarts of a unit per O(window) seconds on a host, so a crash-looping
    service is not restarted forever (the runbooks' restart budget).
  - The record lives on the managed host, in one JSON file per unit under O(state_dir), so every controller,
    operator and alert that acts on the host shares it. Reading and spending happen under an exclusive file
    lock, so two runs at the same moment cannot both take the last restart.
  - With O(spend=true) a restart is taken when one is left (RV(allowed=true), C(changed)); when none is left
    nothing is recorded and RV(allowed=false) comes back with RV(message) saying so. The module does not fail
    on an exhausted budget; the role decides whether to fail or escalate.
  - With O(escalation=true) the same is done for the window's single escalation (a rollback in place of
    the restart the budget refused), recorded in the same file. One per window, so a flapping alert that
    re-fires fifty times escalates once and is refused after that.
  - In check mode it reports whether a restart would be allowed and records nothing.
author: incident.remediation contributors
attributes:
  check_mode:
    support: full
    description: Reports the verdict; records nothing.
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: none
    details: Each spend records one more restart; that is its purpose.
options:
  unit:
    description: The systemd unit the budget is for, for example V(demo-app.service).
    type: str
    required: true
  max_restarts:
    description: Restarts allowed per window.
    type: int
    default: 3
  window:
    description: The window, in seconds.
    type: int
    default: 900
  spend:
    description: Take one restart from the budget when one is left. V(false) only reads it.
    type: bool
    default: false
  escalation:
    description:
      - Spend (or, without O(spend), check) the window's one escalation instead of a restart. O(max_restarts)
        does not apply to it; O(window) does.
    type: bool
    default: false
  reason:
    description: Recorded with the restart (an incident id, an alert, an operator).
    type: str
    default: ""
  state_dir:
    description: Where the budget files are kept on the host.
    type: path
    default: /var/lib/incident-remediation/restart-budget
"""

EXAMPLES = r"""
- name: Take a restart from the budget (3 per 15 min)
  incident.remediation.restart_budget:
    unit: demo-app.service
    max_restarts: 3
    window: 900
    spend: true
    reason: "incident INC-20261123-0042"
  register: budget

- name: Refuse when it is spent
  ansible.builtin.fail:
    msg: "{{ budget.message }}"
  when: not budget.allowed

- name: Take the window's one escalation before rolling back
  incident.remediation.restart_budget:
    unit: demo-app.service
    window: 900
    escalation: true
    spend: true
    reason: "incident INC-20261123-0042: restart budget exhausted"
  register: escalation
"""

RETURN = r"""
allowed:
  description: Whether a restart is (or, with O(spend), was just) allowed.
  returned: always
  type: bool
used:
  description: Restarts recorded in the window, including one just spent.
  returned: always
  type: int
  sample: 2
remaining:
  description: Restarts left in the window.
  returned: always
  type: int
  sample: 1
restarts:
  description: The restarts in the window, oldest first, each with C(at) (epoch seconds) and C(reason).
  returned: always
  type: list
  elements: dict
escalations:
  description: The escalations in the window (at most one), each with C(at) and C(reason).
  returned: always
  type: list
  elements: dict
next_allowed_at:
  description: Epoch seconds when the oldest restart leaves the window; V(null) while restarts are left.
  returned: always
  type: float
message:
  description:
    - The verdict in words, for example C(restart budget exhausted (3 in the last 15 min)) or
      C(already escalated in the last 15 min (at 2026-11-24T03:12:09Z, incident INC-42 - budget exhausted)).
  returned: always
  type: str
path:
  description: The budget file on the host.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.budget import (
    BUDGET_SPEC,
    BudgetError,
    check_budget,
    take,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **BUDGET_SPEC,
            "spend": {"type": "bool", "default": False},
            "escalation": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    check_budget(module)
    try:
        verdict = take(params["unit"], max_restarts=params["max_restarts"], window=params["window"],
                       state_dir=params["state_dir"], reason=params["reason"], spend=params["spend"],
                       dry_run=module.check_mode, escalation=params["escalation"])  # fmt: skip
    except BudgetError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**verdict)


if __name__ == "__main__":
    main()
