"""The runbooks' stability windows (seed 000: "monitor for 15 minutes", "30 minutes", "1 hour", then "remove
silences if stable"; seed 003: "wait 10 minutes: ensure sustained improvement").

A service with a window (``stability: {window: 900}`` in its description) ends its incident *mitigated* after the
verification hold, its silence expired. At the window's end one query per condition asks Prometheus whether the
whole window held: the alert's own ``ALERTS`` series absent (``count_over_time(ALERTS[Ws])`` at the window's end,
matched to the alert's whole label set as data, never pasted into PromQL), and each of the service's
``verify_queries`` meeting its threshold at every step of the window (a range query). The record then becomes
*resolved, stable N min* or *regressed*. A firing of the same alert inside the window is a regression at once
(``Dispatcher.explain``): it pages and runs nothing.

Scheduled in the journal (``confirmations``), so a receiver that restarts runs the confirmations that fell due
while it was down; a confirmation is claimed by one process (``Journal.claim_confirmation``). ``remediate confirm
INCIDENT`` runs it by hand (an operator's run, or a receiver that is not running). Confirming again changes nothing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from incident_remediation.config import Config
from incident_remediation.journal import Journal, alive
from incident_remediation.runner import collection_module, timeline_events, timelines

log = logging.getLogger("incident_remediation")
ENDS = ("resolved", "regressed")  # what a confirmation makes of a mitigated incident
POLL_SECONDS = 2.0  # how often the receiver looks for confirmations that are due
WATCH_SECONDS = 10.0  # how often it asks Prometheus whether the alert of a window still running came back
GRACE_SECONDS = 5.0  # after the window's end: Prometheus has evaluated its rules up to it
RETRY_SECONDS = 30.0  # a confirmation that could not ask Prometheus is tried again this much later
QUERY_TIMEOUT = 10.0
NOTIFY = "ansible_collections.incident.remediation.plugins.module_utils.notify"
REPORT = "ansible_collections.incident.remediation.plugins.plugin_utils.incident_report"
OPPOSITE = {">": min, ">=": min, "<": max, "<=": max}  # the worst value for each comparison
COMPARE = {
    ">": lambda v, t: v > t, ">=": lambda v, t: v >= t, "<": lambda v, t: v < t, "<=": lambda v, t: v <= t,
    "==": lambda v, t: v == t, "!=": lambda v, t: v != t,
}  # fmt: skip


class PrometheusError(Exception):
    """Prometheus could not be asked (down, an error answer): nothing is decided, the confirmation waits."""


def utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def seconds_of(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def ask(url: str, path: str, params: dict) -> list:
    """The ``result`` of a Prometheus API query (GET), or PrometheusError saying why not."""
    address = f"{url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(address, timeout=QUERY_TIMEOUT) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        said = exc.read()[:300].decode("utf-8", "replace")
        raise PrometheusError(f"Prometheus {url} answered {exc.code} to {params.get('query')!r}: {said}") from None
    except (OSError, ValueError) as exc:
        raise PrometheusError(f"Prometheus {url} could not be asked: {type(exc).__name__}: {exc}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        raise PrometheusError(f"Prometheus {url} did not answer {params.get('query')!r} with success: {body!r:.300}")
    return (body.get("data") or {}).get("result") or []


def alert_check(url: str, alert: dict, start: float, end: float) -> dict:
    """The alert's own ALERTS series (pending or firing) absent over the whole window: one instant query of
    count_over_time at its end; the alert's labels matched as data."""
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    labels.setdefault("alertname", str(alert.get("name", "")))
    window = max(math.ceil(end - start), 1)
    series = ask(url, "/api/v1/query", {"query": f"count_over_time(ALERTS[{window}s])", "time": f"{end:.3f}"})
    found = [s for s in series if all((s.get("metric") or {}).get(k) == v for k, v in labels.items())]
    check = f"ALERTS of {labels['alertname']} {json.dumps(labels, sort_keys=True)}"
    if not found:
        return {"check": check, "held": True, "result": f"absent from {utc(start)} to {utc(end)}"}
    samples = sum(int(float(s["value"][1])) for s in found)
    states = sorted({(s.get("metric") or {}).get("alertstate", "?") for s in found})
    return {"check": check, "held": False,
            "result": f"present in the window ({samples} samples, {'/'.join(states)})"}  # fmt: skip


