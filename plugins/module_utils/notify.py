# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident channel: what an incident posts, and to whom (docs/notifications.md).

Two kinds of target, configured by the incident role's ``incident_notify``:

- ``slack``: a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, ... take ``{"text": ...}``);
- ``pagerduty``: PagerDuty Events v2 (``trigger`` at acknowledge, ``acknowledge`` when the incident acts,
  ``resolve`` when it is resolved, a new ``trigger`` when it is escalated), the incident id as ``dedup_key``.

Four events, posted from the controller by the bookkeeping actions: ``acknowledge`` (incident_phase), ``decision``
(incident_phase at diagnose), ``rung`` (incident_rung, each rung recorded) and ``outcome`` (incident_outcome).

A notifier never blocks the fix: every failure (a timeout, an error status, DNS, refused, a missing secret,
even a defect here) becomes a record ``{kind, name, event, status, reason}`` and nothing is raised. Webhook URLs
and routing keys are read only from files or environment variables, at the moment of posting, and never leave
this module: no record, reason or message holds them. Alert text is data: control characters shown escaped,
Slack's ``& < >`` escaped, ``@`` mentions defused, every value capped.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ansible_collections.incident.remediation.plugins.module_utils.client import HttpClient
from ansible_collections.incident.remediation.plugins.module_utils.errors import TransportError
from ansible_collections.incident.remediation.plugins.module_utils.text import one_line

EVENTS = ("acknowledge", "decision", "rung", "outcome")
# a mitigated incident's second outcome, at the end of its stability window (the front's stability.py): resolved, or
# regressed (the alert back, a condition not held), which pages at once; posted to the targets that take outcome
STABILITY = "stability"
KINDS = ("slack", "pagerduty")
# PagerDuty has nothing to do with a rung (Events v2 has no note): the incident channel tells those
DEFAULT_EVENTS = {"slack": EVENTS, "pagerduty": ("acknowledge", "decision", "outcome")}
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 30.0
RETRY_PAUSE = 0.5
VALUE_LIMIT = 300  # one value of an alert (a label, an annotation, a message)
TEXT_LIMIT = 3000  # one Slack message (a section block's limit)
SUMMARY_LIMIT = 1024  # PagerDuty's summary
DETAILS_LIMIT = 50  # labels kept in PagerDuty's custom_details
DIAGNOSIS_QUERIES = 5  # diagnosis queries summed up in the decision's message (the rest: in the evidence)
DIAGNOSIS_SERIES = 5  # series of each
SEVERITIES = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info", "operator": "error"}
# where an alert carries the version it was deployed with, first found first; the host read's own ``version``
# (the running version, when the read has one) comes before them
VERSION_KEYS = ("version", "deploy_version", "release", "commit", "git_sha", "sha")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")

Sender = Callable[[str, bytes, float], "tuple[int, str]"]


class NotifyError(Exception):
    """A target that cannot be posted to, said without its secret."""


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    events: tuple[str, ...]
    config: dict

    def secret(self, what: str) -> str:
        """The webhook URL (``url``) or routing key (``routing_key``), from its file or environment variable."""
        source_file, source_env = self.config.get(f"{what}_file"), self.config.get(f"{what}_env")
        if source_file:
            path = os.path.expanduser(str(source_file))
            try:
                with open(path, encoding="utf-8") as handle:
                    value = handle.read().strip()
            except (OSError, UnicodeError) as exc:
                raise NotifyError(f"{what}_file {path} cannot be read ({type(exc).__name__})") from None
            if not value:
                raise NotifyError(f"{what}_file {path} is empty")
            return value
        if source_env:
            value = os.environ.get(str(source_env), "").strip()
            if not value:
                raise NotifyError(f"{what}_env {source_env} is not set on the controller")
            return value
        raise NotifyError(f"no {what}_file or {what}_env")

    @property
    def timeout(self) -> float:
        """Seconds for one post: the target's (a number, or text of one, as an inventory may give it), bounded."""
        try:
            value = float(self.config.get("timeout", DEFAULT_TIMEOUT))
        except (TypeError, ValueError):
            return DEFAULT_TIMEOUT
        return DEFAULT_TIMEOUT if math.isnan(value) else min(max(value, 0.1), MAX_TIMEOUT)


