#!/usr/bin/python
# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: unit_evidence
short_description: Read a systemd unit's state, health, logs and quarantine in one call
version_added: 0.1.0
description:
  - Everything a diagnosis needs from a host, read in one module run instead of one per question (each
    task is a round trip to the host), namely the unit's properties, the service's health answer, the unit's
    journal, C(systemctl status), the kernel log, and whether the unit is quarantined after suspected
    tampering (a file O(quarantine_dir)/<unit>.json written by the cache_purge role).
  - Read-only; runs the same in check mode. A collector that fails is reported in its own field and never
    fails the module, so evidence collection can never block a remediation. Only a malformed O(unit) fails.
author: incident.remediation contributors
options:
  unit:
    description: The systemd unit, for example C(demo-app.service).
    type: str
    required: true
  logs:
    description: Collect the journal, C(systemctl status) and the kernel log (else only state, health and quarantine).
    type: bool
    default: true
  journal_lines:
    description: Journal lines of the unit kept.
    type: int
    default: 200
  journal_since:
    description:
      - Read the journal over the last this many seconds (the runbooks' C(journalctl -u <unit> --since "1 hour ago")
        is C(3600)), still at most O(journal_lines) lines (the newest) and O(journal_bytes) bytes; C(0) reads the
        last O(journal_lines) lines whenever they were written. RV(journal_window) says what the text covers.
    type: int
    default: 0
  journal_bytes:
    description: Bytes of journal kept at most (the newest; the text says how much was cut), so a noisy unit cannot
      fill the controller; C(0) keeps the lines whatever their size.
    type: int
    default: 262144
  version:
    description:
      - Where the service's running version is read (seed 001 4.2 "check the most recent deploy"), returned in
        RV(version); omitted, none is read. A version is kept only when it is one (letters, digits and C(._+-), at
        most 128); anything else is said in the error, clipped.
    type: dict
    suboptions:
      source:
        description:
          - C(symlink), the release the link O(version.path)/current points to (C(releases/<version>)).
          - C(git), the commit checked out in the working tree O(version.path), read from its C(.git) files (HEAD,
            the loose or packed ref); no git runs, so nothing the tree's own config or hooks name can.
          - C(url), the JSON field O(version.field) of O(version.url)'s answer (seed 001's C(/api/system/version)).
          - C(command), the first line O(version.command) prints (no shell, bounded by O(version.timeout), also in
            check mode, so it must be a read).
        type: str
        required: true
        choices: [symlink, git, url, command]
      path:
        description: C(symlink) the deployment root holding C(current), C(git) the working tree; absolute.
        type: path
      url:
        description: C(url) the version endpoint (http or https).
        type: str
      field:
        description: C(url) the answer's field holding the version, a dotted path.
        type: str
        default: version
      command:
        description: C(command) the argv printing the version, as O(health_command).
        type: list
        elements: str
      timeout:
        description: Seconds for the URL's answer or the command.
        type: float
        default: 5
  coredump_since:
    description:
      - Look for the unit's core dumps that systemd-coredump stored in the last this many seconds (seed 002 P1-001
        step 3), the newest 3 described in RV(coredumps) with C(coredumpctl info) each (capped at 64 KiB, the
        metadata and the stack trace). C(0) looks for none. A host without C(coredumpctl) says so.
    type: int
    default: 0
  coredump_dir:
    description:
      - Where on the host a dump is copied as it is stored (compressed), so that systemd-coredump's vacuum or
        tmpfiles cleaning cannot take it before it is looked at; empty leaves it where it is and says its path.
      - The dump never goes to the controller, being the process's memory, its secrets included, and often large.
        Not written in check mode.
    type: path
    default: ""
  coredump_max_size:
    description: Bytes of a stored dump copied at most; a bigger one is left where systemd-coredump keeps it.
    type: int
    default: 67108864
  dmesg_lines:
    description: Kernel log lines kept (the last ones).
    type: int
    default: 100
  health_url:
    description: The service's health endpoint, asked once; empty skips it.
    type: str
    default: ""
  health_expect:
    description: JSON fields the health answer must have (dotted paths), as in M(incident.remediation.http_health).
    type: dict
    default: {}
  health_status_code:
    description: HTTP statuses that count as healthy.
    type: list
    elements: int
    default: [200]
  health_timeout:
    description: Seconds to wait for the health answer.
    type: float
    default: 5
  health_command:
    description:
      - The service's own health command (seed 003's C(scripts/health_check.sh)), run once; exit status 0 is healthy.
        Instead of O(health_url) or beside it (then both must be healthy).
      - An argv list, never a shell, so an argument with spaces or C(;) stays one argument. The program is an
        absolute path or a bare name found on the host's PATH; anything else is refused.
      - It runs in check mode too, being a read, so it must be a read-only script. Its stdin is closed, its
        working directory is C(/), and the tails of its stdout and stderr (2 KiB each) are kept in RV(health).
    type: list
    elements: str
    default: []
  health_command_timeout:
    description: Seconds the health command may take; then its whole process group is killed and it is unhealthy.
    type: float
    default: 10
  quarantine_dir:
    description: Where quarantine files are; the unit is quarantined when O(quarantine_dir)/<unit>.json exists.
    type: path
    default: /var/lib/incident-remediation/quarantine
  lease:
    description:
      - Take the unit's lease first, as M(incident.remediation.unit_lock) takes it, then read the host. That is one
        module run for the incident's acknowledge, and a read made after any wait for another mitigation's lease,
        so it sees what that mitigation left. Without it no lease is taken.
      - A lease still held by another owner after O(lease.wait) seconds does not fail the read; RV(lease) says
        so (C(acquired) false, C(waited_for), C(msg)), and the caller refuses to act.
    type: dict
    suboptions:
      owner:
        description: Who takes the lease, the incident id.
        type: str
        required: true
      holder:
        description: What holds it, in words shown to whoever has to wait.
        type: str
        default: ""
      wait:
        description: Seconds to wait for a lease held by another owner.
        type: float
        default: 180
      ttl:
        description: Seconds the lease is valid from when it is taken.
        type: int
        default: 1800
      dir:
        description: Where the leases are kept on the host.
        type: path
        default: /var/lib/incident-remediation/locks
