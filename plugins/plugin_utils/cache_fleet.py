# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tampering is a fleet event (seed 000, runbook 4B: "STOP ALL ONEIRIC INSTANCES"): the cache purge's decision.

Every host of the play verifies its cache and reports what it found; this decides once, for all of them:

- corruption is counted across the hosts of a group: one corrupted artifact on each of ten hosts is ten
  corrupted artifacts against the threshold, not ten small corruptions;
- a manifest that failed its verification (a bad or missing signature, a copy that differs from the trusted
  one) on any host of a group is suspected tampering whatever the count, and ``allow_tampered`` does not
  lift it (the manifest is what every artifact is judged by);
- suspected tampering stops the service on every host of the group (hosts outside the play included), and
  raises one escalation for the group, on one host (the first of the play with findings), naming every host
  stopped.

Pure: reports in, decision out (tests/unit/plugins/plugin_utils/test_cache_fleet.py).
"""

from __future__ import annotations


class FleetError(ValueError):
    """A report that does not say what the decision needs: the role's defect."""


def _paths(report: dict, key: str, host: str) -> list[str]:
    value = report.get(key, [])
    if not isinstance(value, list) or not all(isinstance(path, str) for path in value):
        raise FleetError(f"the report of {host}: {key} must be a list of paths")
    return value


def _group_of(report: dict, host: str) -> tuple[str, list[str]]:
    group, hosts = report.get("group") or "", report.get("group_hosts") or []
    if not isinstance(group, str) or not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise FleetError(f"the report of {host}: group must be a name and group_hosts a list of hosts")
    return (group or host), sorted(set(hosts) | {host})


def decide(reports: dict, token: str, threshold: int, allow_tampered: bool = False) -> dict:
    """The fleet's decision from each host's report of this run (``token``; older reports are ignored).

    A report: ``{token, group, group_hosts, clean, corrupted: [paths], unexpected: [paths], manifest: {ok, reason}}``
    (``manifest`` absent or ``ok`` None: not verified, nothing configured). Returns ``security`` (any group),
    ``stop`` (every host to stop, sorted), ``archive`` (those of them whose cache no evidence step of their own
    archives: every host stopped but the play's hosts whose cache is not clean), ``escalations`` (one per group
    suspected) and ``hosts`` (each reporting host: its group, whether it is stopped, whether it raises its group's
    escalation).
    """
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 0:
        raise FleetError(f"threshold must be a whole number >= 0, got {threshold!r}")
    groups: dict[str, dict] = {}
    current = {host: report for host, report in reports.items() if isinstance(report, dict)
               and report and report.get("token") == token}  # fmt: skip
    for host, report in current.items():
        label, hosts = _group_of(report, host)
        group = groups.setdefault(label, {"group": label, "hosts": set(), "reporting": [], "findings": {},
                                          "manifest_failed": {}, "corrupted": 0, "unexpected": 0})  # fmt: skip
        group["hosts"].update(hosts)
        group["reporting"].append(host)
        corrupted, unexpected = _paths(report, "corrupted", host), _paths(report, "unexpected", host)
        if corrupted or unexpected:
            group["findings"][host] = {"corrupted": corrupted, "unexpected": unexpected}
        group["corrupted"] += len(corrupted)
        group["unexpected"] += len(unexpected)
        manifest = report.get("manifest") or {}
        if manifest.get("ok") is False:
            group["manifest_failed"][host] = str(manifest.get("reason") or "failed its verification")
    escalations = []
    for group in groups.values():
        bad = group["corrupted"] + group["unexpected"]
        tampered = bad > threshold and not allow_tampered
        if not (group["manifest_failed"] or tampered):
            continue
        kind = "manifest" if group["manifest_failed"] else "tampering"
        suspects = group["manifest_failed"] if kind == "manifest" else group["findings"]
        raised_on = next(host for host in group["reporting"] if host in suspects)
        counted = (
            f"{bad} corrupted or unexpected artifacts across {len(group['reporting'])} host(s) of {group['group']}"
        )
        reason = (
            f"the manifest failed its verification on {', '.join(sorted(group['manifest_failed']))}: "
            f"{group['manifest_failed'][raised_on]}"
            if kind == "manifest"
            else f"{counted}, more than {threshold}: suspected tampering"
        )
        escalations.append({
            "group": group["group"], "kind": kind, "raised_on": raised_on, "stop": sorted(group["hosts"]),
            "reporting": group["reporting"], "corrupted": group["corrupted"], "unexpected": group["unexpected"],
            "threshold": threshold, "findings": group["findings"], "manifest_failed": group["manifest_failed"],
            "reason": reason, "counted": counted,
        })  # fmt: skip
    stop = sorted({host for escalation in escalations for host in escalation["stop"]})
    # the hosts of the play with findings keep the archive their own evidence step made; the others get one
    unclean = {host for host, report in current.items() if report.get("clean") is False}
    hosts = {}
    for host, report in current.items():
        label, _ = _group_of(report, host)
        mine = next((e for e in escalations if host in e["stop"]), None)
        hosts[host] = {
            "group": label,
            "stopped": mine is not None,
            "raises": any(e["raised_on"] == host for e in escalations),
            "escalation": mine["group"] if mine else "",
            "fleet_bad": groups[label]["corrupted"] + groups[label]["unexpected"],
        }
    return {"security": bool(escalations), "stop": stop, "archive": [host for host in stop if host not in unclean],
            "escalations": escalations, "hosts": hosts}  # fmt: skip
