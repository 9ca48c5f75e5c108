# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence files written on the controller, in the worker itself (no module run).

Shared by the save_evidence action and the incident's diagnose phase (incident_phase), which keeps the host
read it was handed without a task of its own.
"""

from __future__ import annotations

import os

from ansible.module_utils.common.text.converters import to_text


def plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def write_files(folder: str, files: dict, mode: int = 0o600, *, check_mode: bool = False) -> dict:
    """Write ``files`` (plain name -> text) into ``folder``; a result as save_evidence returns it.

    A write that fails (a full disk) is a failed result, not an exception: evidence never blocks, and the
    caller decides. The message names the file being written; ``warnings`` carries it to the operator.
    """
    folder = os.path.expanduser(folder)
    bad = [name for name in files if not plain_name(str(name))]
    if bad:
        return {"failed": True, "msg": f"evidence file names must be plain names inside {folder}, got {bad!r}"}
    paths = [os.path.join(folder, str(name)) for name in files]
    result = {"changed": True, "dir": folder, "files": paths}
    if check_mode:
        return {**result, "msg": f"check mode: {len(paths)} file(s) not written in {folder}"}
    path = folder
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        for path, content in zip(paths, files.values(), strict=True):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(to_text(content if isinstance(content, str) else str(content)))
            os.chmod(path, mode)
    except OSError as exc:
        message = f"cannot write evidence in {folder}: {exc.strerror} ({exc.filename or path})"
        return {**result, "changed": False, "failed": True, "msg": message, "warnings": [message]}
    return result
