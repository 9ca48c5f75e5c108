#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: unit_memory
short_description: Read the host's memory and a systemd unit's OOM kills, on the host
version_added: 0.2.0
description:
  - Reads the host's C(MemTotal) (C(/proc/meminfo)), and the OOM kills of the unit's cgroup while it runs
    (C(oom_kill) of C(memory.events) on cgroup v2, of C(memory.oom_control) in the memory controller on cgroup v1).
  - With O(since), also the unit's journal lines since then that say a process was killed for memory
    (C(killed by the OOM killer), C(result 'oom-kill'), and on cgroup v1, where systemd only sees the signal,
    C(status=9/KILL)).
  - A unit's cgroup is made anew at each start, so its counter counts from the last start; compare two reads of
    one run, and the journal since the change, to tell whether the unit was OOM-killed since.
  - Read-only; runs the same in check mode.
author: incident.remediation contributors
options:
  unit:
    description: The systemd unit, for example C(demo-app.service).
    type: str
    required: true
  since:
    description: Seconds since the epoch; the journal is read from then. V(0) does not read the journal.
    type: float
    default: 0
attributes:
  check_mode:
    description: Can run in check mode and report what it would change, without changing anything.
    support: full
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
seealso:
  - module: incident.remediation.unit_evidence
"""

EXAMPLES = r"""
- name: The host's memory and the unit's OOM kills since its change
  incident.remediation.unit_memory:
    unit: demo-app.service
    since: "{{ changed_at }}"
  register: memory
"""

RETURN = r"""
memtotal_bytes:
  description: The host's MemTotal in bytes.
  returned: always
  type: int
  sample: 25276502016
cgroup:
  description: The unit's control group (C(systemctl show -p ControlGroup)); empty when it does not run.
  returned: always
  type: str
  sample: /system.slice/demo-app.service
cgroup_version:
  description: V(v2) or V(v1) as read, empty when no counter could be read.
  returned: always
  type: str
oom_kills:
  description: OOM kills in the unit's cgroup since it started; V(null) when not readable.
  returned: always
  type: int
main_pid:
  description: The unit's main PID (0 when it does not run).
  returned: always
  type: int
n_restarts:
  description: The unit's NRestarts.
  returned: always
  type: int
oom_journal:
  description: The unit's journal lines since O(since) that say a process was killed for memory (at most 20).
  returned: always
  type: list
  elements: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.budget import check_unit

MEMINFO = "/proc/meminfo"
OOM_LINE = re.compile(r"OOM killer|oom-kill|Out of memory|status=9/KILL", re.IGNORECASE)
COUNTERS = (("v2", "/sys/fs/cgroup{0}/memory.events"), ("v2", "/sys/fs/cgroup/unified{0}/memory.events"),
            ("v1", "/sys/fs/cgroup/memory{0}/memory.oom_control"))  # fmt: skip


def memtotal(path: str) -> int:
    with open(path, encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise ValueError(f"no MemTotal in {path}")


def oom_kills(cgroup: str) -> tuple[str, int | None]:
    """(cgroup version, the counter) of the unit's cgroup; ('', None) when none could be read."""
    if not cgroup:
        return "", None
    for version, pattern in COUNTERS:
        try:
            with open(pattern.format(cgroup), encoding="ascii") as handle:
                for line in handle:
                    name, _, value = line.partition(" ")
                    if name == "oom_kill":
                        return version, int(value)
        except (OSError, ValueError):
            continue
    return "", None


def main() -> None:
    module = AnsibleModule(
        argument_spec={"unit": {"type": "str", "required": True}, "since": {"type": "float", "default": 0}},
        supports_check_mode=True,
    )
    unit, since = module.params["unit"], module.params["since"]
    check_unit(module, unit)
    if since < 0:
        module.fail_json(msg="since must be seconds since the epoch, 0 or more")
    rc, out, err = module.run_command(["systemctl", "show", unit, "-p", "ControlGroup,MainPID,NRestarts"])
    if rc != 0:
        module.fail_json(msg=f"cannot ask systemd about {unit}: systemctl show exited {rc}: {err.strip()[:200]}")
    state = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    version, kills = oom_kills(state.get("ControlGroup", ""))
    lines: list[str] = []
    if since:
        rc, out, err = module.run_command(["journalctl", "-u", unit, "--no-pager", "-o", "short-iso-precise",
                                           "--since", f"@{since:.6f}"])  # fmt: skip
        if rc != 0:
            module.fail_json(msg=f"cannot read the journal of {unit}: journalctl exited {rc}: {err.strip()[:200]}")
        lines = [line for line in out.splitlines() if OOM_LINE.search(line)][-20:]
    try:
        total = memtotal(MEMINFO)
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"cannot read the host's memory: {exc}")
    module.exit_json(changed=False, memtotal_bytes=total, cgroup=state.get("ControlGroup", ""),
                     cgroup_version=version, oom_kills=kills, main_pid=int(state.get("MainPID") or 0),
                     n_restarts=int(state.get("NRestarts") or 0), oom_journal=lines)  # fmt: skip


if __name__ == "__main__":
    main()
