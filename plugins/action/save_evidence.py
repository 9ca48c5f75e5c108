# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""save_evidence: write evidence files on the controller, in the worker itself (no module run).

Evidence is text the play already holds (collected on the host by unit_evidence); writing it with
ansible.builtin.copy costs a module execution per file. Documentation: plugins/modules/save_evidence.py.
"""

from __future__ import annotations

import os

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

ARGUMENTS = {
    "dir": {"type": "path", "required": True},
    "files": {"type": "dict", "required": True},
    "mode": {"type": "raw", "default": "0600"},
}


def plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENTS)
        folder = os.path.expanduser(args["dir"])
        bad = [name for name in args["files"] if not plain_name(str(name))]
        if bad:
            return {
                **result,
                "failed": True,
                "msg": f"evidence file names must be plain names inside {folder}, got {bad!r}",
            }
        try:
            mode = int(str(args["mode"]), 8)
        except ValueError:
            return {**result, "failed": True, "msg": f"mode must be octal like 0600, got {args['mode']!r}"}
        paths = [os.path.join(folder, str(name)) for name in args["files"]]
        result.update(changed=True, dir=folder, files=paths)
        if self._task.check_mode:
            result["msg"] = f"check mode: {len(paths)} file(s) not written in {folder}"
            return result
        path = folder
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            for path, content in zip(paths, args["files"].values(), strict=True):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(to_text(content if isinstance(content, str) else str(content)))
                os.chmod(path, mode)
        except OSError as exc:
            # a failed result, not an exception: the caller's failed_when (evidence never blocks) must apply.
            # A write that fails (a full disk) carries no file name: name the one being written.
            # The warning reaches the operator's screen even when failed_when ignores the failure.
            message = f"cannot write evidence in {folder}: {exc.strerror} ({exc.filename or path})"
            return {**result, "changed": False, "failed": True, "msg": message, "warnings": [message]}
        return result
