"""Dedupe, cooldown, cancellation, per-target locks and limits, with a fake playbook run (a thread that waits)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from incident_remediation.config import Config
from incident_remediation.dispatcher import Dispatcher
from incident_remediation.journal import Journal
from incident_remediation.metrics import REJECTED, TOO_LARGE, Metrics
from incident_remediation.routing import Route
from incident_remediation.runner import stop_orphans, timeline_events
from incident_remediation.webhook import parse_alert


def alert(fingerprint="aa", host="web1", status="firing", starts="2026-11-23T10:00:00Z", ends=""):
    return parse_alert({"status": status, "labels": {"alertname": "Down", "instance": f"{host}:80"},
                        "fingerprint": fingerprint, "startsAt": starts, "endsAt": ends})  # fmt: skip


class FakeRun:
    """Records what ran and when; each run lasts ``seconds`` unless released sooner."""

    def __init__(self, seconds=0.3, state="succeeded"):
        self.seconds, self.state = seconds, state
        self.runs: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()

    def __call__(self, config, job):
        start = time.monotonic()
        time.sleep(self.seconds)
        with self.lock:
            self.runs.append((job["target"], start, time.monotonic()))
        return self.state, 0, ""


@pytest.fixture
def make(tmp_path):
    def build(execute, cooldown=0.0, max_jobs=4, concurrency=4):
        route = Route(name="down", alertname="Down", playbook="p.yml", cooldown=cooldown, concurrency=concurrency)
        config = Config(source="test", routes=[route], data_dir=tmp_path, max_jobs=max_jobs)
        return Dispatcher(config, Journal(tmp_path / "journal.sqlite"), execute)

    return build


def verdicts(results):
    return [v.verdict for v in results]


def test_same_fingerprint_is_deduped_while_its_job_is_active(make):
    async def scenario():
        dispatcher = make(FakeRun())
        first = dispatcher.submit([alert()])
        again = dispatcher.submit([alert(), alert()])
        await dispatcher.drain()
        return dispatcher, first, again

    dispatcher, first, again = asyncio.run(scenario())
    assert verdicts(first) == ["accepted"] and verdicts(again) == ["deduped", "deduped"]
    assert again[0].job_id == first[0].job_id
    assert [a["verdict"] for a in dispatcher.journal.alerts()] == ["deduped", "deduped", "accepted"]
    assert dispatcher.journal.count_by_state() == {"succeeded": 1}


def test_cooldown_after_a_run(make):
    async def scenario():
        dispatcher = make(FakeRun(0.01), cooldown=60)
        dispatcher.submit([alert("aa")])
        await dispatcher.drain()
        return dispatcher.submit([alert("bb")])

    (verdict,) = asyncio.run(scenario())
    assert verdict.verdict == "cooldown" and "cooldown 60 s" in verdict.reason


def test_one_host_is_never_remediated_twice_at_once_and_the_limit_holds(make):
    run = FakeRun(0.2)

    async def scenario():
        dispatcher = make(run, max_jobs=2)
        dispatcher.submit(
            [alert(f"a{i}", "web1") for i in range(3)] + [alert(f"b{i}", f"web{i + 2}") for i in range(4)]
        )
        await dispatcher.drain()

    asyncio.run(scenario())
    web1 = sorted((s, e) for t, s, e in run.runs if t == "web1")
    assert len(web1) == 3 and all(web1[i][1] <= web1[i + 1][0] for i in range(2)), "web1's runs never overlap"
    moments = sorted([(s, 1) for _, s, _ in run.runs] + [(e, -1) for _, _, e in run.runs])
    running = peak = 0
    for _, step in moments:
        running += step
        peak = max(peak, running)
    assert peak == 2, "max_jobs bounds the runs at once"


def test_a_resolved_alert_cancels_its_queued_job(make):
    run = FakeRun(0.3)

    async def scenario():
        dispatcher = make(run)
        busy = dispatcher.submit([alert("aa", "web1")])
        queued = dispatcher.submit([alert("bb", "web1")])  # waits for web1's lock
        await asyncio.sleep(0.05)
        resolved = dispatcher.submit([alert("bb", "web1", status="resolved")])
        late = dispatcher.submit([alert("aa", "web1", status="resolved")])
        await dispatcher.drain()
        return dispatcher, busy, queued, resolved, late

    dispatcher, busy, queued, resolved, late = asyncio.run(scenario())
    assert verdicts(resolved) == ["cancelled"] and resolved[0].job_id == queued[0].job_id
    assert verdicts(late) == ["resolved"] and "already running" in late[0].reason
    assert dispatcher.journal.job(queued[0].job_id)["state"] == "cancelled"
    assert dispatcher.journal.job(busy[0].job_id)["state"] == "succeeded" and len(run.runs) == 1


def test_a_crash_leaves_running_jobs_interrupted_and_queued_ones_run(make, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    running = journal.create_job(source="alert", target="web1", playbook="p", extravars={}, route="down")
    journal.set_state(running, "running")
    queued = journal.create_job(source="alert", target="web2", playbook="p", extravars={}, route="down")
    run = FakeRun(0.01)

    async def scenario():
        dispatcher = make(run)
        interrupted = await dispatcher.recover()
        await dispatcher.drain()
        return dispatcher, interrupted

    dispatcher, interrupted = asyncio.run(scenario())
    assert [j["id"] for j in interrupted] == [running]
    assert dispatcher.journal.job(running)["state"] == "interrupted"
    assert dispatcher.journal.job(queued)["state"] == "succeeded" and [t for t, _, _ in run.runs] == ["web2"]


def test_an_operator_run_left_queued_is_not_run_without_its_operator(make, tmp_path):
    """`remediate run` that ended before its job started (killed, or its start not recorded on a full
    disk): the receiver's next start must not run it unattended."""
    journal = Journal(tmp_path / "journal.sqlite")
    operator = journal.create_job(source="operator", target="web1", playbook="p", extravars={})
    run = FakeRun(0.01)

    async def scenario():
        dispatcher = make(run)
        await dispatcher.recover()
        await dispatcher.drain()
        return dispatcher

    job = asyncio.run(scenario()).journal.job(operator)
    assert job["state"] == "interrupted" and "not run without them" in job["reason"], job
    assert run.runs == []


