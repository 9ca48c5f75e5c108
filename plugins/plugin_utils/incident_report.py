# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The post-incident review, in Markdown, from an incident's timeline (JSON lines written by incident_timeline).

It follows the runbooks' PIR template: summary, timeline, impact, root cause (left to a human), actions taken,
verification evidence, follow-ups. Run it by hand with
``python -m ansible_collections.incident.remediation.plugins.plugin_utils.incident_report TIMELINE.jsonl``.

Every value in it (alert names, labels, annotations, decisions, task results, reasons: alert data is hostile)
is inert text on one line: credentials in URLs redacted, line breaks flattened, control characters shown
escaped, and the Markdown and HTML that could act on a page escaped (``_text``, ``_cell``, ``_code``), so no
value can add a heading, a link, an image, a table row or a tag. Only the template's own lines are markup.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from ansible_collections.incident.remediation.plugins.module_utils.text import one_line, redact_userinfo

TO_FILL = "_To be completed in the review._"
MAX_COLUMNS = 8  # label columns of a diagnosis query's table
SHOWN_STATUSES = {"changed", "failed", "unreachable"}


def read_events(path: str | Path) -> list[dict]:
    """The events of a timeline file; a torn last line (a run killed while writing) is skipped, and so is a line
    a byte that is not UTF-8 spoils (the callback writes ASCII JSON: such a byte is a disk's or another writer's)."""
    events = []
    for raw in Path(path).read_bytes().splitlines():
        try:  # each line decoded strictly: a replaced byte inside a string would keep an event nobody wrote
            event = json.loads(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError is one
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


# What Markdown (CommonMark, GFM) or HTML could act on inside a line: escapes, code, emphasis, strikethrough,
# links and images, autolinks and tags (a '<' opens them: '>' alone is text), entities, headings' closing
# marks, math. An underscore between two letters or digits can neither open nor close emphasis, so demo_app
# stays as it is.
_ACTIVE = re.compile(r"[\\`*~\[\]<&#$]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


# At the start of a list item, a leading -, +, = or > or a number and . or ) would open a list, an underline
# or a quote.
_BLOCK_START = re.compile(r"\A([0-9]{1,9}(?=[.)])|(?=[-+=>]))")


def _text(value) -> str:
    """A value as inert Markdown text on one line (prose: a list item, a heading, a sentence)."""
    text = _ACTIVE.sub(lambda m: "\\" + m.group(0), one_line(redact_userinfo(str(value))))
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\", text, count=1)


def _cell(value) -> str:
    """A value as one inert table cell: also no ``|``, which would start another cell."""
    return _text(value).replace("|", "\\|") or " "


def _clip(value, limit: int) -> str:
    """At most ``limit`` characters of the value on one line, cut before escaping (never inside an escape)."""
    text = one_line(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _code(value) -> str:
    """A value as an inline code span: shown literally; a fence longer than any run of backticks in it."""
    text = one_line(redact_userinfo(str(value)))
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"


def _when(stamp: str) -> datetime | None:
    """A time from the timeline or the alert; one without a zone is UTC (Ansible's now(utc=true))."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _last(events: list[dict], kind: str) -> dict[str, dict]:
    """The last event of a kind per host (its data)."""
    found = {}
    for event in events:
        if event.get("event") == kind:
            found[event.get("host", "?")] = event.get("data") or {}
    return found


def _header(plan: dict, outcomes: dict, events: list[dict]) -> list[str]:
    alert = plan.get("alert") or {}
    title = _text(f"{alert.get('name') or plan.get('mitigation') or 'incident'} on {plan.get('service', '?')}")
    first, last = _when(events[0].get("time", "")), _when(events[-1].get("time", ""))
    resolved = sum(1 for o in outcomes.values() if o.get("status") == "resolved")
    return [
        f"# Post-Incident Review: {title}",
        "",
        f"**Date:** {first.date().isoformat() if first else '?'}  ",
        f"**Incident ID:** {_text(plan.get('id', '?'))}  ",
        f"**Severity:** {_text(plan.get('level', '?'))} ({_text(plan.get('severity', '?'))})  ",
        f"**Duration:** {_duration((last - first).total_seconds()) if first and last else '?'} of automated work  ",
        "**Participants:** incident.remediation (automation); on-call: _to be completed_  ",
        f"**Outcome:** {resolved} of {len(outcomes)} host(s) resolved",
        "",
    ]


def _summary(plan: dict, outcomes: dict) -> list[str]:
    alert = plan.get("alert") or {}
    annotations = alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {}
    said = annotations.get("summary") or annotations.get("description", "")
    opening = (
        f"Alert {_code(alert.get('name', '?'))} fired for {_text(plan.get('service'))}"
        + (f": {_text(said)}" if said else ".")
        if alert
        else f"An operator asked for {_text(plan.get('mitigation') or 'a diagnosis')} on {_text(plan.get('service'))}."
    )
    lines = ["## Summary", "", opening, f"Decision: {_text(plan.get('decision', '?'))}.", ""]
    lines += [f"- **{_text(host)}**: {_text(o.get('status', '?'))} - {_text(o.get('reason', ''))}"
              for host, o in sorted(outcomes.items())]  # fmt: skip
    return [*lines, ""]


def _timeline(plan: dict, events: list[dict]) -> list[str]:
    rows = []
    starts_at = (plan.get("alert") or {}).get("starts_at")
    if starts_at:
        rows.append((starts_at, "-", "-", f"Alert {plan['alert']['name']} started firing"))
    for event in events:
        kind, host, phase = event.get("event"), event.get("host", "-"), event.get("phase", "-")
        if kind == "phase":
            rows.append((event["time"], host, phase, f"{phase} started"))
        elif kind == "task" and event.get("status") in SHOWN_STATUSES:
            detail = f": {event['result']}" if event.get("result") else ""
            rows.append((event["time"], host, phase, f"{event.get('status')}: {event.get('task')}{detail}"))
        elif kind == "outcome":
            data = event.get("data") or {}
            rows.append((event["time"], host, phase, f"outcome {data.get('status')}: {data.get('reason', '')}"))
        elif kind == "stability":
            data = event.get("data") or {}
            said = f"stability window {data.get('status')}: {data.get('reason', '')}"
            rows.append((event["time"], host, phase, said))
    lines = ["## Timeline", "", "| Time (UTC) | Host | Phase | Event |", "|---|---|---|---|"]
    lines += [f"| {_cell(t)} | {_cell(h)} | {_cell(p)} | {_cell(_clip(e, 300))} |" for t, h, p, e in rows]
    return [*lines, "", "Every task, with its duration and result, is in the timeline file beside this report.", ""]


def _impact(plan: dict, outcomes: dict) -> list[str]:
    alert = plan.get("alert") or {}
    lines = ["## Impact", "", f"- **Hosts:** {_text(', '.join(sorted(outcomes)) or '?')}"]
    start = _when(alert.get("starts_at", ""))
    ends = [_when(o.get("ended", "")) for o in outcomes.values() if o.get("status") == "resolved"]
    ends = [e for e in ends if e]
    if start and ends:
        lines.append(f"- **From alert to verified fix:** {_duration((max(ends) - start).total_seconds())}")
    lines += ["- **User impact:** _to be completed: who was affected, how many, for how long._", ""]
    return lines


def _step(step) -> str:
    """``budget: restart allowed (1 of 3 in the last 15 min)``, from a role's report step."""
    if not isinstance(step, dict):
        return str(step)
    rest = {k: v for k, v in step.items() if k not in ("step", "outcome", "seconds")}
    text = f"{step.get('step', 'step')}: {step.get('outcome', '')}"
    if step.get("seconds") is not None:
        text += f" ({step['seconds']} s)"
    return text + (f" {json.dumps(rest, sort_keys=True, default=str)}" if rest else "")


def _actions(outcomes: dict) -> list[str]:
    lines = ["## Actions Taken", ""]
    for host, outcome in sorted(outcomes.items()):
        done = outcome.get("mitigation") or "no mitigation"
        if outcome.get("status") == "diagnosed":
            done += " not run (diagnosis only)"
        lines.append(f"### {_text(host)}: {_text(done)}")
        lines.append("")
        rungs = [rung for rung in outcome.get("ladder") or [] if isinstance(rung, dict)]
        for number, rung in enumerate(rungs if len(rungs) > 1 else [], 1):  # the escalation ladder, rung by rung
            reason = str(rung.get("reason") or "")
            if rung.get("restored"):
                verdict = "restored the service"
            elif not reason or reason.startswith(str(rung.get("message"))):  # the message says it already
                verdict = "did not restore it"
            else:
                verdict = f"did not: {reason}"
            text = f"Rung {number}, {rung.get('mitigation')}: {rung.get('outcome')}, {rung.get('message')}; {verdict}"
            lines.append(f"- {_text(text)}")
        said = outcome.get("result")  # what the mitigation itself said it did (docs/mitigation-contract.md)
        if isinstance(said, dict) and said.get("outcome") and len(rungs) <= 1:
            text = f"Mitigation {outcome.get('mitigation')}: {said.get('outcome')}, {said.get('message') or ''}"
            lines.append(f"- {_text(text)}")
        lines += [f"- {_text(_step(step))}" for step in outcome.get("actions") or []]
        silence = outcome.get("silence") or {}
        if isinstance(silence, dict) and silence:
            lines.append(f"- Silence {_text(silence.get('id') or '-')}: {_text(silence.get('state', '?'))}")
        if outcome.get("evidence"):
            lines.append(f"- Evidence: {_code(outcome['evidence'])}")
        lines += _host_evidence(outcome)
        lines += _notifications(outcome)
        lines.append("")
    return lines


def _notifications(outcome: dict) -> list[str]:
    """The incident channel's posts (docs/notifications.md), one line each: to whom, at which event, how it went."""
    lines = []
    for sent in outcome.get("notifications") or []:
        if isinstance(sent, dict):
            who = f"{sent.get('name') or 'incident_notify'}" + (f" ({sent['kind']})" if sent.get("kind") else "")
            how = str(sent.get("status", "?")) + (f", {sent.get('reason')}" if sent.get("status") != "ok" else "")
            lines.append("- " + _text(f"Notified {who} at {sent.get('event', '?')}: {how}"))
    return lines


def _number(value) -> str:
    return f"{value:.6g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _diagnosis_queries(outcomes: dict) -> list[str]:
    """The service's diagnosis queries as the diagnose phase read them (seed 001 0:08): a small table per query,
    one column per label (at most MAX_COLUMNS) and the value; or why it has no answer."""
    lines: list[str] = []
    for host, outcome in sorted(outcomes.items()):
        queries = (outcome.get("diagnosis") or {}).get("queries") if isinstance(outcome.get("diagnosis"), dict) else []
        queries = [q for q in queries or [] if isinstance(q, dict)]
        if not queries:
            continue
        lines += [f"### Diagnosis queries on {_text(host)}", ""]
        for query in queries:
            head = f"**{_text(query.get('name', '?'))}**: {_code(_clip(query.get('query', ''), 500))}"
            series = [s for s in query.get("series") or [] if isinstance(s, dict)]
            if query.get("error") or not series:
                why = f"no answer: {query['error']}" if query.get("error") else "no series"
                lines += [f"{head} - {_text(_clip(why, 500))}", ""]
                continue
            total = query.get("series_total") or len(series)
            lines += [head + (f" ({_text(total)} series, the first {len(series)} shown)" if total != len(series)
                              else f" ({len(series)} series)"), ""]  # fmt: skip
            columns = sorted({str(k) for s in series for k in (s.get("metric") or {})})[:MAX_COLUMNS]
            lines.append("| " + " | ".join(_cell(_clip(c, 100)) for c in [*columns, "value"]) + " |")
            lines.append("|" + "---|" * (len(columns) + 1))
            for s in series:
                metric = s.get("metric") if isinstance(s.get("metric"), dict) else {}
                cells = [metric.get(c, "") for c in columns] + [_number(s.get("value"))]
                lines.append("| " + " | ".join(_cell(_clip(c, 200)) for c in cells) + " |")
            lines.append("")
    return lines


def _host_evidence(outcome: dict) -> list[str]:
    """The running version before and after, and the unit's core dumps (issue 23 item 3): data, escaped."""
    lines = []
    version = outcome.get("version")
    if isinstance(version, dict) and version:
        said = f"Version: {_clip(version.get('before'), 200)} -> {_clip(version.get('after'), 200)}"
        lines.append(f"- {_text(said + ' (' + str(version.get('source') or '?') + ')')}")
    diagnosed = outcome.get("diagnosis") if isinstance(outcome.get("diagnosis"), dict) else {}
    if diagnosed.get("coredumps"):
        lines.append(f"- {_text('Core dumps: ' + _clip(diagnosed['coredumps'], 600))}")
    return lines


def _verification(outcomes: dict) -> list[str]:
    lines = ["## Verification Evidence", "", "| Host | Check | Result |", "|---|---|---|"]
    for host, outcome in sorted(outcomes.items()):
        for check in outcome.get("verification") or []:
            lines.append(f"| {_cell(host)} | {_cell(check.get('check', '?'))} | {_cell(check.get('result', '?'))} |")
    return [*lines, ""]


def _follow_ups(plan: dict, outcomes: dict) -> list[str]:
    level = str(plan.get("level", ""))
    priority = level if re.match(r"P[0-9]\Z", level) else "P1"
    rows = [("Write the root cause from the evidence", priority)]
    for host, outcome in sorted(outcomes.items()):
        if outcome.get("status") == "failed":
            rows.append((f"Find why {outcome.get('mitigation')} did not fix {host}: {outcome.get('reason')}", "P0"))
        elif outcome.get("status") == "refused":
            rows.append((f"A safety limit stopped {outcome.get('mitigation')} on {host}, an engineer decides next: "
                         f"{outcome.get('reason')}", "P0"))  # fmt: skip
        elif outcome.get("status") == "unreachable":
            rows.append((f"Check {host} by hand, the run lost it mid-way: {outcome.get('reason')}", "P0"))
        elif outcome.get("status") == "diagnosed":
            rows.append((f"Decide the mitigation for {host} ({plan.get('mitigation') or 'none mapped'})", priority))
    lines = ["## Follow-ups", "", "| Action | Owner | Due Date | Priority |", "|---|---|---|---|"]
    lines += [f"| {_cell(action)} | | | {_cell(priority)} |" for action, priority in rows]
    return [*lines, ""]


def render(events: list[dict]) -> str:
    if not events:
        raise ValueError("the timeline has no events")
    plans, outcomes = _last(events, "incident"), _last(events, "outcome")
    for host, watched in _last(events, "stability").items():  # a mitigated incident's window, confirmed (the front)
        if host in outcomes:
            said = f"{outcomes[host].get('reason', '')}; {watched.get('reason', '')}"
            outcomes[host] = {**outcomes[host], "status": watched.get("status"), "reason": said}
    plan = next(iter(plans.values()), {})
    sections = [
        _header(plan, outcomes, events),
        _summary(plan, outcomes),
        _timeline(plan, events),
        _impact(plan, outcomes),
        ["## Root Cause", "", "_To be written by a human: the evidence and the timeline are where to start._", ""],
        _diagnosis_queries(outcomes),
        _actions(outcomes),
        _verification(outcomes),
        _follow_ups(plan, outcomes),
        ["## What Went Well", "", TO_FILL, "", "## What Went Wrong", "", TO_FILL, ""],
        ["## Lessons Learned", "", TO_FILL, ""],
    ]
    return "\n".join(line for section in sections for line in section)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: incident_report TIMELINE.jsonl  (prints the post-incident review in Markdown)", file=sys.stderr)
        return 2
    try:
        print(render(read_events(argv[0])))
    except (OSError, ValueError) as exc:
        print(f"incident_report: {argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
