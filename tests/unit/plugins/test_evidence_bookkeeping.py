"""The evidence the runbooks ask for in the incident's record (issue 23 item 3): the running version before and
after, the journal's window and the unit's core dumps in the diagnose evidence, and in the post-incident report."""

from __future__ import annotations

import json

from ansible_collections.incident.remediation.plugins.plugin_utils.incident_bookkeeping import (
    diagnosis,
    diagnosis_files,
    outcome,
)
from ansible_collections.incident.remediation.plugins.plugin_utils.incident_report import render

PLAN = {"id": "INC-7", "service": "demo-app", "mitigation": "rollback", "act": True, "decision": "act: P0"}
SERVICE = {"unit": "demo-app.service", "health_url": "http://127.0.0.1:8080/health", "version_source": "symlink",
           "release_root": "/opt/demo-app"}  # fmt: skip
BEFORE = {"source": "symlink", "from": "/opt/demo-app/current", "version": "1.1.0", "error": ""}
AFTER = {**BEFORE, "version": "1.0.0"}
DUMP = {"pid": "4242", "signal": 11, "exe": "/usr/bin/python3.11", "time": "2026-12-01T23:09:07Z", "size": 19506,
        "info": "PID: 4242 (python3)\nStorage: /var/lib/systemd/coredump/core.x.zst (present)\n",
        "storage": "/var/lib/systemd/coredump/core.x.zst", "kept": "/var/lib/incident-remediation/coredumps/INC-7/c",
        "sha256": "ab" * 32}  # fmt: skip
HOST = {"quarantine": None, "unit": {"ActiveState": "failed", "SubState": "failed"}, "health": {"healthy": False},
        "logs": {"status": "STATUS", "journal": "JOURNAL", "dmesg": "DMESG"}, "errors": [], "version": BEFORE,
        "journal_window": {"since": "2026-12-01T22:10:00Z", "seconds": 3600, "lines": 1000, "bytes": 262144},
        "coredumps": {"dumps": [DUMP], "note": "1 core dump(s) of demo-app.service in the last 3600 s"}}  # fmt: skip
ROLLED_BACK = {"mitigation": "rollback", "outcome": "fixed", "changed": True, "message": "rolled back to 1.0.0",
               "verified": [{"check": "health http://127.0.0.1:8080/health", "kind": "health", "result": "ready"}],
               "steps": [{"step": "switch", "outcome": "1.1.0 -> 1.0.0"}], "details": {}}  # fmt: skip


def record(**given):
    base = dict(plan=PLAN, check_mode=False, failure={}, failed_task="", mitigation_result=ROLLED_BACK,
                verify={"unit": {"unit": {"ActiveState": "active"}, "version": AFTER}}, service=SERVICE,
                verify_alert=True, diagnosed=diagnosis(HOST, {}, {}, "/e"), evidence="/e", lock={}, unlock={},
                silence={}, unsilence={}, silence_duration="30m", started="s", ended="e")  # fmt: skip
    return outcome(**{**base, **given})


def test_the_outcome_records_the_version_before_and_after():
    done = record()
    assert done["version"] == {"source": "symlink /opt/demo-app/current", "before": "1.1.0", "after": "1.0.0",
                               "changed": True}  # fmt: skip
    assert done["diagnosis"]["version"] == "1.1.0"
    assert done["diagnosis"]["coredumps"] == (
        "1 core dump(s) of demo-app.service in the last 3600 s; pid 4242 signal 11: kept on the host at "
        "/var/lib/incident-remediation/coredumps/INC-7/c"
    )
    assert [c["check"] for c in done["verification"]] == ["health http://127.0.0.1:8080/health"], (
        "verify's read of the version is no unit check"
    )


def test_a_version_not_read_after_is_said_and_none_without_a_source():
    unread = record(verify={}, mitigation_result={**ROLLED_BACK, "outcome": "failed"}, failure={"msg": "unhealthy"})
    assert unread["version"]["before"] == "1.1.0" and unread["version"]["changed"] is False
    assert unread["version"]["after"] == "not read: verify did not run after the mitigation"
    failed = record(verify={"unit": {"version": {**AFTER, "version": "", "error": "HTTP 503"}}})
    assert failed["version"]["after"] == "not read: HTTP 503"
    plain = dict(HOST, version={}, coredumps={})
    none = record(service={"unit": "demo-app.service"}, diagnosed=diagnosis(plain, {}, {}, "/e"), verify={})
    assert "version" not in none and "version" not in none["diagnosis"] and "coredumps" not in none["diagnosis"]


def test_the_diagnose_evidence_says_the_journals_window_and_keeps_the_core_dumps():
    files = diagnosis_files(PLAN, HOST, {}, unit="demo-app.service", journal_lines=1000, dmesg_lines=100)
    logs = files["logs.txt"]
    assert ("==== journalctl --unit demo-app.service --since 2026-12-01T22:10:00Z (the last 3600 s, at most 1000 "
            "lines and 262144 bytes, the newest)\nJOURNAL") in logs  # fmt: skip
    assert "==== coredumpctl info: 1 core dump(s) of demo-app.service in the last 3600 s\n" in logs
    assert "PID: 4242 (python3)" in logs and f"sha256 {'ab' * 32}" in logs
    summary = json.loads(files["diagnosis.json"])
    assert summary["version"] == BEFORE and summary["coredumps"]["dumps"][0]["pid"] == "4242"


def test_the_report_shows_the_version_escaped():
    hostile = {**AFTER, "version": "1.0.0"}
    done = record(verify={"unit": {"version": hostile}}, diagnosed={**diagnosis(HOST, {}, {}, "/e"),
                                                                    "version": "[x](http://evil) <b>"})  # fmt: skip
    page = render([
        {"event": "incident", "host": "web1", "time": "2026-12-01T23:00:00+00:00", "data": PLAN},
        {"event": "outcome", "host": "web1", "time": "2026-12-01T23:01:00+00:00", "data": done},
    ])  # fmt: skip
    line = next(text for text in page.splitlines() if text.startswith("- Version"))
    assert line == r"- Version: \[x\](http://evil) \<b> -> 1.0.0 (symlink /opt/demo-app/current)", line
    dumps = next(text for text in page.splitlines() if text.startswith("- Core dumps"))
    assert "pid 4242 signal 11" in dumps