attributes:
  check_mode:
    description: Can run in check mode and report what it would change, without changing anything.
    support: full
    details: With O(lease), the lease is read and waited for as it would be, and nothing is written; no core dump
      is copied (each says where it would go).
  diff_mode:
    description: Returns details of what changed (or would change in check mode) when run with C(--diff).
    support: none
seealso:
  - module: incident.remediation.http_health
  - module: incident.remediation.service_restart
"""

EXAMPLES = r"""
- name: Diagnose - everything from the host in one round trip
  incident.remediation.unit_evidence:
    unit: demo-app.service
    health_url: http://127.0.0.1:8080/health
    health_expect: {status: ready}
  register: host_evidence

- name: Health by the service's own script (seed 003's health_check.sh), bounded to 20 s
  incident.remediation.unit_evidence:
    unit: genesis-orchestration.service
    health_command: [/home/genesis/genesis-rebuild/scripts/health_check.sh]
    health_command_timeout: 20
    logs: false

- name: Diagnose over the runbooks' last hour - the journal, the release running, the unit's core dumps
  incident.remediation.unit_evidence:
    unit: demo-app.service
    journal_since: 3600
    version: {source: symlink, path: /opt/demo-app}
    coredump_since: 3600
    coredump_dir: /var/lib/incident-remediation/evidence/INC-20261123T193000-a1b2c3d4

- name: The running version by the service's own endpoint (seed 001's /api/system/version)
  incident.remediation.unit_evidence:
    unit: omniroute.service
    logs: false
    version: {source: url, url: "http://127.0.0.1:20128/api/system/version", field: version}

- name: Only the state and health, no logs (a preflight)
  incident.remediation.unit_evidence:
    unit: demo-app.service
    health_url: http://127.0.0.1:8080/health
    logs: false

- name: Acknowledge - take the unit's lease for this incident, then read the host, in one module run
  incident.remediation.unit_evidence:
    unit: demo-app.service
    health_url: http://127.0.0.1:8080/health
    lease: {owner: INC-20261123T193000-a1b2c3d4, holder: restart from ctl1, wait: 180, ttl: 1800}
"""

RETURN = r"""
unit:
  description: The unit's properties (C(systemctl show)); empty when systemctl could not be asked.
  returned: always
  type: dict
  sample: {ActiveState: failed, SubState: failed, LoadState: loaded, MainPID: "0", NRestarts: "2", Result: signal}
exists:
  description: Whether systemd knows the unit (C(LoadState) is not C(not-found)).
  returned: always
  type: bool
healthy:
  description: The unit is active and, with O(health_url) or O(health_command), the service healthy by them.
  returned: always
  type: bool
health:
  description:
    - The health answer (status, json, body, error, healthy); empty without O(health_url) and O(health_command).
    - With O(health_command) alone, its run (command, status as its exit status, stdout, stderr, seconds,
      timed_out, error, healthy); beside O(health_url), that run is under C(command) and the errors are joined.
  returned: always
  type: dict
