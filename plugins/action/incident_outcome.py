# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""incident_outcome: record the incident's outcome on a host (the close phase's last step).

Runs in the controller's worker (no module run). Documentation: plugins/modules/incident_outcome.py.
Sets the fact ``incident_outcome`` and returns it as the timeline's outcome event (``incident_event``);
fails the host, after recording, when the incident is not resolved (``fail``).
"""

from __future__ import annotations

from datetime import datetime, timezone

from ansible.plugins.action import ActionBase
from ansible_collections.incident.remediation.plugins.module_utils.notify import from_task as notify
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import diagnosis, outcome

ARGUMENTS = {
    "plan": {"type": "dict", "required": True},
    "failure": {"type": "raw"},
    "failed_task": {"type": "str", "default": ""},
    "result": {"type": "dict", "default": {}},
    "verify": {"type": "dict", "default": {}},
    "service": {"type": "dict", "default": {}},
    "verify_alert": {"type": "bool", "default": True},
    "host": {"type": "dict", "default": {}},
    "alert_state": {"type": "dict", "default": {}},
    "saved": {"type": "dict", "default": {}},
    "evidence": {"type": "str", "default": ""},
    "ladder": {"type": "list", "elements": "dict", "default": []},
    "lock": {"type": "dict", "default": {}},
    "unlock": {"type": "dict", "default": {}},
    "silence": {"type": "dict", "default": {}},
    "unsilence": {"type": "dict", "default": {}},
    "silence_duration": {"type": "str", "default": ""},
    "started": {"type": "str", "default": ""},
    "confirm": {"type": "dict", "default": {}},
    "fail": {"type": "bool", "default": True},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        host_name = (task_vars or {}).get("inventory_hostname", "?")
        plan = args["plan"]
        record = outcome(
            plan=plan, check_mode=bool(self._task.check_mode), failure=args["failure"],
            failed_task=args["failed_task"], mitigation_result=args["result"],
            verify=args["verify"], service=args["service"], verify_alert=args["verify_alert"],
            ladder=args["ladder"],
            diagnosed=diagnosis(args["host"], args["alert_state"], args["saved"], args["evidence"]),
            evidence=args["evidence"], lock=args["lock"], unlock=args["unlock"], silence=args["silence"],
            unsilence=args["unsilence"], silence_duration=args["silence_duration"], started=args["started"],
            ended=datetime.now(timezone.utc).isoformat(), confirm=args["confirm"],
        )  # fmt: skip
        said = f"incident {plan.get('id')} on {host_name}: {record['status']} - {record['reason']}"
        told = {"record": record}  # the incident channel (docs/notifications.md)
        sent = notify(task_vars or {}, self._templar.template, "outcome", plan, told, check_mode=self._task.check_mode)
        record, said = ({**record, "notifications": sent.records} if sent.records else record), said + sent.said
        events = [{"event": "outcome", "data": record}]
        if args["fail"] and record["status"] in ("failed", "refused"):
            # recorded first (the event), then the host fails, so that a rollout counts it
            failed = f"incident {plan.get('id')} on {host_name}: {record['reason']}"
            return {**result, "failed": True, "msg": failed, "incident_event": events, "incident_outcome": record}
        return {**result, "changed": False, "ansible_facts": {"incident_outcome": record}, "incident_event": events,
                "msg": said}  # fmt: skip