def targets(config) -> tuple[list[Target], list[str]]:
    """The targets of ``incident_notify`` and the problems of those that cannot be used (said, never raised)."""
    found: list[Target] = []
    problems: list[str] = []
    for number, entry in enumerate(config if isinstance(config, list) else []):
        if not isinstance(entry, dict):
            problems.append(f"incident_notify[{number}] is not a mapping")
            continue
        kind = str(entry.get("kind") or "")
        name = str(entry.get("name") or f"{kind or 'target'}-{number + 1}")
        if kind not in KINDS:
            problems.append(f"incident_notify[{number}]: kind must be one of {', '.join(KINDS)}")
            continue
        if not _NAME.match(name):
            problems.append(f"incident_notify[{number}]: name must be letters, digits and ._- (at most 64)")
            continue
        events = entry.get("events") or DEFAULT_EVENTS[kind]
        if not isinstance(events, list | tuple) or set(map(str, events)) - set(EVENTS):
            problems.append(f"{name}: events must be a list of {', '.join(EVENTS)}")
            continue
        secret = "url" if kind == "slack" else "routing_key"
        env = entry.get(f"{secret}_env")
        if kind == "slack" and entry.get("url"):
            problems.append(f"{name}: a webhook URL is a secret: give it as url_file or url_env, never url")
            continue
        if env and not _ENV.match(str(env)):
            problems.append(f"{name}: {secret}_env must be an environment variable's name")
            continue
        found.append(Target(kind, name, tuple(str(e) for e in events), dict(entry)))
    return found, problems


# --- the text an incident posts ---------------------------------------------------------------------------------


