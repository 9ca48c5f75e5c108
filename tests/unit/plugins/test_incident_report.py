"""incident_report: the PIR from a timeline, including torn files, operator runs and its command line."""

from __future__ import annotations

import json

import pytest
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_report import main, read_events, render

PLAN = {"id": "OPS-1", "service": "svc", "mitigation": "rollback", "level": "operator", "severity": "operator",
        "act": True, "decision": "act: rollback asked by an operator", "alert": {}}  # fmt: skip


def event(kind, time, **fields):
    return {"event": kind, "time": time, "host": "web1", "incident": "OPS-1", "phase": "", **fields}


EVENTS = [
    event("incident", "2026-11-23T10:00:00.000Z", data=PLAN),
    event("phase", "2026-11-23T10:00:01.000Z", phase="resolve"),
    event("task", "2026-11-23T10:00:02.000Z", phase="resolve", task="Switch | release", status="changed",
          result="1.1.0 -> 1.0.0\nand more"),
    event("task", "2026-11-23T10:00:03.000Z", phase="resolve", task="Quiet", status="ok", result=""),
    event("outcome", "2026-11-23T10:01:30.000Z", phase="close",
          data={"status": "resolved", "reason": "verified healthy", "mitigation": "rollback", "actions": ["switched"],
                "verification": [{"check": "health", "result": "ready"}], "ended": "2026-11-23T10:01:30"}),
]  # fmt: skip


def test_an_operator_run_renders_without_alert_sections():
    report = render(EVENTS)
    assert report.startswith("# Post-Incident Review: rollback on svc")
    assert "An operator asked for rollback on svc." in report
    assert "**Duration:** 1 min 30 s of automated work" in report
    row = "| 2026-11-23T10:00:02.000Z | web1 | resolve | changed: Switch \\| release: 1.1.0 -> 1.0.0 and more |"
    assert row in report
    assert "Quiet" not in report, "only changes, failures and phases make the table"
    assert "From alert to verified fix" not in report and "- switched" in report
    assert "| web1 | health | ready |" in report


def test_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "timeline.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS) + '{"event": "task", "ti')
    assert read_events(path) == EVENTS


def test_an_empty_timeline_is_an_error(tmp_path, capsys):
    (tmp_path / "timeline.jsonl").write_text("")
    with pytest.raises(ValueError, match="no events"):
        render([])
    assert main([str(tmp_path / "timeline.jsonl")]) == 1
    assert "the timeline has no events" in capsys.readouterr().err


def test_command_line(tmp_path, capsys):
    path = tmp_path / "timeline.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    assert main([str(path)]) == 0 and "# Post-Incident Review" in capsys.readouterr().out
    assert main([]) == 2 and "usage: incident_report TIMELINE.jsonl" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 1


def test_the_mitigations_own_outcome_and_message_are_shown():
    """A no-op run says so: the report shows what the mitigation itself said it did (its result)."""
    unchanged = {"status": "resolved", "mitigation": "cache_purge", "actions": [],
                 "reason": "verified healthy; the cache_purge changed nothing: all 40 artifacts match: nothing purged",
                 "result": {"outcome": "unchanged", "changed": False,
                            "message": "all 40 artifacts match the manifest: nothing purged"}}  # fmt: skip
    report = render([*EVENTS[:-1], {**EVENTS[-1], "data": unchanged}])
    assert "### web1: cache\\_purge" in report or "### web1: cache_purge" in report
    assert "- Mitigation cache_purge: unchanged, all 40 artifacts match the manifest: nothing purged" in report


def test_each_rung_of_the_ladder_is_shown_with_why_the_next_was_tried():
    climbed = {"status": "resolved", "mitigation": "restart", "actions": [], "reason": "verified healthy after rung 2",
               "ladder": [{"mitigation": "restart", "outcome": "failed", "message": "not healthy", "restored": False,
                           "reason": "not healthy (task: Check)"},
                          {"mitigation": "rollback", "outcome": "fixed", "message": "rolled back", "restored": True,
                           "reason": ""}],
               "result": {"outcome": "fixed", "message": "rolled back"}}  # fmt: skip
    report = render([*EVENTS[:-1], {**EVENTS[-1], "data": climbed}])
    assert "- Rung 1, restart: failed, not healthy; did not restore it" in report, report
    assert "- Rung 2, rollback: fixed, rolled back; restored the service" in report, report
    assert "- Mitigation restart:" not in report, "the rungs say what each mitigation did"


def test_a_line_that_is_not_utf8_is_skipped_not_fatal(tmp_path):
    """A byte that is not UTF-8 (a disk error, a foreign writer) costs its line, never the whole report."""
    path = tmp_path / "timeline.jsonl"
    path.write_bytes("".join(json.dumps(e) + "\n" for e in EVENTS).encode() + b'{"event": "task", "ti\xff\xfe')
    assert read_events(path) == EVENTS
    assert main([str(path)]) == 0


def test_a_line_with_a_bad_byte_inside_a_string_is_skipped_not_kept_altered(tmp_path):
    """Decoded with replacement, {"host": "web\\xff1"} would parse as host 'web\\ufffd1': an event nobody wrote."""
    path = tmp_path / "timeline.jsonl"
    spoilt = b'{"event": "outcome", "host": "web\xff1", "data": {"status": "resolved"}}\n'
    path.write_bytes("".join(json.dumps(e) + "\n" for e in EVENTS).encode() + spoilt)
    assert read_events(path) == EVENTS