def test_a_runner_that_raises_fails_the_job_instead_of_leaving_it_running(make):
    def broken(config, job):
        raise OSError("ansible-playbook not found")

    async def scenario():
        dispatcher = make(broken)
        (verdict,) = dispatcher.submit([alert()])
        await dispatcher.drain()
        return dispatcher.journal.job(verdict.job_id)

    job = asyncio.run(scenario())
    assert job["state"] == "failed" and "OSError: ansible-playbook not found" in job["reason"]


def test_a_runner_that_raises_leaves_nothing_of_its_playbook_running(make, tmp_path):
    """ansible-runner raising while its playbook runs (its artifacts on a full disk): the playbook is
    stopped before the host's lock is released, so no next job acts beside it."""
    started = []

    def broken(config, job):
        started.append(job_process(tmp_path, job["id"]))
        raise OSError(28, "No space left on device")

    async def scenario():
        dispatcher = make(broken)
        (verdict,) = dispatcher.submit([alert()])
        await dispatcher.drain()
        return dispatcher.journal.job(verdict.job_id)

    try:
        job = asyncio.run(scenario())
        # its environment is gone once it exits, a moment before it can be waited for (CI saw poll() None once)
        assert started[0].wait(timeout=5) == -15, "stopped (SIGTERM) before the job ended"
        assert f"its playbook was still running (pids {started[0].pid}) and was stopped" in job["reason"], job
        assert job["state"] == "failed" and "check web1" in job["reason"]
    finally:
        started[0].kill()
        started[0].wait()


def test_incident_outcomes_from_the_job_timelines_are_counted(make, tmp_path):
    def run(config, job):  # what the timeline callback leaves: one outcome per host, a torn last line
        folder = tmp_path / "jobs" / job["id"] / "incidents" / "INC-1"
        folder.mkdir(parents=True)
        lines = [
            '{"event": "outcome", "host": "web1", "data": {"status": "refused", "reason": "refused: budget"}}',
            '{"event": "outcome", "host": "web2", "data": {"status": "resolved"}}',
            '{"event": "outc',
        ]
        (folder / "timeline.jsonl").write_text("\n".join(lines))  # fmt: skip
        return "failed", 2, "web1: refused: budget"

    async def scenario():
        dispatcher = make(run)
        dispatcher.submit([alert()])
        await dispatcher.drain()
        return dispatcher.metrics.render({})

    page = asyncio.run(scenario())
    assert 'remediate_incidents_total{host="web1",outcome="refused",route="down"} 1' in page
    assert 'remediate_incidents_total{host="web2",outcome="resolved",route="down"} 1' in page
    assert "# HELP remediate_incidents_total" in page
    assert 'remediate_requests_rejected_total{reason="unauthorized"} 0' in page, "at 0 before the first"


