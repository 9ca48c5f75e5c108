#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: unit_environment
short_description: Check chosen environment variables of a systemd unit's running process, on the host
version_added: 0.2.0
description:
  - Reads C(/proc/<MainPID>/environ) of the unit's main process on the host and returns only the variables
    named in O(names), with the user and password of every URL in them redacted (C(http://***@proxy:3128)).
    The rest of the environment (tokens, passwords, keys of the service) never leaves the host, so it is in
    no task result, runner artifact, AWX job event or timeline.
  - Compares on the host what the process has with O(expect) (values that must be set) and O(absent) (names
    that must not be set), and says in RV(message) what differs, redacted.
  - Waits up to O(wait) seconds for the unit to have a main process (just after a restart it may not yet).
  - Read-only; runs the same in check mode. Fails only on bad input, a unit without a running main process
    after O(wait), or an environment it may not read (it needs root; in a container, CAP_SYS_PTRACE).
author: incident.remediation contributors
options:
  unit:
    description: The systemd unit, for example C(demo-app.service).
    type: str
    required: true
  names:
    description: The variables to read, exact names (C(HTTP_PROXY) and C(http_proxy) are two). Nothing else is read.
    type: list
    elements: str
    required: true
  expect:
    description:
      - Name to the value it must have; every name must be in O(names). Compared on the host.
      - Never logged (it may hold credentials); a returned value equal to one of these is shown masked.
    type: dict
    default: {}
  absent:
    description: Names that must not be set; every one must be in O(names) and none in O(expect).
    type: list
    elements: str
    default: []
  wait:
    description: Seconds to wait for the unit to have a main process.
    type: int
    default: 10
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
- name: The running process has the proxy settings asked for
  incident.remediation.unit_environment:
    unit: demo-app.service
    names: [HTTP_PROXY, HTTPS_PROXY, NO_PROXY]
    expect:
      HTTPS_PROXY: http://proxy.internal.test:3128
      NO_PROXY: localhost,127.0.0.1
  register: seen

- name: Fail with what differs (credentials redacted)
  ansible.builtin.assert:
    that: seen.matches
    fail_msg: "{{ seen.message }}"

- name: No proxy variable is left in the running process
  incident.remediation.unit_environment:
    unit: demo-app.service
    names: [HTTP_PROXY, HTTPS_PROXY, NO_PROXY, http_proxy, https_proxy, no_proxy]
    absent: [HTTP_PROXY, HTTPS_PROXY, NO_PROXY, http_proxy, https_proxy, no_proxy]
"""

RETURN = r"""
pid:
  description: The main process whose environment was read.
  returned: always
  type: int
  sample: 4242
environment:
  description: The variables of O(names) that are set, each value with URL credentials redacted.
  returned: always
  type: dict
  sample: {HTTPS_PROXY: "http://***@corp.proxy.test:3128", NO_PROXY: "localhost,127.0.0.1"}
missing:
  description: Names of O(expect) that are not set.
  returned: always
  type: list
  elements: str
different:
  description: Names of O(expect) set to another value.
  returned: always
  type: list
  elements: str
unwanted:
  description: Names of O(absent) that are set.
  returned: always
  type: list
  elements: str
matches:
  description: Nothing is missing, different or unwanted.
  returned: always
  type: bool
message:
  description: >-
    What the process has, in words, redacted, for example
    C(PID 4242: HTTPS_PROXY is http://***@corp.proxy.test:3128, not the value asked for; NO_PROXY is not set).
  returned: always
  type: str
"""

import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.budget import check_unit
from ansible_collections.incident.remediation.plugins.module_utils.text import redact_userinfo

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


class NotRunning(Exception):
    """The unit has no main process (yet, or any more)."""


STATE = ("LoadState", "ActiveState", "SubState", "Result")


def main_process(module, unit: str) -> int:
    rc, out, err = module.run_command(["systemctl", "show", unit, "-p", ",".join(("MainPID", *STATE))])
    if rc != 0:
        module.fail_json(msg=f"cannot ask systemd about {unit}: systemctl show exited {rc}: {err.strip()[:200]}")
    state = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    pid = int(state.get("MainPID") or 0)
    if pid <= 0:
        raise NotRunning(", ".join(f"{k}={state.get(k, '?')}" for k in STATE))
    return pid


def read_environment(pid: int, names: set[str]) -> dict[str, str]:
    """Only the variables in ``names`` of the process (the rest is read and dropped here, on the host)."""
    with open(f"/proc/{pid}/environ", "rb") as handle:
        raw = handle.read()
    found = {}
    for entry in raw.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        text = name.decode("utf-8", "replace")
        if sep and text in names:
            found[text] = value.decode("utf-8", "replace")
    return found


def running_environment(module, params: dict) -> tuple[int, dict[str, str]]:
    """(pid, variables), waiting up to ``wait`` s for a main process that stays long enough to be read."""
    unit, deadline = params["unit"], time.monotonic() + params["wait"]
    while True:
        try:
            pid = main_process(module, unit)
            return pid, read_environment(pid, set(params["names"]))
        except (NotRunning, FileNotFoundError, ProcessLookupError) as exc:
            if time.monotonic() >= deadline:
                state = str(exc) if isinstance(exc, NotRunning) else "its main process ended while being read"
                module.fail_json(msg=f"{unit} has no running main process after {params['wait']} s ({state}): "
                                     f"see systemctl status {unit} and journalctl -u {unit}")  # fmt: skip
            time.sleep(0.25)
        except PermissionError:
            module.fail_json(msg=f"may not read /proc/{pid}/environ of {unit}: run the module as root "
                                 "(in a container, root also needs CAP_SYS_PTRACE)")  # fmt: skip


def check_input(module, params: dict) -> None:
    check_unit(module, params["unit"])
    names, expect, absent = params["names"], params["expect"], params["absent"]
    bad = [n for n in [*names, *expect, *absent] if not isinstance(n, str) or not NAME.match(n)]
    if bad:
        module.fail_json(msg=f"not environment variable names (letters, digits, '_'; not a digit first): {bad!r}")
    outside = sorted((set(expect) | set(absent)) - set(names))
    if outside:
        module.fail_json(msg=f"expect and absent may only use names that are read (names): {outside}")
    both = sorted(set(expect) & set(absent))
    if both:
        module.fail_json(msg=f"a name cannot be both expected and absent: {both}")
    if params["wait"] < 0:
        module.fail_json(msg="wait must be at least 0")
    if not all(isinstance(v, str) for v in expect.values()):
        module.fail_json(msg="every value of expect must be a string (an environment holds only text)")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "required": True},
            "names": {"type": "list", "elements": "str", "required": True},
            "expect": {"type": "dict", "default": {}, "no_log": True},
            "absent": {"type": "list", "elements": "str", "default": []},
            "wait": {"type": "int", "default": 10},
        },
        supports_check_mode=True,
    )
    params = module.params
    check_input(module, params)
    pid, found = running_environment(module, params)
    shown = {name: redact_userinfo(value) for name, value in sorted(found.items())}
    missing = sorted(n for n in params["expect"] if n not in found)
    different = sorted(n for n, v in params["expect"].items() if n in found and found[n] != v)
    unwanted = sorted(n for n in params["absent"] if n in found)
    said = [f"{n} is {shown[n]}, not the value asked for" for n in different]
    said += [f"{n} is not set" for n in missing]
    said += [f"{n} is set ({shown[n]}) but should not be" for n in unwanted]
    module.exit_json(
        changed=False,
        pid=pid,
        environment=shown,
        missing=missing,
        different=different,
        unwanted=unwanted,
        matches=not said,
        message=f"PID {pid}: " + ("; ".join(said) if said else "has the variables asked for"),
    )


if __name__ == "__main__":
    main()