def condition_check(url: str, condition: dict, start: float, end: float) -> dict:
    """A verify_queries condition held at every step of the window: one range query, every value compared."""
    query, comparison = str(condition["query"]), str(condition.get("comparison", ">"))
    threshold, step = float(condition.get("threshold", 0)), max(float(condition.get("interval") or 5), 1.0)
    check = f"{query} {comparison} {threshold:g}"
    series = ask(url, "/api/v1/query_range", {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                               "step": f"{step:g}"})  # fmt: skip
    values = [(float(t), float(v)) for s in series for t, v in s.get("values") or []]
    expected = int((end - start) // step) + 1
    if not values:
        return {"check": check, "held": False, "result": f"no value from {utc(start)} to {utc(end)}: not proved"}
    bad = [(t, v) for t, v in values if not COMPARE[comparison](v, threshold)]
    if bad:
        said = f"not held: {bad[0][1]:g} at {utc(bad[0][0])} ({len(bad)} of {len(values)} values)"
        return {"check": check, "held": False, "result": said}
    missing = expected * max(len(series), 1) - len(values)
    if missing > 0:
        return {"check": check, "held": False,
                "result": f"no value at {missing} of {expected} instants every {step:g} s: not proved"}  # fmt: skip
    worst = OPPOSITE.get(comparison, min)(v for _, v in values)
    return {"check": check, "held": True, "result": f"held at every {step:g} s from {utc(start)} to {utc(end)} "
            f"(worst {worst:g})"}  # fmt: skip


def confirm(stability: dict) -> tuple[str, str, list[dict]]:
    """(resolved or regressed, reason, checks) over the window of ``stability`` (the outcome record's); one query
    per condition. PrometheusError when one could not be asked: nothing is decided."""
    start = seconds_of(stability["mitigated_at"])
    window = float(stability["window"])
    end = start + window
    url = str(stability.get("prometheus_url") or "")
    minutes = str(stability.get("span") or f"{window:g} s")  # the record's own words for it (15 min, 1 h)
    if not url:
        return "regressed", (f"not proved stable over {minutes}: no Prometheus URL is known, so whether the alert "
                             "stayed away was not checked; people must look"), []  # fmt: skip
    checks = []
    if stability.get("alert"):
        checks.append(alert_check(url, stability["alert"], start, end))
    checks += [condition_check(url, condition, start, end) for condition in stability.get("conditions") or []]
    failed = [c for c in checks if not c["held"]]
    if failed:
        said = "; ".join(f"{c['check']}: {c['result']}" for c in failed)
        return "regressed", f"regressed within its stability window of {minutes}: {said}", checks
    if not checks:
        return "regressed", f"not proved stable over {minutes}: no alert and no verify_queries to check", checks
    return "resolved", f"stable {minutes}: " + "; ".join(f"{c['check']}: {c['result']}" for c in checks), checks


# --- the records: the outcome on the controller (timeline, report), the journal, the incident channel ------------


def mitigated(path: Path) -> list[dict]:
    """The mitigated outcomes of a timeline, each {incident, host, plan, stability}."""
    events = timeline_events(path)
    plans = {e.get("host"): e.get("data") or {} for e in events if e.get("event") == "incident"}
    found = []
    for event in events:
        data = event.get("data")
        if event.get("event") != "outcome" or not isinstance(data, dict) or data.get("status") != "mitigated":
            continue
        if isinstance(data.get("stability"), dict):
            host = str(event.get("host") or "")
            found.append({"incident": str(event.get("incident") or ""), "host": host,
                          "plan": plans.get(host, {}), "stability": data["stability"]})  # fmt: skip
    return found


def schedule(journal: Journal, path: Path, *, job_id: str = "", fingerprint: str = "") -> list[str]:
    """Schedule the confirmation of each mitigated outcome of the timeline ``path``; their ids."""
    done = []
    for found in mitigated(path):
        watched = found["stability"]
        try:
            start, window = seconds_of(watched["mitigated_at"]), float(watched["window"])
        except (KeyError, TypeError, ValueError):
            log.error("incident %s on %s: its stability window cannot be read (%r): not scheduled", found["incident"],
                      found["host"], watched)  # fmt: skip
            continue
        journal.schedule_confirmation(incident_id=found["incident"], host=found["host"], timeline=str(path),
                                      record=found, window=window, mitigated=start, job_id=job_id,
                                      fingerprint=fingerprint)  # fmt: skip
        log.info("incident %s on %s: mitigated; stability window %g s, confirmed at %s", found["incident"],
                 found["host"], window, utc(start + window))  # fmt: skip
        done.append(f"{found['incident']}/{found['host']}")
    return done


def schedule_job(config: Config, journal: Journal, job: dict) -> list[str]:
    """Schedule what a finished job's timelines say is mitigated (the dispatcher, after each job)."""
    done = []
    for path in timelines(config, job["id"]):
        done += schedule(journal, path, job_id=job["id"], fingerprint=job.get("fingerprint") or "")
    return done


def record(config: Config, row: dict, status: str, reason: str, checks: list[dict]) -> list[dict]:
    """After the journal took the end: the timeline's stability event, the report rendered again, the incident
    channel told (a regression pages); the notifications sent. Never raises: the journal holds the end."""
    found = json.loads(row["record"])
    watched = found.get("stability") or {}
    minutes = round(float(watched.get("window") or 0) / 60, 2) if status == "resolved" else None
    data = {"status": status, "reason": reason, "checks": checks, "window": watched.get("window"),
            "stable_minutes": minutes}  # fmt: skip
    sent: list[dict] = []
    try:
        notify = collection_module(config, NOTIFY)
        sent = notify.send(watched.get("notify") or [], "stability", found.get("plan") or {}, row["host"],
                           {"stability": data}).records  # fmt: skip
    except Exception as exc:  # never blocks the record
        sent = [{"kind": "", "name": "", "event": "stability", "status": "failed",
                 "reason": f"not posted: {type(exc).__name__}"}]  # fmt: skip
    if sent:
        data["notifications"] = sent
    path = Path(row["timeline"])
    event = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
             "incident": row["incident_id"], "host": row["host"], "phase": "close", "event": "stability",
             "data": data}  # fmt: skip
    try:
        with path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(event, sort_keys=True, default=str) + "\n")
        module = collection_module(config, REPORT)
        (path.parent / "report.md").write_text(module.render(module.read_events(path)), encoding="utf-8")
    except (OSError, ImportError, ValueError) as exc:
        log.error("incident %s on %s: %s, but its timeline %s could not be written: %s", row["incident_id"],
                  row["host"], status, path, exc)  # fmt: skip
    level = logging.WARNING if status == "regressed" else logging.INFO
    log.log(level, "incident %s on %s: %s - %s", row["incident_id"], row["host"], status, reason)
    return sent


