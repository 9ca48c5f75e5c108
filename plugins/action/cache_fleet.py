# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cache_fleet: the cache purge's one decision for every host of the play (run_once), in the worker.

The decision is plugins/plugin_utils/cache_fleet.py. Documentation: plugins/modules/cache_fleet.py.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.incident.remediation.plugins.plugin_utils.cache_fleet import FleetError, decide

ARGUMENTS = {
    "reports": {"type": "dict", "required": True},
    "token": {"type": "str", "required": True},
    "threshold": {"type": "int", "required": True},
    "allow_tampered": {"type": "bool", "default": False},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        try:
            decision = decide(args["reports"], args["token"], args["threshold"], args["allow_tampered"])
        except FleetError as exc:
            return {**result, "failed": True, "msg": f"cache_fleet: {exc}"}
        said = "; ".join(e["reason"] for e in decision["escalations"]) or (
            f"no suspected tampering across {len(decision['hosts'])} host(s)")  # fmt: skip
        return {**result, "changed": False, **decision, "msg": said}
