#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: rollback_command
short_description: Run the operator's own rollback script with the version to return to
version_added: 0.2.0
description:
  - Seed 001's C(bin/rollback.sh vX.Y.Z), and docker-compose deployments, which only their own script knows how to
    switch. O(command) is run without a shell, the version appended as one more argv element, in its own
    process group, killed after O(timeout) seconds.
  - The version is O(version), or the newest version recorded good for O(unit) (by O(state=good), which the
    rollback role runs once a rolled-back service is proved healthy) that is not bad and not the one running. It
    must be a version (letters, digits and C(._+-), starting with a letter or digit), never an option, never two
    arguments.
  - With O(current_command), a command printing the version deployed, a service already on the version is not
    touched (idempotent) and the version rolled away from is recorded bad; without it the script is run whenever
    the role asks (it should be idempotent itself).
  - Never past the last green deploy. Without O(version), a service on the version the last rollback returned to
    (the newest version recorded bad was replaced by it) is not rolled back to an older one; the run is refused,
    saying so, and nothing is run (a second alert on the same incident, or one the rollback did not end, is
    people's). Known only with O(current_command). An O(version) named by an operator is run.
  - The script's stdout and stderr are kept as evidence in C(<evidence_dir>/<time>-<version>/), each capped to
    O(output_cap) bytes (the tail). A script that exits non-zero or runs out of time fails, saying so. Exit 0 is
    not success, the rollback role verifies the service's health afterwards.
  - In check mode only O(current_command) runs (it only reads) and nothing is written; it reports the command it
    would run.
author: incident.remediation contributors
attributes:
  check_mode:
    support: full
    description: Runs only O(current_command); reports the command it would run.
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
  idempotent:
    description: When run twice in a row with the same options, the second run changes nothing and reports no change.
    support: partial
    details: Idempotent with O(current_command); without it the script decides.
options:
  command:
    description: The script and its own arguments (an argv list, not a shell string), e.g. V([bin/rollback.sh]).
    type: list
    elements: str
    required: true
  version:
    description: The version to return to. Empty, the last good version recorded for O(unit).
    type: str
    default: ""
  unit:
    description: The service's systemd unit; names its record of good and bad versions.
    type: str
    required: true
  chdir:
    description: The directory to run the command in (e.g. the deployment's checkout).
    type: path
  timeout:
    description: Seconds the script may run; then its process group is killed and the run fails.
    type: int
    default: 300
  current_command:
    description: A command (argv) whose first line of output is the version deployed now. Empty, not known.
    type: list
    elements: str
    default: []
  state:
    description: V(rolled_back) runs the script; V(good) records O(version) good for O(unit).
    type: str
    choices: [rolled_back, good]
    default: rolled_back
  mark_bad:
    description: Record the version rolled away from bad (known only with O(current_command)).
    type: bool
    default: true
  reason:
    description: Why, recorded with the bad version.
    type: str
    default: rolled back
  output_cap:
    description: Bytes of stdout and of stderr kept (the tail).
    type: int
    default: 65536
  state_dir:
    description: Where the records of good and bad versions are kept, one file per unit.
    type: path
    default: /var/lib/incident-remediation/rollback
  evidence_dir:
    description: Where the script's output is kept. Default C(<state_dir>/<unit>/evidence).
    type: path
"""

EXAMPLES = r"""
- name: Roll back to the last green deploy, as seed 001 says (bin/rollback.sh vX.Y.Z)
  incident.remediation.rollback_command:
    command: [/srv/omniroute/bin/rollback.sh]
    chdir: /srv/omniroute
    version: v1.4.2
    unit: omniroute.service
    current_command: [/srv/omniroute/bin/version.sh]
"""

RETURN = r"""
previous:
  description: The version deployed before (from O(current_command)), or empty when not known.
  returned: always
  type: str
target:
  description: The version rolled back to (or that would be).
  returned: always
  type: str
argv:
  description: The command run (or that would be), the version its last element.
  returned: always
  type: list
  elements: str
exit_code:
  description: The script's exit status (none when not run, or killed at the timeout).
  returned: always
  type: int
stdout:
  description: The tail of the script's stdout, at most 4096 bytes (the whole capped output is in RV(evidence)).
  returned: always
  type: str
stderr:
  description: The tail of its stderr, at most 4096 bytes.
  returned: always
  type: str
marked_bad:
  description: The version recorded bad by this run, if any.
  returned: always
  type: str
evidence:
  description: The files holding the script's stdout and stderr.
  returned: always
  type: list
  elements: str
"""

import os
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.deployments import (
    STATE_DIR,
    Records,
    capped,
    check_version,
)


def run(argv: list[str], chdir: str | None, timeout: int) -> tuple[int | None, bytes, bytes, bool]:
    """(rc, stdout, stderr, timed out): its own session, so that a timeout kills what the script started too."""
    with subprocess.Popen(argv, cwd=chdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True) as process:  # fmt: skip
        try:
            out, err = process.communicate(timeout=timeout)
            return process.returncode, out, err, False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            return None, out, err, True


def current_version(module: AnsibleModule) -> str:
    argv = module.params["current_command"]
    if not argv:
        return ""
    try:
        rc, out, err, late = run(argv, module.params["chdir"], min(module.params["timeout"], 30))
    except OSError as exc:
        raise RuntimeError(f"cannot run current_command {argv[0]}: {exc}") from exc
    if late or rc != 0:
        raise RuntimeError(f"current_command {' '.join(argv)} failed ({'timed out' if late else rc}):"
                           f" {' '.join(capped(err, 500).split())}")  # fmt: skip
    lines = out.decode(errors="replace").strip().splitlines()
    return check_version(lines[0].strip()) if lines else ""


def roll_back(module: AnsibleModule, records: Records, result: dict) -> None:
    params = module.params
    previous = current_version(module)
    returned_to, replaced = records.returned_to()
    if previous and previous == returned_to and not params["version"]:
        # The tail of the same incident (seed 001: the slow burn after the fast one) or one the rollback did not
        # end: the version running is where the last rollback returned to, the last green deploy. Going on to an
        # older one would leave the service worse than the rollback did: people decide.
        raise ValueError(f"{previous} is the version the last rollback of {params['unit']} returned to (from"
                         f" {replaced}), the last green deploy: rolling back from it would go past it; name the"
                         " version to return to (rollback_version) to go further")  # fmt: skip
    target = params["version"] or records.last_good(besides=previous)
    if not target:
        raise ValueError(f"no good version recorded for {params['unit']} in {records.path}: name the version to"
                         " return to (rollback_version)")  # fmt: skip
    check_version(target)
    if target != previous and target in records.bad() and not params["version"]:
        raise ValueError(f"version {target} is recorded bad in {records.path}")
    argv = [*params["command"], target]
    result.update(previous=previous, target=target, argv=argv, changed=target != previous)
    if not result["changed"] or module.check_mode:
        return
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        rc, out, err, late = run(argv, params["chdir"], params["timeout"])
    except OSError as exc:
        raise RuntimeError(f"cannot run {argv[0]}: {exc}; nothing rolled back") from exc
    folder = os.path.join(params["evidence_dir"], f"{started}-{target}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for name, data in (("stdout.txt", out), ("stderr.txt", err)):
        path = os.path.join(folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(capped(data, params["output_cap"]))
        result["evidence"].append(path)
    result.update(exit_code=rc, stdout=capped(out, 4096), stderr=capped(err, 4096))
    if late or rc != 0:
        said = " ".join(capped(err or out, 400).split())
        how = f"ran out of its {params['timeout']} s and was killed" if late else f"exited {rc}"
        raise RuntimeError(f"{' '.join(argv)} {how}: {said or 'no output'} (output kept in {folder})")
    if previous and params["mark_bad"]:
        records.mark("bad", previous, reason=params["reason"], replaced_by=target, evidence=folder)
        result["marked_bad"] = previous


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "command": {"type": "list", "elements": "str", "required": True},
            "version": {"type": "str", "default": ""},
            "unit": {"type": "str", "required": True},
            "chdir": {"type": "path"},
            "timeout": {"type": "int", "default": 300},
            "current_command": {"type": "list", "elements": "str", "default": []},
            "state": {"type": "str", "choices": ["rolled_back", "good"], "default": "rolled_back"},
            "mark_bad": {"type": "bool", "default": True},
            "reason": {"type": "str", "default": "rolled back"},
            "output_cap": {"type": "int", "default": 65536},
            "state_dir": {"type": "path", "default": STATE_DIR},
            "evidence_dir": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    result = {"changed": False, "previous": "", "target": "", "argv": [], "exit_code": None, "stdout": "", "stderr": "",
              "marked_bad": None, "evidence": [], "invalid": False}  # fmt: skip
    try:
        if not params["command"] or not params["command"][0]:
            raise ValueError("command must name the rollback script (an argv list)")
        if params["timeout"] <= 0 or params["output_cap"] <= 0:
            raise ValueError("timeout and output_cap must be positive")
        records = Records(params["state_dir"], params["unit"])
        params["evidence_dir"] = params["evidence_dir"] or os.path.join(params["state_dir"], params["unit"], "evidence")
        if params["version"]:
            check_version(params["version"])
        if params["state"] == "good":
            if not params["version"]:
                raise ValueError("state=good needs the version proved good")
            newest = (records.read()["good"] or [{}])[-1].get("version")
            result.update(target=params["version"], changed=newest != params["version"])
            if result["changed"] and not module.check_mode:
                records.mark("good", params["version"], reason=params["reason"])
        else:
            roll_back(module, records, result)
    except ValueError as exc:
        module.fail_json(msg=f"{exc}: nothing run, nothing changed", **{**result, "invalid": True})
    except (RuntimeError, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