def test_a_rejection_counts_under_a_known_reason_only():
    metrics = Metrics()
    metrics.reject(TOO_LARGE)
    page = metrics.render({})
    assert 'remediate_requests_rejected_total{reason="too_large"} 1' in page
    assert {f'remediate_requests_rejected_total{{reason="{r}"}} 0' for r in REJECTED if r != TOO_LARGE} <= set(
        page.splitlines()
    )
    with pytest.raises(ValueError, match="unknown rejection reason 'oversize'"):
        metrics.reject("oversize")


def job_process(tmp_path, job_id, command="exec sleep 60"):
    """A process as the job's ansible-playbook would be: its environment names the job's incidents folder.

    Returned once it runs with that environment: until the child has exec'd, /proc/<pid>/environ is still this
    process's, and a dispatcher looking for the job's processes right away finds none (CI saw it once, loaded).
    """
    folder = str(tmp_path / "jobs" / job_id / "incidents")
    process = subprocess.Popen(["sh", "-c", command], env={**os.environ, "INCIDENT_TIMELINE_DIR": folder})
    environ = Path(f"/proc/{process.pid}/environ")
    deadline = time.monotonic() + 10
    while f"INCIDENT_TIMELINE_DIR={folder}".encode() not in environ.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    return process


def test_recovery_stops_what_is_left_of_an_interrupted_job_and_says_what_it_recorded(make, tmp_path):
    journal = Journal(tmp_path / "journal.sqlite")
    running = journal.create_job(source="alert", target="web1", playbook="p", extravars={}, route="down")
    journal.set_state(running, "running")
    timeline = tmp_path / "jobs" / running / "incidents" / "INC-1" / "timeline.jsonl"
    timeline.parent.mkdir(parents=True)
    timeline.write_text('{"event": "outcome", "host": "web1", "data": {"status": "resolved"}}\n')
    orphan, other = job_process(tmp_path, running), job_process(tmp_path, "another-job")
    try:
        dispatcher = make(FakeRun(0.01))
        asyncio.run(dispatcher.recover())
        assert orphan.wait(timeout=5) == -15, "stopped by the recovery (SIGTERM)"
        assert other.poll() is None, "another job's process is left alone"
        reason = dispatcher.journal.job(running)["reason"]
        assert f"its playbook was still running (pids {orphan.pid}) and was stopped at recovery" in reason, reason
        assert "check web1" in reason and reason.endswith("outcome recorded before: resolved"), reason
    finally:
        for proc in (orphan, other):
            proc.kill()
            proc.wait()


def test_a_job_process_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    config = Config(source="test", routes=[], data_dir=tmp_path)
    stubborn = job_process(tmp_path, "j1", "trap '' TERM; exec sleep 60")
    try:
        time.sleep(0.2)  # the trap is set
        assert stop_orphans(config, "j1", grace=0.5) == [stubborn.pid]
        assert stubborn.wait(timeout=5) == -9
        assert stop_orphans(config, "j1") == [], "nothing left"
    finally:
        stubborn.kill()
        stubborn.wait()


def outcome_run(status, actions=()):
    """A run whose incident recorded ``status`` (as the incident role's close phase does) on web1."""

    def run(config, job):
        folder = config.data_dir / "jobs" / job["id"] / "incidents" / "INC-1"
        folder.mkdir(parents=True)
        data = {"status": status, "reason": "...", "actions": list(actions)}
        (folder / "timeline.jsonl").write_text(json.dumps({"event": "outcome", "host": "web1", "data": data}) + "\n")
        return ("succeeded" if status in ("diagnosed", "resolved", "checked") else "failed"), 0, ""

    return run