logs:
  description: C(journal), C(status) and C(dmesg) as text (a collector that failed says why); empty with O(logs=false).
  returned: always
  type: dict
journal_window:
  description: What C(logs.journal) covers (since, as UTC, empty without O(journal_since); seconds; lines; bytes);
    empty with O(logs=false).
  returned: always
  type: dict
  sample: {since: "2026-12-01T22:10:00Z", seconds: 3600, lines: 200, bytes: 262144}
version:
  description: With O(version), the running version (source, from, version, error); empty without.
  returned: always
  type: dict
  sample: {source: symlink, from: /opt/demo-app/current, version: 1.1.0, error: ""}
coredumps:
  description:
    - With O(coredump_since), C(note) (how many, or why none were read) and C(dumps), the newest 3, each with pid,
      signal, exe, time, size, info (C(coredumpctl info)), storage (where systemd-coredump keeps it), kept (the
      copy's path on the host, or why none was made) and sha256 (of the copy). Empty without.
  returned: always
  type: dict
quarantine:
  description: The quarantine file's content (unit, incident, since, reason) when the unit is quarantined, else null.
  returned: always
  type: dict
errors:
  description: What could not be read, one line each.
  returned: always
  type: list
  elements: str
lease:
  description:
    - With O(lease), what M(incident.remediation.unit_lock) returns (acquired, lease, previous, waited, waited_for,
      message, path); when the lease was not taken, C(acquired) is false and C(msg) says why (held by another
      owner past the wait, then C(waited_for) names it; or the lease file cannot be used). Empty without O(lease).
  returned: always
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.remediation.plugins.module_utils.budget import check_unit
from ansible_collections.incident.remediation.plugins.module_utils.health import (
    COMMAND_TIMEOUT,
    command_problem,
    health_check,
)
from ansible_collections.incident.remediation.plugins.module_utils.host_evidence import (
    JOURNAL_BYTES,
    SOURCES,
    cap_tail,
    coredumps,
    journal_argv,
    journal_window,
    read_version,
    version_problem,
)
from ansible_collections.incident.remediation.plugins.module_utils.lease import (
    DEFAULT_DIR,
    LeaseError,
    check_lease_params,
    lease_path,
    take,
)

PROPERTIES = (
    "LoadState,ActiveState,SubState,Result,MainPID,NRestarts,ExecMainStatus,ExecMainCode,"
    "ActiveEnterTimestamp,InactiveEnterTimestamp,MemoryMax,MemoryCurrent,FragmentPath,DropInPaths"
)


def run(module, argv: list[str], errors: list[str]) -> str:
    """The command's output; its failure goes to ``errors`` and into the text (evidence, not a fault)."""
    try:
        rc, out, err = module.run_command(argv, handle_exceptions=False)
    except OSError as exc:  # the binary is missing (a minimal host without dmesg)
        errors.append(f"{argv[0]}: {exc}")
        return f"not readable: {exc}"
    if rc != 0 and not out:
        errors.append(f"{' '.join(argv[:2])}: exit {rc}: {err.strip()[:200]}")
        return f"not readable (exit {rc}): {err.strip()}"
    return out + (err if rc != 0 else "")


def unit_state(module, unit: str, errors: list[str]) -> dict:
    text = run(module, ["systemctl", "show", unit, "-p", PROPERTIES], errors)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def health(params: dict) -> dict:
    """The health answer (URL, command or both), or {} when the service describes neither."""
    ask = health_check(params["health_url"], params["health_expect"], params["health_status_code"],
                       params["health_timeout"], command=params["health_command"],
                       command_timeout=params["health_command_timeout"])  # fmt: skip
    if ask is None:
        return {}
    healthy, seen = ask()
    return {**seen, "healthy": healthy}


def quarantine(folder: str, unit: str, errors: list[str]):
    path = os.path.join(folder, f"{unit}.json")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", errors="replace")  # any bytes: someone's stop sign
    except FileNotFoundError:
        return None
    except OSError as exc:
        errors.append(f"{path}: {exc.strerror}")
        return {"unit": unit, "reason": f"quarantine file {path} exists but cannot be read: {exc.strerror}"}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    # a quarantine file that is not what cache_purge writes still quarantines: it is someone's stop sign
    return data if isinstance(data, dict) else {"unit": unit, "reason": f"quarantine file {path}: {text[:200]}"}


def lease_first(module, unit: str, wanted: dict) -> dict:
    """Take the unit's lease before the read (waiting for another mitigation's, bounded); never fails the read."""
    if not wanted:
        return {}
    wrong = check_lease_params(wanted["owner"], wanted["wait"], wanted["ttl"])
    if wrong:
        module.fail_json(msg=f"lease: {wrong}")
    path = lease_path(wanted["dir"], unit)
    try:
        result = take(unit, wanted["owner"], holder=wanted["holder"], wait=wanted["wait"], ttl=wanted["ttl"],
                      folder=wanted["dir"], dry_run=module.check_mode)  # fmt: skip
    except LeaseError as exc:
        return {"acquired": False, "waited_for": None, "path": path, "msg": str(exc)}
    result.pop("failed", None)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "required": True},
            "logs": {"type": "bool", "default": True},
            "journal_lines": {"type": "int", "default": 200},
            "journal_since": {"type": "int", "default": 0},
            "journal_bytes": {"type": "int", "default": JOURNAL_BYTES},
            "version": {
                "type": "dict",
                "options": {
                    "source": {"type": "str", "required": True, "choices": list(SOURCES)},
                    "path": {"type": "path"},
                    "url": {"type": "str"},
                    "field": {"type": "str", "default": "version"},
                    "command": {"type": "list", "elements": "str"},
                    "timeout": {"type": "float", "default": 5},
                },
            },
            "coredump_since": {"type": "int", "default": 0},
            "coredump_dir": {"type": "path", "default": ""},
            "coredump_max_size": {"type": "int", "default": 64 * 1024 * 1024},
            "dmesg_lines": {"type": "int", "default": 100},
            "health_url": {"type": "str", "default": ""},
            "health_expect": {"type": "dict", "default": {}},
            "health_status_code": {"type": "list", "elements": "int", "default": [200]},
            "health_timeout": {"type": "float", "default": 5},
            "health_command": {"type": "list", "elements": "str", "default": []},
            "health_command_timeout": {"type": "float", "default": COMMAND_TIMEOUT},
            "quarantine_dir": {"type": "path", "default": "/var/lib/incident-remediation/quarantine"},
            "lease": {
                "type": "dict",
                "options": {
                    "owner": {"type": "str", "required": True},
                    "holder": {"type": "str", "default": ""},
                    "wait": {"type": "float", "default": 180},
                    "ttl": {"type": "int", "default": 1800},
                    "dir": {"type": "path", "default": DEFAULT_DIR},
                },
            },
        },
        supports_check_mode=True,
    )
    params = module.params
    unit = params["unit"]
    check_unit(module, unit)
    counts = ("journal_lines", "dmesg_lines", "journal_since", "journal_bytes", "coredump_since", "coredump_max_size")
    if any(params[name] < 0 for name in counts) or params["health_timeout"] <= 0:
        module.fail_json(msg=f"{', '.join(counts)} must be at least 0, health_timeout above 0")
    if params["health_command"]:
        wrong = command_problem(params["health_command"], params["health_command_timeout"])
        if wrong:
            module.fail_json(msg=f"{wrong}: nothing read")
    if params["version"]:
        wrong = version_problem(params["version"])
        if wrong:
            module.fail_json(msg=f"{wrong}: nothing read")
    lease = lease_first(module, unit, params["lease"] or {})  # first: the read then sees what a waited-for run left
    errors: list[str] = []
    state = unit_state(module, unit, errors)
    answer = health(params)
    logs = {}
    if params["logs"]:
        argv = journal_argv(unit, params["journal_lines"], params["journal_since"])
        logs["journal"] = cap_tail(run(module, argv, errors), params["journal_bytes"])
        logs["status"] = run(module, ["systemctl", "status", "--no-pager", "--full", unit], errors)
        dmesg = run(module, ["dmesg", "--ctime"], errors)
        logs["dmesg"] = "\n".join(dmesg.splitlines()[-params["dmesg_lines"] :]) if params["dmesg_lines"] else ""
    dumps = coredumps(module, unit, params["coredump_since"], keep_dir=params["coredump_dir"],
                      max_size=params["coredump_max_size"], errors=errors)  # fmt: skip
    active = state.get("ActiveState") == "active"
    module.exit_json(
        unit=state,
        exists=bool(state) and state.get("LoadState") != "not-found",
        healthy=active and (not answer or answer["healthy"]),
        health=answer,
        logs=logs,
        quarantine=quarantine(params["quarantine_dir"], unit, errors),
        errors=errors,
        lease=lease,
        journal_window=journal_window(params["journal_lines"], params["journal_since"], params["journal_bytes"])
        if params["logs"]
        else {},
        version=read_version(params["version"] or {}),
        coredumps=dumps,
        changed=bool(lease.get("changed")) or any(dump.pop("changed", False) for dump in dumps.get("dumps", [])),
    )


if __name__ == "__main__":
    main()
