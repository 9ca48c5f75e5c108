# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mitigation_result: hand back a mitigation role's one result (docs/mitigation-contract.md).

Runs in the controller's worker (no module run). Documentation: plugins/modules/mitigation_result.py.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.incident.remediation.plugins.module_utils.mitigations import (
    FAILURES,
    OUTCOMES,
    ResultError,
    mitigation_result,
)
from ansible_collections.incident.remediation.plugins.module_utils.text import one_line, redact_userinfo

ARGUMENTS = {
    "mitigation": {"type": "str", "required": True},
    "outcome": {"type": "str", "choices": list(OUTCOMES)},
    "message": {"type": "str", "default": ""},
    "changed": {"type": "bool"},
    "verified": {"type": "list", "elements": "dict", "default": []},
    "steps": {"type": "list", "elements": "dict", "default": []},
    "evidence": {"type": "list", "elements": "str", "default": []},
    "details": {"type": "dict", "default": {}},
    "stop": {"type": "bool", "default": False},
    "failure": {"type": "dict"},
    "failed_task": {"type": "str", "default": ""},
}


def failure_message(failure: dict, task: str) -> str:
    """What a failed task said, on one line, with the task named and URL credentials redacted."""
    text = failure.get("msg") or failure.get("stderr") or failure.get("reason") or "failed without a message"
    text = one_line(redact_userinfo(str(text)))
    return f"{text} (task: {task})" if task else text


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        failure = args["failure"]
        try:
            if failure is not None:
                handed = self._from_failure(args, failure)
            else:
                if not args["outcome"]:
                    raise ResultError("outcome is required (or failure, in a rescue)")
                handed = mitigation_result(
                    args["mitigation"], args["outcome"], args["message"], changed=args["changed"],
                    verified=args["verified"], steps=args["steps"], evidence=args["evidence"],
                    details=args["details"], check_mode=bool(self._task.check_mode),
                )  # fmt: skip
        except ResultError as exc:
            return {**result, "failed": True, "msg": f"mitigation_result of {args['mitigation']}: {exc}"}
        if args["stop"]:
            if handed["outcome"] not in FAILURES:
                return {**result, "failed": True, "msg": f"stop is for {', '.join(FAILURES)}, not {handed['outcome']}"}
            # a failed task sets no fact: the role's rescue hands this result back (failure=ansible_failed_result)
            return {**result, "failed": True, "msg": handed["message"], "mitigation_result": handed}
        fact = f"{args['mitigation']}_result"
        return {**result, "changed": False, "mitigation_result": handed, "ansible_facts": {fact: handed},
                "msg": f"{fact}: {handed['outcome']} - {handed['message']}"}  # fmt: skip

    @staticmethod
    def _from_failure(args: dict, failure: dict) -> dict:
        """In a role's rescue: the deliberate result a stop carried, else a failure of the task that failed."""
        carried = failure.get("mitigation_result")
        steps = list(args["steps"])
        if isinstance(carried, dict) and carried.get("mitigation") == args["mitigation"]:
            handed = dict(carried)
            handed["steps"] = steps or carried.get("steps") or []
            handed["evidence"] = list(dict.fromkeys([*carried.get("evidence", []), *args["evidence"]]))
            if args["details"]:
                handed["details"] = {**carried.get("details", {}), **args["details"]}
            return handed
        return mitigation_result(
            args["mitigation"], args["outcome"] or "failed", failure_message(failure, args["failed_task"]),
            changed=args["changed"], verified=args["verified"], steps=steps, evidence=args["evidence"],
            details=args["details"],
        )  # fmt: skip