def test_an_interrupted_job_counts_for_the_cooldown(make, tmp_path):
    """A crash mid-remediation: the next re-send must not start a new job on the host at once."""
    journal = Journal(tmp_path / "journal.sqlite")
    running = journal.create_job(source="alert", target="web1", playbook="p", extravars={}, route="down")
    journal.set_state(running, "running")

    async def scenario():
        dispatcher = make(FakeRun(0.01), cooldown=60)
        await dispatcher.recover()
        return dispatcher, dispatcher.submit([alert("bb")])

    dispatcher, (verdict,) = asyncio.run(scenario())
    assert dispatcher.journal.job(running)["state"] == "interrupted"
    assert verdict.verdict == "cooldown", verdict


@pytest.mark.parametrize(
    ("status", "actions", "next_verdict"),
    [
        ("diagnosed", (), "accepted"),  # a warning only diagnosed: the critical alert that follows acts
        ("checked", (), "accepted"),  # check mode changed nothing
        ("refused", (), "accepted"),  # a safety limit stopped it before it acted
        ("refused", ({"step": "restart"},), "cooldown"),  # a restart, then the escalation refused
        ("resolved", ({"step": "restart"},), "cooldown"),
        ("failed", (), "cooldown"),  # it may have acted
    ],
)
def test_only_a_run_that_acted_starts_a_cooldown(make, status, actions, next_verdict):
    async def scenario():
        dispatcher = make(outcome_run(status, actions), cooldown=60)
        dispatcher.submit([alert("aa")])
        await dispatcher.drain()
        return dispatcher.submit([alert("bb")])

    (verdict,) = asyncio.run(scenario())
    assert verdict.verdict == next_verdict, verdict


FIRST, SECOND = "2026-11-23T10:00:00.123456789Z", "2026-11-23T10:20:00Z"  # two episodes of one alert


def test_a_stale_resolved_of_an_earlier_episode_does_not_cancel_the_queued_job_of_a_newer_one(make):
    """A lagging Alertmanager replica sends the resolved of episode one after episode two has begun."""
    run = FakeRun(0.3)

    async def scenario():
        dispatcher = make(run)
        dispatcher.submit([alert("aa", "web1")])  # holds web1's lock
        (queued,) = dispatcher.submit([alert("bb", "web1", starts=SECOND)])
        await asyncio.sleep(0.05)
        late = dispatcher.submit([alert("bb", "web1", "resolved", starts=FIRST, ends="2026-11-23T10:10:00Z")])
        over = dispatcher.submit([alert("bb", "web1", "resolved", starts=SECOND, ends="2026-11-23T10:30:00Z")])
        await dispatcher.drain()
        return dispatcher, queued, late, over

    dispatcher, queued, (late,), (over,) = asyncio.run(scenario())
    assert late.verdict == "stale" and "10:00:00" in late.reason and "10:20:00" in late.reason, late
    assert over.verdict == "cancelled" and over.job_id == queued.job_id, "its own episode's resolved cancels it"
    assert dispatcher.journal.job(queued.job_id)["state"] == "cancelled"


def test_a_resolved_of_a_newer_episode_cancels_the_queued_job_of_an_older_one(make):
    async def scenario():
        dispatcher = make(FakeRun(0.3))
        dispatcher.submit([alert("aa", "web1")])
        (queued,) = dispatcher.submit([alert("bb", "web1", starts=FIRST)])
        verdicts_ = dispatcher.submit([alert("bb", "web1", "resolved", starts=SECOND)])
        await dispatcher.drain()
        return queued, verdicts_

    queued, (verdict,) = asyncio.run(scenario())
    assert verdict.verdict == "cancelled" and verdict.job_id == queued.job_id


@pytest.mark.parametrize(
    ("before", "why"),
    [
        (alert("bb", "web2", "resolved", starts=FIRST, ends="2026-11-23T10:10:00Z"), "resolved"),  # same episode
        (alert("bb", "web2", "firing", starts=SECOND), "newer"),  # a newer episode has begun
        (alert("bb", "web2", "resolved", starts=SECOND), "newer"),
    ],
)
def test_a_stale_firing_of_an_episode_already_over_starts_nothing(make, before, why):
    run = FakeRun(0.01)

    async def scenario():
        dispatcher = make(run)
        dispatcher.submit([before])
        await dispatcher.drain()
        runs = len(run.runs)
        stale = dispatcher.submit([alert("bb", "web2", starts=FIRST)])
        await dispatcher.drain()
        return dispatcher, runs, stale

    dispatcher, runs, (stale,) = asyncio.run(scenario())
    assert stale.verdict == "stale" and not stale.job_id, stale
    assert why in stale.reason, stale
    assert len(run.runs) == runs, "nothing more ran"
    assert dispatcher.journal.alerts()[0]["verdict"] == "stale", "recorded with its verdict"