def plain(value, limit: int = VALUE_LIMIT) -> str:
    """A value as one line of data: control characters shown escaped (text.one_line), at most ``limit``."""
    text = one_line("" if value is None else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mrkdwn(value, limit: int = VALUE_LIMIT) -> str:
    """A value as Slack mrkdwn shows it and nothing more: ``& < >`` escaped (no ``<!channel>``, no
    ``<url|link>``), every ``@`` followed by a zero-width space (no ``@here`` or ``@user`` mention in
    Mattermost, which reads them in plain text), control characters shown escaped, capped."""
    text = plain(value, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("@", "@\u200b")


def deploy_version(plan: dict, host=None) -> str:
    """The version the service runs or was deployed with, when the incident knows it ('' otherwise)."""
    host = host if isinstance(host, dict) else {}
    known = host.get("version")
    if isinstance(known, dict):
        known = known.get("version") or known.get("after") or known.get("before")
    if known:
        return plain(known, 100)
    alert = plan.get("alert") or {}
    for where in (alert.get("labels") or {}, alert.get("annotations") or {}):
        for key in VERSION_KEYS:
            if where.get(key):
                return plain(where[key], 100)
    return ""


def _reading(value) -> str:
    """A value of a series as one short text: a number to 6 significant digits, else as Prometheus said it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.6g}"
    return plain(value, 40)


def diagnosis(queries) -> tuple[list[dict], int]:
    """The service's diagnosis queries (seed 001 0:08, the top endpoints) as the decision says them: the first
    DIAGNOSIS_QUERIES, DIAGNOSIS_SERIES series each, every label and value one line of data, capped; and how many
    queries were left out."""
    queries = [q for q in queries if isinstance(q, dict)] if isinstance(queries, list) else []
    said = []
    for query in queries[:DIAGNOSIS_QUERIES]:
        series = [s for s in query.get("series") or [] if isinstance(s, dict)]
        shown = [{"labels": plain(", ".join(f"{k}={v}" for k, v in sorted((s.get("metric") or {}).items())), 300),
                  "value": _reading(s.get("value"))} for s in series[:DIAGNOSIS_SERIES]]  # fmt: skip
        total = query.get("series_total") if isinstance(query.get("series_total"), int) else len(series)
        said.append({"name": plain(query.get("name"), 64), "error": plain(query.get("error")), "series": shown,
                     "total": max(total, len(shown))})  # fmt: skip
    return said, max(len(queries) - DIAGNOSIS_QUERIES, 0)


def _ladder(plan: dict) -> str:
    return " -> ".join(str(rung.get("mitigation", "?")) for rung in plan.get("ladder") or []) or "none"


def facts(event: str, plan: dict, host: str, data: dict | None = None) -> dict:
    """What an event says, as plain fields (every value one line of data, capped): both kinds build on it."""
    data = data or {}
    alert = plan.get("alert") or {}
    said = {
        "incident": plain(plan.get("id"), 128),
        "service": plain(plan.get("service"), 100),
        "host": plain(host, 200),
        "alert": plain(alert.get("name"), 200) if alert else "",
        "severity": plain(plan.get("severity"), 50),
        "level": plain(plan.get("level"), 20),
    }
    if event == "acknowledge":
        labels = alert.get("labels") or {}
        said["labels"] = {plain(k, 100): plain(v) for k, v in list(sorted(labels.items()))[:DETAILS_LIMIT]}
        said["summary"] = plain((alert.get("annotations") or {}).get("summary"))
        said["starts_at"] = plain(alert.get("starts_at"), 40)
        said["deploy_version"] = deploy_version(plan, data.get("host"))
    elif event == "decision":
        said["act"] = bool(plan.get("act"))
        said["decision"] = plain(plan.get("decision"), 600)
        said["ladder"] = plain(_ladder(plan), 200)
        said["deploy_version"] = deploy_version(plan, data.get("host"))
        said["diagnosis"], said["diagnosis_left_out"] = diagnosis(data.get("queries"))
    elif event == "rung":
        rung = data.get("rung") or {}
        said.update({
            "rung": int(data.get("index", 0)) + 1,
            "rungs": len(plan.get("ladder") or []),
            "mitigation": plain(rung.get("mitigation"), 50),
            "outcome": plain(rung.get("outcome"), 20),
            "restored": bool(rung.get("restored")),
            "message": plain(rung.get("message"), 600),
            "next": plain(data.get("why"), 600),
        })  # fmt: skip
    elif event == "stability":  # the window's end, or the alert back inside it
        watched = data.get("stability") or {}
        said["status"] = plain(watched.get("status"), 20)
        said["resolved"] = watched.get("status") == "resolved"
        said["reason"] = plain(watched.get("reason"), 900)
    elif event == "outcome":
        record = data.get("record") or {}
        said["status"] = plain(record.get("status"), 20)
        said["resolved"] = record.get("status") == "resolved"
        said["reason"] = plain(record.get("reason"), 900)
    return said


def slack_message(event: str, said: dict) -> dict:
    """The incoming webhook's JSON: one mrkdwn text, every value from the incident escaped."""
    head = f"*Incident {mrkdwn(said['incident'])}*, {mrkdwn(said['service'])} on {mrkdwn(said['host'])}"
    if event == "acknowledge":
        what = f"alert *{mrkdwn(said['alert'])}*" if said["alert"] else "an operator's run"
        lines = [f"{head}: acknowledged {what} at {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
                 f"severity {mrkdwn(said['severity'])} ({mrkdwn(said['level'])})"]  # fmt: skip
        if said["summary"]:
            lines.append(f"summary: {mrkdwn(said['summary'])}")
        if said["labels"]:
            lines.append("labels: " + ", ".join(f"{mrkdwn(k)}={mrkdwn(v)}" for k, v in said["labels"].items()))
        if said["deploy_version"]:
            lines.append(f"deploy version: {mrkdwn(said['deploy_version'])}")
    elif event == "decision":
        lines = [f"{head}: decision: {mrkdwn(said['decision'])}"]
        lines.append(
            f"mitigation ladder: {mrkdwn(said['ladder'])}" if said["act"] else "nothing is done: people decide"
        )
        lines += _diagnosis_lines(said)
    elif event == "rung":
        verdict = "restored the service" if said["restored"] else "did not restore the service"
        lines = [f"{head}: rung {said['rung']} of {said['rungs']}, {mrkdwn(said['mitigation'])} "
                 f"({mrkdwn(said['outcome'])}) {verdict}: {mrkdwn(said['message'])}"]  # fmt: skip
        if said["next"] and not said["restored"]:
            lines.append(f"next: {mrkdwn(said['next'])}")
    else:
        word = "resolved" if said["resolved"] else f"escalated ({mrkdwn(said['status'])}), people are needed"
        if event == "outcome" and said["status"] == "mitigated":
            word = "mitigated, watched over its stability window"
        elif event == "stability" and not said["resolved"]:
            word = "REGRESSED within its stability window, people are needed now"
        lines = [f"{head}: {word}: {mrkdwn(said['reason'])}"]
    text = "\n".join(lines)
    return {"text": text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."}


def _diagnosis_lines(said: dict) -> list[str]:
    """One line per diagnosis query: its first series (labels = value; ...), or why it has no answer."""
    lines = []
    for query in said.get("diagnosis") or []:
        if query["error"]:
            told = f"no answer: {mrkdwn(query['error'])}"
        elif not query["series"]:
            told = "no series"
        else:
            told = "; ".join(f"{mrkdwn(s['labels'])} = {mrkdwn(s['value'])}" if s["labels"] else mrkdwn(s["value"])
                             for s in query["series"])  # fmt: skip
            if query["total"] > len(query["series"]):
                told += f" ({query['total']} series, {len(query['series'])} shown)"
        lines.append(f"diagnosis {mrkdwn(query['name'])}: {told}")
    if said.get("diagnosis_left_out"):
        lines.append(f"({said['diagnosis_left_out']} more diagnosis queries in the evidence)")
    return lines


def pagerduty_event(event: str, said: dict, routing_key: str) -> dict | None:
    """The Events v2 body for this event, or None when PagerDuty has nothing to do with it."""
    base = {"routing_key": routing_key, "dedup_key": said["incident"]}
    severity = SEVERITIES.get(said["level"], "warning")
    if event == "outcome" and said["status"] == "mitigated":  # acknowledged until its window's confirmation
        return None
    if event == "stability":  # resolved when it held, a new trigger when it regressed
        said = {**said, "status": "regressed" if not said["resolved"] else said["status"]}
        event = "outcome"
    if event == "acknowledge" or (event == "outcome" and not said["resolved"] and said["status"] != "checked"):
        if event == "acknowledge":
            what = f"{said['alert']}" if said["alert"] else "operator run"
            summary = f"[{said['incident']}] {what}: {said['service']} on {said['host']}"
            details = {k: v for k, v in said.items() if v not in ("", {}, None)}
        else:
            summary = f"[{said['incident']}] escalated ({said['status']}): {said['service']} on {said['host']}: " \
                      f"{said['reason']}"  # fmt: skip
            details = {k: said[k] for k in ("incident", "service", "host", "alert", "status", "reason")}
            severity = "critical" if severity in ("critical", "error") or said["status"] == "regressed" else "error"
        payload = {
            "summary": summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 3] + "...",
            "source": said["host"] or "unknown",
            "severity": severity,
            "component": said["service"],
            "class": said["alert"] or "operator",
            "custom_details": details,
        }
        return {**base, "event_action": "trigger", "payload": payload, "client": "incident.remediation"}
    if event == "decision" and said["act"]:  # the automation works on it: the escalation timer stops
        return {**base, "event_action": "acknowledge"}
    if event == "outcome" and said["resolved"]:
        return {**base, "event_action": "resolve"}
    return None


# --- posting ------------------------------------------------------------------------------------------------------


def _scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret, and every part of a secret URL but its scheme and host, replaced by ***."""
    parts: list[str] = []
    for secret in secrets:
        parts.append(secret)
        try:
            split = urlsplit(secret)
        except ValueError:
            continue
        parts += [split.path, split.query, split.netloc.rpartition("@")[0], *split.path.split("/")]
    for part in sorted({p for p in parts if len(p) >= 4}, key=len, reverse=True):
        text = text.replace(part, "***")
    return text


def http_sender(url: str, body: bytes, timeout: float) -> tuple[int, str]:
    """POST JSON with ansible-core's open_url (client.HttpClient); no redirect is followed."""
    client = HttpClient(timeout=timeout, follow_redirects=False)
    answer = client.request("POST", url, body, {"Content-Type": "application/json", "Accept": "application/json"})
    return answer.status, answer.text


def deliver(url: str, body: dict, timeout: float, sender: Sender, secrets: list[str]) -> tuple[bool, str]:
    """Post once, and once more after a transport failure, a 5xx or a 429: ``(ok, why)`` without the secrets."""
    data = json.dumps(body).encode()
    why = ""
    for attempt in (1, 2):
        try:
            status, text = sender(url, data, timeout)
        except TransportError as exc:
            why = exc.reason if exc.reason != "timed out" else f"timed out after {timeout:g} s"
        else:
            if 200 <= status < 300:
                return True, f"HTTP {status}" + (" on the second attempt" if attempt == 2 else "")
            why = f"HTTP {status}: {plain(text, 100) or '(empty body)'}"
            if status < 500 and status != 429:
                break
        if attempt == 1:
            time.sleep(RETRY_PAUSE)
    tries = "1 attempt" if attempt == 1 else "2 attempts"
    return False, plain(_scrub(f"{why} ({tries})", secrets), 300)


def _post(target: Target, event: str, said: dict, sender: Sender) -> tuple[str, str]:
    """``(status, reason)`` of one target for one event: ok, failed, or '' when the kind sends nothing."""
    secrets: list[str] = []
    try:
        if target.kind == "slack":
            url = target.secret("url")
            secrets.append(url)
            body = slack_message(event, said)
        else:
            key = target.secret("routing_key")
            secrets.append(key)
            url = str(target.config.get("url") or PAGERDUTY_URL)
            body = pagerduty_event(event, said, key)
            if body is None:
                return "", ""
        ok, why = deliver(url, body, target.timeout, sender, secrets)
        return ("ok" if ok else "failed"), why
    except NotifyError as exc:
        return "failed", str(exc)
    except Exception as exc:  # a notifier's defect never blocks the fix; its text may hold a secret
        return "failed", f"not posted: {type(exc).__name__}"


@dataclass
class Sent:
    """What ``send`` did: the incident's notifications so far, and the line the task's message ends with."""

    records: list[dict]
    said: str

    @property
    def facts(self) -> dict:
        return {"_incident_notifications": self.records}


def send(
    config,
    event: str,
    plan: dict,
    host: str,
    data: dict | None = None,
    *,
    done=None,
    check_mode: bool = False,
    sender: Sender = http_sender,
) -> Sent:
    """Post ``event`` of the incident ``plan`` on ``host`` to every target of ``config`` that takes it.

    ``done``: the notifications recorded before (the fact ``_incident_notifications``). Never raises."""
    records = [r for r in done if isinstance(r, dict)] if isinstance(done, list) else []
    new: list[dict] = []
    try:
        found, problems = targets(config)
        if event == EVENTS[0]:  # a configuration that cannot be used is said once, at the first event
            new += [{"kind": "", "name": "", "event": event, "status": "failed", "reason": p} for p in problems]
        said = facts(event, plan if isinstance(plan, dict) else {}, host, data) if found else {}
        for target in found:
            if (event if event != STABILITY else "outcome") not in target.events:
                continue
            if check_mode:
                status, why = "skipped", "check mode: nothing posted"
            else:
                status, why = _post(target, event, said, sender)
            if status:
                new.append({"kind": target.kind, "name": target.name, "event": event, "status": status,
                            "reason": why})  # fmt: skip
    except Exception as exc:  # never blocks the fix
        new.append({"kind": "", "name": "", "event": event, "status": "failed",
                    "reason": f"not posted: {type(exc).__name__}"})  # fmt: skip
    line = ", ".join(f"{r['name'] or 'incident_notify'} {r['status']}" + (f" ({r['reason']})" if r["status"] !=
                     "ok" else "") for r in new)  # fmt: skip
    return Sent(records + new, f"; notified {event}: {line}" if line else "")


def from_task(
    task_vars: dict, template: Callable, event: str, plan, data: dict | None = None, *, check_mode: bool = False
) -> Sent:
    """``send`` as the bookkeeping actions call it: ``incident_notify`` from their variables (``template`` is the
    action's templar), the notifications so far from the fact ``_incident_notifications`` (none at acknowledge:
    a new incident), the host's name. Never raises."""
    done = [] if event == EVENTS[0] else task_vars.get("_incident_notifications")
    host = str(task_vars.get("inventory_hostname") or "?")
    try:
        config = template(task_vars.get("incident_notify") or [])
    except Exception as exc:  # an undefined variable in it: said by its type, never blocks the fix
        failed = {"kind": "", "name": "", "event": event, "status": "failed",
                  "reason": f"incident_notify cannot be templated ({type(exc).__name__})"}  # fmt: skip
        return send([], event, plan, host, done=[*(done or []), failed])
    return send(config, event, plan, host, data, done=done, check_mode=check_mode)