def run(config: Config, journal: Journal, row: dict, now: float | None = None) -> str:
    """Claim and run one due confirmation; its state after (scheduled again when Prometheus could not be asked,
    or the state another process or a regression left it in)."""
    now = time.time() if now is None else now
    if not journal.claim_confirmation(row["id"]):
        current = journal.confirmation(row["id"])
        return current["state"] if current else "gone"
    try:
        status, reason, checks = confirm(json.loads(row["record"])["stability"])
    except PrometheusError as exc:
        journal.put_back_confirmation(row["id"], f"{exc}; tried again after {utc(now + RETRY_SECONDS)}",
                                      now + RETRY_SECONDS)  # fmt: skip
        log.warning("incident %s on %s: its stability confirmation waits: %s", row["incident_id"], row["host"], exc)
        return "scheduled"
    except (KeyError, TypeError, ValueError) as exc:
        status, reason, checks = "regressed", f"not proved stable: its record cannot be read ({exc})", []
    if not journal.end_confirmation(row["id"], status, reason, checks):
        current = journal.confirmation(row["id"])
        return current["state"] if current else "gone"
    record(config, row, status, reason, checks)
    return status


def watch(config: Config, journal: Journal, row: dict) -> str:
    """A window still running: its alert's ALERTS series since the incident was mitigated (one query). Back:
    regressed now, paged at once (the window's end would be too late). The state after."""
    found = json.loads(row["record"])
    watched = found.get("stability") or {}
    url, now = str(watched.get("prometheus_url") or ""), time.time()
    if not watched.get("alert") or not url:
        return "scheduled"
    try:
        check = alert_check(url, watched["alert"], row["mitigated"], min(now, row["due"]))
    except PrometheusError as exc:  # the window's end decides, or tries again
        log.warning("incident %s on %s: its window cannot be watched: %s", row["incident_id"], row["host"], exc)
        return "scheduled"
    if check["held"]:
        return "scheduled"
    span = watched.get("span") or f"{row['seconds']:g} s"
    reason = (f"regressed within its stability window of {span}: {check['check']}: {check['result']} (seen at "
              f"{utc(now)}, {(now - row['mitigated']) / 60:.1f} min after it was mitigated); paged, nothing runs "
              "again: the mitigation did not hold, people decide (the runbooks escalate)")  # fmt: skip
    if not journal.regress(row["id"], reason, None):
        current = journal.confirmation(row["id"])
        return current["state"] if current else "gone"
    record(config, row, "regressed", reason, [check])
    return "regressed"