def test_a_new_episode_after_a_resolved_one_runs_and_alerts_without_times_are_taken_as_before(make):
    async def scenario():
        dispatcher = make(FakeRun(0.01))
        dispatcher.submit([alert("bb", "web2", "resolved", starts=FIRST)])
        new = dispatcher.submit([alert("bb", "web2", starts=SECOND)])
        await dispatcher.drain()
        dispatcher.submit([alert("cc", "web3", "resolved", starts="")])
        untimed = dispatcher.submit([alert("cc", "web3", starts="")])
        await dispatcher.drain()
        return new, untimed

    (new,), (untimed,) = asyncio.run(scenario())
    assert new.verdict == "accepted" and untimed.verdict == "accepted"


OWNER = """
import sys, time
from incident_remediation.journal import Journal
journal = Journal(sys.argv[1])
job = journal.create_job(source=sys.argv[2], target="web1", playbook="p", extravars={}, route=sys.argv[3])
if sys.argv[4] == "running":
    journal.set_state(job, "running")
print(job, flush=True)
time.sleep(float(sys.argv[5]))
"""


def owned(tmp_path, source="operator", route="", state="running", lives=60.0):
    """A job in ``state`` written by another process (``remediate run`` or a receiver), living ``lives`` s."""
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(tmp_path / "journal.sqlite"), source, route, state,
                             str(lives)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    return proc, proc.stdout.readline().strip()


def test_recovery_leaves_alone_the_jobs_of_a_live_process(make, tmp_path):
    """A receiver starting beside an operator's `remediate run`: neither its job nor its playbook are touched."""
    operator, running = owned(tmp_path)
    waiting, queued = owned(tmp_path, state="queued")
    playbook = job_process(tmp_path, running)
    try:
        dispatcher = make(FakeRun(0.01))
        interrupted = asyncio.run(dispatcher.recover())
        assert interrupted == [] and playbook.poll() is None, "its playbook goes on"
        assert dispatcher.journal.job(running)["state"] == "running"
        assert dispatcher.journal.job(queued)["state"] == "queued", "a live operator's job about to start"
    finally:
        for proc in (operator, waiting, playbook):
            proc.kill()
            proc.wait()


def test_recovery_takes_the_jobs_of_a_process_that_is_gone(make, tmp_path):
    gone, running = owned(tmp_path, source="alert", route="down", lives=0)
    gone.wait()
    ended, queued = owned(tmp_path, source="alert", route="down", state="queued", lives=0)
    ended.wait()
    run = FakeRun(0.01)

    async def scenario():
        dispatcher = make(run)
        interrupted = await dispatcher.recover()
        await dispatcher.drain()
        return dispatcher, interrupted

    dispatcher, interrupted = asyncio.run(scenario())
    assert [j["id"] for j in interrupted] == [running]
    assert dispatcher.journal.job(running)["state"] == "interrupted"
    assert dispatcher.journal.job(queued)["state"] == "succeeded", "its receiver is gone: this one runs it"


def test_at_start_a_job_queued_too_long_ago_expires_instead_of_running(make, tmp_path):
    """Queued while the receiver was down for an hour: its alert may be long over."""
    journal = Journal(tmp_path / "journal.sqlite")
    old = journal.create_job(source="alert", target="web1", playbook="p", extravars={}, route="down")
    fresh = journal.create_job(source="alert", target="web2", playbook="p", extravars={}, route="down")
    journal.db.execute("UPDATE jobs SET created = created - 3600 WHERE id = ?", (old,))
    run = FakeRun(0.01)

    async def scenario():
        dispatcher = make(run)
        dispatcher.config.queued_max_age = 900
        await dispatcher.recover()
        await dispatcher.drain()
        expired, ran = dispatcher.journal.job(old), [t for t, _, _ in run.runs]
        again = dispatcher.submit([alert("aa", "web1")])
        await dispatcher.drain()
        return dispatcher, expired, ran, again

    dispatcher, expired, ran, (again,) = asyncio.run(scenario())
    assert expired["state"] == "expired", expired
    assert "queued 3600 s ago" in expired["reason"] and "queued_max_age (900 s)" in expired["reason"], expired
    assert "repeat_interval" in expired["reason"], "Alertmanager sends it again only at its repeat_interval"
    assert dispatcher.journal.job(fresh)["state"] == "succeeded" and ran == ["web2"]
    assert again.verdict == "accepted", "no cooldown, no dedupe: it never ran"


