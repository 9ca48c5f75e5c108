# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""save_evidence: write evidence files on the controller, in the worker itself (no module run).

Evidence is text the play already holds (collected on the host by unit_evidence); writing it with
ansible.builtin.copy costs a module execution per file. Documentation: plugins/modules/save_evidence.py.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.incident.remediation.plugins.plugin_utils.evidence import write_files

ARGUMENTS = {
    "dir": {"type": "path", "required": True},
    "files": {"type": "dict", "required": True},
    "mode": {"type": "raw", "default": "0600"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        try:
            mode = int(str(args["mode"]), 8)
        except ValueError:
            return {**result, "failed": True, "msg": f"mode must be octal like 0600, got {args['mode']!r}"}
        # a failed result, not an exception: the caller's failed_when (evidence never blocks) must apply
        return {**result, **write_files(args["dir"], args["files"], mode, check_mode=bool(self._task.check_mode))}
