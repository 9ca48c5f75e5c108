# Copyright: incident.remediation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: incident_timeline
type: notification
short_description: Write an incident's timeline as JSON lines, and its post-incident report
version_added: 0.1.0
description:
  - For every host of a run that declares an incident, appends one JSON line per event to
    C(<dir>/<incident id>/timeline.jsonl) - time, incident id, host, phase, task, status, changed, elapsed,
    short result - plus the incident's decision, each phase's start and the outcome, which the C(incident)
    role's bookkeeping actions (M(incident.remediation.incident_phase), M(incident.remediation.incident_outcome))
    return as explicit events in their results (C(incident_event)); no fact is watched.
  - At the end of the run, prints a summary per incident and host and writes C(report.md) beside the timeline,
    the post-incident review in the runbooks' template, rendered from every run recorded for that incident.
  - Runs without an incident are not recorded, so the callback can stay enabled for every playbook.
  - Results of C(no_log) tasks are never written. The user and password of every URL in what is written
    (the timeline, the report, the summary) are redacted (C(http://***@proxy:3128)).
  - A host whose run ends before its close phase still gets an outcome, so that the report and the
    receiver's metrics say so - C(unreachable) when the host was lost (the mitigation may be partly
    done; the silence, if any, is kept until it ends) or C(failed) with the last failure.
requirements:
  - enable with C(callbacks_enabled = incident.remediation.incident_timeline) in C(ansible.cfg)
    (the collection's own C(ansible.cfg) does)
options:
  dir:
    description: Where the incidents' folders are; the C(incident) role keeps its evidence there too.
    type: path
    default: ~/.incident-remediation/incidents
    env:
      - name: INCIDENT_TIMELINE_DIR
    ini:
      - section: incident_timeline
        key: dir
  result_chars:
    description: At most this many characters of each task's result are kept.
    type: int
    default: 300
    env:
      - name: INCIDENT_TIMELINE_RESULT_CHARS
    ini:
      - section: incident_timeline
        key: result_chars
"""

import json
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path

from ansible.plugins.callback import CallbackBase
from ansible_collections.incident.remediation.plugins.module_utils.text import one_line, redact, redact_userinfo
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_report import read_events, render

SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_data(result) -> dict:
    """A task result's data: ``result`` since ansible-core 2.19, ``_result`` before."""
    return result.result if hasattr(result, "result") else result._result


def short_result(result: dict, status: str, limit: int) -> str:
    """One line saying what a task did or why it failed; hidden results stay hidden."""
    if result.get("_ansible_no_log"):
        return "output hidden (no_log)"
    if status == "skipped":
        text = result.get("skip_reason") or result.get("false_condition") or "skipped"
    elif isinstance(result.get("msg"), str) and result["msg"] and result["msg"] != "All items completed":
        text = result["msg"]
    elif "rc" in result:
        output = (result.get("stderr") or result.get("stdout") or "").strip().splitlines()
        text = f"rc={result['rc']}" + (f": {output[-1]}" if output and status == "failed" else "")
    elif isinstance(result.get("results"), list):
        failed = [r.get("msg", "") for r in result["results"] if isinstance(r, dict) and r.get("failed")]
        text = f"{len(result['results'])} items" + (f", failed: {'; '.join(map(str, failed))}" if failed else "")
    elif isinstance(result.get("ansible_facts"), dict):
        text = "set " + ", ".join(sorted(result["ansible_facts"]))
    else:
        text = ""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TimelineFiles:
    """Appends events to each incident's timeline and renders its report; one write per event, flushed."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(os.path.expanduser(directory))

    def folder(self, incident_id: str) -> Path:
        return self.directory / incident_id

    def append(self, event: dict) -> None:
        folder = self.folder(event["incident"])
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = json.dumps(redact(event), sort_keys=True, default=str) + "\n"
        with open(folder / "timeline.jsonl", "a", encoding="utf-8") as stream:
            stream.write(line)

    def write_report(self, incident_id: str) -> Path:
        path = self.folder(incident_id) / "report.md"
        path.write_text(render(read_events(self.folder(incident_id) / "timeline.jsonl")), encoding="utf-8")
        return path


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "incident.remediation.incident_timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.files: TimelineFiles | None = None
        self.limit = 300
        self.incident: dict[str, str] = {}  # host -> incident id
        self.mitigation: dict[str, str] = {}  # host -> its plan's mitigation
        self.pending: dict[str, list[dict]] = {}  # host -> events before its incident was known
        self.phase: dict[str, str] = {}
        self.phase_started: dict[str, list[tuple[str, float]]] = {}
        self.outcome: dict[str, dict] = {}
        self.last_failure: dict[str, tuple[str, str, str]] = {}  # host -> (status, task, message)
        self.silence: dict[str, str] = {}  # host -> the silence its acknowledge phase created
        self.started: dict[tuple[str, str], float] = {}
        self.unwritten: dict[str, int] = {}  # incident id -> events the timeline could not take

    def set_options(self, task_keys=None, var_options=None, direct=None) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self.files = TimelineFiles(self.get_option("dir"))
        self.limit = max(40, int(self.get_option("result_chars")))

    # --- recording -------------------------------------------------------------------------------
    def _emit(self, host: str, event: dict) -> None:
        event = {"time": utc_now(), "host": host, "phase": self.phase.get(host, ""), **event}
        incident_id = self.incident.get(host)
        if incident_id is None:
            self.pending.setdefault(host, []).append(event)
            return
        self._write(incident_id, event)

    def _write(self, incident_id: str, event: dict) -> None:
        try:
            self.files.append({**event, "incident": incident_id})
        except OSError as exc:
            lost = self.unwritten[incident_id] = self.unwritten.get(incident_id, 0) + 1
            if lost == 1:  # once per incident: a full disk would otherwise warn at every task
                self._display.warning(f"incident_timeline: cannot write the timeline of {incident_id}: {exc}")

    def _declare(self, host: str, plan) -> None:
        incident_id = str(plan.get("id", "")) if isinstance(plan, dict) else ""
        if not SAFE_ID.match(incident_id):
            self._display.warning(f"incident_timeline: {host} declared an unusable incident id {incident_id!r}")
            return
        self.incident[host] = incident_id
        self.mitigation[host] = str(plan.get("mitigation") or "")
        for event in self.pending.pop(host, []):
            self._write(incident_id, event)
        self._emit(host, {"event": "incident", "data": plan})

    def _events(self, host: str, events) -> None:
        """The explicit events of the incident role's bookkeeping actions (incident_phase, incident_outcome)."""
        for event in events if isinstance(events, list) else []:
            kind = event.get("event") if isinstance(event, dict) else None
            if kind == "incident":
                self._declare(host, event.get("data"))
            elif kind == "phase" and isinstance(event.get("phase"), str) and event["phase"] != self.phase.get(host):
                self.phase[host] = event["phase"]
                self.phase_started.setdefault(host, []).append((event["phase"], time.monotonic()))
                self._emit(host, {"event": "phase"})
            elif kind == "outcome" and isinstance(event.get("data"), dict):
                self.outcome[host] = event["data"]
                self._emit(host, {"event": "outcome", "data": event["data"]})

    def _task_event(self, result, status: str) -> None:
        host, task = result._host.get_name(), result._task
        data = result_data(result)
        if status in ("ok", "changed", "failed") and "incident_event" in data:
            self._events(host, data["incident_event"])
        started = self.started.pop((host, task._uuid), None)
        text = short_result(data, status, self.limit)
        if status in ("failed", "unreachable"):
            self.last_failure[host] = (status, task.get_name().strip(), text)
        elif isinstance(data.get("silence_id"), str) and self.phase.get(host) == "acknowledge":
            self.silence[host] = data["silence_id"]
        self._emit(
            host,
            {
                "event": "task",
                "task": task.get_name().strip(),
                "action": task.action,
                "status": status,
                "changed": bool(data.get("changed")),
                "elapsed": round(time.monotonic() - started, 3) if started is not None else None,
                "result": text,
            },
        )

    # --- Ansible's events ------------------------------------------------------------------------
    def v2_runner_on_start(self, host, task) -> None:
        self.started[(host.get_name(), task._uuid)] = time.monotonic()

    def v2_runner_on_ok(self, result) -> None:
        self._task_event(result, "changed" if result_data(result).get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._task_event(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result) -> None:
        self._task_event(result, "skipped")

    def v2_runner_on_unreachable(self, result) -> None:
        self._task_event(result, "unreachable")

    def _unclosed(self, host: str) -> dict:
        """The outcome of a host whose run ended before its close phase recorded one."""
        kind, task, text = self.last_failure.get(host, ("", "", "no failure recorded"))
        phase = self.phase.get(host) or "first"
        if kind == "unreachable":
            status = "unreachable"
            reason = (f"the run lost {host} during the {phase} phase (task '{task}': {text}); the mitigation may "
                      "be partly done: check the host before acting again")  # fmt: skip
        else:
            status = "failed"
            reason = f"the run ended during the {phase} phase, before close"
            reason += f" (task '{task}': {text})" if task else ""
        silence = self.silence.get(host, "")
        return {"status": status, "reason": reason, "mitigation": self.mitigation.get(host, ""), "ended": utc_now(),
                "silence": {"id": silence, "state": "kept until it ends, the incident not being closed" if silence
                            else "none recorded"}}  # fmt: skip

    def v2_playbook_on_stats(self, stats) -> None:
        for host in sorted(set(self.incident) - set(self.outcome)):
            self.outcome[host] = self._unclosed(host)
            self._emit(host, {"event": "outcome", "data": self.outcome[host]})
        for host in sorted(self.incident):
            self._emit(host, {"event": "run_end", "data": stats.summarize(host)})
        for incident_id in sorted(set(self.incident.values())):
            self._summarize(incident_id)

    def _summarize(self, incident_id: str) -> None:
        folder = self.files.folder(incident_id)
        try:
            report = self.files.write_report(incident_id)
        except Exception as exc:  # a report that cannot be rendered must never fail the run
            report = f"not written: {type(exc).__name__}: {exc}"
            self._display.warning(f"incident_timeline: the report of {incident_id} was {report}")
        self._display.banner(f"INCIDENT {incident_id}")
        for host in sorted(h for h, i in self.incident.items() if i == incident_id):
            outcome = self.outcome[host]
            said = f"{host}: {outcome.get('status')} - {outcome.get('reason', '')}"
            self._display.display(one_line(redact_userinfo(said)))
            marks = self.phase_started.get(host, [])
            spans = [
                f"{name} {(marks[i + 1][1] if i + 1 < len(marks) else time.monotonic()) - start:.1f} s"
                for i, (name, start) in enumerate(marks)
            ]
            if spans:
                self._display.display("  phases: " + ", ".join(spans))
            if outcome.get("lock"):  # whose lease was waited for or taken over (a crashed run's), or why none
                self._display.display("  lock: " + one_line(redact_userinfo(str(outcome["lock"]))))
        lost = self.unwritten.get(incident_id, 0)
        incomplete = f" (incomplete: {lost} event(s) could not be written)" if lost else ""
        self._display.display(f"timeline: {folder / 'timeline.jsonl'}{incomplete}")
        self._display.display(f"report:   {report}")
