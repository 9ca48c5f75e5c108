"""incident_timeline through a real ansible-playbook run: every path of the callback is exercised.

The playbook declares an incident the way the incident role does (its bookkeeping actions incident_phase
and incident_outcome, whose results carry the timeline's events) on two hosts, with changed,
failed-and-rescued, skipped, looped and no_log tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[4]
SECRET = "s3cr3t-token-value"


def phase(name):
    return {"name": f"Enter {name}", "incident.remediation.incident_phase": {"phase": name}}


def declare(plan):
    return {"name": "Declare", "incident.remediation.incident_phase": {
        "phase": "acknowledge", "plan": plan, "services": {"svc": {"unit": "svc.service"}}}}  # fmt: skip


# fmt: off
PLAY = {
    "name": "incident",
    "hosts": "all",
    "gather_facts": False,
    "tasks": [
        {"name": "Before the incident is known", "ansible.builtin.command": "true", "changed_when": False},
        declare({"id": "INC-TEST-1", "service": "svc", "mitigation": "restart", "level": "P0",
                 "severity": "critical", "act": True, "decision": "act: test",
                 "alert": {"name": "ServiceDown", "starts_at": "2026-11-23T10:00:00Z",
                           "annotations": {"summary": "it | broke"}}}),
        phase("diagnose"),
        {"name": "Secret step", "ansible.builtin.debug": {"msg": SECRET}, "no_log": True},
        {"name": "Loop", "ansible.builtin.command": "echo {{ item }}", "loop": [1, 2], "changed_when": True},
        phase("resolve"),
        {"name": "Act", "block": [
            {"name": "Break on h2", "ansible.builtin.command": "false", "when": "inventory_hostname == 'h2'"},
        ], "rescue": [{"name": "Rescued", "ansible.builtin.set_fact": {"why": "{{ ansible_failed_result.msg }}"}}]},
        phase("close"),
        {"name": "Outcome", "incident.remediation.incident_outcome": {
            "plan": "{{ incident_plan }}", "failure": "{{ {'msg': why} if why is defined else {} }}", "fail": False,
            "result": {"mitigation": "restart", "outcome": "fixed", "changed": True, "message": "healthy again",
                       "steps": [{"step": "restart", "outcome": "healthy again", "seconds": 2.5}],
                       "verified": [{"check": "health", "kind": "health", "result": "ready"}]}}},
    ],
}
# fmt: on


def run(tmp_path, play, check=True):
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    inventory = tmp_path / "hosts"
    inventory.write_text(f"h1 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
                         f"h2 ansible_connection=local ansible_python_interpreter={sys.executable}\n")  # fmt: skip
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "INCIDENT_TIMELINE_DIR": str(tmp_path / "inc")}
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), str(playbook)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def events(tmp_path):
    path = tmp_path / "inc" / "INC-TEST-1" / "timeline.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_event_is_one_json_line_with_its_phase(tmp_path):
    done = run(tmp_path, PLAY)
    lines = events(tmp_path)
    assert {e["incident"] for e in lines} == {"INC-TEST-1"} and {e["host"] for e in lines} == {"h1", "h2"}
    h1 = [e for e in lines if e["host"] == "h1"]
    assert [e["phase"] for e in h1 if e["event"] == "phase"] == ["acknowledge", "diagnose", "resolve", "close"]
    assert [e["event"] for e in h1][-3:] == ["outcome", "task", "run_end"]
    first = h1[0]
    assert (first["task"], first["phase"], first["status"]) == ("Before the incident is known", "", "ok"), (
        "events before the declaration are kept and written once the id is known"
    )
    for event in (e for e in lines if e["event"] == "task"):
        assert set(event) == {"time", "incident", "host", "phase", "event", "task", "action", "status", "changed",
                              "elapsed", "result"}  # fmt: skip
        assert event["time"].endswith("Z") and event["elapsed"] >= 0
    by_task = {(e["host"], e["task"]): e for e in lines if e["event"] == "task"}
    assert by_task[("h1", "Loop")]["result"] == "2 items" and by_task[("h1", "Loop")]["status"] == "changed"
    assert by_task[("h1", "Break on h2")]["status"] == "skipped"
    broken = by_task[("h2", "Break on h2")]
    assert (broken["status"], broken["phase"], broken["result"]) == ("failed", "resolve", "non-zero return code")
    assert by_task[("h1", "Secret step")]["result"] == "output hidden (no_log)"
    assert SECRET not in (tmp_path / "inc" / "INC-TEST-1" / "timeline.jsonl").read_text()
    outcome = {e["host"]: e["data"]["status"] for e in lines if e["event"] == "outcome"}
    assert outcome == {"h1": "resolved", "h2": "failed"}
    # the summary at the end of the run
    assert "INCIDENT INC-TEST-1" in done.stdout
    assert "h2: failed - non-zero return code" in done.stdout
    assert "phases: acknowledge" in done.stdout
    assert "  lock: not taken (the run ended before resolve)" in done.stdout, "the lease said, whoever held it"


def test_the_report_is_rendered_beside_the_timeline(tmp_path):
    run(tmp_path, PLAY)
    report = (tmp_path / "inc" / "INC-TEST-1" / "report.md").read_text()
    assert report.startswith("# Post-Incident Review: ServiceDown on svc")
    assert "**Outcome:** 1 of 2 host(s) resolved" in report
    assert "Alert `ServiceDown` fired for svc: it | broke" in report, "the summary is prose, not a table cell"
    assert "| h2 | resolve | failed: Break on h2: non-zero return code |" in report
    assert "- restart: healthy again (2.5 s)" in report
    assert "| Find why restart did not fix h2: non-zero return code | | | P0 |" in report


def test_a_second_run_of_the_same_incident_appends(tmp_path):
    run(tmp_path, PLAY)
    first = len(events(tmp_path))
    run(tmp_path, PLAY)
    assert len(events(tmp_path)) == 2 * first


def test_a_run_without_incident_writes_nothing(tmp_path):
    play = {"name": "plain", "hosts": "all", "gather_facts": False,
            "tasks": [{"name": "Anything", "ansible.builtin.command": "true"}]}  # fmt: skip
    done = run(tmp_path, play)
    assert not (tmp_path / "inc").exists() and "INCIDENT" not in done.stdout


def test_an_unusable_incident_id_is_refused_with_a_warning(tmp_path):
    play = {"name": "bad", "hosts": "h1", "gather_facts": False,
            "tasks": [declare({"id": "../../etc", "service": "svc"})]}  # fmt: skip
    done = run(tmp_path, play)
    assert "declared an unusable incident id '../../etc'" in done.stdout + done.stderr
    assert not (tmp_path / "inc").exists()


def test_a_timeline_that_cannot_be_written_warns_once_and_never_fails_the_run(tmp_path):
    (tmp_path / "inc").write_text("a file where the timeline folder should be, as a full disk would refuse it")
    done = run(tmp_path, PLAY)
    output = done.stdout + done.stderr
    assert output.count("cannot write the timeline of INC-TEST-1") == 1, output
    assert "h1: resolved - verified healthy" in done.stdout, "the outcome is still shown"
    assert "(incomplete: " in done.stdout and "event(s) could not be written)" in done.stdout


def test_a_host_lost_or_stopped_before_close_still_gets_an_outcome(tmp_path):
    """h2 becomes unreachable mid-resolve (an ssh connection to a closed port); h1 fails outside any rescue."""
    lose = {"name": "Lose h2", "ansible.builtin.command": "true", "when": "inventory_hostname == 'h2'",
            "vars": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9,
                     "ansible_ssh_args": "-o ConnectTimeout=2"}}  # fmt: skip
    stop = {"name": "Stop h1", "ansible.builtin.fail": {"msg": "stopped here"}, "when": "inventory_hostname == 'h1'"}
    tasks = PLAY["tasks"]
    play = {**PLAY, "tasks": [*tasks[:5], lose, stop, *tasks[5:]]}
    done = run(tmp_path, play, check=False)
    assert done.returncode != 0
    outcomes = {e["host"]: e["data"] for e in events(tmp_path) if e["event"] == "outcome"}
    assert outcomes["h2"]["status"] == "unreachable", outcomes
    assert outcomes["h2"]["reason"].startswith("the run lost h2 during the diagnose phase (task 'Lose h2': ")
    assert outcomes["h2"]["mitigation"] == "restart" and outcomes["h2"]["silence"]["id"] == ""
    assert outcomes["h1"]["status"] == "failed", outcomes
    stopped = "the run ended during the diagnose phase, before close (task 'Stop h1': stopped here)"
    assert outcomes["h1"]["reason"] == stopped
    assert "h2: unreachable - the run lost h2" in done.stdout
    report = (tmp_path / "inc" / "INC-TEST-1" / "report.md").read_text()
    assert "| Check h2 by hand, the run lost it mid-way: the run lost h2" in report


# An alert as the receiver passes it (every string unsafe, so never a template), each field hostile.
HOSTILE_SUMMARY = "down\n## Root Cause\nThe [intern](https://evil.example/phish) did it <img src=x onerror=alert(1)>"
CREDENTIALS = "http://admin:hunter2@corp.proxy.test:3128"


def hostile_play(summary: str, secret: str) -> dict:
    """PLAY with the alert's summary and a failure naming a proxy URL with credentials (as the proxy_config
    role's messages once did), in the plan, a task's message and the outcome."""
    by_name = {t["name"]: t for t in PLAY["tasks"]}
    plan = {**by_name["Declare"]["incident.remediation.incident_phase"]["plan"], "decision": f"act: test {secret}",
            "alert": {"name": "ServiceDown", "starts_at": "2026-11-23T10:00:00Z",
                      "annotations": {"summary": "{{ summary }}"}}}  # fmt: skip
    fail = {"name": "Break on h2", "ansible.builtin.fail": {"msg": f"{{{{ summary }}}} via {secret}\x1b[2J"},
            "when": "inventory_hostname == 'h2'"}  # fmt: skip
    replaced = {"Declare": declare(plan),
                "Act": {**by_name["Act"], "block": [fail]}}  # fmt: skip
    return {**PLAY, "vars": {"summary": summary}, "tasks": [replaced.get(t["name"], t) for t in PLAY["tasks"]]}


def test_alert_markup_and_credentials_reach_the_report_as_inert_redacted_text(tmp_path):
    from report_page import Page, to_html  # noqa: PLC0415  (tests/support, on sys.path through tests/conftest.py)

    done = run(tmp_path, hostile_play(HOSTILE_SUMMARY, CREDENTIALS))
    report = (tmp_path / "inc" / "INC-TEST-1" / "report.md").read_text()
    plain = tmp_path / "plain"
    plain.mkdir()
    run(plain, hostile_play("down", "http://corp.proxy.test:3128"))
    plain_report = (plain / "inc" / "INC-TEST-1" / "report.md").read_text()
    page = Page(to_html(report))
    assert page.tags == Page(to_html(plain_report)).tags, "the alert added an element to the page"
    assert [line for line in report.splitlines() if line.startswith("## ")] == [
        line for line in plain_report.splitlines() if line.startswith("## ")]  # fmt: skip
    assert " ".join(HOSTILE_SUMMARY.split()) in "".join(page.text), "shown as the text it was, on one line"
    assert "\x1b" not in report and "\\\\x1b\\[2J" in report, "the escape sequence shown, not sent"
    timeline = (tmp_path / "inc" / "INC-TEST-1" / "timeline.jsonl").read_text()
    summary = done.stdout[done.stdout.index("INCIDENT INC-TEST-1") :]
    for where, text in (("report", report), ("timeline", timeline), ("summary", summary)):
        assert "hunter2" not in text and "admin:" not in text, f"credentials in the {where}"
    assert "http://***@corp.proxy.test:3128" in timeline and "h2: failed - " in summary
    assert "http://***@corp.proxy.test:3128" in summary
