#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: unit_lock
short_description: Take or release a unit's lease on the host, so that one mitigation at a time acts on it
version_added: 0.1.0
description:
  - One lock per unit per host for every mitigation, whoever runs it (an alert's job, an operator's rollback,
    config change or cache purge). Ansible cannot hold a file lock from one task to the next, so the lock is a
    B(lease) that outlives the module run, a JSON file O(dir)/<unit>.lease naming its O(owner) (the incident
    id), the O(holder) (what runs and from where) and when it expires; it is read and written under a short
    exclusive file lock (C(flock)) on the folder O(dir) itself, and replaced atomically.
  - With O(state=present) the lease is taken when it is free, already this O(owner)'s (taken again, its expiry
    renewed), or expired (a run that crashed or lost the host; taken over, and RV(previous) says whose it was).
    Held by another owner, the module waits up to O(wait) seconds for it, then fails with a message naming the
    holder, since when and until when.
  - With O(state=absent) the lease is removed when it is this O(owner)'s; a lease that another owner took over
    in the meantime (ours having expired) is left alone and said so.
  - The expiry is a time (epoch seconds of the host), never a process id, so a lease survives the run that took
    it exactly as long as O(ttl) and no longer.
  - In check mode nothing is written, nor is O(dir) created; the module waits and reports as it would.
author: incident.remediation contributors
options:
  unit:
    description: The systemd unit the lease is for, for example V(demo-app.service).
    type: str
    required: true
  owner:
    description: Who takes the lease, the incident id (letters, digits, C(._:-), at most 128 characters).
    type: str
    required: true
  holder:
    description: What holds it, in words shown to whoever has to wait (for example V(restart from ctl1)).
    type: str
    default: ""
  state:
    description: V(present) takes the lease, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description: Seconds to wait for a lease held by another owner before failing.
    type: float
    default: 180
  ttl:
    description: Seconds the lease is valid from when it is taken; after that another run may take it over.
    type: int
    default: 1800
  dir:
    description: Where the leases are kept on the host.
    type: path
    default: /var/lib/incident-remediation/locks
attributes:
  check_mode:
    support: full
    description: Reads the lease, waits and reports; writes nothing and creates no folder.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Taking a lease this owner holds renews its expiry.
seealso:
  - module: incident.remediation.service_restart
  - role: incident.remediation.incident
"""

EXAMPLES = r"""
- name: Lock the unit for this incident (one mitigation at a time on the host)
  incident.remediation.unit_lock:
    unit: demo-app.service
    owner: INC-20261123T193000-a1b2c3d4
    holder: restart from ctl1
    wait: 180
    ttl: 1800
  register: lock

- name: Release it, whatever the mitigation did
  incident.remediation.unit_lock:
    unit: demo-app.service
    owner: INC-20261123T193000-a1b2c3d4
    state: absent
"""

RETURN = r"""
acquired:
  description: The lease is this owner's now (with O(state=present); in check mode, it would be).
  returned: always
  type: bool
lease:
  description: The lease as written (unit, owner, holder, host, acquired_at, expires_at, both also as epoch seconds).
  returned: with O(state=present)
  type: dict
previous:
  description: The expired lease of another owner that was taken over, else null.
  returned: always
  type: dict
waited:
  description: Seconds spent waiting for another owner's lease.
  returned: always
  type: float
  sample: 12.5
waited_for:
  description:
    - The other owner's lease this run found and waited for (it may have changed the unit meanwhile), else null.
      A caller that read the host before taking the lease reads it again when this is set.
  returned: always
  type: dict
message:
  description: What happened, in words, for example C(lease taken over from incident INC-1, expired at ...).
  returned: always
  type: str
path:
  description: The lease file on the host.
  returned: always
  type: str
