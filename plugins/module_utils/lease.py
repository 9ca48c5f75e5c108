# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A unit's lease on the host: one mitigation at a time acts on a unit, whoever runs it.

Ansible cannot hold a file lock from one task to the next, so the lock is a lease that outlives the module
run: a JSON file <dir>/<unit>.lease naming its owner (the incident id), the holder (what runs and from where)
and when it expires, read and written under a short exclusive flock on the folder itself and replaced
atomically. Shared by unit_lock (take or release), unit_evidence (take, then read the host: the incident's
acknowledge) and service_restart (release once the restart is over: the last rung of an incident).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time

from ansible_collections.incident.remediation.plugins.module_utils.budget import write_record

OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
DEFAULT_DIR = "/var/lib/incident-remediation/locks"
POLL = 0.5


class LeaseError(Exception):
    """The lease file cannot be used; the message says what to do."""


def lease_path(folder: str, unit: str) -> str:
    return os.path.join(folder, f"{unit}.lease")


def check_lease_params(owner: str, wait: float = 0, ttl: int = 1) -> str:
    """What is wrong with a lease's owner, wait or ttl, in words ('' when nothing)."""
    if not OWNER.match(owner or ""):
        return f"owner {owner!r} must be an incident id (letters, digits, ._:-, at most 128)"
    if wait < 0 or ttl < 1:
        return "wait must be at least 0 and ttl at least 1 second"
    return ""


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def describe(lease: dict) -> str:
    holder = f" ({lease['holder']})" if lease.get("holder") else ""
    return (f"incident {lease.get('owner', '?')}{holder} since {lease.get('acquired_at', '?')}, "
            f"until {lease.get('expires_at', '?')}")  # fmt: skip


def read_lease(path: str) -> dict | None:
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LeaseError(f"cannot read the lease {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("expires"), (int, float)):
        raise LeaseError(f"the lease {path} is not one this module wrote ({text[:80]!r}): look, then move it aside")
    return data


@contextlib.contextmanager
def guarded(folder: str, create: bool):
    """The short exclusive lock under which leases are read and written: a flock on the folder itself, so that
    waiting or refusing leaves no file behind. Without the folder (and without ``create``) there is no lease."""
    if not os.path.isdir(folder):
        if not create:
            yield
            return
        os.makedirs(folder, mode=0o755, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _try_take(unit: str, owner: str, *, holder: str, ttl: int, folder: str, dry_run: bool):
    """One attempt: (lease taken, expired lease taken over, lease held by another owner)."""
    path = lease_path(folder, unit)
    with guarded(folder, create=not dry_run):
        now = time.time()
        current = read_lease(path)
        if current and current.get("owner") != owner and current["expires"] > now:
            return None, None, current
        previous = current if current and current.get("owner") != owner else None
        lease = {"owner": owner, "holder": holder, "host": socket.gethostname(), "acquired": now,
                 "acquired_at": _when(now), "expires": now + ttl, "expires_at": _when(now + ttl)}  # fmt: skip
        if not dry_run:
            write_record(path, unit, lease, prefix=".lease-")
        return {"unit": unit, **lease}, previous, None


def take(
    unit: str,
    owner: str,
    *,
    holder: str = "",
    wait: float = 180,
    ttl: int = 1800,
    folder: str = DEFAULT_DIR,
    dry_run: bool = False,
) -> dict:
    """Take the unit's lease: free, this owner's already (renewed) or expired (taken over); held by another owner,
    wait up to ``wait`` seconds for it. The result as unit_lock returns it; ``failed`` and ``msg`` (a refusal
    naming the holder) when it stayed held. Raises LeaseError when the lease cannot be used."""
    try:
        return _take(unit, owner, holder=holder, wait=wait, ttl=ttl, folder=folder, dry_run=dry_run)
    except OSError as exc:
        raise LeaseError(f"cannot use the lease of {unit} in {folder}: {exc.strerror}") from None


def _take(unit: str, owner: str, *, holder: str, wait: float, ttl: int, folder: str, dry_run: bool) -> dict:
    holder = " ".join(str(holder).split())[:200]  # one line, shown in other runs' refusals
    path = lease_path(folder, unit)
    started = time.monotonic()
    waited_for = None
    while True:
        lease, previous, held = _try_take(unit, owner, holder=holder, ttl=ttl, folder=folder, dry_run=dry_run)
        waited = round(time.monotonic() - started, 2)
        if lease:
            break
        waited_for = held
        if waited >= wait:
            return {
                "failed": True, "changed": False, "acquired": False, "previous": None, "waited": waited,
                "waited_for": held, "path": path,
                "msg": (f"refused: {unit} on this host is locked by {describe(held)}, another mitigation being under "
                        f"way; waited {waited:g} s. Retry once it is over; if that run is gone, the lease {path} "
                        f"expires by itself at {held.get('expires_at', '?')} (or remove it after checking)"),
            }  # fmt: skip
        time.sleep(min(POLL, max(wait - waited, 0.01)))
    message = f"lease taken by incident {owner} until {lease['expires_at']}"
    if previous:
        message = f"lease taken over from {describe(previous)} (expired: that run is gone); " + message
    if waited_for:
        message += f", after waiting {waited:g} s for {describe(waited_for)}"
    return {"changed": True, "acquired": True, "lease": lease, "previous": previous, "waited": waited,
            "waited_for": waited_for, "message": message, "path": path}  # fmt: skip


def release(unit: str, owner: str, *, folder: str = DEFAULT_DIR, dry_run: bool = False) -> dict:
    """Remove the unit's lease when it is ``owner``'s; one that another owner took over meanwhile (ours having
    expired) is left alone and said so. Raises LeaseError when the lease cannot be used."""
    try:
        return _release(unit, owner, folder=folder, dry_run=dry_run)
    except OSError as exc:
        raise LeaseError(f"cannot use the lease of {unit} in {folder}: {exc.strerror}") from None


def _release(unit: str, owner: str, *, folder: str, dry_run: bool) -> dict:
    path = lease_path(folder, unit)
    unchanged = {"changed": False, "acquired": False, "previous": None, "waited": 0.0, "waited_for": None,
                 "path": path}  # fmt: skip
    with guarded(folder, create=False):
        current = read_lease(path)
        if current is None:
            return {**unchanged, "message": "no lease to release"}
        if current.get("owner") != owner:
            return {**unchanged, "message": f"not released: the lease is {describe(current)} now (ours expired)"}
        if not dry_run:
            os.unlink(path)
    return {**unchanged, "changed": True, "message": f"lease of incident {owner} released"}
