#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: service_restart
short_description: Take a restart from the budget, restart a unit and wait until it is healthy, in one call
version_added: 0.1.0
description:
  - The restart role's action in one module run (one round trip to the host instead of four), taking a
    restart from the host's budget (the same file and lock as M(incident.remediation.restart_budget)); when
    none is left, stop there with RV(allowed=false) and change nothing; else clear a crash loop's failed
    state (C(systemctl reset-failed)), restart the unit, and poll its health endpoint (or the unit being
    active) until it is healthy or O(health_wait) runs out.
  - The module does not fail on an exhausted budget or a service that stays unhealthy; it reports
    RV(allowed) and RV(healthy) and the role decides whether to fail or to escalate to a rollback.
    A restart that systemd refuses (a release that exits at start) is reported as not healthy, with
    systemd's words in RV(message). The module fails only on bad input or an unusable budget file.
  - One restart of a unit at a time on a host. A second run that arrives while another restarts the
    same unit (two operators, an operator and an alert) waits for it under a file lock in O(state_dir),
    then asks the health itself; healthy, it does not restart again and spends no budget
    (RV(restarted=false), RV(healthy=true)).
  - In check mode it reports whether a restart would be allowed and does nothing.
author: incident.remediation contributors
options:
  unit:
    description: The systemd unit to restart.
    type: str
    required: true
  max_restarts:
    description: Restarts allowed per O(window).
    type: int
    default: 3
  window:
    description: The budget's window in seconds.
    type: int
    default: 900
  state_dir:
    description: Where the budget files are kept on the host.
    type: path
    default: /var/lib/incident-remediation/restart-budget
  reason:
    description: Recorded with the restart in the budget file (an incident id).
    type: str
    default: ""
  health_url:
    description: Polled after the restart until healthy; empty waits for the unit to be active instead.
    type: str
    default: ""
  health_expect:
    description: JSON fields the health answer must have, as in M(incident.remediation.http_health).
    type: dict
    default: {}
  health_status_code:
    description: HTTP statuses that count as healthy.
    type: list
    elements: int
    default: [200]
  health_command:
    description:
      - The service's own health command, polled after the restart like O(health_url) (exit status 0 is healthy),
        instead of it or beside it (then both must be healthy); empty with an empty O(health_url) waits for the
        unit to be active. As in M(incident.remediation.unit_evidence), an argv list, never a shell; the program
        an absolute path or a bare name found on the host's PATH.
      - Each run is bounded by O(health_command_timeout) (its process group killed then), so one poll can take
        that long past O(health_wait). In check mode nothing is restarted and the command is not run.
    type: list
    elements: str
    default: []
  health_command_timeout:
    description: Seconds one run of the health command may take.
    type: float
    default: 10
  health_wait:
    description: Seconds to wait for health after the restart.
    type: float
    default: 30
  health_interval:
    description: Seconds between health polls.
    type: float
    default: 1
  release_lease:
    description:
      - Release the incident's lease of the unit (M(incident.remediation.unit_lock)) as this run ends, whatever it
        answers (restarted, refused, failed). The incident's last rung, whose restart is its last act on the host,
        so saves the round trip of a separate release. The lease is removed only when it is O(release_lease.owner)'s.
      - Empty leaves the lease alone.
    type: dict
    suboptions:
      owner:
        description: The incident id that holds the lease.
        type: str
        required: true
      dir:
        description: Where the leases are kept on the host.
        type: path
        default: /var/lib/incident-remediation/locks
attributes:
  check_mode:
    description: Can run in check mode and report what it would change, without changing anything.
    support: full
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
seealso:
  - module: incident.remediation.restart_budget
  - module: incident.remediation.unit_evidence
  - plugin: incident.remediation.restart
    plugin_type: role
"""

EXAMPLES = r"""
- name: Restart under the budget and wait for health
  incident.remediation.service_restart:
    unit: demo-app.service
    reason: INC-20261123-1
    health_url: http://127.0.0.1:8080/health
    health_expect: {status: ready}
  register: restarted

