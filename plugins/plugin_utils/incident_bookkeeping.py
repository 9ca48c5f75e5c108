# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident's bookkeeping on the controller, as plain functions: the decision the host read allows,
the diagnosis, the outcome (status, reason, verification, silence, lock).

Used by the action plugins ``incident_phase`` and ``incident_outcome`` (the incident role's phases); tested
in tests/unit/plugins/test_incident_bookkeeping.py. The texts are the ones the front end, the journal and
the report read: change them only with their readers.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from ansible_collections.incident.remediation.plugins.module_utils.ladder import ladder_actions, never_ran, said
from ansible_collections.incident.remediation.plugins.module_utils.mitigations import FAILURES, FINAL, proved
from ansible_collections.incident.remediation.plugins.module_utils.text import one_line

PHASES = ("acknowledge", "diagnose", "resolve", "verify", "close")
# mitigated: verified, its stability window still running (issue 23 item 8); the confirmation at its end makes it
# resolved (stable N min) or regressed (the front's stability.py); regressed is never an outcome of a run
STATUSES = ("diagnosed", "refused", "failed", "checked", "resolved", "mitigated")


def _clip(text, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def host_readable(host) -> bool:
    """Whether the unit_evidence read of the host answered (so whether the unit is quarantined is known)."""
    return isinstance(host, dict) and "quarantine" in host and not host.get("failed")


def quarantine_decision(plan: dict, host, unit: str, quarantine_dir: str) -> str:
    """Why an acting plan may only diagnose, given the host read ('' when it may act). Fails closed: no
    read means the quarantine is unknown, and an unknown quarantine is treated as one."""
    if not plan.get("act"):
        return ""
    if not host_readable(host):
        said = _clip((host or {}).get("msg") or "no answer", 300) if isinstance(host, dict) else "no answer"
        return (f"diagnose only: the host could not be read ({said}), so whether {unit} is quarantined is "
                "unknown; nothing is done without that read")  # fmt: skip
    quarantine = host.get("quarantine")
    if quarantine is None:
        return ""
    if not isinstance(quarantine, dict):
        quarantine = {}
    return (f"{unit} is quarantined since {quarantine.get('since', '?')} by incident "
            f"{quarantine.get('incident', '?')} ({quarantine.get('reason') or 'no reason recorded'}): diagnose "
            f"only; remove {quarantine_dir}/{unit}.json after review")  # fmt: skip


NO_PROMETHEUS = "not run: no Prometheus URL is known (services.<service>.prometheus_url or incident_prometheus_url)"


def diagnosis_queries(service, answer) -> list[dict]:
    """The service's diagnosis queries (``diagnosis_queries``: name and query) with what Prometheus answered
    (prometheus_query's ``results``, capped there), or, for each, why it did not run. Labels and values are data."""
    configured = service.get("diagnosis_queries") if isinstance(service, dict) else None
    if not configured:
        return []
    configured = configured if isinstance(configured, list) else [configured]
    answer = answer if isinstance(answer, dict) else {}
    results = answer.get("results") if isinstance(answer.get("results"), list) else []
    if results:
        return [{"name": str(r.get("name", "?")), "query": str(r.get("query", "")), "error": str(r.get("error") or ""),
                 "series_total": int(r.get("series_total") or 0), "truncated": bool(r.get("truncated")),
                 "series": [s for s in r.get("series") or [] if isinstance(s, dict)]}
                for r in results if isinstance(r, dict)]  # fmt: skip
    why = NO_PROMETHEUS if answer.get("skipped") or not answer else f"not run: {answer.get('msg') or 'no answer'}"
    return [{"name": str(q.get("name", "?")) if isinstance(q, dict) else "?",
             "query": str(q.get("query", "")) if isinstance(q, dict) else str(q), "error": why, "series_total": 0,
             "truncated": False, "series": []} for q in configured]  # fmt: skip


def diagnosis_files(plan: dict, host, alert_state, *, unit: str, journal_lines: int, dmesg_lines: int,
                    queries=None) -> dict:  # fmt: skip
    """The diagnose phase's evidence (logs.txt, diagnosis.json), from the host read and the ALERTS read."""
    host = host if isinstance(host, dict) else {}
    alert_state = alert_state if isinstance(alert_state, dict) else {}
    error = host.get("msg") or "unknown error"
    logs = host.get("logs") if isinstance(host.get("logs"), dict) else {}

    def kept(name: str) -> str:
        return str(logs[name]) if name in logs else f"not collected: {error}"

    text = (f"==== systemctl status {unit}\n{kept('status')}\n\n"
            f"==== {_journal_header(unit, host, journal_lines)}\n{kept('journal')}\n\n"
            f"==== dmesg (last {dmesg_lines} lines)\n{kept('dmesg')}{_coredump_text(host)}")  # fmt: skip
    summary = {
        "unit": host.get("unit", {"error": error}), "health": host.get("health", {}),
        "quarantine": host.get("quarantine"), "collect_errors": host.get("errors", []),
        "alert": plan.get("alert") or {}, "alert_series": alert_state.get("series", []),
        "alert_query_error": alert_state.get("msg", ""), "diagnosis_queries": queries or [],
    }  # fmt: skip
    summary.update({key: host[key] for key in ("version", "coredumps") if host.get(key)})  # issue 23 item 3
    return {"logs.txt": text, "diagnosis.json": json.dumps(summary, indent=4, sort_keys=True, default=str)}


def diagnosis(host, alert_state, saved, evidence: str) -> dict:
    """The diagnosis summary of the outcome, from the host read, the ALERTS read and the evidence saved."""
    host = host if isinstance(host, dict) else {}
    unit = host.get("unit") if isinstance(host.get("unit"), dict) else {}
    health = host.get("health") if isinstance(host.get("health"), dict) else {}
    series = (alert_state or {}).get("series") or [] if isinstance(alert_state, dict) else []
    firing = any(isinstance(s, dict) and (s.get("metric") or {}).get("alertstate") == "firing" for s in series)
    saved = saved if isinstance(saved, dict) else {}
    queries = {"queries": saved["diagnosis_queries"]} if saved.get("diagnosis_queries") else {}  # incident_phase's
    return {
        **queries,
        **_host_evidence(host),
        "unit": f"{unit.get('ActiveState', 'unknown')}/{unit.get('SubState', '?')}",
        "health": "healthy"
        if health.get("healthy")
        else (health.get("error") or host.get("msg") or "no health endpoint"),
        "alert_series": str(len(series)),
        "alert_firing": firing,
        # save_evidence's msg: only when nothing was written, and why
        "evidence": saved.get("msg") or f"{evidence}/diagnose",
    }


def failure_class(failure, mitigation_result) -> str:
    """The class of a failure that stopped resolve or verify: refused, security or failed; '' for none.

    From data, never from message text: the mitigation's own result (its outcome, when it failed), the
    incident's own refusals (``refused: true`` of incident_phase; unit_lock's lease held past the wait).
    """
    if not isinstance(failure, dict) or not failure:
        return ""
    if isinstance(mitigation_result, dict) and mitigation_result.get("outcome") in FAILURES:
        return mitigation_result["outcome"]
    carried = failure.get("mitigation_result")
    if isinstance(carried, dict) and carried.get("outcome") in FAILURES:
        return carried["outcome"]
    if failure.get("incident_refused") is True or (failure.get("acquired") is False and failure.get("waited_for")):
        return "refused"
    return "failed"


def failure_text(failure, task: str, mitigation_result=None) -> str:
    """What stopped the incident, as today's reason: the message, then the task in parentheses.

    A mitigation's rescue names the task that failed in its result's message (mitigation_result), then fails
    again with that message: the task failing then is only the role's last, not named after it.
    """
    if not isinstance(failure, dict) or not failure:
        return ""
    text = str(failure.get("msg") or "failed without a message")
    handed = mitigation_result.get("message") if isinstance(mitigation_result, dict) else None
    return f"{text} (task: {task})" if task and text != handed else text


def status(act: bool, check_mode: bool, klass: str) -> str:
    if not act:
        return "diagnosed"
    if klass == "refused":
        return "refused"
    if klass:
        return "failed"
    return "checked" if check_mode else "resolved"


def expire_silence(state: str, klass: str, on_failure: str, *, mitigation: str = "") -> bool:
    """Expire the silence: resolved (the alert is over), a refusal, a security stop or data protected (people
    are paged now, automation will not help), a mitigation that stops the service on purpose (FINAL) however
    it ended, or any failure when asked (incident_silence_on_failure: expire)."""
    paged = klass in ("security", "protected") or (bool(klass) and mitigation in FINAL)
    # mitigated: no silence over the stability window, so that a regression pages at once
    return state in ("resolved", "mitigated", "refused") or paged or on_failure == "expire"


def stability_window(service, plan) -> int:
    """The seconds the runbook watches a fixed service before it is stable (seed 000: 15 min, 30 min, 1 hour; seed
    003: 10 min): the alert's own in ``stability.alerts``, else the service's ``stability.window``; 0: none."""
    stability = service.get("stability") if isinstance(service, dict) else None
    if not isinstance(stability, dict):
        return 0
    alerts = stability.get("alerts") if isinstance(stability.get("alerts"), dict) else {}
    name = ((plan or {}).get("alert") or {}).get("name") or ""
    window = alerts.get(name, stability.get("window", 0))
    try:
        return max(int(window), 0)
    except (TypeError, ValueError):
        return 0


def span(seconds: int) -> str:
    """A window as the runbooks say it: 15 min, 1 h, 45 s."""
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def stability(window: int, service: dict, plan: dict, ended: str, confirm) -> dict:
    """What the confirmation at the window's end checks (one range query per condition): the alert absent, each of
    the service's verify_queries held; where (Prometheus) and who is paged on a regression (incident_notify)."""
    confirm = confirm if isinstance(confirm, dict) else {}
    try:
        due = (datetime.fromisoformat(ended) + timedelta(seconds=window)).isoformat()
    except ValueError:
        due = ""
    alert = (plan or {}).get("alert") or {}
    conditions = [
        {"query": str(q["query"]), "comparison": str(q.get("comparison", ">")), "threshold": q.get("threshold", 0),
         "interval": q.get("interval", 5)}
        for q in service.get("verify_queries") or [] if isinstance(q, dict) and q.get("query")
    ]  # fmt: skip
    return {
        "window": window, "span": span(window), "mitigated_at": ended, "due": due,
        "prometheus_url": str(confirm.get("prometheus_url") or service.get("prometheus_url") or ""),
        "alert": {"name": alert.get("name", ""), "labels": alert.get("all_labels") or {}} if alert else {},
        "conditions": conditions, "notify": confirm.get("notify") or [],
    }  # fmt: skip


def _json(value) -> str:
    import json  # noqa: PLC0415

    return json.dumps(value, default=str)  # as Jinja's to_json


def _named(check: dict) -> str:
    """A check the mitigation proved, named by its kind as the incident names its own (``health <url>``)."""
    text, kind = str(check["check"]), str(check.get("kind") or "")
    return f"{kind} {text}" if kind in ("health", "unit") and not text.startswith(f"{kind} ") else text


def verification(verify: dict, service: dict, mitigation_result, plan: dict, *, verify_alert: bool) -> list[dict]:
    """The verification evidence: what the mitigation proved itself, then what the incident checked."""
    verify = verify if isinstance(verify, dict) else {}
    checks: list[dict] = []
    health_url = service.get("health_url") or ""
    unit_read, health = verify.get("unit") or {}, verify.get("health") or {}
    if not health_url:
        if unit_read and not unit_read.get("skipped") and unit_checked(service, mitigation_result):
            checks.append({"check": f"unit {service.get('unit', '?')}",
                           "result": (unit_read.get("unit") or {}).get("ActiveState", "")})  # fmt: skip
            ran = unit_read.get("health") if isinstance(unit_read.get("health"), dict) else {}
            if service.get("health_command") and ran:  # verify's read ran the service's health command too
                said = f"exit {ran.get('status')} after {ran.get('seconds')} s"
                checks.append({"check": f"health {' '.join(map(str, service['health_command']))}",
                               "result": said + (f": {ran['error']}" if ran.get("error") else "")})  # fmt: skip
    elif health and not health.get("skipped"):
        checks.append({"check": f"health {health_url}",
                       "result": f"{_json(health.get('json'))} after {health.get('elapsed')} s"})  # fmt: skip
    own = list((mitigation_result or {}).get("verified") or []) if isinstance(mitigation_result, dict) else []
    checks = [
        {"check": _named(v), "result": v.get("result", "")} for v in own if isinstance(v, dict) and "check" in v
    ] + checks
    queries = verify.get("queries") or {}
    for item in queries.get("results") or []:
        if isinstance(item, dict) and not item.get("skipped"):
            query = (item.get("item") or {}).get("query", "?")
            checks.append({"check": query, "result": f"value {item.get('value')}, held {item.get('held_for')} s "
                           f"after {item.get('attempts')} queries"})  # fmt: skip
    alert = plan.get("alert") or {}
    if alert:
        check = f"ALERTS of {alert.get('name', '')} {_json_sorted(alert.get('all_labels') or {})}"
        done = verify.get("alert") or {}
        if done and not done.get("skipped"):
            checks.append({"check": check, "result": f"no ALERTS series of this alert, held {done.get('held_for')} s "
                           f"after {done.get('attempts')} queries"})  # fmt: skip
        else:
            why = ("incident_verify_alert is false" if not verify_alert else
                   f"no Prometheus URL is known (services.{plan.get('service')}.prometheus_url or "
                   "incident_prometheus_url), so whether the alert is over was not proved; the silence is "
                   "expired and Alertmanager pages again if it still fires")  # fmt: skip
            checks.append({"check": f"ALERTS of {alert.get('name', '')}", "result": f"not checked: {why}"})
    return checks


def _json_sorted(value) -> str:
    import json  # noqa: PLC0415

    return json.dumps(value, sort_keys=True)  # as Jinja's to_json(sort_keys=true): ", " and ": "


def skipped(result) -> bool:
    return not isinstance(result, dict) or not result or bool(result.get("skipped"))


def silence_state(act: bool, silence, unsilence, duration: str) -> dict:
    silence = silence if isinstance(silence, dict) else {}
    silence_id = silence.get("silence_id") or ""
    if skipped(silence):
        why = "diagnosis only: the alert keeps paging" if not act else "no Alertmanager or no alert"
        state = f"none ({why})"
    elif not silence_id:
        state = f"not created: {silence.get('msg', '?')}"
    elif isinstance(unsilence, dict) and "msg" in unsilence:  # failed_when: false; msg only on failure
        state = f"not expired: {unsilence['msg']}"
    elif not skipped(unsilence):
        state = "expired"
    else:
        state = f"kept until it ends ({duration}), the incident not being resolved"
    return {"id": silence_id, "state": state}


def lock_text(act: bool, lock, unlock) -> str:
    if skipped(lock):
        return f"not taken ({'diagnosis only' if not act else 'the run ended before resolve'})"
    text = lock.get("message") or lock.get("msg") or ""
    if isinstance(unlock, dict) and "msg" in unlock:  # failed_when: false; msg only on failure
        expires = (lock.get("lease") or {}).get("expires_at", "?")
        text += f"; the lease could not be released ({unlock.get('msg', '?')}): it expires at {expires}"
    return text


def reason(state: str, plan: dict, failure: str, mitigation_result, climbed=None, *, window: str = "") -> str:
    if state == "diagnosed":
        return str(plan.get("decision", ""))
    if state == "checked":
        return "check mode: nothing was changed, the mitigation reported what it would do"
    climbed = [rung for rung in climbed or [] if isinstance(rung, dict)]
    if state == "mitigated":
        return reason("resolved", plan, failure, mitigation_result, climbed) + window
    if state == "resolved":
        if len(climbed) > 1:  # the escalation ladder: the rungs that did not help, then the one that did
            tried = "; ".join(f"{r.get('mitigation')} did not restore the service ({r.get('outcome')}: {said(r)})"
                              for r in climbed[:-1])  # fmt: skip
            return f"verified healthy after rung {len(climbed)}, {climbed[-1].get('mitigation')}; {tried}"
        if isinstance(mitigation_result, dict) and mitigation_result.get("outcome") == "unchanged":
            told = mitigation_result.get("message") or "nothing needed doing"
            return f"verified healthy; the {mitigation_result.get('mitigation')} changed nothing: {told}"
        return "verified healthy"
    tried = [r for r in climbed if not never_ran(r)]
    if len(tried) > 1:
        names = " then ".join(str(r.get("mitigation")) for r in tried)
        return f"{failure} (the ladder tried {names})"
    return failure


def outcome(
    *,
    plan: dict,
    check_mode: bool,
    failure,
    failed_task: str,
    mitigation_result,
    verify: dict,
    service: dict,
    verify_alert: bool,
    ladder=None,
    diagnosed: dict,
    evidence: str,
    lock,
    unlock,
    silence,
    unsilence,
    silence_duration: str,
    started: str,
    ended: str,
    confirm=None,
) -> dict:
    """The incident's outcome on one host, as the timeline, the front end and the report read it. ``confirm``: the
    Prometheus URL and incident_notify, for a service with a stability window (then resolved is mitigated)."""
    act = bool(plan.get("act"))
    klass = failure_class(failure, mitigation_result) if act else ""
    state = status(act, check_mode, klass)
    window = stability_window(service, plan) if state == "resolved" else 0
    watch = stability(window, service, plan, ended, confirm) if window else {}
    if watch:
        state = "mitigated"
    said = f"; stability window {watch['span']}: confirmation due at {watch['due'] or '?'}" if watch else ""
    result = mitigation_result if isinstance(mitigation_result, dict) and mitigation_result else None
    climbed = [rung for rung in ladder or [] if isinstance(rung, dict)]
    actions = ladder_actions(climbed) if climbed else list(result.get("steps") or []) if result else []
    record = {
        "status": state,
        "reason": one_line(
            reason(state, plan, failure_text(failure, failed_task, result), result, climbed, window=said)
        ),
        "mitigation": plan.get("mitigation") or "",
        "started": started,
        "ended": ended,
        "diagnosis": diagnosed,
        "actions": actions,
        "verification": (
            verification(verify, service, result, plan, verify_alert=verify_alert)
            if state in ("resolved", "mitigated")
            else []
        ),  # verify ran to its end only then
        "evidence": evidence,
        "lock": lock_text(act, lock, unlock),
        "silence": silence_state(act, silence, unsilence, silence_duration),
    }
    if climbed:
        record["ladder"] = [{k: v for k, v in rung.items() if k != "steps"} for rung in climbed]
    if result:
        record["result"] = {k: result.get(k) for k in ("outcome", "changed", "message", "details")}
    if klass:
        record["failure"] = klass
    version = version_record(diagnosed, verify)
    if version:
        record["version"] = version
    if watch:
        record["stability"] = watch
    return record


# --- the evidence the runbooks ask for from the host (issue 23 item 3): version, journal window, core dumps -------


def version_text(read) -> str:
    """A version read (unit_evidence's version) as the record says it: the version, or why it was not read."""
    if not isinstance(read, dict) or not read:
        return ""
    return str(read.get("version") or f"not read: {read.get('error') or 'no answer'}")


def version_record(diagnosed, verify) -> dict:
    """The running version before (acknowledge's read, in the diagnosis) and after (verify's read); {} when the
    service names no version_source."""
    before = (diagnosed or {}).get("version") if isinstance(diagnosed, dict) else ""
    read = ((verify or {}).get("unit") or {}).get("version") if isinstance(verify, dict) else None
    after = version_text(read)
    if not before and not after:
        return {}
    source = f"{read.get('source', '')} {read.get('from', '')}".strip() if isinstance(read, dict) and read else ""
    after = after or "not read: verify did not run after the mitigation"
    changed = not before.startswith("not read") and not after.startswith("not read") and before != after
    return {"source": source or str((diagnosed or {}).get("version_source") or ""), "before": before or "?",
            "after": after, "changed": changed}  # fmt: skip


def _host_evidence(host: dict) -> dict:
    """The version before and the core dumps, in the diagnosis summary (only when read)."""
    said = {}
    read = host.get("version")
    if isinstance(read, dict) and read:
        said["version"] = version_text(read)
        said["version_source"] = f"{read.get('source', '')} {read.get('from', '')}".strip()
    dumps = host.get("coredumps")
    if isinstance(dumps, dict) and dumps:
        each = [f"pid {d.get('pid')} signal {d.get('signal')}: {_kept(d)}" for d in dumps.get("dumps") or []
                if isinstance(d, dict)]  # fmt: skip
        said["coredumps"] = "; ".join([str(dumps.get("note") or ""), *each])
    return said


def _kept(dump: dict) -> str:
    kept = str(dump.get("kept") or "")
    return f"kept on the host at {kept}" if kept.startswith("/") else kept


def _journal_header(unit: str, host: dict, journal_lines: int) -> str:
    window = host.get("journal_window") if isinstance(host.get("journal_window"), dict) else {}
    if not window.get("seconds"):
        return f"journalctl --unit {unit} (last {window.get('lines', journal_lines)} lines)"
    return (f"journalctl --unit {unit} --since {window.get('since')} (the last {window['seconds']} s, at most "
            f"{window.get('lines')} lines and {window.get('bytes')} bytes, the newest)")  # fmt: skip


def _coredump_text(host: dict) -> str:
    dumps = host.get("coredumps") if isinstance(host.get("coredumps"), dict) else {}
    if not dumps:
        return ""
    text = f"\n\n==== coredumpctl info: {dumps.get('note', '')}"
    for dump in dumps.get("dumps") or []:
        if isinstance(dump, dict):
            text += f"\n{dump.get('info', '')}\ndump: {_kept(dump)}"
            text += f" (sha256 {dump['sha256']})" if dump.get("sha256") else ""
    return text


def unit_checked(service: dict, mitigation_result) -> bool:
    """Whether verify's unit read was a check (the unit active, the health command), as incident_phase's verify
    decides: a read for the version alone is not one."""
    if service.get("health_command"):
        return not proved(mitigation_result, "health")
    return not proved(mitigation_result, "unit") and not proved(mitigation_result, "health")


__all__ = ["PHASES", "STATUSES", "outcome", "proved", "stability_window"]
