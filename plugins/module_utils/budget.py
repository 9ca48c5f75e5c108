# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart budget kept on the host: one JSON file per unit, read and spent under a file lock.

Shared by the restart_budget module (check or spend) and service_restart (spend, then restart).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time

from ansible_collections.incident.remediation.plugins.module_utils.names import UNIT_NAME

# The options every module that spends or reads the budget takes (restart_budget, service_restart).
BUDGET_SPEC = {
    "unit": {"type": "str", "required": True},
    "max_restarts": {"type": "int", "default": 3},
    "window": {"type": "int", "default": 900},
    "reason": {"type": "str", "default": ""},
    "state_dir": {"type": "path", "default": "/var/lib/incident-remediation/restart-budget"},
}


def check_unit(module, unit: str) -> None:
    """fail_json unless ``unit`` is a plain systemd unit name (it becomes a file name and an argv item)."""
    if not UNIT_NAME.match(unit):
        module.fail_json(msg=f"unit {unit!r} is not a systemd unit name (letters, digits, ':_.@-' only)")


def check_budget(module) -> None:
    check_unit(module, module.params["unit"])
    if module.params["max_restarts"] < 1 or module.params["window"] < 1:
        module.fail_json(msg="max_restarts and window must be at least 1")


class BudgetError(Exception):
    """The budget cannot be read or written; the message says what to do."""


def describe_window(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _entries(data: dict, kind: str) -> list[dict]:
    return [r for r in data.get(kind, []) if isinstance(r, dict) and isinstance(r.get("at"), (int, float))]


def read_record(handle) -> dict:
    """The budget file's restarts and escalations (an older file without escalations has none)."""
    handle.seek(0)
    text = handle.read()
    data = json.loads(text) if text.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return {"restarts": _entries(data, "restarts"), "escalations": _entries(data, "escalations")}


def write_record(path: str, unit: str, record: dict, prefix: str = ".budget-") -> None:
    """Replace the file atomically: a crash mid-write leaves the old record, never half a file."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"unit": unit, **record}, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@contextlib.contextmanager
def _locked(state_dir: str, unit: str, create: bool):
    """The unit's budget lock; with ``create`` false (check mode) nothing is created: no folder, no lock file."""
    path = os.path.join(state_dir, f".{unit}.lock")
    if not create and not os.path.exists(path):
        yield  # nothing was ever recorded under a lock that does not exist; the record is read as it is
        return
    os.makedirs(state_dir, mode=0o755, exist_ok=True)
    with open(path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def take(unit: str, *, max_restarts: int, window: int, state_dir: str, reason: str = "", spend: bool = False,
         dry_run: bool = False, escalation: bool = False) -> dict:  # fmt: skip
    """Check the budget and, with ``spend``, take a restart (recorded unless ``dry_run``).

    With ``escalation`` the same is done for the window's single escalation (a rollback in place of
    a restart the budget refused): one per window, so a storm of alerts escalates once.
    Returns the verdict: allowed, changed, used, remaining, restarts, escalations, next_allowed_at,
    message, path.
    """
    path = os.path.join(state_dir, f"{unit}.json")
    kind, limit = ("escalations", 1) if escalation else ("restarts", max_restarts)
    try:
        with _locked(state_dir, unit, create=spend and not dry_run):  # a read creates nothing
            now = time.time()
            try:
                with open(path) as handle:
                    record = read_record(handle)
            except FileNotFoundError:
                record = {"restarts": [], "escalations": []}
            except ValueError as exc:
                raise BudgetError(f"budget file {path} is not valid JSON ({exc}); move it aside to reset it") from None
            record = {key: [r for r in entries if now - r["at"] < window] for key, entries in record.items()}
            in_window = record[kind]
            allowed = len(in_window) < limit
            changed = allowed and spend
            if changed:
                in_window.append({"at": now, "reason": reason})
                if not dry_run:
                    write_record(path, unit, record)
    except OSError as exc:
        raise BudgetError(f"cannot use the restart budget in {state_dir}: {exc.strerror} ({exc.filename})") from None
    used = len(in_window)
    span = describe_window(window)
    if escalation:
        message = (f"escalation allowed (none in the last {span})" if allowed else
                   f"already escalated in the last {span} (at {_when(in_window[-1]['at'])}, "
                   f"{in_window[-1].get('reason') or 'no reason recorded'})")  # fmt: skip
    elif allowed:
        message = f"restart allowed ({used} of {max_restarts} in the last {span})"
    else:
        message = f"restart budget exhausted ({used} in the last {span})"
    return {
        "allowed": allowed,
        "changed": changed,
        "used": used,
        "remaining": max(limit - used, 0),
        "restarts": record["restarts"],
        "escalations": record["escalations"],
        "next_allowed_at": None if allowed else min(r["at"] for r in in_window) + window,
        "message": message,
        "path": path,
    }