- name: Restart and poll the service's own health script (exit 0 is healthy), 15 s at most per run
  incident.remediation.service_restart:
    unit: genesis-orchestration.service
    health_command: [/home/genesis/genesis-rebuild/scripts/health_check.sh]
    health_command_timeout: 15
    health_wait: 30

- name: Escalate when the budget is spent or health did not come back
  ansible.builtin.include_role:
    name: incident.remediation.rollback
  when: not restarted.allowed or not restarted.healthy
"""

RETURN = r"""
released:
  description:
    - With O(release_lease), what releasing the lease did (changed, and a message saying released, no lease, or
      another owner's now); C(msg) when the lease could not be used (it then expires by itself). Empty without it.
  returned: always
  type: dict
allowed:
  description: A restart was left in the budget (and was taken, outside check mode).
  returned: always
  type: bool
budget:
  description: The budget verdict (used, remaining, restarts, next_allowed_at, message, path).
  returned: always
  type: dict
restarted:
  description: The unit was restarted.
  returned: always
  type: bool
healthy:
  description: Healthy after the restart (false when not restarted).
  returned: always
  type: bool
health:
  description:
    - The last health answer (status, json, body, error) or the unit's state without O(health_url) and
      O(health_command).
    - With O(health_command) alone, its last run (command, status as its exit status, stdout, stderr, seconds,
      timed_out, error); beside O(health_url), that run is under C(command).
  returned: always
  type: dict
seconds:
  description: From the restart to healthy (or to giving up).
  returned: always
  type: float
message:
  description: What happened, in words.
  returned: always
  type: str
"""

import fcntl
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.budget import (
    BUDGET_SPEC,
    BudgetError,
    check_budget,
    take,
)
from ansible_collections.incident.remediation.plugins.module_utils.health import (
    COMMAND_TIMEOUT,
    command_problem,
    health_check,
)
from ansible_collections.incident.remediation.plugins.module_utils.lease import (
    DEFAULT_DIR,
    LeaseError,
    check_lease_params,
    release,
)
from ansible_collections.incident.remediation.plugins.module_utils.polling import poll


def systemctl(module, *arguments: str) -> tuple[int, str]:
    rc, out, err = module.run_command(["systemctl", *arguments])
    return rc, (err or out).strip()


def active_check(module, unit: str):
    def check() -> tuple[bool, dict]:
        _, state = systemctl(module, "show", unit, "-p", "ActiveState", "--value")
        return state == "active", {"active_state": state, "error": "" if state == "active" else f"unit is {state}"}

    return check


def release_on_exit(module, unit: str, wanted: dict) -> None:
    """Release the incident's lease as the module answers, whatever the answer: every exit_json and fail_json."""

    def releasing(answer):
        def answered(**result):
            try:
                result["released"] = release(unit, wanted["owner"], folder=wanted["dir"], dry_run=module.check_mode)
            except LeaseError as exc:
                result["released"] = {"changed": False, "msg": f"lease not released: {exc}"}
            answer(**result)

        return answered

    module.exit_json = releasing(module.exit_json)
    module.fail_json = releasing(module.fail_json)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **BUDGET_SPEC,
            "health_url": {"type": "str", "default": ""},
            "health_expect": {"type": "dict", "default": {}},
            "health_status_code": {"type": "list", "elements": "int", "default": [200]},
            "health_wait": {"type": "float", "default": 30},
            "health_interval": {"type": "float", "default": 1},
            "health_command": {"type": "list", "elements": "str", "default": []},
            "health_command_timeout": {"type": "float", "default": COMMAND_TIMEOUT},
            "release_lease": {
                "type": "dict",
                "options": {
                    "owner": {"type": "str", "required": True},
                    "dir": {"type": "path", "default": DEFAULT_DIR},
                },
            },
        },
        supports_check_mode=True,
    )
    params = module.params
    unit = params["unit"]
    check_budget(module)
    if params["health_wait"] < 0 or params["health_interval"] <= 0:
        module.fail_json(msg="health_wait must be at least 0 and health_interval above 0")
    if params["health_command"]:
        wrong = command_problem(params["health_command"], params["health_command_timeout"])
        if wrong:
            module.fail_json(msg=f"{wrong}: not restarted")
    if params["release_lease"]:
        wrong = check_lease_params(params["release_lease"]["owner"])
        if wrong:
            module.fail_json(msg=f"release_lease: {wrong}")
        release_on_exit(module, unit, params["release_lease"])  # from here, every answer releases it
    timeout = min(5.0, params["health_wait"] or 5.0)
    check = health_check(params["health_url"], params["health_expect"], params["health_status_code"], timeout,
                         command=params["health_command"],
                         command_timeout=params["health_command_timeout"])  # fmt: skip
    check = check or active_check(module, unit)
    if module.check_mode:
        restart(module, params, check)
    try:
        os.makedirs(params["state_dir"], mode=0o755, exist_ok=True)
        lock = open(os.path.join(params["state_dir"], f".{unit}.restart.lock"), "a+")  # noqa: SIM115
    except OSError as exc:
        module.fail_json(msg=f"cannot lock the restart of {unit} in {params['state_dir']}: {exc.strerror}")
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # another run (an operator, a second controller) is restarting this unit: wait for its outcome,
            # and do not restart a service that its restart has just made healthy
            fcntl.flock(lock, fcntl.LOCK_EX)
            healthy, seen = check()
            if healthy:
                said = "healthy after another run's restart: not restarted again"
                module.exit_json(changed=False, allowed=True, budget={"message": f"no restart taken, {said}"},
                                 restarted=False, healthy=True, health=seen, seconds=0.0, message=said)  # fmt: skip
        restart(module, params, check)