def test_a_newer_episode_deduped_into_a_queued_job_is_not_cancelled_by_the_late_resolved_of_the_older(make):
    """Episode two's firing dedupes into episode one's queued job; a lagging replica then resolves episode one."""
    run = FakeRun(0.3)

    async def scenario():
        dispatcher = make(run)
        dispatcher.submit([alert("aa", "web1")])  # holds web1's lock
        (queued,) = dispatcher.submit([alert("bb", "web1", starts=FIRST)])
        (newer,) = dispatcher.submit([alert("bb", "web1", starts=SECOND)])
        (late,) = dispatcher.submit([alert("bb", "web1", "resolved", starts=FIRST, ends="2026-11-23T10:10:00Z")])
        await dispatcher.drain()
        return dispatcher, queued, newer, late

    dispatcher, queued, newer, late = asyncio.run(scenario())
    assert newer.verdict == "deduped" and newer.job_id == queued.job_id, newer
    assert late.verdict == "stale", late
    assert dispatcher.journal.job(queued.job_id)["state"] == "succeeded", "episode two still fires: its job runs"


def test_a_firing_of_a_resolved_episode_is_stale_only_within_the_stale_window(make):
    """Alertmanager resolved the alert on its own (Prometheus cut off or restarting); Prometheus re-sends it
    later, still firing, with the same startsAt: past the window it counts as firing again."""

    async def scenario():
        dispatcher = make(FakeRun(0.01))
        dispatcher.config.stale_window = 300
        dispatcher.submit([alert("bb", "web2", "resolved", starts=FIRST, ends="2026-11-23T10:10:00Z")])
        soon = dispatcher.submit([alert("bb", "web2", starts=FIRST)])
        dispatcher.journal.db.execute("UPDATE alerts SET received = received - 301 WHERE status = 'resolved'")
        later = dispatcher.submit([alert("bb", "web2", starts=FIRST)])
        await dispatcher.drain()
        return soon, later

    (soon,), (later,) = asyncio.run(scenario())
    assert soon.verdict == "stale" and "stale_window" in soon.reason, soon
    assert later.verdict == "accepted", later


def test_an_alert_starting_in_the_future_does_not_make_the_later_firings_stale(make):
    """A Prometheus with a skewed clock (or any holder of the token) sends a startsAt of 2099."""

    async def scenario():
        dispatcher = make(FakeRun(0.01))
        (future,) = dispatcher.submit([alert("bb", "web2", "resolved", starts="2099-01-01T00:00:00Z")])
        (firing,) = dispatcher.submit([alert("bb", "web2", starts=FIRST)])
        await dispatcher.drain()
        ahead, resolved = dispatcher.submit([alert("cc", "web3", starts="2099-01-01T00:00:00Z"),
                                             alert("cc", "web3", "resolved", starts=FIRST)])  # fmt: skip
        await dispatcher.drain()
        return future, firing, ahead, resolved

    future, firing, ahead, resolved = asyncio.run(scenario())
    assert future.verdict == "resolved" and firing.verdict == "accepted", (future, firing)
    assert ahead.verdict == "accepted" and "in the future" in ahead.reason, ahead
    assert resolved.verdict == "cancelled", "its queued job is not of an episode of 2099: the resolved cancels it"


def test_the_fronts_timeline_reader_skips_a_line_a_bad_byte_spoils(tmp_path):
    """As the report's renderer: a torn line and one with a byte that is not UTF-8 inside a string are skipped."""
    path = tmp_path / "timeline.jsonl"
    good = {"event": "outcome", "host": "web1", "data": {"status": "resolved"}}
    path.write_bytes((json.dumps(good) + "\n").encode() + b'{"event": "outcome", "host": "web\xff2", "data": {}}\n{"ev')
    assert timeline_events(path) == [good]
