#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: unit_lock
short_description: Take or release a unit's lease on the host, so that one mitigation at a time acts on it
version_added: 0.2.0
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
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: partial
    details: Taking a lease this owner holds renews its expiry.
seealso:
  - module: incident.remediation.service_restart
  - plugin: incident.remediation.incident
    plugin_type: role
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.budget import check_unit
from ansible_collections.incident.remediation.plugins.module_utils.lease import (
    DEFAULT_DIR,
    LeaseError,
    check_lease_params,
    lease_path,
    release,
    take,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "required": True},
            "owner": {"type": "str", "required": True},
            "holder": {"type": "str", "default": ""},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "wait": {"type": "float", "default": 180},
            "ttl": {"type": "int", "default": 1800},
            "dir": {"type": "path", "default": DEFAULT_DIR},
        },
        supports_check_mode=True,
    )
    params = module.params
    check_unit(module, params["unit"])
    wrong = check_lease_params(params["owner"], params["wait"], params["ttl"])
    if wrong:
        module.fail_json(msg=wrong)
    path = lease_path(params["dir"], params["unit"])
    try:
        if params["state"] == "present":
            result = take(params["unit"], params["owner"], holder=params["holder"], wait=params["wait"],
                          ttl=params["ttl"], folder=params["dir"], dry_run=module.check_mode)  # fmt: skip
        else:
            result = release(params["unit"], params["owner"], folder=params["dir"], dry_run=module.check_mode)
    except LeaseError as exc:
        module.fail_json(msg=str(exc), acquired=False, path=path)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
