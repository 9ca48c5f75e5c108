# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident_rung: enter one rung of the escalation ladder, or record what it did and decide the next.

Runs in the controller's worker (no module run). Documentation: plugins/modules/incident_rung.py; the
decisions are plugins/module_utils/ladder.py's.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.incident.remediation.plugins.module_utils.ladder import climb, said
from ansible_collections.incident.remediation.plugins.module_utils.notify import from_task as notify
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import failure_text

ARGUMENTS = {
    "step": {"type": "str", "required": True, "choices": ["enter", "record"]},
    "index": {"type": "int", "required": True},
    "escalation": {"type": "dict", "default": {}},
    "result": {"type": "dict", "default": {}},
    "failure": {"type": "raw"},
    "failed_task": {"type": "str", "default": ""},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        task_vars = task_vars or {}
        plan = task_vars.get("incident_plan")
        state = task_vars.get("_incident_ladder")
        if not isinstance(plan, dict) or not isinstance(state, dict):
            return {**result, "failed": True, "msg": "incident_rung: no incident plan or ladder (acknowledge first)"}
        ladder = plan.get("ladder") or []
        index = args["index"]
        if not 0 <= index < len(ladder):
            return {**result, "failed": True, "msg": f"incident_rung: no rung {index} in a ladder of {len(ladder)}"}
        name = ladder[index]["mitigation"]
        if args["step"] == "enter":
            host = task_vars.get("inventory_hostname", "?")
            return {**result, **self._enter(plan, state, (index, name, host), args["escalation"])}
        failure = args["failure"] if isinstance(args["failure"], dict) else {}
        reason = failure_text(failure, args["failed_task"], args["result"])
        decided = climb(ladder, state.get("climbed") or [], name, args["result"], failure, reason=reason)
        facts = {
            "_incident_ladder": {k: decided[k] for k in ("next", "why", "climbed")},
            "_incident_result": args["result"],
        }
        if failure and decided["final"]:  # the last rung tried: its failure is the incident's
            facts.update({"_incident_failure": failure, "_incident_failed_task": args["failed_task"]})
        msg = f"rung {index + 1} ({name}): {decided['why']}"
        told = {"index": index, "rung": decided["climbed"][-1], "why": decided["why"]}  # docs/notifications.md
        sent = notify(task_vars, self._templar.template, "rung", plan, told, check_mode=bool(self._task.check_mode))
        return {**result, "changed": False, "ansible_facts": {**facts, **sent.facts}, "msg": msg + sent.said}

    @staticmethod
    def _enter(plan: dict, state: dict, rung: tuple[int, str, str], escalation: dict) -> dict:
        """A rung after the first takes the window's one escalation: refused when it is spent."""
        index, name, host = rung
        why = state.get("why") or f"rung {index + 1}"
        if index and escalation and not escalation.get("skipped") and not escalation.get("allowed"):
            climbed = state.get("climbed") or []
            before = said(climbed[-1]).rstrip(".") if climbed else "the rung before did not restore the service"
            spent = escalation.get("message") or "the escalation budget refused"
            return {
                "failed": True,
                "incident_refused": True,
                "escalation_refused": True,
                "msg": (
                    f"refused: {before}, and {spent}: not trying {name} on {host}; the service keeps failing "
                    f"after an escalation, an engineer is needed (budget file {escalation.get('path', '?')})"
                ),
            }
        return {"changed": False, "msg": f"incident {plan.get('id')}, rung {index + 1}: {name} ({why})"}