def regression_reason(row: dict, alert, starts: float | None) -> str:
    """Why a firing inside the window is a regression, said once."""
    when = utc(starts) if starts is not None else utc(time.time())
    after = (starts if starts is not None else time.time()) - row["mitigated"]
    span = (json.loads(row["record"]).get("stability") or {}).get("span") or f"{row['seconds']:g} s"
    return (f"regressed within its stability window of {span}: {alert.name} fired again "
            f"(started {when}, {max(after, 0) / 60:.1f} min after it was mitigated); paged, nothing runs again: the "
            "mitigation did not hold, people decide (the runbooks escalate)")  # fmt: skip


def default_timeline_dir() -> Path:
    """Where an operator's ansible-playbook run keeps its incidents (the incident_timeline callback's default)."""
    return Path(os.environ.get("INCIDENT_TIMELINE_DIR") or "~/.incident-remediation/incidents").expanduser()


def by_hand(config: Config, journal: Journal, incident: str, timeline_dir: Path | None = None,
            wait: bool = False) -> list[tuple[str, str, str]]:  # fmt: skip
    """``remediate confirm``: each host's (host, state, reason) for the incident, confirmed now when due. An
    incident the journal does not hold (an operator's ansible-playbook run) is taken from its timeline first."""
    if not journal.confirmations(incident):
        path = (timeline_dir or default_timeline_dir()) / incident / "timeline.jsonl"
        if path.is_file():
            schedule(journal, path)
    rows = journal.confirmations(incident)
    if not rows:
        where = f"{config.data_dir / 'journal.sqlite'} or in {timeline_dir or default_timeline_dir()}"
        raise FileNotFoundError(f"incident {incident} has no stability window to confirm: no mitigated outcome in "
                                f"{where}")  # fmt: skip
    said = []
    for row in rows:
        left = row["due"] + GRACE_SECONDS - time.time()
        if row["state"] == "scheduled" and left > 0 and wait:
            time.sleep(left)
            left = 0
        if row["state"] == "scheduled" and left > 0:
            said.append((row["host"], "scheduled", f"its window ends at {utc(row['due'])}: {left:.0f} s left, "
                                                   "nothing checked yet"))  # fmt: skip
            continue
        if row["state"] == "confirming" and alive(row["owner"]):
            said.append((row["host"], "confirming", "being confirmed by another process"))
            continue
        if row["state"] == "confirming":  # its process is gone: scheduled again, then run here
            journal.recover_confirmations()
        if row["state"] in ("scheduled", "confirming"):
            run(config, journal, journal.confirmation(row["id"]) or row)
        current = journal.confirmation(row["id"]) or row
        said.append((row["host"], current["state"], current["reason"]))
    return said