"""

import contextlib
import fcntl
import json
import os
import re
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.budget import check_unit, write_record

OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
POLL = 0.5


class LeaseError(Exception):
    """The lease file cannot be used; the message says what to do."""


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


def try_take(params: dict, path: str, dry_run: bool) -> tuple[dict | None, dict | None, dict | None]:
    """One attempt: (lease taken, expired lease taken over, lease held by another owner)."""
    with guarded(params["dir"], create=not dry_run):
        now = time.time()
        current = read_lease(path)
        if current and current.get("owner") != params["owner"] and current["expires"] > now:
            return None, None, current
        previous = current if current and current.get("owner") != params["owner"] else None
        lease = {"owner": params["owner"], "holder": params["holder"], "host": socket.gethostname(),
                 "acquired": now, "acquired_at": _when(now), "expires": now + params["ttl"],
                 "expires_at": _when(now + params["ttl"])}  # fmt: skip
        if not dry_run:
            write_record(path, params["unit"], lease, prefix=".lease-")
        return {"unit": params["unit"], **lease}, previous, None


def take(module, params: dict, path: str) -> None:
    started = time.monotonic()
    waited_for = None
    while True:
        lease, previous, held = try_take(params, path, module.check_mode)
        waited = round(time.monotonic() - started, 2)
        if lease:
            break
        waited_for = held
        if waited >= params["wait"]:
            module.fail_json(
                msg=(f"refused: {params['unit']} on this host is locked by {describe(held)}, another mitigation "
                     f"being under way; waited {waited:g} s. Retry once it is over; if that run is gone, the lease "
                     f"{path} expires by itself at {held.get('expires_at', '?')} (or remove it after checking)"),
                acquired=False, previous=None, waited=waited, waited_for=held, path=path,
            )  # fmt: skip
        time.sleep(min(POLL, max(params["wait"] - waited, 0.01)))
    message = f"lease taken by incident {params['owner']} until {lease['expires_at']}"
    if previous:
        message = f"lease taken over from {describe(previous)} (expired: that run is gone); " + message
    if waited_for:
        message += f", after waiting {waited:g} s for {describe(waited_for)}"
    module.exit_json(changed=True, acquired=True, lease=lease, previous=previous, waited=waited,
                     waited_for=waited_for, message=message, path=path)  # fmt: skip


def release(module, params: dict, path: str) -> None:
    with guarded(params["dir"], create=False):
        current = read_lease(path)
        if current is None:
            module.exit_json(changed=False, acquired=False, previous=None, waited=0.0, waited_for=None, path=path,
                             message="no lease to release")  # fmt: skip
        if current.get("owner") != params["owner"]:
            module.exit_json(changed=False, acquired=False, previous=None, waited=0.0, waited_for=None, path=path,
                             message=f"not released: the lease is {describe(current)} now (ours expired)")  # fmt: skip
        if not module.check_mode:
            os.unlink(path)
    module.exit_json(changed=True, acquired=False, previous=None, waited=0.0, waited_for=None, path=path,
                     message=f"lease of incident {params['owner']} released")  # fmt: skip


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "required": True},
            "owner": {"type": "str", "required": True},
            "holder": {"type": "str", "default": ""},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "wait": {"type": "float", "default": 180},
            "ttl": {"type": "int", "default": 1800},
            "dir": {"type": "path", "default": "/var/lib/incident-remediation/locks"},
        },
        supports_check_mode=True,
    )
    params = module.params
    check_unit(module, params["unit"])
    if not OWNER.match(params["owner"]):
        module.fail_json(msg=f"owner {params['owner']!r} must be an incident id (letters, digits, ._:-, at most 128)")
    if params["wait"] < 0 or params["ttl"] < 1:
        module.fail_json(msg="wait must be at least 0 and ttl at least 1 second")
    params["holder"] = " ".join(params["holder"].split())[:200]  # one line, shown in other runs' refusals
    path = os.path.join(params["dir"], f"{params['unit']}.lease")
    try:
        (take if params["state"] == "present" else release)(module, params, path)
    except LeaseError as exc:
        module.fail_json(msg=str(exc), acquired=False, path=path)
    except OSError as exc:
        module.fail_json(msg=f"cannot use the lease of {params['unit']} in {params['dir']}: {exc.strerror}",
                         acquired=False, path=path)  # fmt: skip


if __name__ == "__main__":
    main()