def restart(module, params: dict, check) -> None:
    """Budget, reset-failed, restart, health wait; exits the module."""
    unit = params["unit"]
    try:
        budget = take(unit, max_restarts=params["max_restarts"], window=params["window"],
                      state_dir=params["state_dir"], reason=params["reason"], spend=True,
                      dry_run=module.check_mode)  # fmt: skip
    except BudgetError as exc:
        module.fail_json(msg=str(exc))
    result = {"allowed": budget["allowed"], "budget": budget, "restarted": False, "healthy": False, "health": {},
              "seconds": 0.0}  # fmt: skip
    if not budget["allowed"]:
        module.exit_json(changed=False, message=f"{budget['message']}: not restarted", **result)
    if module.check_mode:
        module.exit_json(changed=True, message=f"{budget['message']}: would restart {unit}", **result)

    # a crash loop counts against the unit's start limit (failed, or about to be): systemd refuses a restart
    # until it is reset, so always reset first (harmless on a healthy unit)
    systemctl(module, "reset-failed", unit)
    rc, error = systemctl(module, "restart", unit)
    if rc != 0:  # e.g. a release that exits at start: not healthy, and the role escalates or fails with this
        result["health"] = {"error": error}
        module.exit_json(changed=True, message=f"systemctl restart {unit} failed (exit {rc}): {error}", **result)
    outcome = poll(check, wait=params["health_wait"], interval=params["health_interval"])
    result.update(restarted=True, healthy=outcome.satisfied, health=outcome.last, seconds=round(outcome.elapsed, 2))
    where = " and ".join(filter(None, [params["health_url"], " ".join(params["health_command"])])) or f"{unit} active"
    message = f"restarted, healthy after {outcome.elapsed:.1f} s"
    if not outcome.satisfied:
        message = f"restarted but not healthy after {outcome.elapsed:.1f} s ({where}): {outcome.last.get('error')}"
    module.exit_json(changed=True, message=message, **result)


if __name__ == "__main__":
    main()
